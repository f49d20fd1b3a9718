//! Acquiring: `get()`, `try_get()`, and the checks a connection passes before a caller gets it.
//!
//! A `get()` is a loop of passes. Each pass is one [`Acquire`] future, whose first poll is one
//! critical section: take an idle connection if one is free and nobody waits ahead, or join
//! the line and start whatever connects are needed. The connection it gets is a
//! [`PendingCheckout`] until it passes validation and the before-checkout hook; one that fails
//! is discarded and the next pass runs, keeping the caller's deadline and its place in line
//! (a caller that was served once re-enters ahead of everyone who queued after it). The caller
//! re-enters before the failed connection is discarded, since the discard starts the
//! replacement, and spends any pause after a fresh connection failed in line, so neither the
//! replacement nor a connection returned meanwhile can go to someone who queued later.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::breaker::{CircuitState, Permit};
use crate::conn::{Conn, LeakTracking};
use crate::deadline;
use crate::error::{Error, Result};
use crate::guard::PooledConnection;
use crate::inner::Inner;
use crate::mailbox::Mailbox;
use crate::pending::PendingCheckout;
use crate::protocol::{ConnectionProtocol, Connector};
use crate::state::{Absorbed, Reserved};
use crate::stats::Counters;
use crate::waiters::{Served, Ticket};

