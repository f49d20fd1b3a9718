//! Type erasure: [`AnyPool`] holds a `pool_core::Pool` of any connector, and
//! [`ManagedConnection`] a checked-out connection of any database.
//!
//! Both keep the concrete type reachable: [`AnyPool::downcast`] gives the typed `Pool` back,
//! [`ManagedConnection::downcast_mut`] the adapter's connection type with its native client.

use std::any::{Any, type_name};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pool_core::{
    BoxFuture, CircuitState, CloseReport, ConnectionProtocol, Connector, Pool, PoolConfig,
    PoolHistograms, PoolStats, PooledConnection,
};

/// What the manager needs from a pool, whatever its connector.
trait ErasedPool: Send + Sync + 'static {
    /// `#[track_caller]` all the way down: pool-core records the application's call site for
    /// leak reports, so the future is created here, synchronously, borrowing the pool.
    #[track_caller]
    fn get(
        &self,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, pool_core::Result<Box<dyn ErasedConnection>>>;
    fn stats(&self) -> PoolStats;
    fn histograms(&self) -> PoolHistograms;
    fn circuit_state(&self) -> CircuitState;
    fn is_closed(&self) -> bool;
    fn close(&self, deadline: Duration) -> BoxFuture<'_, CloseReport>;
    fn config(&self) -> &PoolConfig;
    fn connector_type(&self) -> &'static str;
    fn as_any(&self) -> &dyn Any;
    /// The replication lag through an idle connection, if one is free (never opens or waits
    /// for one): `None` when none is idle, on error, or when the server cannot tell.
    fn idle_replication_lag(&self) -> BoxFuture<'_, Option<Duration>>;
}

impl<M: Connector> ErasedPool for Pool<M> {
    #[track_caller]
    fn get(
        &self,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, pool_core::Result<Box<dyn ErasedConnection>>> {
        // `Pool::get` is `get_timeout(config.acquire_timeout)`.
        let get = self.get_timeout(timeout.unwrap_or(Pool::config(self).acquire_timeout));
        Box::pin(async move { Ok(Box::new(get.await?) as Box<dyn ErasedConnection>) })
    }
    fn stats(&self) -> PoolStats {
        Pool::stats(self)
    }
    fn histograms(&self) -> PoolHistograms {
        Pool::histograms(self)
    }
    fn circuit_state(&self) -> CircuitState {
        self.circuit_breaker().state()
    }
    fn is_closed(&self) -> bool {
        Pool::is_closed(self)
    }
    fn close(&self, deadline: Duration) -> BoxFuture<'_, CloseReport> {
        Box::pin(Pool::close(self, deadline))
    }
    fn config(&self) -> &PoolConfig {
        Pool::config(self)
    }
    fn connector_type(&self) -> &'static str {
        type_name::<M>()
    }
    fn idle_replication_lag(&self) -> BoxFuture<'_, Option<Duration>> {
        Box::pin(async move {
            let mut conn = self.try_get().await.ok()??;
            conn.replication_lag().await.ok()?
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What the manager needs from a checked-out connection, whatever its database.
trait ErasedConnection: Send {
    fn protocol(&self) -> &dyn ConnectionProtocol;
    fn protocol_mut(&mut self) -> &mut dyn ConnectionProtocol;
    fn native(&self) -> &dyn Any;
    fn native_mut(&mut self) -> &mut dyn Any;
    fn id(&self) -> u64;
}

impl<M: Connector> ErasedConnection for PooledConnection<M> {
    fn protocol(&self) -> &dyn ConnectionProtocol {
        &**self
    }
    fn protocol_mut(&mut self) -> &mut dyn ConnectionProtocol {
        &mut **self
    }
    fn native(&self) -> &dyn Any {
        &**self
    }
    fn native_mut(&mut self) -> &mut dyn Any {
        &mut **self
    }
    fn id(&self) -> u64 {
        PooledConnection::id(self)
    }
}

/// A pool of any database, behind one type. Cheap to clone: clones share the pool.
///
/// Made from a typed pool with [`AnyPool::new`] or `.into()`; [`downcast`](Self::downcast)
/// gives the typed pool back.
///
/// ```
/// use pool_core::Pool;
/// use pool_core::testing::TestConnector;
/// use pool_manager::AnyPool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder(TestConnector::new()).min_size(1).build().await?;
/// let any = AnyPool::new(pool);
/// let mut conn = any.get().await?;
/// assert_eq!(conn.query("SELECT 1", &[]).await?.len(), 1);
/// assert!(any.downcast::<TestConnector>().is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AnyPool {
    pool: Arc<dyn ErasedPool>,
    in_use: Arc<AtomicUsize>,
}

impl fmt::Debug for AnyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyPool")
            .field("name", &self.config().name)
            .field("connector", &self.pool.connector_type())
            .field("in_use", &self.in_use())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<M: Connector> From<Pool<M>> for AnyPool {
    fn from(pool: Pool<M>) -> Self {
        Self::new(pool)
    }
}

impl AnyPool {
    /// Erases the connector type of `pool`.
    pub fn new<M: Connector>(pool: Pool<M>) -> Self {
        Self {
            pool: Arc::new(pool),
            in_use: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Gets a connection, waiting up to the pool's `acquire_timeout`. The caller's location
    /// goes to pool-core's leak reports.
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = pool_core::Result<ManagedConnection>> + Send + '_ {
        self.checkout(None, Arc::from(self.config().name.as_str()))
    }

    /// Gets a connection, waiting up to `timeout`.
    #[track_caller]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = pool_core::Result<ManagedConnection>> + Send + '_ {
        self.checkout(Some(timeout), Arc::from(self.config().name.as_str()))
    }

    /// Checks out a connection labelled with `pool_name` (the name the manager knows it by).
    /// The pool's future is made now, so `#[track_caller]` reaches pool-core; it does nothing
    /// until polled.
    #[track_caller]
    pub(crate) fn checkout(
        &self,
        timeout: Option<Duration>,
        pool_name: Arc<str>,
    ) -> impl Future<Output = pool_core::Result<ManagedConnection>> + Send + '_ {
        let get = self.pool.get(timeout);
        async move {
            let conn = get.await?;
            self.in_use.fetch_add(1, Ordering::Relaxed);
            Ok(ManagedConnection {
                conn,
                pool_name,
                _in_use: InUse(self.in_use.clone()),
            })
        }
    }

    /// True when both are handles to the same pool (clones of one `AnyPool`).
    pub fn same_pool(&self, other: &AnyPool) -> bool {
        Arc::ptr_eq(&self.pool, &other.pool)
    }

    /// The typed pool, when its connector is `M`.
    pub fn downcast<M: Connector>(&self) -> Option<Pool<M>> {
        self.pool.as_any().downcast_ref::<Pool<M>>().cloned()
    }

    /// The connector's type name (for messages).
    pub fn connector_type(&self) -> &'static str {
        self.pool.connector_type()
    }

    /// Connections handed out through this `AnyPool` (and its clones) and not yet returned.
    /// Read-replica routing picks the replica with the fewest. One atomic load.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// A snapshot of the pool's numbers (merges its histograms: meant for scrapes, not for
    /// every request).
    pub fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// The pool's latency histograms, for exporters.
    pub fn histograms(&self) -> PoolHistograms {
        self.pool.histograms()
    }

    /// The circuit breaker's state (one short lock).
    pub fn circuit_state(&self) -> CircuitState {
        self.pool.circuit_state()
    }

    /// True once the pool was closed.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// The server's replication lag, asked through an idle connection if one is free (it never
    /// opens a connection or waits for one, so sampling takes nothing from callers): `None`
    /// when none is idle, the query fails, or the server is not a replica that reports it.
    pub(crate) fn idle_replication_lag(&self) -> impl Future<Output = Option<Duration>> + '_ {
        self.pool.idle_replication_lag()
    }

    /// Closes the pool; see [`pool_core::Pool::close`].
    pub async fn close(&self, deadline: Duration) -> CloseReport {
        self.pool.close(deadline).await
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &PoolConfig {
        self.pool.config()
    }
}

