//! [`PoolBuilder`]: configuration, hooks, validation and warm-up.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{AutoscaleConfig, CircuitBreakerConfig, PoolConfig, WarmupMode};
use crate::create::Reservation;
use crate::error::{Error, Result};
use crate::hooks::{BoxFuture, Hook, Hooks};
use crate::inner::Inner;
use crate::maintenance;
use crate::metadata::ConnectionMetadata;
use crate::pool::Pool;
use crate::protocol::Connector;

/// Builds a [`Pool`]: set options, add hooks, then [`build`](Self::build).
#[must_use = "a builder does nothing until build() is awaited"]
pub struct PoolBuilder<M: Connector> {
    connector: M,
    config: PoolConfig,
    hooks: Hooks<M::Connection>,
}

impl<M: Connector> fmt::Debug for PoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", &self.config)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<M: Connector> PoolBuilder<M> {
    pub(crate) fn new(connector: M) -> Self {
        Self {
            connector,
            config: PoolConfig::default(),
            hooks: Hooks::default(),
        }
    }

    /// Replaces the whole configuration (e.g. one loaded from a file).
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the configuration in place: `.configure(|c| c.idle_timeout = None)`.
    pub fn configure(mut self, change: impl FnOnce(&mut PoolConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// The pool's name for logs and metrics.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Connections kept open and opened by warm-up. Unset, it is 5 or `max_size`, whichever
    /// is smaller.
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.config.min_size = Some(min_size);
        self
    }

    /// The most connections the pool opens.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.config.max_size = max_size;
        self
    }

    /// How long `get()` waits.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.config.acquire_timeout = timeout;
        self
    }

    /// How long one connection attempt may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// The query timeout handed to every connection.
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.query_timeout = timeout;
        self
    }

    /// What to do when warm-up cannot open `min_size` connections.
    pub fn warmup(mut self, mode: WarmupMode) -> Self {
        self.config.warmup = mode;
        self
    }

    /// At most this many connections are opened at the same time.
    pub fn max_concurrent_creates(mut self, count: usize) -> Self {
        self.config.max_concurrent_creates = count;
        self
    }

    /// First and longest delay between failed connection attempts (the delay doubles, with
    /// jitter, from `initial` up to `max`).
    pub fn connect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.connect_backoff_initial = initial;
        self.config.connect_backoff_max = max;
        self
    }

    /// Validate (ping) a connection before handing it out, unless it was used within
    /// `validation_bypass`.
    pub fn test_on_checkout(mut self, enabled: bool) -> Self {
        self.config.test_on_checkout = enabled;
        self
    }

    /// A connection used within this window is handed out without validation.
    pub fn validation_bypass(mut self, window: Duration) -> Self {
        self.config.validation_bypass = window;
        self
    }

    /// How often idle connections are pinged in the background; `None` turns it off.
    pub fn health_check_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.health_check_interval = interval;
        self
    }

    /// How long a validation or background ping may take.
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.config.health_check_timeout = timeout;
        self
    }

    /// Report a connection checked out longer than this as a possible leak; `None` turns leak
    /// detection off.
    pub fn leak_detection_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.config.leak_detection_threshold = threshold;
        self
    }

    /// Capture the whole stack at every checkout while leak detection is on (costly).
    pub fn leak_capture_backtrace(mut self, enabled: bool) -> Self {
        self.config.leak_capture_backtrace = enabled;
        self
    }

    /// Reclaim a connection checked out longer than this; `None` only reports leaks.
    pub fn leak_reclaim_after(mut self, after: Option<Duration>) -> Self {
        self.config.leak_reclaim_after = after;
        self
    }

    /// Close idle connections above the warm size after this long unused; `None` keeps them.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Retire connections after this age (minus jitter); `None` keeps them forever.
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.config.max_lifetime = lifetime;
        self
    }

    /// Up to this fraction of `max_lifetime` is subtracted at random per connection.
    pub fn max_lifetime_jitter(mut self, fraction: f64) -> Self {
        self.config.max_lifetime_jitter = fraction;
        self
    }

    /// Reset every returned connection's session state before the next holder gets it.
    pub fn reset_on_return(mut self, enabled: bool) -> Self {
        self.config.reset_on_return = enabled;
        self
    }

    /// Bound on closing a connection and on the work of a return.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// The auto-scaler's settings.
    pub fn autoscale(mut self, autoscale: AutoscaleConfig) -> Self {
        self.config.autoscale = autoscale;
        self
    }

    /// The circuit breaker's settings.
    pub fn circuit_breaker(mut self, breaker: CircuitBreakerConfig) -> Self {
        self.config.circuit_breaker = breaker;
        self
    }

    /// Runs after every new connection opens (e.g. `SET search_path`). An error fails the attempt.
    pub fn after_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a mut M::Connection, ConnectionMetadata) -> BoxFuture<'a, Result<()>>
            + Send
            + Sync
            + 'static,
    {
        self.hooks.after_connect = Some(Arc::new(hook) as Hook<M::Connection>);
        self
    }

    /// Runs before a connection is handed out. An error discards the connection and is returned
    /// to the caller.
    pub fn before_checkout<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a mut M::Connection, ConnectionMetadata) -> BoxFuture<'a, Result<()>>
            + Send
            + Sync
            + 'static,
    {
        self.hooks.before_checkout = Some(Arc::new(hook) as Hook<M::Connection>);
        self
    }

    /// Runs when a connection comes back, after the session reset. An error discards it.
    pub fn after_checkin<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a mut M::Connection, ConnectionMetadata) -> BoxFuture<'a, Result<()>>
            + Send
            + Sync
            + 'static,
    {
        self.hooks.after_checkin = Some(Arc::new(hook) as Hook<M::Connection>);
        self
    }

    /// Validates the configuration, opens `min_size` connections (warm-up) and starts the
    /// background tasks. Must be called within a tokio runtime.
    ///
    /// Fails with [`Error::Config`] naming the first invalid option, or, with
    /// [`WarmupMode::FailFast`], with the first connection error.
    pub async fn build(self) -> Result<Pool<M>> {
        self.config.validate()?;
        let inner = Inner::new(self.connector, self.config, self.hooks);
        if let Err(error) = warm_up(&inner).await {
            inner.begin_close();
            return Err(error);
        }
        maintenance::start(&inner);
        Ok(Pool::from_inner(inner))
    }
}

