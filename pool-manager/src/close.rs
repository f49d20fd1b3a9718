//! Closing every pool at once: [`CloseAllReport`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;

use crate::erased::AnyPool;

/// Extra time allowed past the deadline for a pool's close to report, before the manager stops
/// waiting for it and reports it as not closed.
const REPORT_GRACE: Duration = Duration::from_millis(100);

/// How one pool's close ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PoolCloseOutcome {
    /// Every connection was closed before the deadline.
    pub complete: bool,
    /// Connections still checked out at the deadline (`None` when the close itself did not
    /// report in time).
    pub still_checked_out: Option<usize>,
}

/// What [`PoolManager::close_all`](crate::PoolManager::close_all) achieved by its deadline.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CloseAllReport {
    /// Each pool's outcome, by name.
    pub pools: BTreeMap<String, PoolCloseOutcome>,
}

impl CloseAllReport {
    /// True when every pool closed completely in time.
    pub fn is_complete(&self) -> bool {
        self.pools.values().all(|o| o.complete)
    }

    /// The pools that did not close completely in time, sorted.
    pub fn not_closed(&self) -> Vec<&str> {
        self.pools
            .iter()
            .filter(|(_, o)| !o.complete)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

impl fmt::Display for CloseAllReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            return write!(f, "all {} pools closed", self.pools.len());
        }
        write!(f, "not closed in time:")?;
        for (name, outcome) in self.pools.iter().filter(|(_, o)| !o.complete) {
            match outcome.still_checked_out {
                Some(n) => write!(f, " {name} ({n} still checked out)")?,
                None => write!(f, " {name} (close did not report)")?,
            }
        }
        Ok(())
    }
}

pub(crate) async fn close_members(
    members: Vec<(Arc<str>, AnyPool)>,
    deadline: Duration,
) -> CloseAllReport {
    let mut report = CloseAllReport::default();
    let mut closing = JoinSet::new();
    for (name, pool) in members {
        // Every pool gets an outcome, even if its task never reports.
        report.pools.insert(
            name.to_string(),
            PoolCloseOutcome {
                complete: false,
                still_checked_out: None,
            },
        );
        closing.spawn(async move {
            let outcome = tokio::time::timeout(deadline + REPORT_GRACE, pool.close(deadline)).await;
            (name, outcome)
        });
    }
    while let Some(joined) = closing.join_next().await {
        let Ok((name, Ok(closed))) = joined else {
            continue;
        };
        report.pools.insert(
            name.to_string(),
            PoolCloseOutcome {
                complete: closed.complete,
                still_checked_out: Some(closed.still_checked_out),
            },
        );
    }
    if !report.is_complete() {
        tracing::warn!(pools = ?report.not_closed(), "some pools did not close before the deadline");
    }
    report
}