struct InUse(Arc<AtomicUsize>);

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection checked out through the manager, of whatever database its pool serves.
///
/// Dereferences to `dyn` [`ConnectionProtocol`] for driver-neutral code; when the caller
/// knows the database, [`downcast_mut`](Self::downcast_mut) reaches the adapter's connection
/// type and its native client. Dropping it returns the connection to its pool.
///
/// ```
/// use pool_core::{ConnectionProtocol, Pool};
/// use pool_core::testing::{TestConnection, TestConnector};
/// use pool_manager::PoolManager;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = PoolManager::new();
/// manager.register("cache", Pool::builder(TestConnector::new()).min_size(1).build().await?)?;
/// let mut conn = manager.get("cache").await?;
/// conn.execute("UPDATE t SET x = 1", &[]).await?; // through ConnectionProtocol
/// let native: &mut TestConnection = conn.downcast_mut().expect("a TestConnection");
/// assert_eq!(native.uses(), 1);
/// # Ok(()) }
/// ```
#[must_use = "dropping a managed connection returns it to its pool at once"]
pub struct ManagedConnection {
    // Field order matters: the connection goes back before the in-use count drops.
    conn: Box<dyn ErasedConnection>,
    pool_name: Arc<str>,
    _in_use: InUse,
}

impl ManagedConnection {
    /// The adapter's connection, when it is a `C` (e.g. `PostgresConnection`).
    pub fn downcast_ref<C: ConnectionProtocol>(&self) -> Option<&C> {
        self.conn.native().downcast_ref()
    }

    /// The adapter's connection, mutably, when it is a `C`: the way to its native client.
    pub fn downcast_mut<C: ConnectionProtocol>(&mut self) -> Option<&mut C> {
        self.conn.native_mut().downcast_mut()
    }

    /// True when the connection is a `C`.
    pub fn is<C: ConnectionProtocol>(&self) -> bool {
        self.conn.native().is::<C>()
    }

    /// The name of the pool it came from.
    pub fn pool_name(&self) -> &str {
        &self.pool_name
    }

    /// The pool-wide id of the connection (as in the pool's logs and leak reports).
    pub fn id(&self) -> u64 {
        self.conn.id()
    }
}

impl Deref for ManagedConnection {
    type Target = dyn ConnectionProtocol;

    fn deref(&self) -> &Self::Target {
        self.conn.protocol()
    }
}

impl DerefMut for ManagedConnection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn.protocol_mut()
    }
}

impl fmt::Debug for ManagedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedConnection")
            .field("pool", &self.pool_name)
            .field("id", &self.id())
            .finish()
    }
}
