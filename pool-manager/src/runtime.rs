//! Changing pools at run time, so a service can rotate a database without restarting:
//! [`PoolManager::remove`], [`replace`](PoolManager::replace),
//! [`replace_replicated`](PoolManager::replace_replicated) and
//! [`reload`](PoolManager::reload) of the configuration file.
//!
//! ## What the manager promises
//! - **Atomic swaps**: a name points to its old pools or to its new ones, never to a mix; the
//!   swap happens under the manager's write lock, before any pool is closed.
//! - **Graceful closes**: a removed or replaced pool is closed with a deadline. Callers
//!   holding its connections finish with them (each closes as it is returned); the report
//!   says whether every connection was back before the deadline.
//! - **Waiters follow the name**: a checkout waiting on a pool that a `replace` or a reload
//!   closes moves to the new pool instead of failing. After a `remove`, new checkouts fail
//!   with [`ManagerError::Removed`].
//! - **Reloads are all or nothing**: every pool the new file adds or changes is built before
//!   anything is swapped; if one fails (bad file, unknown scheme, unreachable database with
//!   `warmup = "fail_fast"`), the ones built are closed and the manager is left as it was.
//!   Pools whose section did not change keep the same `Pool`, with its connections.
//! - Metrics and stats follow the current pools: a removed pool's series disappear from the
//!   next scrape, a replaced pool's keep their name.
//!
//! What it does not promise: the old pools' handles stay allocated (closed, without
//! connections) for the manager's life, because checkout futures borrow them; a name
//! rotated thousands of times keeps thousands of small closed pools.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::close::{CloseAllReport, close_members};
use crate::config_file::ManagerConfig;
use crate::erased::AnyPool;
use crate::error::{ManagerError, Result};
use crate::manager::PoolManager;
use crate::routing::{Member, Role, Route};

/// What [`PoolManager::reload`] changed, by logical pool name (each sorted).
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Pools the new configuration adds.
    pub added: Vec<String>,
    /// Pools whose section changed: rebuilt, and the old pools closed.
    pub changed: Vec<String>,
    /// Pools whose section did not change: the same pools, with their connections.
    pub unchanged: Vec<String>,
    /// Pools the new configuration no longer has: closed.
    pub removed: Vec<String>,
    /// How the closes of the old pools (changed and removed) ended.
    pub closed: CloseAllReport,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "added: [{}], changed: [{}], unchanged: [{}], removed: [{}]; {}",
            self.added.join(", "),
            self.changed.join(", "),
            self.unchanged.join(", "),
            self.removed.join(", "),
            self.closed,
        )
    }
}

impl PoolManager {
    /// Removes the pool `name` (with its replicas) and closes it gracefully: new checkouts
    /// for the name fail with [`ManagerError::Removed`] at once, waiting ones with the
    /// pool's `Closed` error, and callers holding connections finish with them; the close
    /// waits up to `deadline` for them to come back. Removing an unknown name is
    /// [`ManagerError::UnknownPool`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use pool_core::Pool;
    /// # use pool_core::testing::TestConnector;
    /// # use pool_manager::{ManagerError, PoolManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = PoolManager::new();
    /// manager.register("old", Pool::builder(TestConnector::new()).min_size(1).build().await?)?;
    /// let report = manager.remove("old", Duration::from_secs(5)).await?;
    /// assert!(report.is_complete(), "{report}");
    /// assert!(matches!(manager.get("old").await, Err(ManagerError::Removed { .. })));
    /// # Ok(()) }
    /// ```
    pub async fn remove(&self, name: &str, deadline: Duration) -> Result<CloseAllReport> {
        let old = {
            let mut routes = self.shared().routes.write();
            self.uninstall(&mut routes, name)
        };
        let Some(old) = old else {
            return Err(ManagerError::UnknownPool {
                name: name.to_owned(),
                known: self.names(),
            });
        };
        tracing::info!(pool = name, "pool removed; closing it");
        Ok(close_route(&old, deadline).await)
    }

    /// Swaps the pool `name` for `pool` atomically: new checkouts go to `pool`, checkouts
    /// waiting on the old pool move to `pool`, and the old pool is closed gracefully
    /// (callers holding its connections finish with them) with `deadline` to drain. The
    /// report is the old pool's close. Spawn the returned future to drain in the
    /// background: the swap itself happens when it is first polled.
    ///
    /// A replicated name loses its replicas; use
    /// [`replace_replicated`](Self::replace_replicated) to keep some.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use pool_core::Pool;
    /// # use pool_core::testing::TestConnector;
    /// # use pool_manager::{AnyPool, PoolManager};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = PoolManager::new();
    /// manager.register("db", Pool::builder(TestConnector::new()).name("db").build().await?)?;
    /// let rotated: AnyPool = Pool::builder(TestConnector::new()).name("db").build().await?.into();
    /// let report = manager.replace("db", rotated.clone(), Duration::from_secs(5)).await?;
    /// assert!(report.is_complete(), "{report}");
    /// assert!(manager.any_pool("db")?.same_pool(&rotated));
    /// # Ok(()) }
    /// ```
    pub async fn replace(
        &self,
        name: &str,
        pool: impl Into<AnyPool>,
        deadline: Duration,
    ) -> Result<CloseAllReport> {
        self.replace_replicated(name, pool, Vec::<AnyPool>::new(), deadline)
            .await
    }

