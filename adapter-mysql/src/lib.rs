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
//! * URL forms and parameters: [`options`](crate::MysqlOptions) ([module docs](options)).
//! * TLS modes and trusted roots: [`tls`].
//! * Value mapping: [`types`].
//! * Error classes (what breaks a connection): [`error`].
//! * Query timeouts (`KILL QUERY` on a side connection): [`cancel`].
//! * Finding this pool's sessions on the server: [`sessions`].
//!
//! Each connection has TCP keepalive on (30 s idle), so a connection to a vanished peer is
//! noticed while idle; interval and probe count are the operating system's, so the pool's
//! health-check timeout and query timeout remain the faster guards.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod cancel;
mod connection;
mod connector;
mod credentials;
pub mod error;
pub mod options;
pub mod sessions;
pub mod tls;
pub mod types;

pub use connection::MysqlConnection;
pub use connector::MysqlConnector;
pub use credentials::{PasswordProvider, ProviderError};
pub use error::error_class;
pub use options::MysqlOptions;
pub use tls::{SslMode, TlsRoots};

/// The driver, re-exported so callers of [`MysqlConnection::conn`] use the same version.
pub use mysql_async;
