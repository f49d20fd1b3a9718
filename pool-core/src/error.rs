//! The pool's one error type, and the class an adapter gives each driver error.
//!
//! Adapters map their driver's errors into [`BackendError`] in one place, deciding its
//! [`ErrorClass`]: that class is what tells the pool whether a connection can be reused.
//! Every message is written to be read at 3 a.m.: it says what happened, the numbers that
//! matter, and never a password.
//!
//! One convention for causes (the Rust API guidelines' rule): a cause is either part of an
//! error's `Display` or returned by `source()`, never both, so a report that walks the chain
//! (`anyhow`'s `{:#}`, `tracing`'s error fields) prints each message once. These errors put
//! the driver's message into their `Display`, because most logs print only that; `source()`
//! then continues the chain below what was already printed (the driver error's own source).
//! The driver's error itself stays reachable for downcasting through
//! [`Error::backend`] and [`BackendError::source_error`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// Shorthand for results whose error is the pool's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when using the pool or a pooled connection.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No connection became available before the acquire timeout.
    #[error(
        "timed out after {waited:?} waiting for a connection ({counts}){}",
        match last_connect_error {
            Some(e) => format!("; the last attempt to connect failed: {e}"),
            None => String::new(),
        }
    )]
    Timeout {
        /// How long the caller waited.
        waited: Duration,
        /// The pool's counts when the wait gave up: tells an exhausted pool from a dead database.
        counts: PoolCounts,
        /// The most recent connect failure, if the pool had one since its last success.
        last_connect_error: Option<BackendError>,
    },
    /// The circuit breaker is open: the database failed repeatedly, so the pool fails fast
    /// instead of making callers wait.
    #[error(
        "the circuit breaker is open after {failures} consecutive connection failures; \
         the next attempt is allowed in {retry_in:?}{}",
        match last_error {
            Some(e) => format!("; the last failure was: {e}"),
            None => String::new(),
        }
    )]
    CircuitOpen {
        /// How long until the breaker lets a trial connection through.
        retry_in: Duration,
        /// Consecutive failures that opened it.
        failures: u32,
        /// The failure that tripped it: the real cause, so nobody has to dig through logs.
        last_error: Option<BackendError>,
    },
    /// The pool was closed: no new connections are handed out.
    #[error("the pool is closed")]
    Closed,
    /// Opening a new connection failed.
    #[error("could not connect to the database: {0}")]
    Connect(BackendError),
    /// Opening a new connection took longer than the connect timeout.
    #[error("connecting to the database took longer than the connect timeout of {0:?}")]
    ConnectTimeout(Duration),
    /// A configuration value is invalid; `field` names it and `reason` says why.
    #[error("invalid configuration: `{field}` {reason}")]
    Config {
        /// The offending option, as it is spelled in the configuration.
        field: String,
        /// What is wrong with it, for a person.
        reason: String,
    },
    /// The database or the driver reported an error while using a connection.
    #[error("{0}")]
    Backend(BackendError),
    /// A query ran past the query timeout and was cancelled on the server.
    #[error("the query was cancelled after exceeding the query timeout of {0:?}")]
    QueryTimeout(Duration),
}

impl Error {
    /// A configuration error naming `field` and saying why it is wrong.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// True when the error means the connection it came from cannot be used again.
    pub fn is_connection_broken(&self) -> bool {
        match self {
            Error::Backend(e) | Error::Connect(e) => e.class() == ErrorClass::Connection,
            Error::ConnectTimeout(_) => true,
            _ => false,
        }
    }

    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The underlying driver error, if this error came from one.
    pub fn backend(&self) -> Option<&BackendError> {
        match self {
            Error::Backend(e) | Error::Connect(e) => Some(e),
            Error::Timeout {
                last_connect_error, ..
            } => last_connect_error.as_ref(),
            Error::CircuitOpen { last_error, .. } => last_error.as_ref(),
            _ => None,
        }
    }
}

/// The pool's counts at one moment, as a [`Error::Timeout`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolCounts {
    /// Connections checked out by callers.
    pub active: usize,
    /// Connections open and idle in the pool.
    pub idle: usize,
    /// Connections the pool itself is working on (a health check, the reset after a return):
    /// open, but neither held by a caller nor ready to hand out.
    pub preparing: usize,
    /// Connections being opened right now.
    pub connecting: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// The most connections the pool may open.
    pub max: usize,
}

impl fmt::Display for PoolCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "active {}, idle {}, ", self.active, self.idle)?;
        // Usually zero: shown only when the pool's own work holds connections back.
        if self.preparing > 0 {
            write!(f, "preparing {}, ", self.preparing)?;
        }
        write!(
            f,
            "connecting {}, waiting {}, max {}",
            self.connecting, self.waiting, self.max
        )
    }
}

/// What a driver error means for the connection it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The connection is unusable (I/O error, protocol error, session killed): the pool closes it.
    Connection,
    /// The statement failed (syntax, constraint, type): the connection is fine and is reused.
    Query,
}

/// A driver error, classified by the adapter, cheap to clone so several waiters can share it.
#[derive(Clone)]
pub struct BackendError {
    class: ErrorClass,
    code: Option<String>,
    source: Arc<dyn StdError + Send + Sync + 'static>,
}

impl BackendError {
    /// A driver error that leaves the connection unusable.
    pub fn connection(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::new(ErrorClass::Connection, source)
    }

    /// A driver error that leaves the connection usable (the statement failed).
    pub fn query(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::new(ErrorClass::Query, source)
    }

    /// A driver error of the given class.
    pub fn new(
        class: ErrorClass,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            class,
            code: None,
            source: Arc::from(source.into()),
        }
    }

    /// Attaches the database's own error code (SQLSTATE, MySQL error number, SQLite code).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// What the error means for the connection.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The database's error code, if the adapter attached one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The driver's error, for downcasting to the driver's own type.
    pub fn source_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (code {code})", self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendError")
            .field("class", &self.class)
            .field("code", &self.code)
            .field("message", &self.source.to_string())
            .finish()
    }
}

/// `source()` is `None`: `Display` already shows the driver's message (see the module docs);
/// [`BackendError::source_error`] gives the driver's error for downcasting.
impl StdError for BackendError {}

impl From<BackendError> for Error {
    fn from(e: BackendError) -> Self {
        Error::Backend(e)
    }
}
