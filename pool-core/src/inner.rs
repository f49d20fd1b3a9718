//! The async orchestration around the locked state: acquiring, opening, returning and closing
//! connections. No lock is ever held across an `.await`.
//!
//! Cancellation safety is a property of the types here: every connection or reserved slot
//! that travels through a future or a spawned task is owned by a guard (`Loose`,
//! `Reservation`, `Closing`) whose `Drop` puts the pool's counts right. A future dropped at any
//! `.await`, or a task that never runs because the runtime is shutting down, cannot leak a slot.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::breaker::{Breaker, CircuitState, Permit, Transition};
use crate::config::PoolConfig;
use crate::conn::{Conn, ConnMeta, ConnParts, LeakTracking};
use crate::error::{BackendError, Error, Result};
use crate::guard::PooledConnection;
use crate::hooks::Hooks;
use crate::protocol::{ConnectionProtocol, Connector};
use crate::stash::Stash;
use crate::state::{Absorbed, Placed, State};
use crate::stats::{Counters, Metrics};
use crate::waiters::Ticket;

pub(crate) struct Inner<M: Connector> {
    pub(crate) connector: M,
    pub(crate) config: PoolConfig,
    pub(crate) hooks: Hooks<M::Connection>,
    pub(crate) state: Mutex<State<M::Connection>>,
    /// The fast lane, used without the state lock (the state holds the same stash).
    stash: Arc<Stash<M::Connection>>,
    pub(crate) metrics: Metrics,
    pub(crate) epoch: Instant,
    next_id: AtomicU64,
    /// Cancelled when the pool closes or its last handle drops: ends every background task.
    pub(crate) shutdown: CancellationToken,
    runtime: tokio::runtime::Handle,
    /// Signalled whenever a closed pool gets closer to holding nothing.
    drained: Notify,
    /// Wakes the deadline watcher when a waiter arrives with an earlier deadline than the one
    /// it sleeps until.
    pub(crate) deadline_watch: Arc<Notify>,
}

/// Where a connection is counted while it is outside the idle set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountedIn {
    /// Checked out, or being validated for a checkout.
    Active,
    /// Taken out by the background health check.
    Checking,
}

impl<M: Connector> Inner<M> {
    pub(crate) fn new(connector: M, config: PoolConfig, hooks: Hooks<M::Connection>) -> Arc<Self> {
        let now = Instant::now();
        let state = State::new(
            config.min_size,
            config.max_size,
            config.max_concurrent_creates,
            Breaker::new(&config.circuit_breaker, now),
        );
        Arc::new(Self {
            connector,
            hooks,
            stash: state.stash.clone(),
            state: Mutex::new(state),
            metrics: Metrics::new(now),
            epoch: now,
            next_id: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            runtime: tokio::runtime::Handle::current(),
            drained: Notify::new(),
            deadline_watch: Arc::new(Notify::new()),
            config,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn nanos_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Spawns on the current runtime, or on the pool's own when called from outside one
    /// (a connection dropped on a plain thread). If neither runs the task, its guards settle
    /// the counts when it is dropped.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(future)),
            Err(_) => drop(self.runtime.spawn(future)),
        }
    }

    // ----- acquiring -------------------------------------------------------------------------

    /// Gets a connection, waiting up to `timeout`. `caller` is where `get()` was called, for
    /// leak reports.
    ///
    /// The fast path (a connection parked by this thread, nobody queued, no validation due)
    /// takes no lock and reads no clock unless a feature needs it; the next fastest takes an
    /// idle connection under one short lock.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        timeout: Duration,
        caller: &'static Location<'static>,
    ) -> Result<PooledConnection<M>> {
        let mut started: Option<Instant> = None;
        let mut deadline: Option<Instant> = None;
        let mut backoff = self.config.connect_backoff_initial;
        loop {
            let acquired = Acquire {
                inner: self,
                timeout,
                started,
                deadline,
                ticket: None,
                enqueued_at: None,
                finished: false,
            }
            .await?;
            let conn = acquired.conn;
            let waited_until = acquired.served_at;
            if let Some((enqueued_at, queue_deadline)) = acquired.queued {
                started.get_or_insert(enqueued_at);
                deadline.get_or_insert(queue_deadline);
            }
            let fresh = conn.checkouts == 0;
            let mut pending = PooledConnection::pending(self.clone(), conn);
            if pending.conn_mut().raw.is_broken() {
                Counters::bump(&self.metrics.counters.broken_on_return);
                continue;
            }
            let sampled = usage_sampled();
            let now = match waited_until {
                Some(now) => Some(now),
                None if self.needs_clock_at_checkout() || sampled => Some(Instant::now()),
                None => None,
            };
            let usage_weight = if waited_until.is_none() && !self.needs_clock_at_checkout() {
                USAGE_SAMPLE_EVERY
            } else {
                1
            };
            let Some(now) = now else {
                // Nothing to check and nothing to time: hand it over.
                pending.activate(None, 0, self.leak_tracking(None, caller));
                return Ok(pending);
            };
            let start = *started.get_or_insert(now);
            let deadline = *deadline.get_or_insert(start + timeout);
            if !self.checkout_checks_due(pending.conn_mut(), now) {
                pending.activate(
                    Some(now),
                    usage_weight,
                    self.leak_tracking(Some(now), caller),
                );
                return Ok(pending);
            }
            match self
                .checked_checkout(pending, now, deadline, caller)
                .await?
            {
                Some(ready) => return Ok(ready),
                None if Instant::now() >= deadline => return Err(self.timeout_error(start)),
                None if fresh => {
                    // A connection that failed its checks right after opening says the server
                    // accepts sessions it cannot serve: back off instead of spinning through
                    // connect-and-discard. (Stale idle sessions failing, as after a restart,
                    // are skipped without delay.)
                    let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(pause).await;
                    backoff = (backoff * 2).min(self.config.connect_backoff_max);
                }
                None => {}
            }
        }
    }

