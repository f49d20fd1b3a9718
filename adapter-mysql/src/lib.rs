//! # adapter-mysql
//!
//! MySQL and MariaDB for [`pool_core`]: a [`MysqlConnector`] that opens
//! [`MysqlConnection`]s with `mysql_async` (one `mysql_async::Conn` each; `mysql_async`'s own
//! pool is not used), TLS through rustls.
//!
//! ```no_run
//! use adapter_mysql::{MysqlConnector, MysqlOptions, SslMode};
//! use pool_core::{CredentialsProvider, Secret};
//!
//! # fn main() -> pool_core::Result<()> {
//! // From a URL ...
//! let connector = MysqlConnector::from_url(
//!     "mysql://app:secret@db.internal:3306/shop?ssl_mode=verify_identity&ssl_ca=/etc/mysql/ca.pem",
//! )?;
//! // ... or with the builder, here with a password fetched at every connect.
//! let connector = MysqlConnector::new(
//!     MysqlOptions::new()
//!         .with_host("db.internal")
//!         .with_user("app")
//!         .with_database("shop")
//!         .with_ssl_mode(SslMode::Required)
//!         .with_password_provider(CredentialsProvider::new(|| async { Ok(Secret::new("token")) })),
//! );
//! # drop(connector);
//! # Ok(()) }
//! ```
//!
//! In a pool, with the pool's query timeout enforced by `KILL QUERY` on the server:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use adapter_mysql::MysqlConnector;
//! use pool_core::{ConnectionProtocol, Pool};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::builder(MysqlConnector::from_url("mysql://root@127.0.0.1/test")?)
//!     .max_size(10)
//!     .query_timeout(Some(Duration::from_secs(30)))
//!     .build()
//!     .await?;
//! let mut conn = pool.get().await?;
//! let rows = conn.query("SELECT id, name FROM users WHERE id = ?", &[7.into()]).await?;
//! // The driver's own query API, tracked like the neutral API (a clean return stays free)
//! // and bounded by the query timeout like it:
//! use adapter_mysql::mysql_async::prelude::Queryable;
//! let names: Vec<String> = conn.bounded(async |db| db.query("SELECT name FROM users").await).await?;
//! // Its read-only accessors:
//! let server_version = conn.conn_ref().server_version();
//! # let _ = (rows, names, server_version);
//! # Ok(()) }
//! ```
//!
//! Where each topic is documented:
//!
//! * URL forms and parameters, and the defaults: [`options`].
//! * TLS modes (`ssl_mode`) and trusted roots (`ssl_roots`, `ssl_ca`): [`tls`].
//! * How MySQL types map to [`pool_core::Value`]: [`types`].
//! * Which errors break a connection: [`error`].
//! * Query timeouts (`KILL QUERY` from a side connection): [`cancel`].
//! * Finding this pool's sessions on the server: [`sessions`].
//! * What a return sends: [`SessionReset`], and the section below.
//! * `mysql_async`'s query API with tracking: [`TrackedConn`].
//!
//! Behaviour worth knowing:
//!
//! * Statements without parameters run over the text protocol (any SQL works); statements with
//!   parameters are prepared once per connection and cached (`stmt_cache_size`, default 32).
//! * A return sends only what the session needs (see below); `COM_RESET_CONNECTION`, when
//!   needed, rolls back an open transaction, drops temporary tables, user variables, prepared
//!   statements (the statement cache is cleared with them) and named locks, and restores
//!   session variables.
//! * TCP keepalive is on (30 s idle) so a connection to a vanished peer is noticed while idle;
//!   interval and probe count are the operating system's, so the pool's health-check timeout and
//!   query timeout remain the faster guards against a blackholed socket.
//! * `mysql_async` would switch a loopback TCP connection to the server's Unix socket; this
//!   adapter turns that off by default (`prefer_socket=false`): one connect, one session.
//! * Closing: a healthy connection sends `COM_QUIT`. One whose statement may still be running
//!   (a call abandoned halfway, a timed-out statement not confirmed stopped) is ended with
//!   `KILL CONNECTION` from a side connection; one already gone (an I/O error, or the server
//!   ended the session) opens nothing. Every side `KILL`, this one and the query timeout's,
//!   first checks that it reaches the server process that opened the session (`@@server_id`
//!   and the server's start time, read at connect in the same round trip): after a restart
//!   ids start again from 1, and an unguarded `KILL` could end a stranger's session.
//!
//! ## Returning a connection: why the default sends nothing
//!
//! A pool must give the next holder a session with no open transaction and none of the previous
//! holder's session state. `mysql_async`'s own pool sends `COM_RESET_CONNECTION` on every
//! return, and so did this adapter: a round trip per checkout, the server re-initialising the
//! session, and every prepared statement closed, so the next holder prepares again. On this
//! machine that cost MariaDB about half its throughput through the pool. HikariCP instead
//! resets only the state its JDBC API saw change, and a clean return costs nothing. The default
//! here, [`SessionReset::Tracked`], does the same with what a MySQL session shows:
//!
//! * **Transactions**: the server reports its status flags in every OK packet (the end of every
//!   statement and result set), and `mysql_async` keeps the last one whichever API sent the
//!   statement. `SERVER_STATUS_IN_TRANS` there says whether a transaction is open, and only
//!   then does the return send `ROLLBACK` (one round trip, the statement cache kept). When the
//!   flags may be stale it is sent anyway, harmless in an idle session: after a failed
//!   statement (the driver keeps no OK packet then), and after a result handed out as an
//!   iterator or stream that the holder may have left unread.
//! * **Session state**: the SQL sent through the neutral API and through
//!   [`MysqlConnection::queryable`] is scanned before it is sent for statements that keep state
//!   past their transaction: any `SET`, user variables (`@x`), `CREATE`/`DROP TEMPORARY`,
//!   `PREPARE`/`EXECUTE`/`DEALLOCATE`, `LOCK`/`UNLOCK TABLES`, `FLUSH`, `GET_LOCK`/
//!   `RELEASE_LOCK`, `USE`, `HANDLER`, `XA`, `DECLARE`, compound statements, and `CALL` (a
//!   procedure can do anything, so whatever it changes is covered). The scan reads strings,
//!   quoted identifiers and comments as the server does (executable `/*! … */` comments as SQL)
//!   and errs towards a reset. Only then does the return send `COM_RESET_CONNECTION`. The
//!   status flags that mirror session variables (`autocommit`, and `sql_mode`'s
//!   `ANSI_QUOTES` and `NO_BACKSLASH_ESCAPES`) are compared with their values after connect too.
//! * **Everything else**: a return sends nothing and spawns no task.
//!
//! Not seen, so not reset by the default: state a stored function or trigger keeps from inside
//! (`SELECT f()` where `f` assigns a user variable), and the per-statement values every
//! statement overwrites anyway (`LAST_INSERT_ID()`, `FOUND_ROWS()`). Applications that rely on
//! such functions choose [`SessionReset::ResetConnection`] (`session_reset=reset_connection`).
//!
//! What the adapter cannot read costs a reset, never a leak: [`MysqlConnection::conn`] hands out
//! the driver, whose traffic the adapter does not see (`mysql_async` owns the socket), so the
//! return after it sends `COM_RESET_CONNECTION`; so does an `exec*` of SQL text through
//! [`TrackedConn`], whose text `mysql_async` does not expose (prepare it with `prep` first, which
//! is read and costs nothing once cached). [`MysqlConnection::conn_ref`] gives the driver's
//! read-only accessors at no cost.
//!
//! One thing the old default did that this one does not: it noticed, at the return, a session
//! that died while checked out (killed, or the server restarted) without its holder noticing.
//! Nothing reads an idle `mysql_async` socket, so such a session now goes back to the pool and
//! is found by the pool's checkout validation once it has been idle longer than the validation
//! bypass (500 ms by default); checked out sooner, the next caller's first statement fails as
//! connection-broken and the pool replaces the connection. The conformance suite lists this as
//! a known failure of this adapter. `SessionReset::ResetConnection` restores the old behaviour.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod cancel;
mod connection;
mod connector;
pub mod error;
mod incarnation;
pub mod options;
mod session_sql;
mod session_tracker;
pub mod sessions;
pub mod tls;
mod tracked;
pub mod types;

pub use connection::MysqlConnection;
pub use connector::MysqlConnector;
pub use error::{MysqlConnectError, error_class};
pub use options::{MysqlOptions, SessionReset};
pub use tls::{SslMode, TlsRoots};
pub use tracked::TrackedConn;

/// The driver, re-exported so callers of [`MysqlConnection::conn`] use the same version.
pub use mysql_async;
