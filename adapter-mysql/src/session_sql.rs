//! Which SQL can leave state in a MySQL/MariaDB session that outlives its transaction.
//!
//! The default reset ([`SessionReset::Tracked`](crate::options::SessionReset::Tracked)) sends
//! `COM_RESET_CONNECTION` only after the holder sent something this module flags. The scan
//! reads the SQL the way the server's lexer does (quoted strings and identifiers, `#`, `-- `
//! and `/* */` comments) and errs towards "changes the session": a false alarm costs one reset
//! round trip, a miss would hand the next holder someone else's settings, variables or locks.
//!
//! Flagged:
//! * statements that begin with `SET` (all of them: `SET NAMES`, `SET autocommit`, `SET @x`,
//!   and `SET TRANSACTION`, which holds until the next transaction starts), `PREPARE`,
//!   `EXECUTE` (also `EXECUTE IMMEDIATE`, whose SQL is a string), `DEALLOCATE`, `LOCK`,
//!   `UNLOCK`, `FLUSH` (`FLUSH TABLES WITH READ LOCK` is held by the session), `BACKUP`, `USE`,
//!   `HANDLER`, `XA`, `CALL` (a procedure can do anything) or `DECLARE`;
//! * compound statements outside a stored program (`BEGIN NOT ATOMIC`, `IF`, `CASE`, `LOOP`,
//!   `REPEAT`, `WHILE`, or a label `name:`), whose inner statements are not at the start;
//! * any user variable (`@name`, `@'name'`; not `@@system_variable`), since `SELECT @x := 1`
//!   and `SELECT … INTO @x` assign one anywhere in a statement;
//! * any statement naming `TEMPORARY` (`CREATE TEMPORARY TABLE`, `DROP TEMPORARY TABLE`) or
//!   the named locks (`GET_LOCK`, `RELEASE_LOCK`, `RELEASE_ALL_LOCKS`).
//!
//! Executable comments (`/*! … */`, `/*!50100 … */`, MariaDB's `/*M! … */`) are read as the SQL
//! they contain, whatever version they name. Whether a backslash escapes a quote depends on the
//! session's `sql_mode` (`NO_BACKSLASH_ESCAPES`), which may be the server's global default, so
//! text with a backslash is scanned both ways and flagged if either reading flags it.
//!
//! Not seen: what a stored function or trigger does from inside (`SELECT f()` where `f` assigns
//! a user variable), and the session values that every statement updates anyway
//! (`LAST_INSERT_ID()`, `FOUND_ROWS()`, warnings). `COM_RESET_CONNECTION` is the reset for
//! applications whose functions keep session state.

/// Whether running `sql` may leave state in the session after its transaction ends.
pub(crate) fn changes_session(sql: &[u8]) -> bool {
    scan(sql, Backslash::Escapes) || (sql.contains(&b'\\') && scan(sql, Backslash::Literal))
}

/// Statements that keep session state when they come first.
const LEADING: [&str; 18] = [
    "SET",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "LOCK",
    "UNLOCK",
    "FLUSH",
    "BACKUP",
    "USE",
    "HANDLER",
    "XA",
    "CALL",
    "DECLARE",
    // Compound statements, allowed outside stored programs by MariaDB: the statements
    // inside do not come first.
    "IF",
    "CASE",
    "LOOP",
    "REPEAT",
    "WHILE",
];

/// Words that flag a statement wherever they appear.
const ANYWHERE: [&str; 4] = ["TEMPORARY", "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS"];

fn scan(sql: &[u8], backslash: Backslash) -> bool {
    // Position of the next token within the current statement, and its first word.
    let mut position = 0_usize;
    let mut first: &[u8] = b"";
    for token in Tokens::new(sql, backslash) {
        match token {
            Token::Semicolon => {
                position = 0;
                first = b"";
                continue;
            }
            Token::UserVariable => return true,
            // `label: BEGIN …`: a compound statement.
            Token::Colon if position == 1 => return true,
            Token::Word(word) => {
                if position == 0 {
                    first = word;
                    if is_any(word, &LEADING) {
                        return true;
                    }
                } else if position == 1
                    && first.eq_ignore_ascii_case(b"BEGIN")
                    && word.eq_ignore_ascii_case(b"NOT")
                {
                    // `BEGIN NOT ATOMIC … END`; a plain `BEGIN [WORK]` starts a transaction.
                    return true;
                }
                if is_any(word, &ANYWHERE) {
                    return true;
                }
            }
            Token::Colon | Token::Other => {}
        }
        position += 1;
    }
    false
}

