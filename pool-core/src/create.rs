//! Opening connections: reserving slots, connecting with backoff, and what a connect's outcome
//! does to the breaker and to the callers waiting for it.
//!
//! A slot is reserved under the lock ([`State::reserve_creates`] is the only place that mints
//! one) and travels as a [`Reservation`] until the connection it opens is admitted. Dropping a
//! reservation (a failed connect, a shutdown, a task the runtime never ran) gives the slot
//! back, so no path can leak one. Warm-up and the background both open through it.
//!
//! Each successful connect starts the next ones the pool still wants, so a burst of callers
//! larger than `max_concurrent_creates` is served batch after batch at the speed of the
//! database, not of a sampler.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Waker;

use tokio::time::Instant;

use crate::breaker::{CircuitState, Permit, Transition};
use crate::conn::{Conn, ConnMeta, ConnParts};
use crate::deadline;
use crate::error::{BackendError, Error, Result};
use crate::inner::Inner;
use crate::metadata::ConnectionMetadata;
use crate::protocol::{ConnectionProtocol, Connector};
use crate::state::{Reserved, State};
use crate::stats::Counters;

impl<M: Connector> Inner<M> {
    /// Starts a connection attempt for each reserved slot.
    pub(crate) fn start_creates(self: &Arc<Self>, reserved: Reserved, trial: bool) {
        for reservation in Reservation::claim(self, reserved, trial) {
            self.spawn(reservation.run());
        }
    }

