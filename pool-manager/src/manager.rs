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
use std::time::Duration;

use parking_lot::RwLock;
use pool_core::{Connector, Pool};

use crate::close::{CloseAllReport, close_members};
use crate::erased::{AnyPool, ManagedConnection};
use crate::error::{ManagerError, Result};
use crate::routing::{Member, Role, Route};
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

/// Pools are registered for the manager's whole life (there is no unregistering): a checkout
/// future can then borrow its pool from `&self`, which it must, because pool-core records the
/// caller of `get()` for leak reports (`#[track_caller]`) and that only reaches through
/// functions that create the pool's future synchronously.
#[derive(Default)]
struct Shared {
    /// Append-only; hands out `&Route` for as long as the manager lives.
    lookup: elsa::sync::FrozenMap<String, Arc<Route>>,
    /// The same routes, ordered, for listing, stats and closing.
    routes: RwLock<BTreeMap<String, Arc<Route>>>,
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
        let replicas = replicas
            .into_iter()
            .enumerate()
            .map(|(i, pool)| {
                Member::new(
                    format!("{name}.replica{}", i + 1),
                    pool.into(),
                    Role::Replica,
                )
            })
            .collect();
        let route = Route {
            primary: Member::new(name.clone(), primary.into(), Role::Primary),
            replicas,
        };
        let route = Arc::new(route);
        // Both maps change under the write lock, so they always agree.
        let mut routes = self.shared.routes.write();
        if routes.contains_key(&name) {
            return Err(ManagerError::DuplicatePool { name });
        }
        self.shared.lookup.insert(name.clone(), route.clone());
        routes.insert(name, route);
        Ok(())
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
        let checkout = match self.route(name) {
            Ok(route) => Ok(route.primary.checkout()),
            Err(error) => Err(error),
        };
        async move { checkout?.await }
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
        let checkout = match self.route(name) {
            Ok(route) => Ok(route.get_read()),
            Err(error) => Err(error),
        };
        async move { checkout?.await }
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

    fn snapshot(&self) -> Vec<Arc<Route>> {
        self.shared.routes.read().values().cloned().collect()
    }

    /// The route of `name`, borrowed for as long as the manager lives (the lookup's lock is
    /// released before this returns, so never held across an await).
    fn route(&self, name: &str) -> Result<&Route> {
        self.shared
            .lookup
            .get(name)
            .ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> ManagerError {
        ManagerError::UnknownPool {
            name: name.to_owned(),
            known: self.names(),
        }
    }
}