impl<M: Connector> Inner<M> {
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
        // The common case, a connection parked in this thread's slot that needs no check,
        // ends here, before any of the waiting machinery below is set up (its future state is
        // large, and writing it cost 10 % of a checkout).
        let first = match self.checkout_from_own_slot(caller) {
            Some(Ok(ready)) => return Ok(ready),
            Some(Err(needs_checks)) => Some(needs_checks),
            None => None,
        };
        self.acquire_in_passes(timeout, caller, first).await
    }

    /// Takes the connection parked in this thread's slot, if the lane is open. `Ok` when it
    /// goes out as it is; `Err` when it is broken or due for checks, for the passes to handle.
    fn checkout_from_own_slot(
        self: &Arc<Self>,
        caller: &'static Location<'static>,
    ) -> Option<std::result::Result<PooledConnection<M>, Conn<M::Connection>>> {
        if !self.stash.is_open() {
            return None;
        }
        let conn = self.stash.take_local()?;
        if conn.raw.is_broken() {
            return Some(Err(conn));
        }
        let plan = self.plan;
        let now = (plan.clock_at_checkout || usage_sampled()).then(Instant::now);
        if self.checkout_checks_due(&conn, self.coarse_ticks()) {
            return Some(Err(conn));
        }
        let usage_weight = if plan.clock_at_checkout {
            1
        } else {
            USAGE_SAMPLE_EVERY
        };
        let tracking = self.leak_tracking(now, caller);
        let pending = PendingCheckout::new(self, conn);
        Some(Ok(
            pending.ready(now.map(|now| (now, usage_weight)), tracking)
        ))
    }

    /// The rest of a `get()`: passes of [`Acquire`] until a connection is ready or the
    /// deadline passes. `first` is a connection already taken from this thread's slot that
    /// still needs checking.
    async fn acquire_in_passes(
        self: &Arc<Self>,
        timeout: Duration,
        caller: &'static Location<'static>,
        mut first: Option<Conn<M::Connection>>,
    ) -> Result<PooledConnection<M>> {
        let mut started: Option<Instant> = None;
        let mut deadline: Option<Instant> = None;
        let mut backoff = self.config.connect_backoff_initial;
        let mut retry = false;
        // A connection that failed its checks on the last pass, kept until this caller is back
        // in line, and the pause to take before using the next one (after a fresh connection
        // failed).
        let mut failed: Option<(PendingCheckout<'_, M>, Option<Duration>)> = None;
        loop {
            let mut pass = pin!(Acquire {
                inner: self,
                timeout,
                started,
                deadline,
                retry,
                ticket: None,
                mailbox: None,
                enqueued_at: None,
                finished: false,
            });
            // A connection from this thread's slot needs no pass: the pass is dropped
            // unpolled, holding no ticket.
            let acquired = if let Some(conn) = first.take() {
                Acquired::at_once(conn)
            } else {
                match failed.take() {
                    None => pass.await?,
                    Some((unusable, pause)) => {
                        // Back in line (at the front: this caller was served once) before the
                        // unusable connection is discarded: the discard starts its replacement,
                        // which must find this caller first in line, not whoever queued next.
                        let first =
                            std::future::poll_fn(|cx| Poll::Ready(pass.as_mut().poll(cx))).await;
                        drop(unusable);
                        match first {
                            Poll::Ready(acquired) => acquired?,
                            Poll::Pending => {
                                // The pause is spent in line: a connection handed over meanwhile
                                // waits for this caller.
                                if let Some(pause) = pause {
                                    tokio::time::sleep(pause).await;
                                }
                                pass.await?
                            }
                        }
                    }
                }
            };
            retry = true;
            let waited_until = acquired.served_at;
            if let Some((enqueued_at, queue_deadline)) = acquired.queued {
                started.get_or_insert(enqueued_at);
                deadline.get_or_insert(queue_deadline);
            }
            let pending = PendingCheckout::new(self, acquired.conn);
            if pending.conn().raw.is_broken() {
                Counters::bump(&self.metrics.counters.broken_on_return);
                failed = Some((pending, None));
                continue;
            }
            let plan = self.plan;
            let sampled = usage_sampled();
            let now = match waited_until {
                Some(now) => Some(now),
                None if plan.clock_at_checkout || sampled => Some(Instant::now()),
                None => None,
            };
            let usage_weight = if waited_until.is_none() && !plan.clock_at_checkout {
                USAGE_SAMPLE_EVERY
            } else {
                1
            };
            if now.is_none() && !self.checkout_checks_due(pending.conn(), self.coarse_ticks()) {
                // Nothing to check and nothing to time: hand it over.
                return Ok(pending.ready(None, self.leak_tracking(None, caller)));
            }
            let now = now.unwrap_or_else(Instant::now);
            let start = *started.get_or_insert(now);
            let deadline = *deadline.get_or_insert(deadline::after(start, timeout));
            if !self.checkout_checks_due(pending.conn(), self.clock.ticks_at(now)) {
                let tracking = self.leak_tracking(Some(now), caller);
                return Ok(pending.ready(Some((now, usage_weight)), tracking));
            }
            // Opened during this very call: if it fails its checks at once, the server accepts
            // sessions it cannot serve, and the next attempt should wait. (Stale idle sessions
            // failing, as after a restart, are skipped without delay.)
            let fresh = pending.conn().meta.created_at >= start;
            match self
                .checked_checkout(pending, now, deadline, caller)
                .await?
            {
                Ok(ready) => return Ok(ready),
                Err(unusable) if Instant::now() >= deadline => {
                    drop(unusable);
                    return Err(self.timeout_error(start));
                }
                Err(unusable) => {
                    let pause = fresh.then(|| {
                        let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
                        backoff = (backoff * 2).min(self.config.connect_backoff_max);
                        pause
                    });
                    failed = Some((unusable, pause));
                }
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
            let pending = PendingCheckout::new(self, conn);
            if pending.conn().raw.is_broken() {
                Counters::bump(&self.metrics.counters.broken_on_return);
                continue;
            }
            let now = Instant::now();
            if !self.checkout_checks_due(pending.conn(), self.clock.ticks_at(now)) {
                let tracking = self.leak_tracking(Some(now), caller);
                return Ok(Some(pending.ready(Some((now, 1)), tracking)));
            }
            let deadline = deadline::after(start, self.config.health_check_timeout);
            // One that fails its checks is discarded here: a `try_get` never queues.
            if let Ok(ready) = self
                .checked_checkout(pending, now, deadline, caller)
                .await?
            {
                return Ok(Some(ready));
            }
            // Each discard starts a replacement that soon lies idle; without this bound a
            // server that accepts sessions but never answers a ping would keep `try_get`
            // validating replacements forever (found by the model test).
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Is there anything to check or run before handing this connection out, at `ticks` on
    /// the pool's coarse clock? (Integers only: on the fast path `Instant` arithmetic would
    /// cost as much as the rest of the check.)
    fn checkout_checks_due(&self, conn: &Conn<M::Connection>, ticks: u64) -> bool {
        conn.expires_tick <= ticks
            || self.plan.before_checkout_hook
            || self.validation_due(conn, ticks)
    }

    /// Idle (since its last return) at least `validation_bypass`, when validation is on.
    fn validation_due(&self, conn: &Conn<M::Connection>, ticks: u64) -> bool {
        self.plan
            .validate_after_nanos
            .is_some_and(|bypass| ticks.saturating_sub(conn.last_used_tick) >= bypass)
    }

    /// What leak detection records for this checkout, if it is on.
    fn leak_tracking(
        &self,
        now: Option<Instant>,
        caller: &'static Location<'static>,
    ) -> Option<LeakTracking> {
        let plan = self.plan.leak_tracking?;
        Some(LeakTracking {
            at_nanos: now.map(|now| self.nanos_since_epoch(now)),
            caller,
            trace: plan
                .capture_backtrace
                .then(std::backtrace::Backtrace::force_capture),
        })
    }

    /// Validates a connection taken for a checkout and runs the before-checkout hook.
    /// `Ok(Err(unusable))` means it failed them: dropping it discards it (and starts a
    /// replacement if one is wanted), which a caller that tries again does once it is back in
    /// line.
    async fn checked_checkout<'a>(
        self: &'a Arc<Self>,
        mut pending: PendingCheckout<'a, M>,
        now: Instant,
        deadline: Instant,
        caller: &'static Location<'static>,
    ) -> Result<std::result::Result<PooledConnection<M>, PendingCheckout<'a, M>>> {
        let conn = pending.conn_mut();
        if conn.is_expired(now) {
            Counters::bump(&self.metrics.counters.expired);
            return Ok(Err(pending));
        }
        let at_least_a_moment = now + Duration::from_millis(1);
        if self.validation_due(conn, self.clock.ticks_at(now)) {
            let limit = deadline
                .min(deadline::after(now, self.config.health_check_timeout))
                .max(at_least_a_moment);
            let result =
                tokio::time::timeout_at(limit, self.connector.validate(&mut conn.raw)).await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    self.record_validation_failure(&error.to_string());
                    return Ok(Err(pending));
                }
                Err(_) => {
                    self.record_validation_failure("the validation ping timed out");
                    return Ok(Err(pending));
                }
            }
        }
        if let Some(hook) = &self.hooks.before_checkout {
            let limit = deadline.max(at_least_a_moment);
            let meta = crate::metadata::ConnectionMetadata::of(pending.conn(), now, false);
            match tokio::time::timeout_at(limit, hook(&mut pending.conn_mut().raw, meta)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(Err(pending)),
            }
        }
        let tracking = self.leak_tracking(Some(now), caller);
        Ok(Ok(pending.ready(Some((now, 1)), tracking)))
    }

    /// A checkout validation failed: the connection is replaced. Not a breaker event: a dead
    /// idle session says nothing about whether the server accepts new ones.
    fn record_validation_failure(&self, reason: &str) {
        Counters::bump(&self.metrics.counters.validation_failures);
        tracing::debug!(pool = %self.name(), reason, "checkout validation failed; replacing the connection");
    }

    pub(crate) fn timeout_error(&self, start: Instant) -> Error {
        self.metrics.record_timeouts(1);
        let st = self.state.lock();
        Error::Timeout {
            waited: start.elapsed(),
            counts: st.counts(),
            last_connect_error: st.last_connect_error.clone(),
        }
    }
}