    /// [`replace`](Self::replace) for a logical pool with read replicas: the primary and
    /// every replica are swapped at once, and every old one is closed.
    pub async fn replace_replicated<P: Into<AnyPool>>(
        &self,
        name: &str,
        primary: impl Into<AnyPool>,
        replicas: impl IntoIterator<Item = P>,
        deadline: Duration,
    ) -> Result<CloseAllReport> {
        let route = new_route(name, primary.into(), replicas.into_iter().map(Into::into));
        let old = {
            let mut routes = self.shared().routes.write();
            if !routes.contains_key(name) {
                return Err(ManagerError::UnknownPool {
                    name: name.to_owned(),
                    known: routes.keys().cloned().collect(),
                });
            }
            self.install(&mut routes, name.to_owned(), route)
        };
        tracing::info!(pool = name, "pool replaced; closing the old one");
        Ok(match old {
            Some(old) => close_route(&old, deadline).await,
            None => CloseAllReport::default(),
        })
    }

    /// Reads the configuration file at `path` again and applies it: see
    /// [`reload`](Self::reload). A file that cannot be read or parsed fails with the same
    /// errors as at startup, and changes nothing.
    pub async fn reload_file(
        &self,
        path: impl AsRef<Path>,
        deadline: Duration,
    ) -> Result<ReloadReport> {
        let config = ManagerConfig::from_file(path)?;
        self.reload(&config, deadline).await
    }

    /// Applies a new configuration to a manager built by
    /// [`ManagerConfig::build`]: pools whose section changed are rebuilt and swapped in
    /// (as [`replace_replicated`](Self::replace_replicated) does), unchanged ones are left
    /// alone (same pool, same connections), pools no longer in the file are closed
    /// gracefully, and new ones are added. The old pools get `deadline` to drain.
    ///
    /// All or nothing: if any new pool fails to build, nothing changes and the build's
    /// error is returned. A manager not built from a configuration fails with
    /// [`ManagerError::NoRegistry`]. Pools registered by hand, under names the files never
    /// had, are left alone; a name registered by hand that the new file now has is
    /// replaced (reported as changed), and a name the file had but that was removed by hand
    /// is added again.
    pub async fn reload(&self, config: &ManagerConfig, deadline: Duration) -> Result<ReloadReport> {
        let _one_at_a_time = self.shared().reloading.lock().await;
        let (registry, previous) = self
            .shared()
            .source
            .lock()
            .clone()
            .ok_or(ManagerError::NoRegistry)?;
        // A pool removed by hand since is added again; one replaced by hand is left alone
        // while its section does not change.
        let registered = self.names();
        let is_registered = |name: &String| registered.binary_search(name).is_ok();
        let mut report = ReloadReport::default();
        for (name, spec) in &config.pools {
            match previous.pools.get(name) {
                _ if !is_registered(name) => report.added.push(name.clone()),
                None => report.changed.push(name.clone()),
                Some(old) if old == spec => report.unchanged.push(name.clone()),
                Some(_) => report.changed.push(name.clone()),
            }
        }
        report.removed = previous
            .pools
            .keys()
            .filter(|name| !config.pools.contains_key(*name) && is_registered(name))
            .cloned()
            .collect();
        let rebuild = |name: &str| !report.unchanged.iter().any(|n| n == name);
        let built = config.build_pools(&registry, rebuild).await?;

        let old: Vec<Arc<Route>> = {
            let mut routes = self.shared().routes.write();
            let mut old = Vec::new();
            for (name, (primary, replicas)) in built {
                let route = new_route(&name, primary, replicas.into_iter());
                old.extend(self.install(&mut routes, name, route));
            }
            for name in &report.removed {
                old.extend(self.uninstall(&mut routes, name));
            }
            old
        };
        self.remember_source(registry, config.clone());
        tracing::info!(
            added = ?report.added,
            changed = ?report.changed,
            removed = ?report.removed,
            "configuration reloaded; closing the old pools"
        );
        let members = old.iter().flat_map(|route| members_of(route)).collect();
        report.closed = close_members(members, deadline).await;
        Ok(report)
    }
}

/// A route named `name` with replicas named `{name}.replica1`, ...
pub(crate) fn new_route(
    name: &str,
    primary: AnyPool,
    replicas: impl Iterator<Item = AnyPool>,
) -> Route {
    Route {
        primary: Member::new(name.to_owned(), primary, Role::Primary),
        replicas: replicas
            .enumerate()
            .map(|(i, pool)| Member::new(format!("{name}.replica{}", i + 1), pool, Role::Replica))
            .collect(),
    }
}

fn members_of(route: &Route) -> Vec<(Arc<str>, AnyPool)> {
    route
        .members()
        .map(|m| (m.name.clone(), m.pool.clone()))
        .collect()
}

async fn close_route(route: &Route, deadline: Duration) -> CloseAllReport {
    close_members(members_of(route), deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_each_kind_of_change() {
        let report = ReloadReport {
            added: vec!["new".into()],
            changed: vec!["orders".into()],
            unchanged: vec!["cache".into()],
            removed: vec!["old".into()],
            closed: CloseAllReport::default(),
        };
        assert_eq!(
            report.to_string(),
            "added: [new], changed: [orders], unchanged: [cache], removed: [old]; all 0 pools closed"
        );
    }
}