    /// Gets an idle connection if one is free and nobody waits ahead; never queues or connects.
    pub(crate) async fn try_acquire(
        self: &Arc<Self>,
        caller: &'static Location<'static>,
    ) -> Result<Option<PooledConnection<M>>> {
        let start = Instant::now();
        loop {
            let parked = if self.stash.is_open() {
                self.stash.take_local()
            } else {
                None
            };
            let conn = match parked {
                Some(conn) => Some(conn),
                None => {
                    let mut st = self.state.lock();
                    if st.closed {
                        return Err(Error::Closed);
                    }
                    st.take_idle()
                }
            };
            let Some(conn) = conn else { return Ok(None) };
            let mut pending = PooledConnection::pending(self.clone(), conn);
            if pending.conn_mut().raw.is_broken() {
                Counters::bump(&self.metrics.counters.broken_on_return);
                continue;
            }
            let now = Instant::now();
            if !self.checkout_checks_due(pending.conn_mut(), now) {
                pending.activate(Some(now), 1, self.leak_tracking(Some(now), caller));
                return Ok(Some(pending));
            }
            let deadline = start + self.config.health_check_timeout;
            if let Some(ready) = self
                .checked_checkout(pending, now, deadline, caller)
                .await?
            {
                return Ok(Some(ready));
            }
        }
    }

    /// Does a checkout need the time (validation bypass, hooks)? Leak tracking does not: the
    /// leak scan stamps checkouts that read no clock.
    fn needs_clock_at_checkout(&self) -> bool {
        self.config.test_on_checkout || self.hooks.before_checkout.is_some()
    }

    /// Is there anything to check or run before handing this connection out?
    fn checkout_checks_due(&self, conn: &Conn<M::Connection>, now: Instant) -> bool {
        conn.is_expired(now)
            || self.hooks.before_checkout.is_some()
            || (self.config.test_on_checkout
                && now.saturating_duration_since(conn.last_used) >= self.config.validation_bypass)
    }

    /// What leak detection records for this checkout, if it is on.
    fn leak_tracking(
        &self,
        now: Option<Instant>,
        caller: &'static Location<'static>,
    ) -> Option<LeakTracking> {
        self.config.leak_detection_threshold?;
        Some(LeakTracking {
            at_nanos: now.map(|now| self.nanos_since_epoch(now)),
            caller,
            trace: self
                .config
                .leak_capture_backtrace
                .then(std::backtrace::Backtrace::force_capture),
        })
    }

