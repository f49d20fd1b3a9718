//! # adapter-mysql
//!
//! MySQL and MariaDB for [`pool_core`]: a [`MysqlConnector`] that opens
//! [`MysqlConnection`]s with `mysql_async` (one `mysql_async::Conn` each; `mysql_async`'s own
//! pool is not used), TLS through rustls.
//!
//! ```no_run
//! use adapter_mysql::{MysqlConnector, MysqlOptions, SslMode};
//!
//! # fn main() -> pool_core::Result<()> {
//! // From a URL ...
//! let connector = MysqlConnector::from_url(
//!     "mysql://app:secret@db.internal:3306/shop?ssl_mode=verify_identity&ssl_ca=/etc/mysql/ca.pem",
//! )?;
//! // ... or with the builder, here with a password fetched at every connect.
//! let connector = MysqlConnector::new(
//!     MysqlOptions::new("db.internal")
//!         .with_user("app")
//!         .with_database("shop")
//!         .with_ssl_mode(SslMode::Required)
//!         .with_password_provider(|| async { Ok::<_, std::io::Error>("token".to_owned()) }),
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
//! # async fn run() -> pool_core::Result<()> {
//! let pool = Pool::builder(MysqlConnector::from_url("mysql://root@127.0.0.1/test")?)
//!     .max_size(10)
//!     .query_timeout(Some(Duration::from_secs(30)))
//!     .build()
//!     .await?;
//! let mut conn = pool.get().await?;
//! let rows = conn.query("SELECT id, name FROM users WHERE id = ?", &[7.into()]).await?;
//! // The driver itself, for what the neutral API does not cover:
//! let server_version = conn.conn().server_version();
//! # let _ = (rows, server_version);
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
//!
//! Behaviour worth knowing:
//!
//! * Statements without parameters run over the text protocol (any SQL works); statements with
//!   parameters are prepared once per connection and cached (`stmt_cache_size`, default 32).
//! * [`reset`](pool_core::ConnectionProtocol::reset) sends `COM_RESET_CONNECTION`: it rolls back
//!   an open transaction, drops temporary tables, user variables and prepared statements (the
//!   statement cache is cleared with them) and restores session variables.
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
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod cancel;
mod connection;
mod connector;
mod credentials;
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
pub use credentials::{PasswordProvider, ProviderError};
pub use error::error_class;
pub use options::{MysqlOptions, SessionReset};
pub use tls::{SslMode, TlsRoots};
pub use tracked::TrackedConn;

/// The driver, re-exported so callers of [`MysqlConnection::conn`] use the same version.
pub use mysql_async;
