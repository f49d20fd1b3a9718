//! Which SQL can leave state in a SQLite session that outlives its transaction.
//!
//! A return queues the session reset only after the holder sent something this module flags
//! (or left a transaction open, which the worker thread reads from the handle for free, or
//! used the native client). The scan reads the SQL the way SQLite's tokenizer does (`'…'`
//! strings, `"…"`, `` `…` `` and `[…]` identifiers, `--` and `/* */` comments) and errs towards
//! "changes the session": a false alarm costs one queued reset on the connection's thread, a
//! miss would hand the next holder someone else's temporary tables or attached databases.
//!
//! Flagged:
//! * statements that begin with `ATTACH`, `DETACH` or `PRAGMA` (all pragmas: the reset does
//!   not restore them, but a flagged return at least runs it; see the crate docs), also after
//!   `EXPLAIN [QUERY PLAN]`;
//! * `CREATE` statements that name `TEMP` or `TEMPORARY` anywhere, as a word or as a quoted
//!   name: `CREATE TEMP TABLE`, `CREATE TEMPORARY VIEW`, `CREATE TRIGGER temp.t …`,
//!   `CREATE INDEX "temp".i …` (a table in `main` called `temp` is a false alarm);
//! * what the scan cannot read safely: a statement that does not begin with a word, or a
//!   string or quoted identifier left open.
//!
//! Transactions (`BEGIN`, `SAVEPOINT`) are not flagged: whether one is still open is read from
//! the handle after each request (`sqlite3_get_autocommit`). Not seen: what an application
//! function registered through the native client does from inside a statement.

/// Whether running `sql` may leave state in the session after its transaction ends.
pub(crate) fn changes_session(sql: &str) -> bool {
    // Where the next token falls in the current statement, and the statement's first word.
    let mut position = 0_usize;
    let mut first: &[u8] = b"";
    for token in Tokens::new(sql.as_bytes()) {
        match token {
            Token::Semicolon => {
                position = 0;
                first = b"";
                continue;
            }
            Token::Unterminated => return true,
            Token::Word(word) if position == 0 => {
                // `EXPLAIN` only describes the statement after it, but reading that one as the
                // statement keeps the rule simple and errs on the safe side.
                if is_any(word, &["EXPLAIN", "QUERY", "PLAN"]) {
                    continue;
                }
                if is_any(word, &["ATTACH", "DETACH", "PRAGMA"]) {
                    return true;
                }
                first = word;
            }
            // Every SQLite statement begins with a keyword: anything else is not understood.
            Token::Quoted(_) | Token::Other if position == 0 => return true,
            Token::Word(name) | Token::Quoted(name) => {
                if first.eq_ignore_ascii_case(b"CREATE") && is_any(name, &["TEMP", "TEMPORARY"]) {
                    return true;
                }
            }
            Token::Other => {}
        }
        position += 1;
    }
    false
}

fn is_any(word: &[u8], list: &[&str]) -> bool {
    list.iter().any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
}

/// What the scan needs of a token.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// A keyword or an unquoted identifier.
    Word(&'a [u8]),
    /// The text inside a string literal or a quoted identifier (SQLite takes a string as a
    /// name where a name is expected, so both may name the `temp` schema).
    Quoted(&'a [u8]),
    Semicolon,
    /// A string or quoted identifier with no closing quote.
    Unterminated,
    /// Numbers, operators, parameters (`?1`, `:name`, `@name`, `$name`).
    Other,
}

/// A lexer over SQL text: enough of SQLite's to tell words from literals and comments.
struct Tokens<'a> {
    sql: &'a [u8],
    at: usize,
}

impl<'a> Tokens<'a> {
    fn new(sql: &'a [u8]) -> Self {
        Self { sql, at: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        &self.sql[self.at..]
    }

    /// Moves past `len` bytes, never beyond the end.
    fn skip(&mut self, len: usize) {
        self.at = (self.at + len).min(self.sql.len());
    }

    /// Moves to just past the first `end` found, or to the end of the text (SQLite accepts a
    /// block comment left open at the end).
    fn skip_past(&mut self, end: &[u8]) {
        match self.rest().windows(end.len()).position(|w| w == end) {
            Some(i) => self.skip(i + end.len()),
            None => self.at = self.sql.len(),
        }
    }

    /// A quoted literal or identifier from its opening quote to `close`; a doubled `close`
    /// stays inside, except in `[…]`, which has no escape.
    fn quoted(&mut self, close: u8, doubles: bool) -> Token<'a> {
        self.skip(1);
        let start = self.at;
        loop {
            let rest = self.rest();
            match rest.first() {
                None => return Token::Unterminated,
                Some(&c) if c == close => {
                    if doubles && rest.get(1) == Some(&close) {
                        self.skip(2);
                    } else {
                        let text = &self.sql[start..self.at];
                        self.skip(1);
                        return Token::Quoted(text);
                    }
                }
                Some(_) => self.skip(1),
            }
        }
    }