    /// Validates a connection taken for a checkout and runs the before-checkout hook.
    /// `Ok(None)` means it was unusable and has been discarded: try again.
    async fn checked_checkout(
        self: &Arc<Self>,
        mut pending: PooledConnection<M>,
        now: Instant,
        deadline: Instant,
        caller: &'static Location<'static>,
    ) -> Result<Option<PooledConnection<M>>> {
        let conn = pending.conn_mut();
        if conn.is_expired(now) {
            Counters::bump(&self.metrics.counters.expired);
            return Ok(None);
        }
        let stale = now.saturating_duration_since(conn.last_used) >= self.config.validation_bypass;
        if self.config.test_on_checkout && stale {
            let limit = deadline
                .min(now + self.config.health_check_timeout)
                .max(now + Duration::from_millis(1));
            let result =
                tokio::time::timeout_at(limit, self.connector.validate(&mut conn.raw)).await;
            match result {
                Ok(Ok(())) => self.record_validation_success(),
                Ok(Err(error)) => {
                    self.record_validation_failure(&error.to_string());
                    return Ok(None);
                }
                Err(_) => {
                    self.record_validation_failure("the validation ping timed out");
                    return Ok(None);
                }
            }
        }
        if let Some(hook) = &self.hooks.before_checkout {
            let limit = deadline.max(now + Duration::from_millis(1));
            match tokio::time::timeout_at(limit, hook(&mut pending.conn_mut().raw)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(None),
            }
        }
        pending.activate(Some(now), 1, self.leak_tracking(Some(now), caller));
        Ok(Some(pending))
    }

    fn record_validation_success(&self) {
        let mut st = self.state.lock();
        if st.breaker.consecutive_failures() > 0 {
            let transition = st.breaker.record_success();
            drop(st);
            self.report_transition(transition);
        }
    }

    fn record_validation_failure(&self, reason: &str) {
        Counters::bump(&self.metrics.counters.validation_failures);
        self.state.lock().breaker.record_validation_failure();
        tracing::debug!(pool = %self.name(), reason, "checkout validation failed; replacing the connection");
    }

    pub(crate) fn timeout_error(&self, start: Instant) -> Error {
        Counters::bump(&self.metrics.counters.timeouts);
        let st = self.state.lock();
        Error::Timeout {
            waited: start.elapsed(),
            counts: st.counts(),
            last_connect_error: st.last_connect_error.clone(),
        }
    }

    // ----- opening ---------------------------------------------------------------------------

    /// Starts `n` connection attempts whose slots are already reserved.
    pub(crate) fn spawn_creates(self: &Arc<Self>, n: usize, trial: bool) {
        for _ in 0..n {
            let reservation = Reservation {
                inner: self.clone(),
                trial,
                settled: false,
            };
            self.spawn(reservation.run());
        }
    }

    /// Reserves and starts whatever connections the pool wants now (replenishing after a
    /// discard, pre-warming after the auto-scaler raised its target).
    pub(crate) fn replenish(self: &Arc<Self>) {
        let now = Instant::now();
        let mut st = self.state.lock();
        let (n, trial, transition) = match st.breaker.state() {
            CircuitState::Closed => (st.reserve_creates(usize::MAX), false, None),
            _ => {
                if st.wanted_creates() == 0 {
                    return;
                }
                match st.breaker.permit(now) {
                    (Permit::Trial, transition) => (st.reserve_creates(1), true, transition),
                    _ => return,
                }
            }
        };
        if trial && n == 0 {
            st.breaker.abandon_trial();
        }
        drop(st);
        self.report_transition(transition);
        self.spawn_creates(n, trial);
    }

