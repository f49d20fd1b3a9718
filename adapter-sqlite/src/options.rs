//! Connection options: plain data, every default next to the reason for it. URLs feed
//! [`SqliteOptions::param`] one `key=value` at a time and [`SqliteOptions::validate`] checks the
//! combination, so each rule exists once.

use std::path::PathBuf;
use std::time::Duration;

use pool_core::{Error, Result};

/// Which database the connections open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// A database file (relative paths are relative to the process's working directory).
    File(PathBuf),
    /// An in-memory database shared by all connections of the connector. `None` (from
    /// `sqlite::memory:`) gives each connector a database of its own; `Some(name)` (from
    /// `sqlite://name?mode=memory`) is shared by every connector in the process that uses
    /// that name.
    Memory(Option<String>),
}

/// How a file database is opened (the URL's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenMode {
    /// `ro`: read-only; the file must exist.
    ReadOnly,
    /// `rw`: read and write; the file must exist.
    ReadWrite,
    /// `rwc`: read and write, creating the file if needed (the default).
    ReadWriteCreate,
}

/// `PRAGMA journal_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalMode {
    /// `DELETE`: SQLite's own default rollback journal.
    Delete,
    /// `TRUNCATE`.
    Truncate,
    /// `PERSIST`.
    Persist,
    /// `MEMORY`.
    Memory,
    /// `WAL`: readers do not block the writer nor the writer readers (this adapter's default
    /// for file databases).
    Wal,
    /// `OFF`: no journal, no atomic rollback.
    Off,
}

impl JournalMode {
    /// The pragma's value, as SQLite reports it back.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
            JournalMode::Memory => "memory",
            JournalMode::Wal => "wal",
            JournalMode::Off => "off",
        }
    }
}

/// `PRAGMA synchronous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// `OFF`: fastest; a power loss can corrupt the database.
    Off,
    /// `NORMAL`: in WAL mode, durable except for the last transactions before a power loss.
    Normal,
    /// `FULL`: SQLite's default.
    Full,
    /// `EXTRA`.
    Extra,
}

impl Synchronous {
    /// The pragma's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Off => "off",
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
            Synchronous::Extra => "extra",
        }
    }
}

/// Everything that shapes how a connection is opened. Build it with [`SqliteOptions::file`] or
/// [`SqliteOptions::memory`] and change fields, or let
/// [`SqliteConnector::from_url`](crate::SqliteConnector::from_url) parse a URL.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The database.
    pub database: Database,
    /// How a file is opened (`mode`); in-memory databases are always read-write.
    pub mode: OpenMode,
    /// `cache=shared`: SQLite's shared-cache mode (discouraged by SQLite; off by default).
    pub shared_cache: bool,
    /// `busy_timeout`: how long a statement waits for another connection's lock before it
    /// fails with `SQLITE_BUSY`. The adapter waits with its own busy handler, which a query
    /// timeout can stop, so `PRAGMA busy_timeout` reads 0 (and setting that pragma replaces
    /// the adapter's handler with SQLite's own).
    pub busy_timeout: Duration,
    /// `journal_mode`; `None` means WAL for file databases opened writable, and SQLite's own
    /// choice for in-memory ones.
    pub journal_mode: Option<JournalMode>,
    /// `synchronous`; `None` keeps SQLite's default (`FULL`).
    pub synchronous: Option<Synchronous>,
    /// `foreign_keys`: enforce declared foreign keys.
    pub foreign_keys: bool,
    /// `statement_cache_capacity`: prepared statements each connection keeps.
    pub statement_cache_capacity: usize,
    /// Connections refuse writes (`PRAGMA query_only`): set by
    /// [`SqliteConnector::read_only`](crate::SqliteConnector::read_only) for reader pools.
    pub query_only: bool,
}

