//! [`ManagerError`]: everything the manager can report, each naming the pool it concerns.
//!
//! Pool errors are wrapped, not flattened: [`ManagerError::pool_error`] gives the
//! [`pool_core::Error`] back for its predicates (`is_timeout()`, `is_connection_broken()`).
//! No message ever contains a password: URLs are redacted before they reach an error, and
//! values read from the environment are never echoed.

/// Shorthand for results whose error is [`ManagerError`].
pub type Result<T, E = ManagerError> = std::result::Result<T, E>;

/// What went wrong in the manager, its configuration file or one of its pools.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// No pool is registered under this name.
    #[error("no pool named `{name}`; the registered pools are: {}", list(known))]
    UnknownPool {
        /// The name asked for.
        name: String,
        /// Every name that exists, sorted.
        known: Vec<String>,
    },
    /// The pool was removed at run time ([`PoolManager::remove`](crate::PoolManager::remove),
    /// or a reload whose file no longer has it). Callers that held one of its connections
    /// finished with them; new checkouts get this error until a pool is registered again
    /// under the name.
    #[error("pool `{name}` was removed")]
    Removed {
        /// The removed pool's name.
        name: String,
    },
    /// A reload needs the adapter registry and the configuration the manager was built
    /// from, and this manager was not built from a configuration
    /// ([`ManagerConfig::build`](crate::ManagerConfig::build)).
    #[error(
        "this manager was not built from a configuration file, so it cannot reload one; \
         build it with `ManagerConfig::build(&registry)`"
    )]
    NoRegistry,
    /// A pool is already registered under this name.
    #[error("a pool named `{name}` is already registered")]
    DuplicatePool {
        /// The name that was taken.
        name: String,
    },
    /// The pool exists but its connector is not the type asked for.
    #[error("pool `{name}` uses connector `{actual}`, not `{expected}`")]
    WrongType {
        /// The pool's name.
        name: String,
        /// The connector type the caller asked for.
        expected: &'static str,
        /// The connector type the pool was built with.
        actual: &'static str,
    },
    /// A pool reported an error (timeout, open circuit, closed, connect failure, ...).
    #[error("pool `{pool}`: {source}")]
    Pool {
        /// The pool's name.
        pool: String,
        /// The pool's own error (boxed: it is large, and errors should be cheap to return).
        #[source]
        source: Box<pool_core::Error>,
    },
    /// A configuration value is invalid.
    #[error("{}: `{key}` {reason}", place(pool))]
    Config {
        /// The pool (table under `[pools]`) the value belongs to; `"defaults"` for the
        /// `[defaults]` table, empty for the file's top level (shown as "the configuration
        /// file").
        pool: String,
        /// The key, dotted for nested tables (`circuit_breaker.open_duration`,
        /// `replicas[0].url`).
        key: String,
        /// What is wrong, for a person.
        reason: String,
    },
    /// The file is not valid TOML.
    #[error(
        "{} is not valid TOML (line {line}, column {column}): {reason}",
        match file {
            Some(path) => format!("the configuration file `{path}`"),
            None => "the configuration".to_owned(),
        }
    )]
    Syntax {
        /// The file's path, when it was read from a file.
        file: Option<String>,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message (without the offending source line, which may hold a secret).
        reason: String,
    },
    /// The configuration defines no pool (an empty file, or one with only `[defaults]`): a
    /// manager without pools would fail every request.
    #[error(
        "{} defines no pool; add a `[pools.NAME]` table with a `url` for each database",
        match file {
            Some(path) => format!("the configuration file `{path}`"),
            None => "the configuration".to_owned(),
        }
    )]
    NoPools {
        /// The file's path, when it was read from a file.
        file: Option<String>,
    },
    /// The configuration file could not be read.
    #[error("could not read the configuration file `{path}`: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// No adapter is registered for a URL's scheme.
    #[error(
        "pool `{pool}`: no adapter registered for the URL scheme `{scheme}`; registered schemes: {}",
        list(known)
    )]
    UnknownScheme {
        /// The pool whose URL it is.
        pool: String,
        /// The scheme found (the text before the first `:`).
        scheme: String,
        /// The schemes the registry knows.
        known: Vec<String>,
    },
    /// Building a pool failed (bad URL, unreachable database with `warmup = "fail_fast"`, ...).
    #[error("could not build pool `{pool}` ({url}): {source}")]
    Build {
        /// The pool's name.
        pool: String,
        /// The pool's URL with its password replaced by `***`.
        url: String,
        /// The adapter's or pool's error.
        #[source]
        source: Box<pool_core::Error>,
    },
}

impl ManagerError {
    /// The pool's own error, when this error came from a pool.
    pub fn pool_error(&self) -> Option<&pool_core::Error> {
        match self {
            ManagerError::Pool { source, .. } | ManagerError::Build { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The same error, read from the file at `path`: a syntax error or an empty configuration
    /// names the file.
    pub(crate) fn in_file(self, path: &str) -> Self {
        match self {
            ManagerError::Syntax {
                line,
                column,
                reason,
                ..
            } => ManagerError::Syntax {
                file: Some(path.to_owned()),
                line,
                column,
                reason,
            },
            ManagerError::NoPools { .. } => ManagerError::NoPools {
                file: Some(path.to_owned()),
            },
            other => other,
        }
    }

    /// True when a pool timed out waiting for a connection.
    pub fn is_timeout(&self) -> bool {
        self.pool_error().is_some_and(pool_core::Error::is_timeout)
    }

    /// The pool this error concerns, if any.
    pub fn pool_name(&self) -> Option<&str> {
        match self {
            ManagerError::UnknownPool { name, .. }
            | ManagerError::DuplicatePool { name }
            | ManagerError::Removed { name }
            | ManagerError::WrongType { name, .. } => Some(name),
            ManagerError::Config { pool, .. } if pool.is_empty() => None,
            ManagerError::Pool { pool, .. }
            | ManagerError::Config { pool, .. }
            | ManagerError::UnknownScheme { pool, .. }
            | ManagerError::Build { pool, .. } => Some(pool),
            ManagerError::Syntax { .. }
            | ManagerError::Io { .. }
            | ManagerError::NoPools { .. }
            | ManagerError::NoRegistry => None,
        }
    }

    pub(crate) fn pool(pool: &str, source: pool_core::Error) -> Self {
        ManagerError::Pool {
            pool: pool.to_owned(),
            source: Box::new(source),
        }
    }

    /// True when the pool this checkout went to was closed (by `close`, `remove`, a
    /// `replace` or a reload), so a newer pool under the same name may serve it.
    pub(crate) fn is_pool_closed(&self) -> bool {
        matches!(self.pool_error(), Some(pool_core::Error::Closed))
    }

    pub(crate) fn config(pool: &str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        ManagerError::Config {
            pool: pool.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Where a configuration error is: a pool (or `defaults`), or the file's top level.
fn place(pool: &str) -> String {
    match pool {
        "" => "the configuration file".to_owned(),
        pool => format!("pool `{pool}`"),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}