    /// One connection attempt: connect, set the query timeout, run the after-connect hook,
    /// all within the connect timeout.
    pub(crate) async fn connect_once(&self) -> Result<Conn<M::Connection>> {
        let started = Instant::now();
        let attempt = async {
            let mut raw = self.connector.connect().await?;
            raw.set_query_timeout(self.config.query_timeout);
            if let Some(hook) = &self.hooks.after_connect {
                hook(&mut raw).await?;
            }
            Ok::<_, Error>(raw)
        };
        let raw = match tokio::time::timeout(self.config.connect_timeout, attempt).await {
            Ok(Ok(raw)) => raw,
            Ok(Err(Error::Backend(e))) => return Err(Error::Connect(e)),
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(Error::ConnectTimeout(self.config.connect_timeout)),
        };
        let now = Instant::now();
        self.metrics.create.record(now - started);
        Counters::bump(&self.metrics.counters.created);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let expires_at = self.config.max_lifetime.map(|lifetime| {
            let jitter = lifetime.mul_f64(self.config.max_lifetime_jitter * fastrand::f64());
            now + (lifetime - jitter)
        });
        Ok(Conn::new(ConnParts {
            raw,
            meta: ConnMeta::new(id, now, expires_at),
            last_used: now,
            unstamped_use: false,
            checkouts: 0,
        }))
    }

    /// Records a failed attempt; returns whether the attempt should be retried.
    pub(crate) fn connect_failed(&self, error: &Error) -> bool {
        Counters::bump(&self.metrics.counters.connect_failures);
        let cause = as_backend_error(error);
        let now = Instant::now();
        let mut st = self.state.lock();
        st.last_connect_error = Some(cause.clone());
        let transition = st.breaker.record_connect_failure(now);
        let mut wakers = Vec::new();
        if transition.is_some_and(|t| t.to == CircuitState::Open) {
            let retry_in = st.breaker.retry_in(now);
            let failures = st.breaker.consecutive_failures();
            wakers = st.fail_waiters(|| Error::CircuitOpen {
                retry_in,
                failures,
                last_error: Some(cause.clone()),
            });
        }
        let retry = st.breaker.state() == CircuitState::Closed && st.still_wanted();
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        tracing::warn!(pool = %self.name(), error = %error, "connection attempt failed");
        self.report_transition(transition);
        retry
    }

    fn connect_succeeded(self: &Arc<Self>, conn: Conn<M::Connection>) {
        let mut st = self.state.lock();
        st.last_connect_error = None;
        let transition = if st.breaker.state() != CircuitState::Closed
            || st.breaker.consecutive_failures() > 0
        {
            st.breaker.record_success()
        } else {
            None
        };
        let placed = st.admit(conn);
        drop(st);
        self.report_transition(transition);
        self.after_place(placed);
        // A success after failures: other callers may be waiting without a connect in flight.
        if transition.is_some() {
            self.replenish();
        }
    }

    pub(crate) fn report_transition(&self, transition: Option<Transition>) {
        let Some(Transition { from, to }) = transition else {
            return;
        };
        let counters = &self.metrics.counters;
        match to {
            CircuitState::Open => {
                Counters::bump(&counters.circuit_opened);
                tracing::error!(pool = %self.name(), ?from, ?to, "circuit breaker opened: acquires that need a new connection now fail fast");
            }
            CircuitState::HalfOpen => {
                Counters::bump(&counters.circuit_half_opened);
                tracing::info!(pool = %self.name(), ?from, ?to, "circuit breaker half-open: letting one trial connection through");
            }
            CircuitState::Closed => {
                Counters::bump(&counters.circuit_closed);
                tracing::info!(pool = %self.name(), ?from, ?to, "circuit breaker closed: the database answers again");
            }
        }
    }

    // ----- returning -------------------------------------------------------------------------

