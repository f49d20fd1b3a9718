//! Which SQL can leave state in a session that outlives its transaction.
//!
//! The default reset ([`SessionReset::Tracked`](crate::SessionReset::Tracked)) runs the session
//! reset only after the holder sent something this module flags. The scan reads the SQL the way
//! the server's lexer does (comments, quoted strings and identifiers, dollar quotes) and errs
//! towards "changes the session": a false alarm costs one reset round trip, a miss would hand
//! the next holder someone else's settings.
//!
//! Flagged:
//! * statements that begin with `SET` (except `SET LOCAL`, `SET TRANSACTION` and
//!   `SET CONSTRAINTS`, which end with the transaction), `RESET`, `LISTEN`, `PREPARE`,
//!   `DECLARE`, `LOAD` or `DO` (an anonymous block can do any of these);
//! * any statement naming `TEMP`, `TEMPORARY` or `pg_temp` (temporary tables, views,
//!   sequences, `SELECT … INTO TEMP`);
//! * calls of `set_config`, the session-level advisory locks (`pg_advisory_lock`,
//!   `pg_try_advisory_lock` and their `_shared` forms) and `dblink_connect`.
//!
//! Not seen: state a function or procedure changes from inside (a PL/pgSQL `SET` or
//! `CREATE TEMP TABLE` behind `SELECT f()`). Parameters the server reports
//! (`ParameterStatus`: `TimeZone`, `DateStyle`, `application_name`, `search_path` on newer
//! servers, the role) are caught on the wire anyway (see the `wire` module); for the rest, an
//! application whose functions keep session state picks a reset that runs on every return.

/// Whether running `sql` may leave state in the session after its transaction ends.
pub(crate) fn changes_session(sql: &[u8]) -> bool {
    // The words of the current statement so far: only the first two matter for the leading
    // keywords, the rest are checked one by one as they come.
    let mut position = 0;
    let mut first: &[u8] = b"";
    for token in Tokens::new(sql) {
        match token {
            Token::Semicolon => {
                position = 0;
                first = b"";
            }
            Token::Other => position += 1,
            Token::Word(word) => {
                if position == 0 {
                    first = word;
                    if ["RESET", "LISTEN", "PREPARE", "DECLARE", "LOAD", "DO"]
                        .iter()
                        .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
                    {
                        return true;
                    }
                } else if position == 1
                    && first.eq_ignore_ascii_case(b"SET")
                    && !["LOCAL", "TRANSACTION", "CONSTRAINTS"]
                        .iter()
                        .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
                {
                    return true;
                }
                if SESSION_WORDS
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k.as_bytes()))
                {
                    return true;
                }
                position += 1;
            }
        }
    }
    // A statement that ends right after `SET` is a syntax error on the server; nothing ran.
    false
}

/// Words that flag a statement wherever they appear.
const SESSION_WORDS: [&str; 10] = [
    "TEMP",
    "TEMPORARY",
    "pg_temp",
    "set_config",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "dblink_connect",
    "dblink_connect_u",
];

/// What the scan needs of a token: words (keywords and unquoted identifiers), statement ends,
/// and everything else (literals, quoted identifiers, operators, parameters).
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Word(&'a [u8]),
    Semicolon,
    Other,
}