fn is_any(word: &[u8], list: &[&str]) -> bool {
    list.iter().any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
}

/// How the session reads a backslash inside a quoted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backslash {
    /// The default `sql_mode`: `\'` is a quote inside the string.
    Escapes,
    /// `NO_BACKSLASH_ESCAPES`: a backslash is an ordinary character.
    Literal,
}

/// What the scan needs of a token.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// A keyword or an unquoted identifier (also numbers: they cannot be keywords).
    Word(&'a [u8]),
    /// `@name`, `@'name'`, `` @`name` ``: a user variable.
    UserVariable,
    /// `:` (a label follows the word before it).
    Colon,
    Semicolon,
    /// Literals, quoted identifiers, system variables, operators, parameters.
    Other,
}

/// A lexer over SQL text: enough of MySQL's to tell words from literals and comments.
struct Tokens<'a> {
    sql: &'a [u8],
    at: usize,
    backslash: Backslash,
    /// Inside `/*! … */`: its `*/` is read as a space.
    in_executable_comment: bool,
}

impl<'a> Tokens<'a> {
    fn new(sql: &'a [u8], backslash: Backslash) -> Self {
        Self {
            sql,
            at: 0,
            backslash,
            in_executable_comment: false,
        }
    }

    fn rest(&self) -> &'a [u8] {
        &self.sql[self.at..]
    }

    /// Moves past `len` bytes, never beyond the end.
    fn skip(&mut self, len: usize) {
        self.at = (self.at + len).min(self.sql.len());
    }

    /// Moves to just past the first `end` found (comments do not nest), or to the end.
    fn skip_past(&mut self, end: &[u8]) {
        match self.rest().windows(end.len()).position(|w| w == end) {
            Some(i) => self.skip(i + end.len()),
            None => self.at = self.sql.len(),
        }
    }

    /// A `#` or `-- ` comment, to the end of the line. A `\r` ends it too: ending a comment
    /// early only means scanning more text as SQL.
    fn skip_line(&mut self) {
        match self.rest().iter().position(|&c| c == b'\n' || c == b'\r') {
            Some(i) => self.skip(i + 1),
            None => self.at = self.sql.len(),
        }
    }

    /// A quoted string or identifier from its opening `quote`: a doubled quote stays inside,
    /// and so does a backslash-escaped character when the session reads backslashes so
    /// (never in backtick identifiers).
    fn skip_quoted(&mut self, quote: u8) {
        let escapes = quote != b'`' && self.backslash == Backslash::Escapes;
        self.skip(1);
        loop {
            let rest = self.rest();
            match rest.first() {
                None => return,
                Some(b'\\') if escapes => self.skip(2),
                Some(&c) if c == quote => {
                    if rest.get(1) == Some(&quote) {
                        self.skip(2);
                    } else {
                        self.skip(1);
                        return;
                    }
                }
                Some(_) => self.skip(1),
            }
        }
    }

    /// The length of the word at the current position.
    fn word_len(&self) -> usize {
        let rest = self.rest();
        rest.iter()
            .position(|&c| !is_word_byte(c))
            .unwrap_or(rest.len())
    }
}