    /// A holder dropped its connection. Never blocks: only the short state lock is taken;
    /// reset and hooks run in a spawned task bounded by the close timeout.
    pub(crate) fn check_in(
        self: &Arc<Self>,
        mut conn: Conn<M::Connection>,
        checked_out_at: Option<(Instant, u64)>,
    ) {
        // The clock is read only when something needs the time: the use-time sample, or a
        // precise "last used" for checkout validation. Otherwise (the fast path) the return is
        // stamped by the next sweep, and a lifetime that ran out while the connection was out
        // is flagged by the reaper instead (a clock read costs as much as the rest of this).
        let now = (checked_out_at.is_some() || self.config.test_on_checkout).then(Instant::now);
        if let (Some(now), Some((at, weight))) = (now, checked_out_at) {
            self.metrics
                .usage
                .record_n(now.saturating_duration_since(at), weight);
        }
        if !conn.meta.check_in(self.reclaim_possible()) {
            // Reclaimed as a leak: its slot was freed already; just close it.
            self.close_detached(conn);
            return;
        }
        if conn.raw.is_broken() {
            Counters::bump(&self.metrics.counters.broken_on_return);
            self.discard(conn, CountedIn::Active);
            return;
        }
        if conn.meta.retirement_requested() || now.is_some_and(|now| conn.is_expired(now)) {
            Counters::bump(&self.metrics.counters.expired);
            self.discard(conn, CountedIn::Active);
            return;
        }
        match now {
            Some(now) => {
                conn.last_used = now;
                conn.unstamped_use = false;
            }
            None => conn.unstamped_use = true,
        }
        if self.config.reset_on_return || self.hooks.after_checkin.is_some() {
            let loose = Loose::new(self.clone(), conn, CountedIn::Active);
            self.spawn(loose.reset_and_return());
            return;
        }
        if self.stash.is_open() {
            let displaced = self.stash.park_local(conn);
            if !self.stash.still_open_after_park() {
                // Someone queued (or the pool closed) meanwhile: they may have looked into the
                // stash before this connection arrived.
                self.absorb_stash();
            }
            match displaced {
                // Another thread sharing the slot had parked one there.
                Some(displaced) => conn = displaced,
                None => return,
            }
        }
        self.put_back(conn, CountedIn::Active, now);
    }

    /// Can the leak detector take a connection away from its holder?
    pub(crate) fn reclaim_possible(&self) -> bool {
        self.config.leak_detection_threshold.is_some() && self.config.leak_reclaim_after.is_some()
    }

    /// Moves parked connections back under the lock (to waiters, else idle).
    pub(crate) fn absorb_stash(self: &Arc<Self>) {
        let placed = self.state.lock().absorb_stash();
        self.after_absorb(placed);
    }

    /// Acts on where absorbed connections went, once the lock is released.
    pub(crate) fn after_absorb(self: &Arc<Self>, placed: Absorbed<M::Connection>) {
        for placed in placed {
            self.after_place(placed);
        }
    }

    /// Puts a usable connection back: to the oldest waiter, else idle.
    pub(crate) fn put_back(
        self: &Arc<Self>,
        conn: Conn<M::Connection>,
        from: CountedIn,
        now: Option<Instant>,
    ) {
        let mut st = self.state.lock();
        leave(&mut st, from);
        let placed = st.place(conn, now);
        drop(st);
        self.after_place(placed);
    }

    fn after_place(self: &Arc<Self>, placed: Placed<M::Connection>) {
        match placed {
            Placed::Handed(waker) => waker.wake(),
            Placed::Idle => {}
            Placed::Surplus(conn) => self.close_counted(conn),
        }
    }

    /// Closes a connection that cannot be used again and starts a replacement if one is wanted.
    pub(crate) fn discard(self: &Arc<Self>, conn: Conn<M::Connection>, from: CountedIn) {
        let mut st = self.state.lock();
        leave(&mut st, from);
        let conn = st.forget(conn);
        drop(st);
        self.close_counted(conn);
        self.replenish();
    }

    /// Closes a connection already removed from `open` (and counted in `closing`).
    pub(crate) fn close_counted(self: &Arc<Self>, conn: Conn<M::Connection>) {
        let closing = Closing {
            inner: self.clone(),
            conn: Some(conn),
        };
        self.spawn(closing.run());
    }

    /// Closes a reclaimed connection, whose slot the pool no longer counts.
    fn close_detached(self: &Arc<Self>, mut conn: Conn<M::Connection>) {
        let inner = self.clone();
        self.spawn(async move {
            let _ = tokio::time::timeout(inner.config.close_timeout, conn.raw.close()).await;
            drop(conn);
            Counters::bump(&inner.metrics.counters.closed);
        });
    }

