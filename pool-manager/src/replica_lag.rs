//! Replica lag: how far each read replica's data is behind its primary, sampled in the
//! background and exported as `db_client_replica_lag_seconds`.
//!
//! Every [`SAMPLE_INTERVAL`] a task per logical pool with replicas asks each replica through
//! an idle connection ([`ConnectionProtocol::replication_lag`](pool_core::ConnectionProtocol::replication_lag)):
//! it never opens a connection or waits for one, so sampling takes nothing from callers, and a
//! replica with no idle connection keeps its last value. A sample older than [`STALE_AFTER`]
//! is dropped, so a replica that stopped answering stops exporting a lag rather than showing a
//! stale one. Adapters that cannot tell (SQLite) report nothing, and the gauge is absent for
//! their replicas.
//!
//! The task starts when the route is installed inside a Tokio runtime and ends when every
//! replica of its route is closed (a removed or replaced route closes its pools).

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::routing::{Member, Route};

/// How often each replica is asked.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// A sample older than this is not shown: three intervals without an answer.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// A replica's last known lag, and when it was measured.
#[derive(Debug, Default)]
pub(crate) struct LagCell(Mutex<Option<(Duration, Instant)>>);

impl LagCell {
    /// The lag measured within [`STALE_AFTER`], if any.
    pub(crate) fn current(&self) -> Option<Duration> {
        let (lag, at) = (*self.0.lock())?;
        (at.elapsed() <= STALE_AFTER).then_some(lag)
    }

    fn store(&self, lag: Duration) {
        *self.0.lock() = Some((lag, Instant::now()));
    }
}

/// Asks each replica of `route` for its lag once, through an idle connection, and records
/// the answers.
pub(crate) async fn sample(route: &Route) {
    for member in &route.replicas {
        sample_member(member).await;
    }
}

async fn sample_member(member: &Member) {
    if let Some(lag) = member.pool.idle_replication_lag().await {
        member.lag.store(lag);
    }
}

/// Starts the background sampling of `route`'s replicas, if it has any and a runtime runs.
pub(crate) fn start(route: &Arc<Route>) {
    if route.replicas.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let route: Weak<Route> = Arc::downgrade(route);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(SAMPLE_INTERVAL).await;
            let Some(route) = route.upgrade() else { return };
            if route.replicas.iter().all(|m| m.pool.is_closed()) {
                return;
            }
            sample(&route).await;
        }
    });
}
