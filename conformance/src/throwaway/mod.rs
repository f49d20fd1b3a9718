//! Throwaway database servers for tests that must stop, kill or restart a server: each has its
//! own data directory in a temporary directory and its own free port on `127.0.0.1`, and is
//! stopped (and its directory deleted) when dropped. The machine's shared servers are never
//! touched.
//!
//! * [`ThrowawayPostgres`]: PostgreSQL 15 from `/usr/lib/postgresql/15/bin`, run as the
//!   `postgres` OS user through `runuser` (PostgreSQL refuses to run as root), trust
//!   authentication or, with a password, `scram-sha-256`.
//! * [`ThrowawayMariadb`]: `mariadb-install-db` and `mariadbd` from `PATH`, started without
//!   grant tables (any user, no password).
//! * [`ThrowawayPgbouncer`]: Debian's PgBouncer (`pgbouncer` on `PATH`, installed by
//!   `cargo xtask services`) in session or transaction mode ([`PoolMode`]) in front of a
//!   [`ThrowawayPostgres`] of its own, run as the `postgres` OS user, trust authentication.
//!
//! Starting one takes a few seconds (`initdb`, `mariadb-install-db`); the methods block, so
//! call them from `tokio::task::spawn_blocking` inside a runtime.

mod mariadb;
mod pgbouncer;
mod postgres;

pub use mariadb::ThrowawayMariadb;
pub use pgbouncer::{PoolMode, ThrowawayPgbouncer};
pub use postgres::ThrowawayPostgres;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `port`.
fn wait_listening(port: u16, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= deadline {
            return Err(format!("nothing listens on port {port} after {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