/// On the fast path, only one checkout in this many is timed for the use-time histogram (and
/// recorded with this weight): a clock read costs as much as the rest of a checkout. At 32 the
/// two reads (checkout and return) cost ≈ 1.5 ns per checkout, where 8 cost ≈ 7 ns of a 70 ns
/// no-hold cycle (measured A/B); a busy pool still records thousands of samples a second, and
/// every checkout that waited or was validated is timed as well.
pub(crate) const USAGE_SAMPLE_EVERY: u64 = 32;

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

/// What one pass of [`Acquire`] got.
struct Acquired<C> {
    conn: Conn<C>,
    /// When the connection was handed over, if the caller had to wait.
    served_at: Option<Instant>,
    /// When the caller queued, and its deadline, if it had to wait.
    queued: Option<(Instant, Instant)>,
}

impl<C> Acquired<C> {
    fn at_once(conn: Conn<C>) -> Self {
        Self {
            conn,
            served_at: None,
            queued: None,
        }
    }
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
    /// An earlier pass got a connection that failed its checks: this caller keeps its place
    /// ahead of everyone who queued after it.
    retry: bool,
    ticket: Option<Ticket>,
    /// Where what this caller is given arrives, while it is in line.
    mailbox: Option<Arc<WaiterMailbox<M::Connection>>>,
    enqueued_at: Option<(Instant, Instant)>,
    finished: bool,
}

/// A queued caller's mailbox: a connection, or the error that ends its wait.
type WaiterMailbox<C> = Mailbox<Served<Result<Conn<C>>>>;