    /// Reserves and starts whatever connections the pool wants now (replenishing after a
    /// discard, pre-warming after the auto-scaler raised its target, the next batch for
    /// callers still waiting).
    pub(crate) fn replenish(self: &Arc<Self>) {
        let now = Instant::now();
        let mut st = self.state.lock();
        let (reserved, trial, transition) = match st.breaker.state() {
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
        if trial && reserved.count() == 0 {
            st.breaker.abandon_trial();
        }
        drop(st);
        self.report_transition(transition);
        self.start_creates(reserved, trial);
    }

    /// One connection attempt: connect, set the query timeout, run the after-connect hook,
    /// all within the connect timeout. A connection that reports itself broken right after
    /// opening is a failed attempt (with its backoff and breaker count), not a connection.
    pub(crate) async fn connect_once(&self) -> Result<Conn<M::Connection>> {
        let started = Instant::now();
        let attempt = async {
            let mut raw = self.connector.connect().await?;
            raw.set_query_timeout(self.config.query_timeout);
            // Numbered once open, so the after-connect hook sees the id logs will use.
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if let Some(hook) = &self.hooks.after_connect {
                hook(&mut raw, ConnectionMetadata::opened(id)).await?;
            }
            Ok::<_, Error>((raw, id))
        };
        let (raw, id) = match tokio::time::timeout(self.config.connect_timeout, attempt).await {
            Ok(Ok((raw, _))) if raw.is_broken() => {
                return Err(Error::Connect(BackendError::connection(
                    "the new connection reported itself broken right after opening",
                )));
            }
            Ok(Ok(attempt)) => attempt,
            Ok(Err(Error::Backend(e))) => return Err(Error::Connect(e)),
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(Error::ConnectTimeout(self.config.connect_timeout)),
        };
        let now = Instant::now();
        self.metrics.create.record(now - started);
        Counters::bump(&self.metrics.counters.created);
        let expires_at = self.config.max_lifetime.map(|lifetime| {
            let jitter = lifetime.mul_f64(self.config.max_lifetime_jitter * fastrand::f64());
            deadline::after(now, lifetime - jitter)
        });
        Ok(Conn::new(ConnParts {
            raw,
            meta: ConnMeta::new(id, now, expires_at),
            last_used: now,
            unstamped_use: false,
            last_used_tick: self.clock.ticks_at(now),
            expires_tick: expires_at.map_or(u64::MAX, |at| self.clock.ticks_at(at)),
            checkouts: 0,
        }))
    }

    /// Records a failed attempt; returns whether the attempt should be retried.
    fn connect_failed(&self, error: &Error) -> bool {
        Counters::bump(&self.metrics.counters.connect_failures);
        let cause = as_backend_error(error);
        let now = Instant::now();
        let mut st = self.state.lock();
        st.last_connect_error = Some(cause.clone());
        let transition = st.breaker.record_connect_failure(now);
        let wakers = if transition.is_some_and(|t| t.to == CircuitState::Open) {
            // This attempt's own slot is still reserved; no other connect will serve anyone.
            self.fail_unservable_waiters(&mut st, now, 1)
        } else {
            Vec::new()
        };
        let retry = st.breaker.state() == CircuitState::Closed && st.still_wanted();
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        tracing::warn!(pool = %self.name(), error = %error, "connection attempt failed");
        self.report_transition(transition);
        retry
    }

    /// While the breaker is open, fails the waiters nothing can serve: no connection is checked
    /// out (whose return would serve them) and no connect is in flight beyond the
    /// `own_reservations` of the caller, which are giving up. Waiters in a pool whose
    /// connections are busy keep waiting for returns. Returns the wakers to call.
    pub(crate) fn fail_unservable_waiters(
        &self,
        st: &mut State<M::Connection>,
        now: Instant,
        own_reservations: usize,
    ) -> Vec<Waker> {
        let servable = st.active + st.preparing > 0 || st.connecting > own_reservations;
        if st.breaker.state() != CircuitState::Open || servable || st.waiters.waiting() == 0 {
            return Vec::new();
        }
        let retry_in = st.breaker.retry_in(now);
        let failures = st.breaker.consecutive_failures();
        let last_error = st.last_connect_error.clone();
        let wakers = st.fail_waiters(|| Error::CircuitOpen {
            retry_in,
            failures,
            last_error: last_error.clone(),
        });
        self.metrics
            .counters
            .circuit_rejections
            .fetch_add(wakers.len() as u64, Ordering::Relaxed);
        wakers
    }

    /// Admits a new connection. `start_next`: also start the connects the pool still wants
    /// (not during warm-up, which paces its own).
    fn connect_succeeded(self: &Arc<Self>, conn: Conn<M::Connection>, start_next: bool) {
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
        // The next batch: callers still waiting beyond the connects in flight, or a warm size
        // not yet reached, are served now rather than at the sampler's next tick.
        if start_next {
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
}

/// The cause to show inside `Timeout` and `CircuitOpen`.
fn as_backend_error(error: &Error) -> BackendError {
    match error {
        Error::Connect(e) | Error::Backend(e) => e.clone(),
        other => BackendError::connection(other.to_string()),
    }
}

/// A reserved slot whose connection is being opened. Until it is settled (the connection
/// admitted), dropping it gives the slot back.
#[must_use = "a reservation holds a slot until its connect settles"]
pub(crate) struct Reservation<M: Connector> {
    inner: Arc<Inner<M>>,
    /// This attempt is the breaker's half-open trial.
    trial: bool,
    settled: bool,
}

impl<M: Connector> Reservation<M> {
    /// Turns slots reserved under the lock into reservations, one per slot.
    pub(crate) fn claim(
        inner: &Arc<Inner<M>>,
        reserved: Reserved,
        trial: bool,
    ) -> impl Iterator<Item = Self> + '_ {
        (0..reserved.into_count()).map(move |_| Self {
            inner: inner.clone(),
            trial,
            settled: false,
        })
    }

    /// One attempt, for warm-up: the error goes to `build()`, which decides.
    pub(crate) async fn open_once(mut self) -> Result<()> {
        match self.inner.connect_once().await {
            Ok(conn) => {
                self.settled = true;
                self.inner.connect_succeeded(conn, false);
                Ok(())
            }
            Err(error) => {
                // Counted like any failed connect: the last error shows in timeouts, and a
                // database that is down at start-up can open the breaker.
                self.inner.connect_failed(&error);
                Err(error)
            }
        }
    }

    /// Connects, retrying with backoff and jitter while the connection is still wanted and the
    /// breaker allows; runs in its own task, so a caller giving up never aborts a connect.
    pub(crate) async fn run(mut self) {
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
                    inner.connect_succeeded(conn, true);
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
        let inner = &self.inner;
        let mut st = inner.state.lock();
        st.release_reservation();
        let abandoned_trial = self.trial && st.breaker.state() == CircuitState::HalfOpen;
        if abandoned_trial {
            st.breaker.abandon_trial();
        }
        // The last connect in flight gave up while the breaker is open: callers queued behind
        // it would otherwise wait out their whole timeout for nothing.
        let wakers = inner.fail_unservable_waiters(&mut st, Instant::now(), 0);
        inner.notify_if_closed(&st);
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        if abandoned_trial {
            // Callers may still be waiting for the trial's verdict: let another attempt try.
            inner.replenish();
        }
    }
}