    /// The length of the run of identifier characters at the start of `bytes`.
    fn word_len(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80))
            .unwrap_or(bytes.len())
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = self.rest();
            let &c = rest.first()?;
            return Some(match c {
                c if c.is_ascii_whitespace() => {
                    self.skip(1);
                    continue;
                }
                b'-' if rest.starts_with(b"--") => {
                    self.skip_past(b"\n");
                    continue;
                }
                b'/' if rest.starts_with(b"/*") => {
                    self.skip(2);
                    self.skip_past(b"*/");
                    continue;
                }
                b';' => {
                    self.skip(1);
                    Token::Semicolon
                }
                b'\'' => self.quoted(b'\'', true),
                b'"' => self.quoted(b'"', true),
                b'`' => self.quoted(b'`', true),
                b'[' => self.quoted(b']', false),
                // A parameter: its name is not a word of the statement.
                b'?' | b':' | b'@' | b'$' | b'#' => {
                    self.skip(1 + Self::word_len(&rest[1..]));
                    Token::Other
                }
                // A number (`1e5`, `0x1F`): never a keyword.
                c if c.is_ascii_digit() => {
                    self.skip(Self::word_len(rest));
                    Token::Other
                }
                c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                    let len = Self::word_len(rest);
                    self.skip(len);
                    Token::Word(&rest[..len])
                }
                _ => {
                    self.skip(1);
                    Token::Other
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Statements that leave nothing behind once their transaction ends.
    const CLEAN: &[&str] = &[
        "SELECT 1",
        "select * from orders where id = ?",
        "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2",
        "INSERT INTO t (note) VALUES ('CREATE TEMP TABLE x (y); ATTACH ''a'' AS b')",
        "INSERT INTO t VALUES (:temp, @pragma, $attach)",
        "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)",
        "CREATE INDEX i ON t (y)",
        "CREATE VIEW v AS SELECT x FROM t",
        "CREATE TABLE main.temperature (x)",
        "DROP TABLE IF EXISTS t",
        "BEGIN",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT a",
        "RELEASE a",
        "SELECT \"temp\", [pragma], `attach` FROM t",
        "SELECT * FROM temp_table",
        "SELECT * FROM pragma_table_info('t')",
        "SELECT 'it''s; PRAGMA x = 1'",
        "SELECT \"a\"\"; ATTACH 'x' AS y\"",
        "SELECT [a; DETACH y]",
        "-- PRAGMA foreign_keys = off\nSELECT 1",
        "/* ATTACH 'x' AS y; */ SELECT 1",
        "WITH c AS (SELECT 1) SELECT * FROM c",
        "VALUES (1), (2)",
        "SELECT 1e5, 0x1F, x'00ff'",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; END",
        "",
        ";;",
    ];

    /// Statements that can leave state in the session.
    const DIRTY: &[&str] = &[
        "CREATE TEMP TABLE scratch (x)",
        "create temporary table scratch (x)",
        "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE TEMPORARY TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
        "CREATE TEMP TABLE IF NOT EXISTS s AS SELECT * FROM t",
        "CREATE TABLE temp.scratch (x)",
        "CREATE TABLE \"temp\".scratch (x)",
        "CREATE TABLE [TEMP].scratch (x)",
        "CREATE INDEX temp.i ON scratch (x)",
        "CREATE VIEW temp.v AS SELECT 1",
        "CREATE VIRTUAL TABLE temp.f USING fts5(x)",
        "ATTACH ':memory:' AS other",
        "attach database 'x.db' as x",
        "DETACH other",
        "PRAGMA foreign_keys = OFF",
        "pragma cache_size",
        "PRAGMA main.journal_mode",
        "EXPLAIN PRAGMA x",
        "EXPLAIN QUERY PLAN ATTACH 'a' AS b",
        "/* c */ PRAGMA x = 1",
        "-- c\n ATTACH 'a' AS b",
        "SELECT 'unterminated",
        "SELECT \"unterminated",
        "SELECT [unterminated",
        "'not a statement'",
        "(SELECT 1)",
    ];

    #[test]
    fn plain_statements_and_transactions_are_clean() {
        for sql in CLEAN {
            assert!(!changes_session(sql), "flagged: {sql}");
        }
    }

    #[test]
    fn statements_that_keep_session_state_are_flagged() {
        for sql in DIRTY {
            assert!(changes_session(sql), "missed: {sql}");
        }
    }

    #[test]
    fn words_are_told_from_literals_identifiers_and_comments() {
        let words: Vec<_> =
            Tokens::new(b"a 'b' \"c\" [d] `e` -- f\n g /* h */ ?1 :i 2 ;").collect();
        assert_eq!(
            words,
            [
                Token::Word(b"a"),
                Token::Quoted(b"b"),
                Token::Quoted(b"c"),
                Token::Quoted(b"d"),
                Token::Quoted(b"e"),
                Token::Word(b"g"),
                Token::Other,
                Token::Other,
                Token::Other,
                Token::Semicolon,
            ]
        );
    }

    #[test]
    fn a_block_comment_left_open_runs_to_the_end() {
        assert!(!changes_session("SELECT 1 /* PRAGMA x = 1"));
        assert!(changes_session("PRAGMA x = 1; SELECT 1 /* open"));
    }

    /// SQL quoted as a string literal: quotes doubled.
    fn quote(sql: &str) -> String {
        format!("'{}'", sql.replace('\'', "''"))
    }

    proptest! {
        #[test]
        fn any_text_scans_without_panicking(sql in any::<String>()) {
            let _ = changes_session(&sql);
        }

        #[test]
        fn a_dirty_statement_after_clean_ones_is_flagged(
            clean in proptest::sample::subsequence(CLEAN, 0..4),
            dirty in proptest::sample::select(DIRTY),
            gap in proptest::sample::select(&[" ", "\n", "/* c */", "-- c\n", "\t"][..]),
        ) {
            let mut sql = String::new();
            for statement in clean {
                sql.push_str(statement);
                sql.push(';');
                sql.push_str(gap);
            }
            sql.push_str(dirty);
            prop_assert!(changes_session(&sql), "missed: {}", sql);
        }

        #[test]
        fn dirty_sql_inside_a_string_literal_is_not_flagged(
            dirty in proptest::sample::select(DIRTY),
            clean in proptest::sample::select(CLEAN),
        ) {
            let sql = format!("SELECT {} AS text; {clean}", quote(dirty));
            prop_assert!(!changes_session(&sql), "flagged: {}", sql);
        }
    }
}