    /// A waiter left after a connection was handed to it: pass the connection on.
    fn return_unclaimed(self: &Arc<Self>, conn: Conn<M::Connection>) {
        self.put_back(conn, CountedIn::Active, None);
    }

    // ----- closing ---------------------------------------------------------------------------

    /// Stops handing out connections: waiters get `Closed`, idle connections close, background
    /// tasks end. Connections still checked out close when they come back.
    pub(crate) fn begin_close(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        st.stash.close();
        let wakers = st.fail_waiters(|| Error::Closed);
        // Parked connections come back as surplus (the pool is closed) and are closed below.
        let parked = st.absorb_stash();
        let idle = st.take_surplus_idle(0);
        drop(st);
        self.after_absorb(parked);
        self.shutdown.cancel();
        wakers.into_iter().for_each(Waker::wake);
        for conn in idle {
            self.close_counted(conn);
        }
        tracing::info!(pool = %self.name(), "pool closed");
    }

    /// Waits until every connection is closed or `deadline` passes; returns how many were still
    /// checked out then.
    pub(crate) async fn wait_drained(&self, deadline: Instant) -> usize {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock();
                if st.drained() {
                    return 0;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let st = self.state.lock();
                return st.active + st.checking;
            }
        }
    }

    pub(crate) fn notify_if_closed(&self, st: &State<M::Connection>) {
        if st.closed {
            self.drained.notify_waiters();
        }
    }
}

/// On the fast path, only one checkout in this many is timed for the use-time histogram (and
/// recorded with this weight): a clock read costs as much as the rest of a checkout.
pub(crate) const USAGE_SAMPLE_EVERY: u64 = 8;

/// True for every `USAGE_SAMPLE_EVERY`-th call on this thread.
fn usage_sampled() -> bool {
    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }
    COUNT.with(|count| {
        let n = count.get().wrapping_add(1);
        count.set(n);
        n % USAGE_SAMPLE_EVERY == 0
    })
}

/// Takes a connection out of the count for where it was.
fn leave<C>(st: &mut State<C>, from: CountedIn) {
    match from {
        CountedIn::Active => st.active -= 1,
        CountedIn::Checking => st.checking -= 1,
    }
}

/// The cause to show inside `Timeout` and `CircuitOpen`.
fn as_backend_error(error: &Error) -> BackendError {
    match error {
        Error::Connect(e) | Error::Backend(e) => e.clone(),
        other => BackendError::connection(other.to_string()),
    }
}

/// What one pass of [`Acquire`] got.
struct Acquired<C> {
    conn: Conn<C>,
    /// When the connection was handed over, if the caller had to wait.
    served_at: Option<Instant>,
    /// When the caller queued, and its deadline, if it had to wait.
    queued: Option<(Instant, Instant)>,
}

/// One pass of an acquire, as a future. Its first poll is one critical section: take an idle
/// connection if one is free and nobody waits ahead, or join the line (with this task's waker
/// and the deadline the pool's watcher enforces) and start whatever connects are needed.
/// Dropping it leaves the line; a connection handed over in the meantime is passed to the
/// next waiter, never lost.
struct Acquire<'a, M: Connector> {
    inner: &'a Arc<Inner<M>>,
    timeout: Duration,
    /// When the call began, if an earlier pass (a failed validation) already knew: the wait a
    /// timeout reports counts from there, not from this pass.
    started: Option<Instant>,
    /// Kept from an earlier pass, so retries never extend it.
    deadline: Option<Instant>,
    ticket: Option<Ticket>,
    enqueued_at: Option<(Instant, Instant)>,
    finished: bool,
}

