//! # adapter-sqlite
//!
//! The SQLite adapter for `pool-core`: [`SqliteConnector`] opens [`SqliteConnection`]s, which
//! implement [`pool_core::ConnectionProtocol`] on top of `rusqlite` (SQLite built from source).
//!
//! ## URLs
//!
//! | URL | database |
//! |-----|----------|
//! | `sqlite://data.db`, `sqlite:data.db` | `data.db`, relative to the working directory |
//! | `sqlite:///tmp/x.db` | the absolute path `/tmp/x.db` |
//! | `sqlite::memory:`, `sqlite://:memory:` | an in-memory database private to the connector |
//! | `sqlite://name?mode=memory` | an in-memory database shared by name across the process |
//!
//! Options follow `?`, joined by `&` (values may be percent-encoded):
//!
//! | option | values | default |
//! |--------|--------|---------|
//! | `mode` | `ro`, `rw`, `rwc`, `memory` | `rwc` (create the file if needed) |
//! | `cache` | `shared`, `private` | `private` |
//! | `busy_timeout` | `500ms`, `5s`, `2m`, bare number = ms | `5s` |
//! | `journal_mode` | `delete`, `truncate`, `persist`, `memory`, `wal`, `off` | `wal` for writable files |
//! | `synchronous` | `off`, `normal`, `full`, `extra` (or 0–3) | SQLite's (`full`) |
//! | `foreign_keys` | `true`, `false` (also `on`/`off`, `1`/`0`) | `true` |
//! | `statement_cache_capacity` | a number | `64` |
//! | `query_only` | `true`, `false` | `false` |
//!
//! A malformed URL, an unknown option or a bad value is [`pool_core::Error::Config`] with the
//! option as `field`. Problems only the file system can tell (a missing directory, a file that
//! is not a database, a read-only location) are [`pool_core::Error::Connect`] at connect time,
//! naming the path.
//!
//! ## Returns cost nothing: a clean session sends nothing, a dirty one queues its reset
//!
//! A return sends no statement on a clean session, and resets only what the holder dirtied
//! (a reset after every used connection cost two statements on the connection's thread: about
//! 40% of the point reads a second in the realdb bench):
//!
//! * Plain statements (`SELECT`, `INSERT`, `UPDATE`, DDL on `main`, a committed transaction)
//!   leave nothing beyond their transaction: the return sends nothing at all.
//! * A transaction left open (`BEGIN`, `SAVEPOINT`): the thread reads the handle's autocommit
//!   status after each request, for free, and records it before answering; the return queues
//!   a `ROLLBACK`.
//! * SQL that can leave state in the session, found by a scan of the SQL each request sends
//!   (literals, quoted names and comments skipped): `CREATE TEMP`/`TEMPORARY` objects, any
//!   `CREATE` naming the `temp` schema, `ATTACH`, `DETACH`, `PRAGMA`, and text the scan cannot
//!   read safely. The return queues the full reset: roll back an open transaction, drop
//!   temporary tables, views and triggers, detach attached databases.
//! * Any [`SqliteConnection::with_native`] call: the adapter cannot see what the closure did,
//!   so the return queues the full reset.
//!
//! Pragmas the holder changed are not restored (the reset cannot know their previous values);
//! a `PRAGMA` only makes the return run the full reset. Set pragmas through the URL options,
//! or restore them before returning the connection.
//!
//! A queued reset runs on the connection's thread, which runs requests in order: it runs before
//! anything the next holder sends, and if it fails the connection is marked broken and the next
//! checkout discards it. Nobody waits for it: with the pool's defaults a return is a channel
//! send at most, no task, no round trip
//! ([`ConnectionProtocol::begin_reset`](pool_core::ConnectionProtocol::begin_reset)). An
//! awaited [`ConnectionProtocol::reset`](pool_core::ConnectionProtocol::reset) always runs the
//! full reset.
//!
//! ## Defaults for files: WAL and a busy timeout
//!
//! File databases opened writable switch to WAL journaling, so readers never block the writer
//! nor the writer readers, and every connection waits up to `busy_timeout` for a lock instead
//! of failing at once with `SQLITE_BUSY`. WAL creates `-wal` and `-shm` files beside the
//! database, so its directory must be writable.
//!
//! ## In-memory databases
//!
//! `sqlite::memory:` gives each connector (and its clones) its own database, which every
//! connection of the connector sees: a table created through one connection is visible through
//! the others. It uses SQLite's `memdb` VFS (`file:/<unique name>?vfs=memdb`), which locks like a
//! file database, so the busy timeout applies. SQLite frees an in-memory database when its last
//! connection closes; the connector therefore keeps one extra connection open from its first
//! connect until the connector (all its clones) is dropped, so the data survives a pool that
//! closes all its connections.
//!
//! ## The thread model
//!
//! SQLite calls block. Each [`SqliteConnection`] owns a dedicated OS thread that owns the
//! `rusqlite::Connection`; async calls send a request over a channel and await a oneshot
//! answer, so no SQLite call ever runs on the async runtime's threads. Compared with
//! `spawn_blocking` per query there is no hand-off to a shared blocking pool, and the handle
//! stays with one thread. A call costs two thread wake-ups (the connection's thread, then the
//! task): about 20 µs per round trip on a small machine, so batch work that needs many
//! statements into one [`SqliteConnection::with_native`] closure. The thread ends when the
//! connection is closed or dropped. Statements are prepared once per connection and cached
//! (`prepare_cached`).
//!
//! The query timeout ([`ConnectionProtocol::set_query_timeout`](pool_core::ConnectionProtocol::set_query_timeout))
//! is enforced with `sqlite3_interrupt`: the call returns [`pool_core::Error::QueryTimeout`]
//! and the connection stays usable. A call whose future is dropped is interrupted (or skipped,
//! if it had not started).
//!
//! ## One writer, many readers
//!
//! SQLite runs one write transaction at a time per database. Many pooled connections writing
//! at once only queue on the write lock (each waiting up to `busy_timeout`, then failing with
//! `SQLITE_BUSY`), and a transaction that reads before it writes can fail at once with
//! `SQLITE_BUSY` when another writer got there first. When writes are frequent or concurrent,
//! give writes a pool of `max_size` 1 and reads a pool of their own beside it:
//!
//! ```
//! use adapter_sqlite::SqliteConnector;
//!
//! let writer = SqliteConnector::from_url("sqlite:///var/lib/app/app.db")?; // pool max_size 1
//! let readers = writer.read_only(); // pool of many; writes fail with SQLITE_READONLY
//! # let _ = (writer, readers);
//! # Ok::<(), pool_core::Error>(())
//! ```
//!
//! Writes then wait in the pool's fair queue instead of spinning in SQLite's busy handler, and
//! WAL lets the readers run meanwhile. A single pool is fine when writes are rare.
//!
//! ## Errors
//!
//! Driver errors are classified in one place (see [`pool_core::ErrorClass`]): I/O errors,
//! corruption, a file that is not a database, misuse of a closed handle and a dead worker
//! thread mark the connection broken; syntax errors, constraint violations and `SQLITE_BUSY`
//! leave it usable. The SQLite extended result code is attached in decimal
//! ([`pool_core::BackendError::code`]).
//!
//! ## Values
//!
//! `Null`, `I64`, `F64`, `Text` and `Bytes` map to SQLite's storage classes and come back as
//! they went in; `Bool` is stored as the integer 0 or 1 and comes back as `I64`
//! ([`pool_core::Value::as_bool`] reads it).
//!
//! ## Example
//!
//! ```
//! use adapter_sqlite::SqliteConnector;
//! use pool_core::{ConnectionProtocol, Connector, Value};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pool_core::Result<()> {
//! let connector = SqliteConnector::from_url("sqlite::memory:")?;
//! let mut conn = connector.connect().await?;
//! conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)", &[]).await?;
//! conn.execute("INSERT INTO kv VALUES (?, ?)", &["a".into(), Value::Bytes(vec![1, 2])]).await?;
//! let rows = conn.query("SELECT v FROM kv WHERE k = ?", &["a".into()]).await?;
//! assert_eq!(rows[0].get(0), Some(&Value::Bytes(vec![1, 2])));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod busy;
mod connection;
mod connector;
mod error;
mod open;
mod ops;
mod options;
mod session_sql;
mod types;
mod url;
mod worker;

pub use connection::SqliteConnection;
pub use connector::SqliteConnector;
pub use options::{Database, JournalMode, OpenMode, SqliteOptions, Synchronous};

/// Re-exported so callers of [`SqliteConnection::with_native`] use the same rusqlite version.
pub use rusqlite;