impl SqliteOptions {
    /// Options for a database file, with every default.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::new(Database::File(path.into()))
    }

    /// Options for an in-memory database private to the connector (and shared by all its
    /// connections), with every default.
    pub fn memory() -> Self {
        Self::new(Database::Memory(None))
    }

    fn new(database: Database) -> Self {
        Self {
            database,
            // SQLite's own default: a new application starts with an empty database.
            mode: OpenMode::ReadWriteCreate,
            // Shared cache trades SQLITE_BUSY for table-level SQLITE_LOCKED errors that the
            // busy timeout does not retry; SQLite itself discourages it.
            shared_cache: false,
            // Pooled connections contend for one write lock: without a busy timeout a second
            // writer fails at once. Five seconds rides out normal write bursts.
            busy_timeout: Duration::from_secs(5),
            // Resolved when opening: WAL for writable files (readers and the writer stop
            // blocking each other, which is what a pool of readers needs).
            journal_mode: None,
            // SQLite's default (FULL): durability is not traded away silently.
            synchronous: None,
            // Declared constraints should hold; SQLite leaves them off only for backwards
            // compatibility (sqlx makes the same choice).
            foreign_keys: true,
            // rusqlite's default is 16; a service runs a few dozen distinct statements.
            statement_cache_capacity: 64,
            query_only: false,
        }
    }

    /// Sets one option from its URL spelling (`key=value`). Unknown keys and bad values are
    /// [`Error::Config`] errors naming the key.
    pub fn param(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "mode" => match value {
                "ro" => self.mode = OpenMode::ReadOnly,
                "rw" => self.mode = OpenMode::ReadWrite,
                "rwc" => self.mode = OpenMode::ReadWriteCreate,
                "memory" => {
                    self.database = match &self.database {
                        Database::File(path) => Database::Memory(Some(memory_name(path)?)),
                        memory @ Database::Memory(_) => memory.clone(),
                    };
                }
                _ => return Err(bad_value(key, value, "ro, rw, rwc or memory")),
            },
            "cache" => match value {
                "shared" => self.shared_cache = true,
                "private" => self.shared_cache = false,
                _ => return Err(bad_value(key, value, "shared or private")),
            },
            "busy_timeout" => self.busy_timeout = parse_duration(key, value)?,
            "journal_mode" => {
                self.journal_mode = Some(match value.to_ascii_lowercase().as_str() {
                    "delete" => JournalMode::Delete,
                    "truncate" => JournalMode::Truncate,
                    "persist" => JournalMode::Persist,
                    "memory" => JournalMode::Memory,
                    "wal" => JournalMode::Wal,
                    "off" => JournalMode::Off,
                    _ => {
                        return Err(bad_value(
                            key,
                            value,
                            "delete, truncate, persist, memory, wal or off",
                        ));
                    }
                });
            }
            "synchronous" => {
                self.synchronous = Some(match value.to_ascii_lowercase().as_str() {
                    "off" | "0" => Synchronous::Off,
                    "normal" | "1" => Synchronous::Normal,
                    "full" | "2" => Synchronous::Full,
                    "extra" | "3" => Synchronous::Extra,
                    _ => return Err(bad_value(key, value, "off, normal, full or extra")),
                });
            }
            "foreign_keys" => self.foreign_keys = parse_bool(key, value)?,
            "statement_cache_capacity" => {
                self.statement_cache_capacity = value
                    .parse()
                    .map_err(|_| bad_value(key, value, "a number of statements"))?;
            }
            "query_only" => self.query_only = parse_bool(key, value)?,
            _ => {
                return Err(Error::config(
                    key,
                    "is not a known SQLite option (expected mode, cache, busy_timeout, \
                     journal_mode, synchronous, foreign_keys, statement_cache_capacity or \
                     query_only)",
                ));
            }
        }
        Ok(())
    }

    /// Checks that the options make sense together; the error names the offending option.
    pub fn validate(&self) -> Result<()> {
        match &self.database {
            Database::File(path) if path.as_os_str().is_empty() => {
                return Err(Error::config("url", "names no database file"));
            }
            Database::File(_) => {}
            Database::Memory(name) => {
                if self.mode != OpenMode::ReadWriteCreate {
                    return Err(Error::config(
                        "mode",
                        "cannot be ro or rw for an in-memory database (use query_only=true for \
                         read-only connections)",
                    ));
                }
                if self.journal_mode == Some(JournalMode::Wal) {
                    return Err(Error::config(
                        "journal_mode",
                        "wal needs a database file; an in-memory database cannot use it",
                    ));
                }
                if let Some(name) = name {
                    memory_name(std::path::Path::new(name))?;
                }
            }
        }
        if self.mode == OpenMode::ReadOnly && self.journal_mode.is_some() {
            return Err(Error::config(
                "journal_mode",
                "cannot be changed by a read-only (mode=ro) connection",
            ));
        }
        Ok(())
    }
}

/// An in-memory database's name must be a plain word: it becomes part of an SQLite URI.
fn memory_name(path: &std::path::Path) -> Result<String> {
    let name = path.to_string_lossy();
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        Ok(name.into_owned())
    } else {
        Err(Error::config(
            "mode",
            format!(
                "memory needs a plain database name (letters, digits, `_`, `-`, `.`), not `{name}`"
            ),
        ))
    }
}

fn bad_value(key: &str, value: &str, expected: &str) -> Error {
    Error::config(
        key,
        format!("has the invalid value `{value}`: expected {expected}"),
    )
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(bad_value(key, value, "true or false")),
    }
}

/// `500ms`, `5s`, `2m`; a bare number is milliseconds, as in `PRAGMA busy_timeout`.
fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| bad_value(key, value, "a duration such as 500ms, 5s or 2m"))?;
    match unit {
        "" | "ms" => Ok(Duration::from_millis(amount)),
        "s" => Ok(Duration::from_secs(amount)),
        "m" | "min" => Ok(Duration::from_secs(amount.saturating_mul(60))),
        _ => Err(bad_value(key, value, "a duration such as 500ms, 5s or 2m")),
    }
}
