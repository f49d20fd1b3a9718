//! [`Pool`]: the handle users hold.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::breaker::CircuitState;
use crate::builder::PoolBuilder;
use crate::config::PoolConfig;
use crate::error::{Error, PoolCounts, Result};
use crate::guard::PooledConnection;
use crate::inner::Inner;
use crate::protocol::Connector;
use crate::stats::{LockedCounts, PoolHistograms, PoolState, PoolStats};

/// An async connection pool. Cheap to clone: clones share one pool.
///
/// Waiters are served first come, first served; a returned connection goes straight to the
/// oldest waiter. Cancelling a `get()` at any point (dropping its future, a `select!`, a
/// timeout) never leaks a slot. When the last clone is dropped the pool shuts down: background
/// tasks end and idle connections close.
///
/// ```
/// use pool_core::{ConnectionProtocol, Pool};
/// use pool_core::testing::TestConnector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pool_core::Result<()> {
/// let pool = Pool::builder(TestConnector::new())
///     .min_size(2)
///     .max_size(8)
///     .build()
///     .await?;
/// let mut conn = pool.get().await?;
/// let rows = conn.query("SELECT 1", &[]).await?;
/// assert_eq!(rows.len(), 1);
/// drop(conn); // back to the pool (after a session reset, in the background)
/// assert_eq!(pool.stats().total, 2);
/// pool.close(std::time::Duration::from_secs(1)).await;
/// # Ok(())
/// # }
/// ```
pub struct Pool<M: Connector> {
    handle: Arc<Handle<M>>,
}

/// Owned only by `Pool` clones: when the last one drops, the pool shuts down even though
/// checked-out connections and in-flight tasks still reference the inner state.
struct Handle<M: Connector> {
    inner: Arc<Inner<M>>,
}

impl<M: Connector> Drop for Handle<M> {
    fn drop(&mut self) {
        self.inner.begin_close();
    }
}

impl<M: Connector> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
        }
    }
}

impl<M: Connector> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `counts()` takes parked connections back first, so they show as idle, not active.
        let counts = self.counts();
        let closed = self.inner().state.lock().closed;
        f.debug_struct("Pool")
            .field("name", &self.inner().name())
            .field("counts", &counts)
            .field("closed", &closed)
            .finish()
    }
}

/// What [`Pool::close`] achieved by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CloseReport {
    /// Connections still checked out when the deadline passed (they close when returned).
    pub still_checked_out: usize,
    /// True when every connection was closed before the deadline.
    pub complete: bool,
}

impl<M: Connector> Pool<M> {
    /// Starts building a pool around `connector`.
    pub fn builder(connector: M) -> PoolBuilder<M> {
        PoolBuilder::new(connector)
    }

    pub(crate) fn from_inner(inner: Arc<Inner<M>>) -> Self {
        Self {
            handle: Arc::new(Handle { inner }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner<M>> {
        &self.handle.inner
    }

    /// Gets a connection, waiting up to the configured `acquire_timeout`.
    ///
    /// The call site is remembered for leak reports (`#[track_caller]`, at no cost).
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<PooledConnection<M>>> + Send + '_ {
        let caller = Location::caller();
        self.inner()
            .acquire(self.inner().config.acquire_timeout, caller)
    }

    /// Gets a connection, waiting up to `timeout`.
    #[track_caller]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<PooledConnection<M>>> + Send + '_ {
        let caller = Location::caller();
        self.inner().acquire(timeout, caller)
    }

    /// Gets an idle connection if one is free and nobody is waiting ahead; never queues and
    /// never opens a connection. It may still validate the connection (one ping).
    #[track_caller]
    pub fn try_get(&self) -> impl Future<Output = Result<Option<PooledConnection<M>>>> + Send + '_ {
        let caller = Location::caller();
        self.inner().try_acquire(caller)
    }

    /// The connector this pool opens connections with.
    pub fn connector(&self) -> &M {
        &self.inner().connector
    }

    /// The configuration the pool was built with (`min_size`/`max_size` as built; see
    /// [`stats`](Self::stats) for the current ones after a [`resize`](Self::resize)).
    pub fn config(&self) -> &PoolConfig {
        &self.inner().config
    }

    /// The pool's name, for logs and metrics.
    pub fn name(&self) -> &str {
        self.inner().name()
    }

    /// A snapshot of the pool's numbers. Counters count from the pool's start; the latency
    /// percentiles cover the last minute or so ([`LatencySummary::window_secs`]).
    ///
    /// [`LatencySummary::window_secs`]: crate::LatencySummary::window_secs
    pub fn stats(&self) -> PoolStats {
        let inner = self.inner();
        let (parked, locked) = {
            let mut st = inner.state.lock();
            // Parked connections are idle: bring them back so the counts are exact.
            let parked = st.absorb_stash();
            let counts = st.counts();
            let locked = LockedCounts {
                active: counts.active,
                idle: counts.idle,
                preparing: counts.preparing,
                open: st.open,
                connecting: st.connecting,
                waiting: st.waiters.waiting(),
                min_size: st.min_size,
                max_size: st.max_size,
                warm_target: st.warm_target,
                closed: st.closed,
                circuit: st.breaker.state(),
                consecutive_failures: st.breaker.consecutive_failures(),
                immediate_checkouts: st.immediate_checkouts(),
                waited_checkouts: st.waited_checkouts,
                acquire_timeout: inner.config.acquire_timeout,
            };
            (parked, locked)
        };
        inner.after_absorb(parked);
        inner.metrics.stats(inner.name(), locked)
    }

