//! Opening one `rusqlite::Connection` from [`SqliteOptions`] and applying its pragmas. Runs on
//! the connection's worker thread: opening touches the file system.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::busy;
use crate::error::{OpenError, OpenedHow};
use crate::options::{Database, JournalMode, OpenMode, SqliteOptions};

/// Where the connection goes: a file path, or the URI of an in-memory database.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    /// `file:/name?vfs=memdb`: SQLite's `memdb` VFS shares a database whose name starts with
    /// `/` between all connections of the process, with ordinary locking (so the busy timeout
    /// applies), and frees it when its last connection closes.
    Memory(String),
}

impl Location {
    /// The location for `database`; `unique` names a connector's private in-memory database.
    pub(crate) fn new(database: &Database, unique: &str) -> Self {
        match database {
            Database::File(path) => Location::File(path.clone()),
            Database::Memory(None) => Location::Memory(format!("file:/{unique}?vfs=memdb")),
            Database::Memory(Some(name)) => Location::Memory(format!("file:/{name}?vfs=memdb")),
        }
    }

    fn display(&self) -> PathBuf {
        match self {
            Location::File(path) => path.clone(),
            Location::Memory(uri) => PathBuf::from(uri),
        }
    }
}

/// Opens and configures a connection; the error names the database and says why it failed.
/// One journal-mode switch at a time in this process (see `open_and_configure`).
static JOURNAL_MODE_SWITCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn open(options: &SqliteOptions, location: &Location) -> Result<Connection, OpenError> {
    open_and_configure(options, location).map_err(|source| OpenError {
        database: location.display(),
        how: how(options, location),
        hint: hint(options, location, &source),
        source,
    })
}

fn open_and_configure(
    options: &SqliteOptions,
    location: &Location,
) -> rusqlite::Result<Connection> {
    // NO_MUTEX: each connection is used by its one worker thread only (sqlite3_interrupt is
    // safe from any thread regardless).
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if options.shared_cache {
        flags |= OpenFlags::SQLITE_OPEN_SHARED_CACHE;
    }
    let conn = match location {
        Location::File(path) => {
            flags |= match options.mode {
                OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
                OpenMode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
                _ => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            };
            Connection::open_with_flags(path, flags)?
        }
        Location::Memory(uri) => {
            flags |= OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI;
            Connection::open_with_flags(uri, flags)?
        }
    };
    // Waits up to `busy_timeout` for locks, like `sqlite3_busy_timeout`, but stops when the
    // request is interrupted (see `busy`). The thread installed the timeout before opening.
    conn.busy_handler(Some(busy::handler))?;
    conn.set_prepared_statement_cache_capacity(options.statement_cache_capacity);
    let journal_mode = match (location, options.journal_mode) {
        (_, Some(mode)) => Some(mode),
        (Location::File(_), None) if options.mode != OpenMode::ReadOnly => Some(JournalMode::Wal),
        _ => None,
    };
    if let Some(mode) = journal_mode {
        // Switching the journal mode upgrades a shared lock to an exclusive one. When several
        // connections of a fresh file do it at once (a pool's warm-up), SQLite answers
        // SQLITE_BUSY at once, without calling the busy handler, to avoid a deadlock; so the
        // switches of this process take turns. Reading the schema here also surfaces
        // SQLITE_NOTADB at connect time.
        let applied: String = {
            let _turn = JOURNAL_MODE_SWITCH
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            conn.pragma_update_and_check(None, "journal_mode", mode.as_str(), |row| row.get(0))?
        };
        if !applied.eq_ignore_ascii_case(mode.as_str()) {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!(
                    "journal_mode {} was requested but SQLite kept {applied} (the file system may \
                     not support it; try journal_mode=delete)",
                    mode.as_str()
                )),
            ));
        }
    } else {
        // Touch the schema so that a file that is not a database fails now, not later.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    }
    if let Some(sync) = options.synchronous {
        conn.pragma_update(None, "synchronous", sync.as_str())?;
    }
    conn.pragma_update(None, "foreign_keys", options.foreign_keys)?;
    if options.query_only {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

/// How `location` is opened, for the error message.
fn how(options: &SqliteOptions, location: &Location) -> OpenedHow {
    OpenedHow {
        mode: options.mode,
        in_memory: matches!(location, Location::Memory(_)),
        shared_cache: options.shared_cache,
    }
}

/// A hint for a person about why opening failed, from what the file system says.
fn hint(options: &SqliteOptions, location: &Location, error: &rusqlite::Error) -> Option<String> {
    let Location::File(path) = location else {
        return None;
    };
    let code = match error {
        rusqlite::Error::SqliteFailure(e, _) => e.code,
        _ => return None,
    };
    match code {
        ErrorCode::CannotOpen => Some(cannot_open_hint(options, path)),
        ErrorCode::NotADatabase => Some("the file exists but is not an SQLite database".into()),
        ErrorCode::ReadOnly => Some(
            "the database or its directory is read-only; WAL needs to create `-wal` and `-shm` \
             files beside it (use mode=ro, or make the location writable)"
                .into(),
        ),
        _ => None,
    }
}

fn cannot_open_hint(options: &SqliteOptions, path: &Path) -> String {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Err(_) => return format!("the directory `{}` does not exist", parent.display()),
        Ok(meta) if !meta.is_dir() => {
            return format!("`{}` is not a directory", parent.display());
        }
        Ok(_) => {}
    }
    if !path.exists() && options.mode != OpenMode::ReadWriteCreate {
        return "the file does not exist, and mode=ro or mode=rw does not create it".into();
    }
    if path.is_dir() {
        return "the path is a directory".into();
    }
    "check that the file and its directory are readable and writable by this process".into()
}
