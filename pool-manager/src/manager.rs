//! [`PoolManager`]: named pools of different databases behind one handle.
//!
//! ## What the manager promises
//! - **Isolation**: every pool keeps its own limits, queue, breaker and background tasks; the
//!   manager adds no shared lock or queue on the checkout path (a name lookup under a
//!   read lock that is released before any await). An exhausted, failing or closed pool never
//!   slows another.
//! - **Honest names**: an unknown name is an error listing the names that exist; every pool
//!   error says which pool it came from.
//! - **Type erasure without loss**: checkouts are [`ManagedConnection`]s usable through
//!   [`ConnectionProtocol`](pool_core::ConnectionProtocol), and the typed pool or the
//!   adapter's connection stay reachable by downcasting.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use pool_core::{Connector, Pool};

use crate::close::{CloseAllReport, close_members};
use crate::config_file::ManagerConfig;
use crate::erased::{AnyPool, ManagedConnection};
use crate::error::{ManagerError, Result};
use crate::registry::AdapterRegistry;
use crate::routing::{Role, Route};
use crate::stats::{ManagerStats, RouteStats};

/// Named pools behind one handle. Cheap to clone: clones share the pools.
///
/// ```
/// use pool_core::{ConnectionProtocol, Pool};
/// use pool_core::testing::TestConnector;
/// use pool_manager::PoolManager;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = PoolManager::new();
/// manager.register("orders", Pool::builder(TestConnector::new()).min_size(1).build().await?)?;
/// manager.register("cache", Pool::builder(TestConnector::new()).min_size(1).build().await?)?;
///
/// let mut conn = manager.get("orders").await?;
/// conn.query("SELECT 1", &[]).await?;
///
/// let err = manager.get("ordres").await.unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "no pool named `ordres`; the registered pools are: cache, orders"
/// );
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct PoolManager {
    shared: Arc<Shared>,
}

/// A checkout future borrows its pool from `&self`, which it must, because pool-core records
/// the caller of `get()` for leak reports (`#[track_caller]`) and that only reaches through
/// functions that create the pool's future synchronously. So what a name has ever pointed to
/// stays allocated for the manager's life (a [`Slot`]'s history); removing or replacing a
/// pool only moves the name's current entry and closes the old pools, which then hold no
/// connection.
#[derive(Default)]
pub(crate) struct Shared {
    /// Append-only: every name ever registered, with the history of its routes.
    lookup: elsa::sync::FrozenMap<String, Box<Slot>>,
    /// The current routes, ordered, for listing, stats, metrics and closing. Changed only
    /// under this write lock, together with the slots' `current`, so both always agree.
    pub(crate) routes: RwLock<BTreeMap<String, Arc<Route>>>,
    /// What the manager was built from, when it was built from a configuration: a reload
    /// needs both.
    pub(crate) source: parking_lot::Mutex<Option<(AdapterRegistry, ManagerConfig)>>,
    /// Serializes reloads, so two concurrent ones never diff against the same old config.
    pub(crate) reloading: tokio::sync::Mutex<()>,
}

/// Every route a name has had, and which one is current.
#[derive(Default)]
pub(crate) struct Slot {
    /// Append-only, so `&Route` handed to checkout futures stays valid.
    history: elsa::sync::FrozenVec<Arc<Route>>,
    /// Index into `history`, or [`REMOVED`].
    current: AtomicUsize,
}

/// `Slot::current` of a removed name.
const REMOVED: usize = usize::MAX;

impl Slot {
    /// The current route and its index (its generation), unless removed.
    fn current(&self) -> Option<(usize, &Route)> {
        let index = self.current.load(Ordering::Acquire);
        self.history.get(index).map(|route| (index, route))
    }

    /// True while `generation` is still the current route.
    fn is_current(&self, generation: usize) -> bool {
        self.current.load(Ordering::Acquire) == generation
    }
}