impl<M: Connector> Future for Acquire<'_, M> {
    type Output = Result<Acquired<M::Connection>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner;
        if let Some(ticket) = self.ticket {
            let mut st = inner.state.lock();
            let Poll::Ready(served) = st.waiters.poll(ticket, cx.waker()) else {
                return Poll::Pending;
            };
            self.finished = true;
            let conn = match served.value {
                Ok(conn) => conn,
                Err(error) => return Poll::Ready(Err(error)),
            };
            st.waited_checkouts += 1;
            drop(st);
            let (enqueued_at, deadline) = self.enqueued_at.expect("set when queued");
            let served_at = match served.waited {
                Some(waited) => enqueued_at + waited,
                None => Instant::now(),
            };
            inner.metrics.wait.record(served_at - enqueued_at);
            return Poll::Ready(Ok(Acquired {
                conn,
                served_at: Some(served_at),
                queued: Some((enqueued_at, deadline)),
            }));
        }

        let lane_open = inner.stash.is_open();
        if lane_open && let Some(conn) = inner.stash.take_local() {
            self.finished = true;
            return Poll::Ready(Ok(Acquired {
                conn,
                served_at: None,
                queued: None,
            }));
        }
        // With people queued this caller will almost surely queue too: read the clock before
        // taking the lock, not while everyone else waits for it.
        let early_now = (!lane_open).then(Instant::now);
        let mut st = inner.state.lock();
        if st.closed {
            self.finished = true;
            return Poll::Ready(Err(Error::Closed));
        }
        if let Some(conn) = st.take_idle() {
            self.finished = true;
            return Poll::Ready(Ok(Acquired {
                conn,
                served_at: None,
                queued: None,
            }));
        }
        let now = early_now.unwrap_or_else(Instant::now);
        // This caller needs a new connection unless the pool is full (a holder will return
        // one) or connections already being opened are not yet spoken for.
        let needs_new = st.now_total() < st.max_size && st.waiters.waiting() >= st.connecting;
        let mut trial = false;
        let mut transition = None;
        if needs_new && st.breaker.state() != CircuitState::Closed {
            let (permit, changed) = st.breaker.permit(now);
            transition = changed;
            match permit {
                Permit::Reject { retry_in } => {
                    let error = Error::CircuitOpen {
                        retry_in,
                        failures: st.breaker.consecutive_failures(),
                        last_error: st.last_connect_error.clone(),
                    };
                    drop(st);
                    self.finished = true;
                    Counters::bump(&inner.metrics.counters.circuit_rejections);
                    return Poll::Ready(Err(error));
                }
                Permit::Trial => trial = true,
                Permit::Connect => {}
            }
        }
        let start = self.started.unwrap_or(now);
        let timeout = self.timeout;
        let deadline = *self.deadline.get_or_insert(start + timeout);
        let ticket = st.waiters.push(cx.waker().clone(), start, deadline);
        // The first in line closes the fast lane; a connection parked just before that would
        // be unseen: place those now (possibly with this very waiter, which is then woken).
        // Later arrivals need not look: while the lane is closed, a returner that parked
        // anyway sees the flag after parking and absorbs the stash itself.
        let parked = if st.waiters.waiting() == 1 {
            st.stash.announce();
            st.absorb_stash()
        } else {
            Absorbed::new()
        };
        let wake_watcher = st.watch_armed.is_none_or(|armed| deadline < armed);
        if wake_watcher {
            st.watch_armed = Some(deadline);
        }
        let creates = if trial {
            st.reserve_creates(1)
        } else if st.breaker.state() == CircuitState::Closed {
            st.reserve_creates(usize::MAX)
        } else {
            0
        };
        drop(st);
        self.ticket = Some(ticket);
        self.enqueued_at = Some((start, deadline));
        if wake_watcher {
            inner.deadline_watch.notify_one();
        }
        inner.after_absorb(parked);
        inner.report_transition(transition);
        inner.spawn_creates(creates, trial);
        Poll::Pending
    }
}

impl<M: Connector> Drop for Acquire<'_, M> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else { return };
        if self.finished {
            return;
        }
        let unclaimed = self.inner.state.lock().waiters.cancel(ticket);
        if let Some(Ok(conn)) = unclaimed {
            self.inner.return_unclaimed(conn);
        }
    }
}

/// A reserved slot whose connection is being opened. Until it is settled (the connection
/// admitted, or the reservation given up), dropping it gives the slot back.
struct Reservation<M: Connector> {
    inner: Arc<Inner<M>>,
    trial: bool,
    settled: bool,
}

