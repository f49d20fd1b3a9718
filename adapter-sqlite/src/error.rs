//! Error classification: the one place where an SQLite failure becomes a [`pool_core::Error`]
//! and gets its [`ErrorClass`].
//!
//! * **Connection class** (the pool discards the connection): `SQLITE_CANTOPEN`,
//!   `SQLITE_NOTADB`, `SQLITE_CORRUPT`, `SQLITE_IOERR`, `SQLITE_NOMEM`, `SQLITE_INTERNAL`,
//!   `SQLITE_MISUSE` (e.g. a call on a closed handle), `SQLITE_NOLFS`,
//!   `SQLITE_READONLY_DBMOVED` (the file was deleted or renamed underneath), a handle that was
//!   closed, and a worker thread that is gone.
//! * **Query class** (the connection stays in use): everything else, notably `SQLITE_ERROR`
//!   (syntax errors, missing tables), constraint violations, type mismatches, `SQLITE_READONLY`
//!   (a write through a read-only connection), `SQLITE_FULL`, and `SQLITE_BUSY` /
//!   `SQLITE_LOCKED`: lock contention is transient, the statement may simply be retried, and
//!   the session is unharmed.
//!
//! The SQLite *extended* result code is attached as the error's code, in decimal (for example
//! `"2067"` for `SQLITE_CONSTRAINT_UNIQUE`; the primary code is `code & 0xff`). The driver's
//! own [`rusqlite::Error`] is the [`BackendError::source_error`] of a failed statement.

use std::any::Any;
use std::fmt;
use std::path::PathBuf;

use pool_core::{BackendError, Error, ErrorClass};
use rusqlite::ErrorCode;
use rusqlite::ffi;

use crate::options::OpenMode;

/// Why a job on the worker thread did not produce its result; turned into an [`Error`] by
/// [`into_error`] on the async side.
pub(crate) enum Failure {
    /// SQLite or rusqlite reported an error.
    Sqlite(rusqlite::Error),
    /// The handle was closed (by `close`, or underneath by `kill_for_testing`).
    Closed,
    /// A closure passed to `with_native` panicked; the panic is resumed in the caller.
    Panic(Box<dyn Any + Send + 'static>),
}

impl Failure {
    /// The answer to a request interrupted before it started: `SQLITE_INTERRUPT`, as if SQLite
    /// had stopped it.
    pub(crate) fn interrupted() -> Self {
        Failure::Sqlite(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_INTERRUPT),
            Some("interrupted before it started".to_owned()),
        ))
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sqlite(e)
    }
}

/// The class of an SQLite failure: see the module documentation for the table.
pub(crate) fn classify(error: &rusqlite::Error) -> ErrorClass {
    if let Some(e) = sqlite_failure(error) {
        if e.extended_code == ffi::SQLITE_READONLY_DBMOVED {
            return ErrorClass::Connection;
        }
        return match e.code {
            ErrorCode::CannotOpen
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::SystemIoFailure
            | ErrorCode::OutOfMemory
            | ErrorCode::InternalMalfunction
            | ErrorCode::ApiMisuse
            | ErrorCode::NoLargeFileSupport => ErrorClass::Connection,
            _ => ErrorClass::Query,
        };
    }
    match error {
        rusqlite::Error::SqliteSingleThreadedMode => ErrorClass::Connection,
        _ => ErrorClass::Query,
    }
}

/// SQLite's own result code inside a rusqlite error: a failed call, or an error pointing at a
/// token of the SQL (syntax errors at prepare time).
fn sqlite_failure(error: &rusqlite::Error) -> Option<&ffi::Error> {
    match error {
        rusqlite::Error::SqliteFailure(e, _) | rusqlite::Error::SqlInputError { error: e, .. } => {
            Some(e)
        }
        _ => None,
    }
}

/// A classified [`BackendError`] carrying the extended result code, if SQLite gave one.
pub(crate) fn backend_error(error: rusqlite::Error) -> BackendError {
    let class = classify(&error);
    let code = extended_code(&error);
    let backend = BackendError::new(class, error);
    match code {
        Some(code) => backend.with_code(code.to_string()),
        None => backend,
    }
}

/// The extended result code of an SQLite failure.
pub(crate) fn extended_code(error: &rusqlite::Error) -> Option<i32> {
    sqlite_failure(error).map(|e| e.extended_code)
}

/// True when a statement that was interrupted failed because of it: `SQLITE_INTERRUPT`, or
/// `SQLITE_BUSY` from the busy handler giving up its lock wait.
pub(crate) fn stopped_by_interrupt(error: &rusqlite::Error) -> bool {
    sqlite_failure(error).is_some_and(|e| {
        matches!(
            e.code,
            ErrorCode::OperationInterrupted | ErrorCode::DatabaseBusy
        )
    })
}