impl fmt::Debug for PoolManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = self.shared.routes.read();
        let mut map = f.debug_map();
        for (name, route) in routes.iter() {
            map.entry(name, &route.member_names());
        }
        map.finish()
    }
}

impl PoolManager {
    /// An empty manager.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `pool` under `name`. Fails if the name is taken.
    ///
    /// The pool keeps the name it was built with for its own logs; give the builder the same
    /// name (`.name("orders")`) so logs and metrics agree. Pools built from a configuration
    /// file get it automatically.
    pub fn register(&self, name: impl Into<String>, pool: impl Into<AnyPool>) -> Result<()> {
        self.register_replicated(name, pool, Vec::<AnyPool>::new())
    }

    /// Registers a logical pool with a primary and read replicas. Writes
    /// ([`get_write`](Self::get_write), [`get`](Self::get)) go to the primary; reads
    /// ([`get_read`](Self::get_read)) to a healthy replica. Replicas are named
    /// `{name}.replica1`, `{name}.replica2`, ... in stats and metrics.
    pub fn register_replicated<P: Into<AnyPool>>(
        &self,
        name: impl Into<String>,
        primary: impl Into<AnyPool>,
        replicas: impl IntoIterator<Item = P>,
    ) -> Result<()> {
        let name = name.into();
        let route =
            crate::runtime::new_route(&name, primary.into(), replicas.into_iter().map(Into::into));
        let mut routes = self.shared.routes.write();
        if routes.contains_key(&name) {
            return Err(ManagerError::DuplicatePool { name });
        }
        self.install(&mut routes, name, route);
        Ok(())
    }

    /// Makes `route` the current one of `name` (registering the name if new) and returns
    /// the route it replaced. Called under the routes' write lock, so the lookup and the
    /// ordered map always agree.
    pub(crate) fn install(
        &self,
        routes: &mut BTreeMap<String, Arc<Route>>,
        name: String,
        route: Route,
    ) -> Option<Arc<Route>> {
        let route = Arc::new(route);
        let slot = match self.shared.lookup.get(&name) {
            Some(slot) => slot,
            None => self.shared.lookup.insert(name.clone(), Box::default()),
        };
        let index = slot.history.push_get_index(route.clone());
        slot.current.store(index, Ordering::Release);
        crate::replica_lag::start(&route);
        routes.insert(name, route)
    }

    /// Takes `name` out: new checkouts fail with [`ManagerError::Removed`]. Returns the
    /// route that was current. Called under the routes' write lock.
    pub(crate) fn uninstall(
        &self,
        routes: &mut BTreeMap<String, Arc<Route>>,
        name: &str,
    ) -> Option<Arc<Route>> {
        let old = routes.remove(name)?;
        if let Some(slot) = self.shared.lookup.get(name) {
            slot.current.store(REMOVED, Ordering::Release);
        }
        Some(old)
    }

