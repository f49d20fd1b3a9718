//! Which server process a session belongs to, so a `KILL` sent from a side connection can only
//! reach the session it means.
//!
//! MySQL and MariaDB number sessions from 1 again after a restart, so `KILL CONNECTION 17` sent
//! to a restarted server ends whatever session now has id 17, possibly one of this pool's own
//! fresh ones. PostgreSQL's side cancel is guarded by the backend's pid and start time; this is
//! the MySQL equivalent: each connection records `@@server_id` and the server's start time
//! (now minus `Uptime`, in whole seconds) when it opens, and a side connection checks that it
//! sees the same before it kills anything.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// One statement, two result sets, one round trip.
const QUERY: &str = "SELECT @@server_id, UNIX_TIMESTAMP(); SHOW GLOBAL STATUS LIKE 'Uptime'";

/// The server's start time is computed from two clocks that tick in whole seconds at different
/// moments; two sessions of one server can see it differ by a second or two.
const START_TOLERANCE_SECS: i64 = 2;

/// A server process: its configured id and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incarnation {
    server_id: u64,
    started_unix_secs: i64,
}

impl Incarnation {
    /// Whether `other` is the same server process as `self`.
    pub(crate) fn same_as(self, other: Incarnation) -> bool {
        self.server_id == other.server_id
            && (self.started_unix_secs - other.started_unix_secs).abs() <= START_TOLERANCE_SECS
    }

    /// An incarnation that matches no server (for the test hook that simulates a restart).
    pub(crate) fn elsewhere() -> Self {
        Self {
            server_id: u64::MAX,
            started_unix_secs: 0,
        }
    }
}

/// Reads the incarnation of the server `conn` is connected to; `None` if the server would not
/// say (a proxy that hides `SHOW GLOBAL STATUS`, a role without the privilege).
pub(crate) async fn read(conn: &mut Conn) -> Option<Incarnation> {
    let mut result = conn.query_iter(QUERY).await.ok()?;
    let first: Vec<(u64, i64)> = result.collect().await.ok()?;
    let second: Vec<(String, String)> = result.collect().await.ok()?;
    result.drop_result().await.ok()?;
    let &(server_id, now) = first.first()?;
    let uptime: i64 = second.first()?.1.parse().ok()?;
    Some(Incarnation {
        server_id,
        started_unix_secs: now - uptime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_server_matches_within_the_tolerance_and_a_restart_does_not() {
        let at = |server_id, started_unix_secs| Incarnation {
            server_id,
            started_unix_secs,
        };
        assert!(at(1, 1_000).same_as(at(1, 1_001)));
        assert!(at(1, 1_000).same_as(at(1, 998)));
        assert!(!at(1, 1_000).same_as(at(1, 1_010)), "restarted 10 s later");
        assert!(!at(1, 1_000).same_as(at(2, 1_000)), "another server");
        assert!(!Incarnation::elsewhere().same_as(at(1, 0)));
    }
}