/// Bytes of unquoted identifiers: MySQL allows digits first, `$`, and any non-ASCII.
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = self.rest();
            let &c = rest.first()?;
            match c {
                c if c.is_ascii_whitespace() => self.skip(1),
                b'#' => self.skip_line(),
                // `--` starts a comment only before whitespace or a control character:
                // `1--1` is arithmetic.
                b'-' if rest.starts_with(b"--")
                    && rest.get(2).is_none_or(|&c| c <= b' ' || c == 0x7f) =>
                {
                    self.skip_line();
                }
                b'*' if self.in_executable_comment && rest.starts_with(b"*/") => {
                    self.in_executable_comment = false;
                    self.skip(2);
                }
                b'/' if rest.starts_with(b"/*!") || rest.starts_with(b"/*M!") => {
                    // Its content runs (on servers at or past the version named): read it
                    // as SQL, after the optional version number.
                    self.skip(if rest[2] == b'!' { 3 } else { 4 });
                    let digits = self
                        .rest()
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    self.skip(digits);
                    self.in_executable_comment = true;
                }
                b'/' if rest.starts_with(b"/*") => {
                    self.skip(2);
                    self.skip_past(b"*/");
                }
                b';' => {
                    self.skip(1);
                    return Some(Token::Semicolon);
                }
                b':' => {
                    self.skip(1);
                    return Some(Token::Colon);
                }
                b'\'' | b'"' | b'`' => {
                    self.skip_quoted(c);
                    return Some(Token::Other);
                }
                b'@' if rest.get(1) == Some(&b'@') => {
                    // A system variable, `@@name` or `@@session.name`: reading one changes
                    // nothing, and assigning one takes a `SET`.
                    self.skip(2);
                    let len = self.word_len();
                    self.skip(len);
                    return Some(Token::Other);
                }
                b'@' => {
                    self.skip(1);
                    return Some(Token::UserVariable);
                }
                c if is_word_byte(c) => {
                    let len = self.word_len();
                    let word = &rest[..len];
                    self.skip(len);
                    return Some(Token::Word(word));
                }
                _ => {
                    self.skip(1);
                    return Some(Token::Other);
                }
            }
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
        "UPDATE accounts SET balance = balance - ? WHERE id = ?",
        "INSERT INTO t SET a = 1, b = 'x'",
        "INSERT INTO t (note) VALUES ('SET @x = 1; CREATE TEMPORARY TABLE t (x INT)')",
        "BEGIN",
        "BEGIN WORK",
        "START TRANSACTION READ ONLY",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT a",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t LOCK IN SHARE MODE",
        "SELECT @@session.sql_mode, @@autocommit",
        "SELECT `temporary`, \"get_lock\" FROM t",
        "SELECT 'it''s; SET x = 1'",
        "SELECT \"@x; SET y = 1\"",
        "SELECT `a``; SET @x = 1`",
        "-- SET @x = 1\nSELECT 1",
        "--\tSET @x = 1\nSELECT 1",
        "# SET @x = 1\nSELECT 1",
        "/* SET @x = 1; CALL p() */ SELECT 1",
        "/*+ MAX_EXECUTION_TIME(1000) */ SELECT 1",
        "DO SLEEP(0)",
        "CREATE TABLE t (c SET('a', 'b') CHARACTER SET utf8mb4)",
        "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1",
        "SELECT a FROM t WHERE b IN (SELECT c FROM u)",
        "DELETE FROM t WHERE id = ?",
        "SHOW SESSION STATUS LIKE 'Com_%'",
        "SELECT ?, ?",
        "",
        ";;",
    ];

    /// Statements that keep state in the session.
    const DIRTY: &[&str] = &[
        "SET @x = 1",
        "set names utf8mb4",
        "SET autocommit = 0",
        "SET SESSION sql_mode = 'ANSI_QUOTES'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET time_zone = '+01:00'",
        "SET STATEMENT max_statement_time = 1 FOR SELECT 1",
        "SELECT @x := 1",
        "SELECT 1 INTO @x",
        "SELECT @'quoted var' := 2",
        "SELECT @`quoted` := 2",
        "CREATE TEMPORARY TABLE scratch (x INT)",
        "create or replace temporary table scratch (x int)",
        "DROP TEMPORARY TABLE IF EXISTS scratch",
        "PREPARE s FROM 'SELECT 1'",
        "EXECUTE s",
        "EXECUTE IMMEDIATE 'SET @x = 1'",
        "DEALLOCATE PREPARE s",
        "LOCK TABLES t READ",
        "UNLOCK TABLES",
        "FLUSH TABLES WITH READ LOCK",
        "BACKUP STAGE START",
        "SELECT GET_LOCK('a', 0)",
        "DO get_lock('a', 0)",
        "SELECT RELEASE_LOCK('a')",
        "SELECT RELEASE_ALL_LOCKS()",
        "USE other",
        "HANDLER t OPEN",
        "XA START 'x'",
        "CALL refresh()",
        "DECLARE x INT",
        "BEGIN NOT ATOMIC SELECT 1; END",
        "IF 1 THEN SELECT 1; END IF",
        "lbl: LOOP LEAVE lbl; END LOOP",
        "SELECT 1; SET @x = 1",
        "BEGIN; CALL p(); COMMIT",
        "/* comment */ SET @x = 1",
        "-- comment\n  SET @x = 1",
        "# comment\r\nSET @x = 1",
        "/*!40101 SET NAMES utf8 */",
        "/*!*/ SET NAMES utf8",
        "/*M!100301 SET @x = 1 */",
        "SELECT 1 /*!, @x := 1 */",
        "SELECT 1--1; SET @x = 1",
        "SELECT 'a\\'; SET @x = 1; -- '",
        "SELECT \"a\\\"; SET @x = 1; -- \"",
    ];

    #[test]
    fn plain_queries_and_transactions_leave_nothing() {
        for sql in CLEAN {
            assert!(!changes_session(sql.as_bytes()), "flagged: {sql}");
        }
    }

    #[test]
    fn statements_that_keep_session_state_are_flagged() {
        for sql in DIRTY {
            assert!(changes_session(sql.as_bytes()), "missed: {sql}");
        }
    }

    #[test]
    fn a_backslash_before_a_quote_is_read_both_ways() {
        // With the default sql_mode the string goes on; with NO_BACKSLASH_ESCAPES it ends at
        // `\'` and a statement follows. Either may be the session's mode.
        assert!(changes_session(b"SELECT 'it\\'s; SET x = 1'"));
        assert!(!changes_session(b"SELECT 'it\\'s; SELECT 1'"));
        assert!(!changes_session(b"SELECT 'C:\\\\dir', 'x'"));
    }

    #[test]
    fn unterminated_text_does_not_panic() {
        for sql in [
            "SELECT 'abc",
            "SELECT \"abc",
            "SELECT `abc",
            "/* abc",
            "/*!",
            "/*M!",
            "/*!123",
            "'\\",
            "@",
            "@@",
            "--",
            "#",
        ] {
            let _ = changes_session(sql.as_bytes());
        }
        assert!(changes_session(b"SET @x = 1; SELECT 'unterminated"));
        assert!(!changes_session(&[0xff, 0xfe, b' ', 0xc3]));
    }

    /// SQL quoted as a string literal the way a client library would: quotes doubled,
    /// backslashes doubled (read the same under either backslash mode).
    fn quote(sql: &str) -> String {
        format!("'{}'", sql.replace('\\', "\\\\").replace('\'', "''"))
    }

    proptest! {
        #[test]
        fn any_bytes_scan_without_panicking(sql in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = changes_session(&sql);
        }

        #[test]
        fn a_dirty_statement_after_clean_ones_is_flagged(
            clean in proptest::sample::subsequence(CLEAN, 0..4),
            dirty in proptest::sample::select(DIRTY),
            gap in proptest::sample::select(&[" ", "\n", "/* c */", "-- c\n", "# c\n", "\t"][..]),
        ) {
            let mut sql = String::new();
            for statement in clean {
                sql.push_str(statement);
                sql.push(';');
                sql.push_str(gap);
            }
            sql.push_str(dirty);
            prop_assert!(changes_session(sql.as_bytes()), "missed: {}", sql);
        }

        #[test]
        fn dirty_sql_inside_a_string_literal_is_not_flagged(
            dirty in proptest::sample::select(DIRTY),
            clean in proptest::sample::select(CLEAN),
        ) {
            let sql = format!("SELECT {} AS text; {clean}", quote(dirty));
            prop_assert!(!changes_session(sql.as_bytes()), "flagged: {}", sql);
        }
    }
}
