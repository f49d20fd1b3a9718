//! The targets for this workspace's three adapters, each behind its cargo feature, and where
//! they find their servers.
//!
//! | target | environment variable | default |
//! |---|---|---|
//! | [`PostgresTarget`] | `CONFORMANCE_POSTGRES_URL` | `postgres://postgres@127.0.0.1:5432/test` |
//! | [`MysqlTarget`] | `CONFORMANCE_MYSQL_URL` | `mysql://root@127.0.0.1:3306/test` |
//! | [`SqliteTarget`] | `CONFORMANCE_SQLITE_DIR` (where its database files go) | the system's temporary directory |
//! | [`PgbouncerTarget`] | none: a throwaway PgBouncer (transaction mode) and PostgreSQL of its own | |

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod pgbouncer;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "mysql")]
pub use mysql::{MYSQL_URL_ENV, MysqlTarget};
#[cfg(feature = "postgres")]
pub use pgbouncer::PgbouncerTarget;
#[cfg(feature = "postgres")]
pub use postgres::{POSTGRES_URL_ENV, PostgresTarget};
#[cfg(feature = "sqlite")]
pub use sqlite::{SQLITE_DIR_ENV, SqliteTarget};

use std::time::Duration;

/// How long a target waits for the server to confirm a killed session is gone.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const KILL_SETTLE: Duration = Duration::from_secs(10);

/// How often it looks.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const POLL: Duration = Duration::from_millis(10);

/// The side connections' connect timeout: the probe and the kills must not hang on a dead host.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const SIDE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `scheme://user:password@host/…` with the password replaced by `***`, for messages.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The value of environment variable `name`, or `default` when it is unset or empty.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[cfg(all(test, any(feature = "postgres", feature = "mysql")))]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        for (url, shown) in [
            (
                "postgres://app:s3cr:et@db:5432/x?sslmode=require",
                "postgres://app:***@db:5432/x?sslmode=require",
            ),
            (
                "mysql://root@127.0.0.1:3306/test",
                "mysql://root@127.0.0.1:3306/test",
            ),
            ("mysql://u:p@h", "mysql://u:***@h"),
            ("host=db user=app", "host=db user=app"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
    }
}