impl<M: Connector> Acquire<'_, M> {
    /// Polls a caller already in line: reads its mailbox, without the pool's lock.
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<Acquired<M::Connection>>> {
        let inner = self.inner;
        let mailbox = self.mailbox.as_ref().expect("set when queued");
        let Poll::Ready(served) = mailbox.poll(cx.waker()) else {
            // The deadline watcher may have died with the runtime it ran on: restart it here.
            inner.ensure_background();
            return Poll::Pending;
        };
        self.finish();
        let conn = match served.value {
            Ok(conn) => conn,
            Err(error) => return Poll::Ready(Err(error)),
        };
        let (enqueued_at, deadline) = self.enqueued_at.expect("set when queued");
        let served_at = match served.waited {
            Some(waited) => enqueued_at + waited,
            None => Instant::now(),
        };
        inner.metrics.wait.record(served_at - enqueued_at);
        Poll::Ready(Ok(Acquired {
            conn,
            served_at: Some(served_at),
            queued: Some((enqueued_at, deadline)),
        }))
    }

    /// The pass is over: nothing to leave, and the mailbox goes back for reuse.
    fn finish(&mut self) {
        self.finished = true;
        if let Some(mailbox) = self.mailbox.take() {
            Mailbox::recycle(mailbox);
        }
    }
}

impl<M: Connector> Future for Acquire<'_, M> {
    type Output = Result<Acquired<M::Connection>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.mailbox.is_some() {
            return self.poll_queued(cx);
        }
        let inner = self.inner;
        let lane_open = inner.stash.is_open();
        if lane_open && let Some(conn) = inner.stash.take_local() {
            self.finished = true;
            return Poll::Ready(Ok(Acquired::at_once(conn)));
        }
        // With people queued this caller will almost surely queue too: read the clock before
        // taking the lock, not while everyone else waits for it.
        let early_now = (!lane_open).then(Instant::now);
        let mut st = inner.state.lock();
        if st.closed {
            self.finished = true;
            return Poll::Ready(Err(Error::Closed));
        }
        let idle = if self.retry {
            st.take_idle_ahead_of_queue()
        } else {
            st.take_idle()
        };
        if let Some(conn) = idle {
            self.finished = true;
            return Poll::Ready(Ok(Acquired::at_once(conn)));
        }
        let now = early_now.unwrap_or_else(Instant::now);
        let breaker = st.breaker.state();
        // This caller needs a new connection unless the pool is full (a holder will return
        // one) or connections on their way (being opened or reset) are not yet spoken for.
        // While the breaker is open, connects still in flight are retries that give up when
        // they wake: they serve nobody.
        let uncovered = st.waiters.waiting() >= st.on_their_way() || breaker == CircuitState::Open;
        let needs_new = st.now_total() < st.max_size && uncovered;
        let mut trial = false;
        let mut await_trial = false;
        let mut transition = None;
        if needs_new && breaker != CircuitState::Closed {
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
                Permit::AwaitTrial => await_trial = true,
                Permit::Connect => {}
            }
        }
        let start = self.started.unwrap_or(now);
        let timeout = self.timeout;
        let deadline = *self
            .deadline
            .get_or_insert_with(|| deadline::after(start, timeout));
        let mailbox = Mailbox::ready_for(cx.waker());
        let ticket = if self.retry {
            st.waiters.push_front(mailbox.clone(), start, deadline)
        } else {
            st.waiters.push(mailbox.clone(), start, deadline)
        };
        // The first in line closes the fast lane; a connection parked just before that would
        // be unseen: place those now (possibly with this very waiter, which is then woken).
        // Later arrivals need not look: while the lane is closed, a returner that parked
        // anyway sees the flag after parking and absorbs the stash itself.
        let parked = if st.waiters.waiting() == 1 {
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
        } else if !await_trial && st.breaker.state() == CircuitState::Closed {
            st.reserve_creates(usize::MAX)
        } else {
            Reserved::none()
        };
        drop(st);
        self.ticket = Some(ticket);
        self.mailbox = Some(mailbox);
        self.enqueued_at = Some((start, deadline));
        inner.ensure_background();
        if wake_watcher {
            inner.deadline_watch.notify_one();
        }
        inner.after_absorb(parked);
        inner.report_transition(transition);
        inner.start_creates(creates, trial);
        Poll::Pending
    }
}

impl<M: Connector> Drop for Acquire<'_, M> {
    fn drop(&mut self) {
        let (Some(ticket), Some(mailbox)) = (self.ticket, self.mailbox.take()) else {
            return;
        };
        if self.finished {
            return;
        }
        let inner = self.inner;
        let mut st = inner.state.lock();
        if st.waiters.cancel(ticket) {
            return;
        }
        // Served before leaving: a connection handed over must go to the next in line.
        // Collected under the pool's lock, so no other giver can be delivering meanwhile.
        let placed = match mailbox.take() {
            Some(Served {
                value: Ok(conn), ..
            }) => {
                st.waited_checkouts -= 1;
                st.leave(crate::inner::CountedIn::Active);
                Some(st.place(conn, None))
            }
            _ => None,
        };
        drop(st);
        Mailbox::recycle(mailbox);
        if let Some(placed) = placed {
            inner.after_place(placed);
        }
    }
}