/// Turns a job's failure into the pool's error; a panic from `with_native` is resumed here,
/// in the caller's task.
pub(crate) fn into_error(failure: Failure) -> Error {
    match failure {
        Failure::Sqlite(e) => Error::Backend(backend_error(e)),
        Failure::Closed => Error::Backend(
            BackendError::connection(Gone::HandleClosed).with_code(ffi::SQLITE_MISUSE.to_string()),
        ),
        Failure::Panic(payload) => std::panic::resume_unwind(payload),
    }
}

/// The worker thread is no longer there to run jobs: always connection class.
pub(crate) fn worker_gone() -> Error {
    Error::Backend(BackendError::connection(Gone::WorkerThread))
}

/// A connection that is no longer usable for a reason of this adapter's own.
#[derive(Debug)]
enum Gone {
    HandleClosed,
    WorkerThread,
}

impl fmt::Display for Gone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gone::HandleClosed => f.write_str("the SQLite connection handle is closed"),
            Gone::WorkerThread => f.write_str(
                "the SQLite connection's worker thread has exited (it panicked or the \
                 connection was closed)",
            ),
        }
    }
}

impl std::error::Error for Gone {}

/// How a database was opened, shown as the URL's words and plain ones:
/// `mode=rwc (read-write, created if missing)`, `, cache=shared` when set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenedHow {
    pub(crate) mode: OpenMode,
    pub(crate) in_memory: bool,
    pub(crate) shared_cache: bool,
}

impl fmt::Display for OpenedHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.in_memory, self.mode) {
            (true, _) => "an in-memory database (read-write)",
            (false, OpenMode::ReadOnly) => "mode=ro (read-only)",
            (false, OpenMode::ReadWrite) => "mode=rw (read-write, the file must exist)",
            (false, _) => "mode=rwc (read-write, created if missing)",
        })?;
        if self.shared_cache {
            f.write_str(", cache=shared")?;
        }
        Ok(())
    }
}

/// Opening a database failed: names the database and, where it can tell, why.
#[derive(Debug)]
pub(crate) struct OpenError {
    /// The path, or the in-memory database's URI.
    pub(crate) database: PathBuf,
    /// How it was opened, for a person comparing it with the file's permissions.
    pub(crate) how: OpenedHow,
    /// A hint for a person: the directory is missing, the file is not a database, ...
    pub(crate) hint: Option<String>,
    pub(crate) source: rusqlite::Error,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open the SQLite database `{}` with {}: {}",
            self.database.display(),
            self.how,
            self.source
        )?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl OpenError {
    /// The pool's error for a failed open: [`Error::Connect`], always connection class (a
    /// connection that could not be set up is never handed out), with the extended code.
    pub(crate) fn into_error(self) -> Error {
        let code = extended_code(&self.source);
        let backend = BackendError::connection(self);
        Error::Connect(match code {
            Some(code) => backend.with_code(code.to_string()),
            None => backend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn classification_table() {
        let cases = [
            (ffi::SQLITE_CANTOPEN, ErrorClass::Connection),
            (ffi::SQLITE_NOTADB, ErrorClass::Connection),
            (ffi::SQLITE_CORRUPT, ErrorClass::Connection),
            (ffi::SQLITE_IOERR_READ, ErrorClass::Connection),
            (ffi::SQLITE_MISUSE, ErrorClass::Connection),
            (ffi::SQLITE_NOMEM, ErrorClass::Connection),
            (ffi::SQLITE_READONLY_DBMOVED, ErrorClass::Connection),
            (ffi::SQLITE_ERROR, ErrorClass::Query),
            (ffi::SQLITE_CONSTRAINT_UNIQUE, ErrorClass::Query),
            (ffi::SQLITE_BUSY, ErrorClass::Query),
            (ffi::SQLITE_LOCKED, ErrorClass::Query),
            (ffi::SQLITE_READONLY, ErrorClass::Query),
            (ffi::SQLITE_INTERRUPT, ErrorClass::Query),
            (ffi::SQLITE_FULL, ErrorClass::Query),
            (ffi::SQLITE_MISMATCH, ErrorClass::Query),
        ];
        for (code, class) in cases {
            assert_eq!(classify(&failure(code)), class, "extended code {code}");
        }
        assert_eq!(
            classify(&rusqlite::Error::InvalidParameterCount(1, 2)),
            ErrorClass::Query
        );
    }

    #[test]
    fn backend_error_carries_the_extended_code() {
        let e = backend_error(failure(ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert_eq!(e.code(), Some("2067"));
        assert_eq!(e.class(), ErrorClass::Query);
        assert!(e.source_error().downcast_ref::<rusqlite::Error>().is_some());
    }

    #[test]
    fn closed_handle_and_missing_worker_are_connection_class() {
        assert!(into_error(Failure::Closed).is_connection_broken());
        assert!(worker_gone().is_connection_broken());
    }
}