    /// The pool's counts right now (one short lock): cheaper than [`stats`](Self::stats), which
    /// also merges latency histograms. For routing decisions and health endpoints. (Like
    /// `stats`, it first moves connections parked on the per-thread fast lane back to the idle
    /// set, so each thread's next checkout takes the locked path once.)
    pub fn counts(&self) -> PoolCounts {
        let inner = self.inner();
        let mut st = inner.state.lock();
        // Parked connections are idle: bring them back so the counts are exact.
        let parked = st.absorb_stash();
        let counts = st.counts();
        drop(st);
        inner.after_absorb(parked);
        counts
    }

    /// The latency histograms since the pool started, in fixed buckets
    /// ([`LatencySnapshot::BUCKET_BOUNDS`]), for exporters that need them; allocates nothing.
    ///
    /// [`LatencySnapshot::BUCKET_BOUNDS`]: crate::LatencySnapshot::BUCKET_BOUNDS
    pub fn histograms(&self) -> PoolHistograms {
        let inner = self.inner();
        let immediate = inner.state.lock().immediate_checkouts();
        PoolHistograms {
            wait: inner.metrics.wait_snapshot(immediate),
            create: inner.metrics.create.snapshot(),
            usage: inner.metrics.usage.snapshot(),
        }
    }

    /// The pool's overall condition.
    pub fn state(&self) -> PoolState {
        self.stats().state
    }

    /// Changes the minimum and maximum size at run time. Growing opens connections as needed;
    /// shrinking closes idle connections above the new maximum at once and checked-out ones
    /// as they come back.
    pub fn resize(&self, min_size: usize, max_size: usize) -> Result<()> {
        if max_size == 0 {
            return Err(Error::config("max_size", "must be at least 1"));
        }
        if min_size > max_size {
            return Err(Error::config(
                "min_size",
                format!("({min_size}) must not exceed max_size ({max_size})"),
            ));
        }
        let inner = self.inner();
        let (parked, surplus) = {
            let mut st = inner.state.lock();
            if st.closed {
                return Err(Error::Closed);
            }
            st.resize(min_size, max_size)
        };
        inner.after_absorb(parked);
        for conn in surplus {
            inner.close_counted(conn);
        }
        inner.replenish();
        tracing::info!(pool = %inner.name(), min_size, max_size, "pool resized");
        Ok(())
    }

    /// The circuit breaker, to inspect or reset by hand.
    pub fn circuit_breaker(&self) -> CircuitBreaker<'_, M> {
        CircuitBreaker { pool: self }
    }

    /// Closes the pool: new acquires fail with [`Error::Closed`], waiters are woken with it,
    /// idle connections close at once, and connections still checked out close as they are
    /// returned. Waits up to `deadline` for that to finish; background tasks stop at once.
    pub async fn close(&self, deadline: Duration) -> CloseReport {
        let inner = self.inner();
        let deadline = Instant::now() + deadline;
        inner.begin_close();
        let still_checked_out = inner.wait_drained(deadline).await;
        let complete = inner.state.lock().drained();
        CloseReport {
            still_checked_out,
            complete,
        }
    }

    /// Checks the pool's accounting identities (open = idle + active + being checked; every open
    /// connection tracked; open + connecting ≤ max, except for
    /// connections checked out above a maximum that `resize` lowered, which close as they return). Returns the first violation, described.
    /// Cheap: one lock. The test suites call it after every step; a violation is a bug here.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        self.inner().state.lock().check_invariants()
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner().state.lock().closed
    }
}

/// A view of a pool's circuit breaker.
#[derive(Debug)]
pub struct CircuitBreaker<'a, M: Connector> {
    pool: &'a Pool<M>,
}

impl<M: Connector> CircuitBreaker<'_, M> {
    /// The breaker's current state.
    pub fn state(&self) -> CircuitState {
        self.pool.inner().state.lock().breaker.state()
    }

    /// Consecutive connection failures seen.
    pub fn consecutive_failures(&self) -> u32 {
        self.pool
            .inner()
            .state
            .lock()
            .breaker
            .consecutive_failures()
    }

    /// Closes the breaker by hand (after fixing the database, say) and starts refilling the pool.
    pub fn reset(&self) {
        let inner = self.pool.inner();
        let transition = inner.state.lock().breaker.reset();
        inner.report_transition(transition);
        inner.replenish();
    }
}
