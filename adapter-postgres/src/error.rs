//! Error classification, in one place: every tokio-postgres error the adapter sees goes through
//! [`classify`], which decides whether the connection survives it.
//!
//! * **Connection** (the pool discards the connection): the connection is closed, I/O failed,
//!   the server sent something unparsable or unexpected, TLS failed, or the server ended the
//!   session (SQLSTATE class `08`, `57P01` admin shutdown, `57P02` crash shutdown, `57P03`
//!   cannot connect now, `57P04` database dropped, `57P05` idle session timeout, `25P03` idle
//!   in transaction timeout).
//! * **Query** (the connection is reused): every other SQLSTATE (syntax `42601`, constraint
//!   violations `23xxx`, `57014` cancelled, …) and the client-side parameter and column errors.
//!
//! Every error while a session is being opened is **Connection**, whatever its SQLSTATE.
//!
//! Anything unrecognised counts as a connection error: discarding a good connection costs one
//! reconnect, keeping a broken one fails every later holder.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use pool_core::{BackendError, ErrorClass};

/// Maps a tokio-postgres error into the pool's [`BackendError`], with its class and SQLSTATE.
///
/// A named prepared statement the server does not know (`26000`), or one it already has
/// under the same name (`42P05`), is what PgBouncer in transaction mode does to a statement
/// cache: the message then says to set `pgbouncer=transaction`.
pub fn classify(error: tokio_postgres::Error) -> BackendError {
    let class = class_of(&error);
    let hint = pooler_hint(&error);
    wrap(error, class, None, hint)
}

/// The advice for a named statement that went to another server session than the one it was
/// prepared on.
pub(crate) const PGBOUNCER_HINT: &str = "named prepared statements do not survive between \
     transactions behind PgBouncer in transaction mode: set `pgbouncer=transaction` in the \
     connection string (PostgresOptions::with_pgbouncer), which turns the statement cache off \
     and parses every statement unnamed";

fn pooler_hint(error: &tokio_postgres::Error) -> Option<String> {
    let db = error.as_db_error()?;
    let code = db.code().code();
    ((code == "26000" || code == "42P05") && db.message().starts_with("prepared statement"))
        .then(|| PGBOUNCER_HINT.to_owned())
}

/// Maps an error from opening a session, with where the connect went in front of the message
/// and a hint after it. Always [`ErrorClass::Connection`], whatever the SQLSTATE (`28P01` wrong
/// password, `3D000` unknown database, `53300` too many connections): there is no session to
/// reuse.
pub(crate) fn classify_connect(
    error: tokio_postgres::Error,
    context: Option<String>,
    hint: Option<String>,
) -> BackendError {
    wrap(error, ErrorClass::Connection, context, hint)
}

fn wrap(
    error: tokio_postgres::Error,
    class: ErrorClass,
    context: Option<String>,
    hint: Option<String>,
) -> BackendError {
    let code = error.code().map(|c| c.code().to_owned());
    let backend = BackendError::new(
        class,
        PostgresError {
            context,
            hint,
            error,
        },
    );
    match code {
        Some(code) => backend.with_code(code),
        None => backend,
    }
}

fn class_of(error: &tokio_postgres::Error) -> ErrorClass {
    if let Some(code) = error.code() {
        return sqlstate_class(code.code());
    }
    if error.is_closed() || has_io_cause(error) {
        return ErrorClass::Connection;
    }
    // tokio-postgres's error kinds are private; these are the client-side failures of one
    // statement (a parameter that does not convert, a column that does not decode, a wrong
    // parameter count), after which the protocol is still in step.
    const STATEMENT_FAILURES: &[&str] = &[
        "error serializing parameter",
        "error deserializing column",
        "invalid column",
        "expected ",
        "query returned an unexpected number",
    ];
    let message = error.to_string();
    if STATEMENT_FAILURES.iter().any(|p| message.starts_with(p)) {
        ErrorClass::Query
    } else {
        ErrorClass::Connection
    }
}

/// The class of a SQLSTATE.
pub(crate) fn sqlstate_class(code: &str) -> ErrorClass {
    match code {
        c if c.starts_with("08") => ErrorClass::Connection,
        "57P01" | "57P02" | "57P03" | "57P04" | "57P05" | "25P03" => ErrorClass::Connection,
        _ => ErrorClass::Query,
    }
}

fn has_io_cause(error: &tokio_postgres::Error) -> bool {
    let mut cause = error.source();
    while let Some(e) = cause {
        if e.is::<io::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A tokio-postgres error whose message says everything: tokio-postgres prints only
/// "db error" and keeps the server's message in its source, so logs would lose it.
///
/// Reach it through [`BackendError::source_error`] and `downcast_ref::<PostgresError>()`, then
/// [`postgres`](Self::postgres) for the driver's error (its `DbError`, position, hint, …).
#[derive(Debug)]
pub struct PostgresError {
    context: Option<String>,
    hint: Option<String>,
    error: tokio_postgres::Error,
}

impl PostgresError {
    /// The driver's error.
    pub fn postgres(&self) -> &tokio_postgres::Error {
        &self.error
    }
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        f.write_str(&render(&self.error))?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// The driver's message with its causes (the server's own message for database errors).
pub(crate) fn render(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.to_string();
    }
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_that_end_the_session_are_connection_errors() {
        let table = [
            ("08006", ErrorClass::Connection), // connection_failure
            ("08P01", ErrorClass::Connection), // protocol_violation
            ("57P01", ErrorClass::Connection), // admin_shutdown (pg_terminate_backend)
            ("57P02", ErrorClass::Connection), // crash_shutdown
            ("57P03", ErrorClass::Connection), // cannot_connect_now
            ("25P03", ErrorClass::Connection), // idle_in_transaction_session_timeout
            ("42601", ErrorClass::Query),      // syntax_error
            ("23505", ErrorClass::Query),      // unique_violation
            ("23503", ErrorClass::Query),      // foreign_key_violation
            ("57014", ErrorClass::Query),      // query_canceled
            ("22012", ErrorClass::Query),      // division_by_zero
            ("40001", ErrorClass::Query),      // serialization_failure
        ];
        for (code, class) in table {
            assert_eq!(sqlstate_class(code), class, "{code}");
        }
    }
}