    /// Keeps what a manager was built from, for [`reload`](Self::reload).
    pub(crate) fn remember_source(&self, registry: AdapterRegistry, config: ManagerConfig) {
        *self.shared.source.lock() = Some((registry, config));
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// A connection from the pool `name` (its primary, for a replicated pool).
    ///
    /// Pool-core's leak reports name the line that called this (`#[track_caller]`).
    #[track_caller]
    pub fn get<'a>(
        &'a self,
        name: &str,
    ) -> impl Future<Output = Result<ManagedConnection>> + Send + use<'a> {
        // No closure here: a closure would end the `#[track_caller]` chain.
        let checkout = match self.current(name) {
            Ok((slot, generation, route)) => Ok((slot, generation, route.primary.checkout())),
            Err(error) => Err(error),
        };
        async move {
            let (slot, generation, first) = checkout?;
            match first.await {
                Err(error) if error.is_pool_closed() && !slot.is_current(generation) => {
                    self.moved(slot, false).await
                }
                done => done,
            }
        }
    }

    /// A connection for writing: always the primary of `name`.
    #[track_caller]
    pub fn get_write<'a>(
        &'a self,
        name: &str,
    ) -> impl Future<Output = Result<ManagedConnection>> + Send + use<'a> {
        self.get(name)
    }

    /// A connection for reading: a healthy replica of `name` (the one with the fewest
    /// connections handed out, skipping closed ones and those whose circuit breaker is not
    /// closed), else the primary. See [`routing`](crate::routing).
    #[track_caller]
    pub fn get_read<'a>(
        &'a self,
        name: &str,
    ) -> impl Future<Output = Result<ManagedConnection>> + Send + use<'a> {
        let checkout = match self.current(name) {
            Ok((slot, generation, route)) => Ok((slot, generation, route.get_read())),
            Err(error) => Err(error),
        };
        async move {
            let (slot, generation, first) = checkout?;
            match first.await {
                Err(error) if error.is_pool_closed() && !slot.is_current(generation) => {
                    self.moved(slot, true).await
                }
                done => done,
            }
        }
    }

    /// A checkout whose pool was closed by a `replace` or a reload while it waited: it moves
    /// to the name's current route (again, if that one is replaced meanwhile). Pool-core's
    /// leak reports name this function for it rather than the application's line.
    async fn moved(&self, slot: &Slot, read: bool) -> Result<ManagedConnection> {
        loop {
            let Some((generation, route)) = slot.current() else {
                return Err(self.removed_or_unknown(slot));
            };
            let result = if read {
                route.get_read().await
            } else {
                route.primary.checkout().await
            };
            match result {
                Err(error) if error.is_pool_closed() && !slot.is_current(generation) => continue,
                done => return done,
            }
        }
    }

    /// The typed pool registered as `name` (the primary, for a replicated pool), for the
    /// adapter's full API.
    ///
    /// ```
    /// # use pool_core::Pool;
    /// # use pool_core::testing::TestConnector;
    /// # use pool_manager::PoolManager;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = PoolManager::new();
    /// manager.register("orders", Pool::builder(TestConnector::new()).min_size(0).build().await?)?;
    /// let pool: Pool<TestConnector> = manager.pool("orders")?;
    /// assert_eq!(pool.stats().max_size, 100);
    /// # Ok(()) }
    /// ```
    pub fn pool<M: Connector>(&self, name: &str) -> Result<Pool<M>> {
        let route = self.route(name)?;
        let any = &route.primary.pool;
        any.downcast::<M>().ok_or_else(|| ManagerError::WrongType {
            name: name.to_owned(),
            expected: std::any::type_name::<M>(),
            actual: any.connector_type(),
        })
    }

    /// The type-erased pool registered as `name` (the primary, for a replicated pool).
    pub fn any_pool(&self, name: &str) -> Result<AnyPool> {
        Ok(self.route(name)?.primary.pool.clone())
    }

    /// The read replicas of `name`, in order (empty when it has none).
    pub fn replicas(&self, name: &str) -> Result<Vec<AnyPool>> {
        Ok(self
            .route(name)?
            .replicas
            .iter()
            .map(|m| m.pool.clone())
            .collect())
    }

    /// The replication lag of each read replica of `name`, by the name it appears under in
    /// stats and metrics (`{name}.replica1`, …): the last sample taken within
    /// [`STALE_AFTER`](crate::replica_lag::STALE_AFTER), or `None` when there is none (the
    /// adapter cannot tell, no idle connection was free, or the replica is not replicating).
    /// Sampled every [`SAMPLE_INTERVAL`](crate::replica_lag::SAMPLE_INTERVAL) in the
    /// background; [`sample_replica_lag`](Self::sample_replica_lag) samples at once.
    pub fn replica_lag(&self, name: &str) -> Result<Vec<(String, Option<Duration>)>> {
        Ok(self
            .route(name)?
            .replicas
            .iter()
            .map(|m| (m.name.to_string(), m.lag.current()))
            .collect())
    }

    /// Samples every replica's lag now (through idle connections only), instead of waiting
    /// for the background sampler.
    pub async fn sample_replica_lag(&self) {
        for route in self.snapshot() {
            crate::replica_lag::sample(&route).await;
        }
    }

    /// The registered (logical) names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.shared.routes.read().keys().cloned().collect()
    }

    /// Every pool with the name it appears under in stats and metrics (replicas included),
    /// sorted by logical name, primary first.
    pub fn pools(&self) -> Vec<(String, AnyPool)> {
        self.snapshot()
            .iter()
            .flat_map(|route| route.members())
            .map(|m| (m.name.to_string(), m.pool.clone()))
            .collect()
    }

    /// Every pool's numbers, serializable to JSON.
    pub fn stats(&self) -> ManagerStats {
        let mut stats = ManagerStats::default();
        for route in self.snapshot() {
            for member in route.members() {
                stats
                    .pools
                    .insert(member.name.to_string(), member.pool.stats());
            }
            stats.routes.insert(
                route.primary.name.to_string(),
                RouteStats {
                    primary: route.primary.name.to_string(),
                    replicas: route.replicas.iter().map(|m| m.name.to_string()).collect(),
                },
            );
        }
        stats
    }

    /// Closes every pool in parallel, each with `deadline` to drain, and reports which did
    /// not finish in time (connections still checked out close as they are returned).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use pool_core::Pool;
    /// # use pool_core::testing::TestConnector;
    /// # use pool_manager::PoolManager;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = PoolManager::new();
    /// manager.register("a", Pool::builder(TestConnector::new()).min_size(1).build().await?)?;
    /// let report = manager.close_all(Duration::from_secs(5)).await;
    /// assert!(report.is_complete(), "{report}");
    /// # Ok(()) }
    /// ```
    pub async fn close_all(&self, deadline: Duration) -> CloseAllReport {
        let members: Vec<(Arc<str>, AnyPool)> = self
            .snapshot()
            .iter()
            .flat_map(|route| route.members())
            .map(|m| (m.name.clone(), m.pool.clone()))
            .collect();
        close_members(members, deadline).await
    }

    /// The role of a pool name as it appears in stats (`orders` → primary,
    /// `orders.replica1` → replica).
    pub fn role_of(&self, pool_name: &str) -> Option<Role> {
        self.snapshot().iter().find_map(|route| {
            route
                .members()
                .find(|m| &*m.name == pool_name)
                .map(|m| m.role)
        })
    }

    /// Every pool as [`pools`](Self::pools) lists them, with its replication lag when known.
    pub(crate) fn pools_with_lag(&self) -> Vec<(String, AnyPool, Option<Duration>)> {
        self.snapshot()
            .iter()
            .flat_map(|route| route.members())
            .map(|m| (m.name.to_string(), m.pool.clone(), m.lag.current()))
            .collect()
    }

    fn snapshot(&self) -> Vec<Arc<Route>> {
        self.shared.routes.read().values().cloned().collect()
    }

    /// The current route of `name`, borrowed for as long as the manager lives (the lookup's
    /// lock is released before this returns, so never held across an await).
    fn route(&self, name: &str) -> Result<&Route> {
        self.current(name).map(|(_, _, route)| route)
    }

    /// The slot of `name`, its current generation and route.
    fn current(&self, name: &str) -> Result<(&Slot, usize, &Route)> {
        let slot = self
            .shared
            .lookup
            .get(name)
            .ok_or_else(|| self.unknown(name))?;
        match slot.current() {
            Some((generation, route)) => Ok((slot, generation, route)),
            None => Err(ManagerError::Removed {
                name: name.to_owned(),
            }),
        }
    }

    fn removed_or_unknown(&self, slot: &Slot) -> ManagerError {
        match slot.history.get(0) {
            Some(route) => ManagerError::Removed {
                name: route.primary.name.to_string(),
            },
            None => self.unknown(""),
        }
    }

    fn unknown(&self, name: &str) -> ManagerError {
        ManagerError::UnknownPool {
            name: name.to_owned(),
            known: self.names(),
        }
    }
}