/// A lexer over SQL text: enough of PostgreSQL's to tell words from literals and comments.
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

    /// Moves to just past the first `end` found, or to the end of the text.
    fn skip_past(&mut self, end: &[u8]) {
        let rest = self.rest();
        match rest.windows(end.len()).position(|w| w == end) {
            Some(i) => self.skip(i + end.len()),
            None => self.at = self.sql.len(),
        }
    }

    /// A `/* … */` comment; they nest.
    fn skip_block_comment(&mut self) {
        self.skip(2);
        let mut depth = 1;
        while depth > 0 {
            let rest = self.rest();
            if rest.is_empty() {
                return;
            }
            if rest.starts_with(b"/*") {
                depth += 1;
                self.skip(2);
            } else if rest.starts_with(b"*/") {
                depth -= 1;
                self.skip(2);
            } else {
                self.skip(1);
            }
        }
    }

    /// A quoted literal or identifier from its opening `quote`; doubled quotes stay inside,
    /// and so do backslash-escaped ones when `backslashes` (an `E'…'` string).
    fn skip_quoted(&mut self, quote: u8, backslashes: bool) {
        self.skip(1);
        loop {
            let rest = self.rest();
            match rest.first() {
                None => return,
                Some(b'\\') if backslashes => self.skip(2),
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

    /// `$tag$` at the current position (the tag may be empty), if there is one.
    fn dollar_tag(&self) -> Option<&'a [u8]> {
        let rest = self.rest();
        let tag_len = rest[1..]
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80))?;
        let first = rest.get(1).copied();
        let starts_with_digit = first.is_some_and(|c| c.is_ascii_digit());
        (rest.get(1 + tag_len) == Some(&b'$') && !starts_with_digit)
            .then(|| &self.sql[self.at..self.at + tag_len + 2])
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = self.rest();
            let &c = rest.first()?;
            match c {
                c if c.is_ascii_whitespace() => self.skip(1),
                b'-' if rest.starts_with(b"--") => self.skip_past(b"\n"),
                b'/' if rest.starts_with(b"/*") => self.skip_block_comment(),
                b';' => {
                    self.skip(1);
                    return Some(Token::Semicolon);
                }
                b'\'' => {
                    self.skip_quoted(b'\'', false);
                    return Some(Token::Other);
                }
                b'"' => {
                    self.skip_quoted(b'"', false);
                    return Some(Token::Other);
                }
                b'$' => {
                    match self.dollar_tag() {
                        Some(tag) => {
                            self.skip(tag.len());
                            self.skip_past(tag);
                        }
                        // A parameter (`$1`) or an operator character.
                        None => self.skip(1),
                    }
                    return Some(Token::Other);
                }
                c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                    let len = rest
                        .iter()
                        .position(|&c| {
                            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
                        })
                        .unwrap_or(rest.len());
                    // `E'…'`: an escape string, where a backslash escapes the quote.
                    if len == 1 && (c == b'e' || c == b'E') && rest.get(1) == Some(&b'\'') {
                        self.skip(1);
                        self.skip_quoted(b'\'', true);
                        return Some(Token::Other);
                    }
                    let word = &self.sql[self.at..self.at + len];
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
    use super::*;

    #[test]
    fn plain_queries_and_transactions_leave_nothing() {
        for sql in [
            "SELECT 1",
            "select * from orders where id = $1",
            "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
            "INSERT INTO t (settings) VALUES ('SET search_path = x')",
            "BEGIN; SET LOCAL statement_timeout = 5; UPDATE t SET x = 1; COMMIT",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET CONSTRAINTS ALL DEFERRED",
            "SELECT pg_advisory_xact_lock(42)",
            "SELECT $$ SET search_path = x $$",
            "SELECT $body$ LISTEN x; CREATE TEMP TABLE t () $body$",
            "SELECT 'it''s; SET x = 1'",
            "SELECT E'\\'; SET x = 1'",
            "SELECT \"temp\" FROM t",
            "-- SET search_path = x\nSELECT 1",
            "/* RESET ALL; /* nested */ LISTEN x; */ SELECT 1",
            "CREATE FUNCTION f() RETURNS void AS $$ SET x = 1 $$ LANGUAGE sql",
            "SELECT $1::int, $2",
            "UNLISTEN *",
            "DISCARD ALL",
            "",
            "SET",
        ] {
            assert!(!changes_session(sql.as_bytes()), "flagged: {sql}");
        }
    }

    #[test]
    fn statements_that_keep_session_state_are_flagged() {
        for sql in [
            "SET search_path = app",
            "set statement_timeout to 1000",
            "SET SESSION work_mem = '64MB'",
            "SET ROLE reporting",
            "SET SESSION AUTHORIZATION other",
            "RESET ALL",
            "LISTEN jobs",
            "PREPARE q AS SELECT 1",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
            "LOAD 'auto_explain'",
            "DO $$ BEGIN PERFORM 1; END $$",
            "CREATE TEMP TABLE scratch (id int)",
            "create temporary view v as select 1",
            "CREATE GLOBAL TEMPORARY TABLE x (a int)",
            "SELECT * INTO TEMP scratch FROM t",
            "CREATE TABLE pg_temp.scratch (id int)",
            "SELECT set_config('search_path', 'app', false)",
            "SELECT pg_advisory_lock(1)",
            "SELECT pg_try_advisory_lock_shared(1, 2)",
            "SELECT dblink_connect('x')",
            "BEGIN; SET search_path = x; COMMIT",
            "SELECT 1; LISTEN x",
            "/* comment */ SET x = 1",
            "-- comment\n  SET x = 1",
            "(SELECT 1); RESET x",
        ] {
            assert!(changes_session(sql.as_bytes()), "missed: {sql}");
        }
    }

    #[test]
    fn unterminated_text_does_not_panic() {
        for sql in [
            "SELECT 'abc",
            "SELECT \"abc",
            "/* abc",
            "SELECT $a$ x",
            "E'\\",
            "$",
            "$$",
        ] {
            let _ = changes_session(sql.as_bytes());
        }
        assert!(changes_session(b"LISTEN x; SELECT 'unterminated"));
        assert!(!changes_session(&[0xff, 0xfe, b' ', 0xc3]));
    }
}
