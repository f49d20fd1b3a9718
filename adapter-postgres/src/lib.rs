//! # adapter-postgres
//!
//! The PostgreSQL adapter of `pool-core`: a [`PostgresConnector`] that opens
//! [`PostgresConnection`]s with [tokio-postgres](tokio_postgres), over TLS with rustls.
//!
//! ```no_run
//! use adapter_postgres::PostgresConnector;
//! use pool_core::{ConnectionProtocol, Connector, Value};
//!
//! # async fn demo() -> pool_core::Result<()> {
//! let connector = PostgresConnector::from_url("postgres://app:secret@db.internal/shop?sslmode=verify-full")?;
//! let mut conn = connector.connect().await?;
//! let rows = conn.query("SELECT name FROM items WHERE id = $1", &[Value::I64(7)]).await?;
//! // The native client, bounded by the query timeout like the neutral API's calls (with the
//! // server-side cancel), and through the statement cache:
//! let statement = conn.prepare_cached("SELECT name FROM items WHERE id = $1").await?;
//! let name: String = conn
//!     .bounded(async |client| client.query_one(&statement, &[&7_i64]).await?.try_get(0))
//!     .await?;
//! # let _ = (rows, name);
//! # Ok(()) }
//! ```
//!
//! ## Connection strings
//!
//! Both forms libpq accepts are parsed by tokio-postgres's own parser:
//!
//! * URLs: `postgres://user:password@host:5432/dbname?param=value&...` (also `postgresql://`;
//!   several hosts as `host1:5432,host2:5433`; percent-encode reserved characters in the
//!   password);
//! * key/value strings: `host=db user=app password='it''s' dbname=shop sslmode=require`.
//!
//! Every libpq parameter tokio-postgres knows is accepted (`application_name`,
//! `connect_timeout`, `keepalives*`, `tcp_user_timeout`, `target_session_attrs`, …). This crate
//! adds the two TLS parameters tokio-postgres does not parse: `sslmode=verify-ca|verify-full` and
//! `sslrootcert=PATH|system`, and `pgbouncer=session|transaction|off` (see below). A malformed string is an [`Error::Config`](pool_core::Error::Config)
//! naming the bad parameter; no error or `Debug` output ever shows the password.
//!
//! Everything a URL can say, [`PostgresOptions`]'s `with_*` methods can say too, plus what only
//! code should decide (a password provider for rotating tokens, the session reset, the
//! statement cache).
//!
//! ## TLS
//!
//! | `sslmode`          | encrypted             | certificate checked                         |
//! |--------------------|-----------------------|---------------------------------------------|
//! | `disable`          | never                 | —                                           |
//! | `prefer` (default) | if the server offers it | no (see below)                            |
//! | `require`          | always                | **chain and host name** (unlike libpq)      |
//! | `verify-ca`        | always                | chain only                                  |
//! | `verify-full`      | always                | chain and host name                         |
//!
//! The chain is checked against the system's trust store (`sslrootcert=system`, the default) or
//! the PEM file `sslrootcert=PATH` names ([`PostgresOptions::with_root_certs`]).
//!
//! **Our decision on `require`.** libpq's `require` encrypts but accepts any certificate, which
//! protects against a passive eavesdropper only: anyone on the path can present their own
//! certificate and read everything. We think a product should not offer that by accident, so
//! `require` verifies exactly like `verify-full`. Opting out takes code,
//! [`PostgresOptions::with_danger_accept_invalid_certs`], and is deliberately not expressible in
//! a URL: a connection string copied from elsewhere can never silently turn verification off.
//! A URL that relied on libpq's lax `require` fails at connect with a message that says so.
//!
//! `prefer` is opportunistic: whoever can tamper with the connection can also answer "no TLS",
//! so checking certificates there would only break servers with private CAs without protecting
//! anyone. Use `require` or `verify-*` when encryption matters.
//!
//! Client certificates and SCRAM channel binding (`channel_binding=require`) are not supported.
//!
//! ## Values
//!
//! **Parameters** bind to the types PostgreSQL inferred for them (known once the statement is
//! prepared): `I64` to `int2`/`int4`/`int8`/`oid` (range-checked, so `I64(3_000_000_000)` into
//! an `int4` is a query error naming the type) and to `float4`/`float8`; `F64` to
//! `float4`/`float8`; `Bool` to `boolean`; `Bytes` to `bytea`; `Text` to the text types. Every
//! other pairing travels in PostgreSQL's text format and the server parses it, so
//! `Text("2024-05-01")` binds to a `date`, `Text` to `jsonb`/`uuid`/`numeric`/enums, and `I64` to
//! a `numeric`. With the statement cache off the types are not known in advance and every
//! parameter goes in text format, which the server parses the same way.
//!
//! **Columns**: `boolean` → `Bool`; `int2`/`int4`/`int8`/`oid` → `I64`; `float4`/`float8` →
//! `F64`; `bytea` → `Bytes`; `text`/`varchar`/`bpchar`/`name`/`"char"`/`json`/`jsonb`/`xml`/
//! enums → `Text`; `numeric`, `uuid`, `date`, `time`, `timestamp` and `timestamptz` (in UTC) →
//! `Text` as PostgreSQL prints them; `void` → `Null`; domains as their base type. Anything else
//! (arrays, ranges, composites, intervals, …) is a query error that suggests a cast
//! (`col::text`): the neutral API is for simple queries, the native client for the rest.
//!
//! ## Sessions
//!
//! Every connection sets `application_name` (default `"pool"`), TCP keepalives and a TCP user
//! timeout, so a blackholed server is noticed within a minute instead of hours (see
//! [`PostgresOptions`] for the numbers). [`PostgresConnection`] documents the value mapping,
//! the query timeout, the session reset and the statement cache.
//!
//! ## Behind PgBouncer
//!
//! Say so: `?pgbouncer=transaction` (or `session`) in the connection string, or
//! [`PostgresOptions::with_pgbouncer`]. In transaction mode the adapter then prepares nothing
//! by name (every statement is parsed unnamed in the same round trip as its execution), resets
//! nothing on return but a transaction left open, and cancels a timed-out statement with the
//! protocol cancel request, which PgBouncer forwards to the server connection running it; the
//! `pg_cancel_backend(pid)` it uses otherwise could hit another client's statement, since the
//! process id read at connect belongs to whichever server connection answered. Without the
//! setting, a named statement that went to another server connection fails with an error that
//! names the setting. [`PgbouncerMode`] has the table.
//!
//! ## Returning a connection: why the default sends nothing
//!
//! A pool must give the next holder a session with no open or failed transaction and none of
//! the previous holder's session state. Resetting on every return (`ROLLBACK` plus
//! `DISCARD ALL`, this adapter's old default) costs a round trip per checkout, throws away the
//! statement cache, and the `ROLLBACK` outside a transaction makes the server log
//! `WARNING: there is no transaction in progress` every time. So the adapter finds out what
//! needs cleaning instead of guessing:
//!
//! * **Transactions**: PostgreSQL reports the transaction status (idle, in a transaction, in a
//!   failed one) in every `ReadyForQuery`. tokio-postgres does not expose it, so the adapter
//!   dials its own sockets (honouring every host, port, timeout and keepalive setting of the
//!   connection string) and puts a small reader between the driver and the socket, above TLS,
//!   that watches the message headers go by. `ROLLBACK` is sent only when a transaction is
//!   open or failed, whether the holder used the neutral API or [`PostgresConnection::client`].
//! * **Session state**: the same reader scans the SQL of every `Query` and `Parse` message for
//!   statements that keep state past their transaction (`SET`, `RESET`, `LISTEN`, `PREPARE`,
//!   `DECLARE`, `CREATE TEMP …`, `set_config`, session advisory locks, `DO`, …), remembers
//!   prepared statements that do so (their later `Bind`s count too), and treats a
//!   `ParameterStatus` change (`SET TimeZone` from inside a function, `SET ROLE`) the same way.
//!   Only then does the return run `DISCARD ALL` minus `DEALLOCATE ALL`, which keeps the
//!   statement cache.
//! * **Everything else**: a return sends nothing and spawns no task; the connection goes
//!   straight back to the pool's fast lane.
//!
//! The scan cannot see state that a function or procedure changes from inside without the
//! server reporting it (a PL/pgSQL `SET work_mem` behind `SELECT f()`). Applications that do
//! that choose a reset that runs on every return ([`SessionReset`]). HikariCP makes the same
//! trade: it resets only the state its JDBC API saw change. The other variants never send a
//! `ROLLBACK` to an idle session either. [`PostgresConnection::server_notices`] counts the
//! warnings a session received; the tests check that the pool's own statements draw none.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

/// Implements `AsyncRead` for a one-field wrapper `$wrapper<S>` by delegating to the field,
/// and expands (inside its `AsyncWrite` impl) to `poll_write` and `poll_flush` delegating the
/// same way: the wrappers differ only in what they add.
macro_rules! delegate_io {
    (read for $wrapper:ident) => {
        impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for $wrapper<S> {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                Pin::new(&mut self.0).poll_read(cx, buf)
            }
        }
    };
    (write) => {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
    };
}

mod cancel;
mod connection;
mod connector;
mod dial;
mod error;
mod options;
mod session_sql;
mod session_target;
mod statement_cache;
mod tls;
mod types;
mod url;
mod wire;

pub use connection::PostgresConnection;
pub use connector::PostgresConnector;
pub use error::{PostgresError, classify};
pub use options::{
    DEFAULT_APPLICATION_NAME, PgbouncerMode, PostgresOptions, RootCerts, SessionReset, SslMode,
};
pub use session_target::TargetSession;

/// The driver this adapter is built on, re-exported so native code uses the same version.
pub use tokio_postgres;