impl<M: Connector> PoolBuilder<M> {
    /// Validates the configuration and returns the pool at once, without connecting (sqlx's
    /// `connect_lazy`, bb8's `build_unchecked`). Connections open in the background: at once
    /// when called within a tokio runtime (up to `min_size`), else on first use within one,
    /// when the background tasks also start. So it may be called outside any async context,
    /// e.g. to fill a `static` or build state before the runtime starts.
    ///
    /// An unreachable database shows as errors of `get()` (after `acquire_timeout`), not here;
    /// [`warmup`](Self::warmup) does not apply.
    ///
    /// ```
    /// use pool_core::Pool;
    /// use pool_core::testing::TestConnector;
    ///
    /// // No runtime is running here.
    /// let pool = Pool::builder(TestConnector::new()).max_size(4).build_lazy()?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// runtime.block_on(async {
    ///     let conn = pool.get().await?;
    ///     drop(conn);
    ///     Ok::<(), pool_core::Error>(())
    /// })?;
    /// # Ok::<(), pool_core::Error>(())
    /// ```
    pub fn build_lazy(self) -> Result<Pool<M>> {
        self.config.validate()?;
        let inner = Inner::new(self.connector, self.config, self.hooks);
        if tokio::runtime::Handle::try_current().is_ok() {
            maintenance::start(&inner);
            inner.replenish();
        }
        Ok(Pool::from_inner(inner))
    }
}

/// Opens `min_size` connections, at most `max_concurrent_creates` at a time, each tried once
/// (with `start_degraded`, the background retries those that failed).
async fn warm_up<M: Connector>(inner: &Arc<Inner<M>>) -> Result<()> {
    let total = inner.config.effective_min_size();
    let mut attempts = tokio::task::JoinSet::new();
    let mut started = 0;
    let mut opened = 0;
    let mut first_error: Option<Error> = None;
    loop {
        // The state reserves up to the warm size and within max_concurrent_creates.
        let reserved = inner.state.lock().reserve_creates(total - started);
        started += reserved.count();
        for reservation in Reservation::claim(inner, reserved, false) {
            attempts.spawn(reservation.open_once());
        }
        let Some(joined) = attempts.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(())) => opened += 1,
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
                if inner.config.warmup == WarmupMode::FailFast {
                    // The rest cannot rescue the build: stop them (their slots are released).
                    attempts.shutdown().await;
                    break;
                }
            }
            Err(join_error) => {
                first_error.get_or_insert(Error::Connect(crate::BackendError::connection(
                    format!("a warm-up task failed: {join_error}"),
                )));
            }
        }
    }
    match (first_error, inner.config.warmup) {
        (None, _) => Ok(()),
        (Some(error), WarmupMode::FailFast) => Err(error),
        (Some(error), _) => {
            tracing::warn!(
                pool = %inner.name(),
                opened,
                wanted = total,
                %error,
                "warm-up could not open every connection; starting degraded and retrying in the background"
            );
            Ok(())
        }
    }
}