impl<M: Connector> Reservation<M> {
    /// Connects, retrying with backoff and jitter while the connection is still wanted and the
    /// breaker allows; runs in its own task, so a caller giving up never aborts a connect.
    async fn run(mut self) {
        let inner = self.inner.clone();
        let mut backoff = inner.config.connect_backoff_initial;
        loop {
            let attempt = tokio::select! {
                result = inner.connect_once() => result,
                () = inner.shutdown.cancelled() => return,
            };
            match attempt {
                Ok(conn) => {
                    self.settled = true;
                    inner.connect_succeeded(conn);
                    return;
                }
                Err(error) => {
                    if !inner.connect_failed(&error) || self.trial {
                        return;
                    }
                }
            }
            // Full jitter between half the backoff and the backoff: retries of many pools and
            // many slots spread out instead of arriving together.
            let delay = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
            backoff = (backoff * 2).min(inner.config.connect_backoff_max);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = inner.shutdown.cancelled() => return,
            }
            // The breaker may have opened while this slot slept (another slot's failure tripped
            // it): then only its half-open trial may connect, not this retry.
            let st = inner.state.lock();
            if !st.still_wanted() || st.breaker.state() != CircuitState::Closed {
                return;
            }
        }
    }
}

impl<M: Connector> Drop for Reservation<M> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut st = self.inner.state.lock();
        st.release_reservation();
        if self.trial && st.breaker.state() == CircuitState::HalfOpen {
            st.breaker.abandon_trial();
        }
        self.inner.notify_if_closed(&st);
    }
}

/// A connection in flight between places (being reset after a return, or health-checked).
/// Dropped without being placed, it is discarded and its count corrected.
pub(crate) struct Loose<M: Connector> {
    inner: Arc<Inner<M>>,
    conn: Option<Conn<M::Connection>>,
    from: CountedIn,
}

impl<M: Connector> Loose<M> {
    pub(crate) fn new(inner: Arc<Inner<M>>, conn: Conn<M::Connection>, from: CountedIn) -> Self {
        Self {
            inner,
            conn: Some(conn),
            from,
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Conn<M::Connection> {
        self.conn
            .as_mut()
            .expect("a Loose holds its connection until consumed")
    }

    /// Puts the connection back into service.
    pub(crate) fn put_back(mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.put_back(conn, self.from, None);
        }
    }

    /// Closes the connection and frees its slot.
    pub(crate) fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.discard(conn, self.from);
        }
    }

    async fn reset_and_return(mut self) {
        let inner = self.inner.clone();
        let work = async {
            let conn = &mut self.conn_mut().raw;
            if inner.config.reset_on_return {
                conn.reset().await?;
            }
            if let Some(hook) = &inner.hooks.after_checkin {
                hook(conn).await?;
            }
            Ok::<_, Error>(())
        };
        match tokio::time::timeout(inner.config.close_timeout, work).await {
            Ok(Ok(())) if !self.conn_mut().raw.is_broken() => self.put_back(),
            Ok(Ok(())) => self.discard(),
            Ok(Err(error)) => {
                tracing::debug!(pool = %inner.name(), %error, "session reset failed; discarding the connection");
                self.discard();
            }
            Err(_) => {
                tracing::debug!(pool = %inner.name(), "session reset timed out; discarding the connection");
                self.discard();
            }
        }
    }
}

impl<M: Connector> Drop for Loose<M> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.discard(conn, self.from);
        }
    }
}

/// A connection being closed; already out of `open`, counted in `closing` until this drops.
struct Closing<M: Connector> {
    inner: Arc<Inner<M>>,
    conn: Option<Conn<M::Connection>>,
}

impl<M: Connector> Closing<M> {
    async fn run(mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = tokio::time::timeout(self.inner.config.close_timeout, conn.raw.close()).await;
        }
    }
}

impl<M: Connector> Drop for Closing<M> {
    fn drop(&mut self) {
        drop(self.conn.take());
        Counters::bump(&self.inner.metrics.counters.closed);
        let mut st = self.inner.state.lock();
        st.closing -= 1;
        self.inner.notify_if_closed(&st);
    }
}
