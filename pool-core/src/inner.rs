//! The pool's shared core: what every part of the async orchestration reaches through one
//! `Arc`. The orchestration itself lives beside it, one concern per file, each an `impl` block
//! on [`Inner`]: `acquire.rs`, `create.rs`, `checkin.rs`, `close.rs`, and `maintenance/`.
//! The locked state they drive is `state.rs`; no lock is ever held across an `.await`.
//!
//! Cancellation safety is a property of the types: every connection or reserved slot that
//! travels through a future or a spawned task is owned by a guard (`PendingCheckout`,
//! `Reservation`, `Loose`, `Closing`) whose `Drop` puts the pool's counts right. A future
//! dropped at any `.await`, or a task that never runs because the runtime is shutting down,
//! cannot leak a slot.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::breaker::Breaker;
use crate::clock::CoarseClock;
use crate::config::PoolConfig;
use crate::hooks::Hooks;
use crate::maintenance::Background;
use crate::plan::CheckoutPlan;
use crate::protocol::Connector;
use crate::stash::Stash;
use crate::state::State;
use crate::stats::Metrics;

pub(crate) struct Inner<M: Connector> {
    pub(crate) connector: M,
    pub(crate) config: PoolConfig,
    /// What checkouts and returns read, check and time, decided at build.
    pub(crate) plan: CheckoutPlan,
    pub(crate) hooks: Hooks<M::Connection>,
    pub(crate) state: Mutex<State<M::Connection>>,
    /// The fast lane, used without the state lock (the state holds the same stash).
    pub(crate) stash: Arc<Stash<M::Connection>>,
    pub(crate) metrics: Metrics,
    pub(crate) epoch: Instant,
    /// The time as of the sampler's last tick, for checks that tolerate that much staleness.
    pub(crate) clock: CoarseClock,
    pub(crate) next_id: AtomicU64,
    /// Cancelled when the pool closes or its last handle drops: ends every background task.
    pub(crate) shutdown: CancellationToken,
    /// The runtime the background tasks run on, for work started outside any runtime (a
    /// connection dropped on a plain thread). `None` for a pool built lazily outside any runtime
    /// and not used in one yet.
    runtime: Mutex<Option<Handle>>,
    /// Signalled whenever a closed pool gets closer to holding nothing.
    pub(crate) drained: Notify,
    /// Wakes the deadline watcher when a waiter arrives with an earlier deadline than the one
    /// it sleeps until.
    pub(crate) deadline_watch: Arc<Notify>,
    pub(crate) background: Background,
}

/// Where a connection is counted while it is outside the idle set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountedIn {
    /// Checked out, or being validated for a checkout.
    Active,
    /// The pool's own work: taken out by the background health check, or being reset (or
    /// passed to the after-checkin hook) after its holder returned it.
    Preparing,
}

impl<M: Connector> Inner<M> {
    pub(crate) fn new(connector: M, config: PoolConfig, hooks: Hooks<M::Connection>) -> Arc<Self> {
        let now = Instant::now();
        let min_size = config.effective_min_size();
        let state = State::new(
            min_size,
            config.max_size,
            config.max_concurrent_creates,
            Breaker::new(&config.circuit_breaker, now),
        );
        Arc::new(Self {
            connector,
            plan: CheckoutPlan::new(&config, &hooks),
            hooks,
            stash: state.stash.clone(),
            state: Mutex::new(state),
            metrics: Metrics::new(now),
            epoch: now,
            clock: CoarseClock::new(now),
            next_id: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            runtime: Mutex::new(Handle::try_current().ok()),
            drained: Notify::new(),
            deadline_watch: Arc::new(Notify::new()),
            background: Background::new(),
            config,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn nanos_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The time for checks that tolerate the coarse clock's staleness (see `clock.rs`), in its
    /// ticks: the coarse time while the sampler keeps it moving, else the real time.
    pub(crate) fn coarse_ticks(&self) -> u64 {
        if self.background.is_alive() {
            self.clock.ticks()
        } else {
            self.clock.ticks_at(Instant::now())
        }
    }

    /// Remembers the runtime the background tasks now run on.
    pub(crate) fn set_runtime(&self, runtime: Handle) {
        *self.runtime.lock() = Some(runtime);
    }

    /// Spawns on the current runtime, or on the pool's own when called from outside one
    /// (a connection dropped on a plain thread). If neither runs the task, its guards settle
    /// the counts when it is dropped.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match Handle::try_current() {
            Ok(handle) => drop(handle.spawn(future)),
            Err(_) => {
                // No runtime ever ran the pool: dropping the future runs its guards.
                if let Some(runtime) = self.runtime.lock().clone() {
                    drop(runtime.spawn(future));
                }
            }
        }
    }
}
