//! Returning: what happens when a holder drops its connection, and how a connection that is not
//! checked out finds its next place (a waiter, the idle set, the fast lane, or closing).
//!
//! A return never blocks: only the short state lock is taken, or none at all on the fast lane.

use std::sync::Arc;
use std::task::Waker;

use tokio::time::Instant;

use crate::conn::Conn;
use crate::inner::{CountedIn, Inner};
use crate::protocol::{ConnectionProtocol, Connector, ResetStart};
use crate::state::{Absorbed, Placed};
use crate::stats::Counters;

impl<M: Connector> Inner<M> {
    /// A holder dropped its connection. Reset and hooks, when configured, run in a spawned
    /// task bounded by the close timeout.
    pub(crate) fn check_in(
        self: &Arc<Self>,
        mut conn: Conn<M::Connection>,
        checked_out_at: Option<(Instant, u64)>,
    ) {
        // The clock is read only for the use-time sample. Otherwise (the fast path) the return
        // is stamped from the coarse clock when checkout validation needs "last used", or by
        // the next sweep, and a lifetime that ran out while the connection was out is flagged
        // by the reaper instead (a clock read costs as much as the rest of this).
        let now = checked_out_at.is_some().then(Instant::now);
        if let (Some(now), Some((at, weight))) = (now, checked_out_at) {
            self.metrics
                .usage
                .record_n(now.saturating_duration_since(at), weight);
        }
        if !conn.meta.check_in(self.plan.reclaim_possible) {
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
                conn.last_used_tick = self.clock.ticks_at(now);
            }
            None if self.plan.validate_after.is_some() => {
                // Checkout validation's bypass compares the tick (integers, on the checkout
                // path); `last_used` keeps hooks' and `retain`'s idle time right.
                let tick = self.coarse_ticks();
                conn.last_used_tick = tick;
                conn.last_used = self.clock.instant_at(tick);
                conn.unstamped_use = false;
            }
            None => conn.unstamped_use = true,
        }
        if self.plan.work_on_return {
            // Only a session the adapter cannot clean without waiting costs a task.
            let reset = self.config.reset_on_return && conn.raw.begin_reset() == ResetStart::Await;
            if reset || self.hooks.after_checkin.is_some() {
                // One more short lock on a path that spawns a task anyway, so that `active`
                // (the `used` gauge) counts what callers hold, not the pool's reset work.
                self.state.lock().start_preparing_returned();
                let loose = Loose::new(self.clone(), conn, CountedIn::Preparing);
                self.spawn(loose.reset_and_return(reset));
                return;
            }
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

    /// A connection leaves the pool while checked out (detached by its holder, or reclaimed as
    /// a leak): its slot is free at once, and a replacement is opened if one is wanted.
    pub(crate) fn release_checked_out(self: &Arc<Self>, id: u64) {
        let mut st = self.state.lock();
        st.release_checked_out(id);
        self.notify_if_closed(&st);
        drop(st);
        self.replenish();
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
        st.leave(from);
        let placed = st.place(conn, now);
        drop(st);
        self.after_place(placed);
    }

    pub(crate) fn after_place(self: &Arc<Self>, placed: Placed<M::Connection>) {
        match placed {
            Placed::Handed(waker) => waker.into_iter().for_each(Waker::wake),
            Placed::Idle => {}
            Placed::Surplus(conn) => self.close_counted(conn),
        }
    }

    /// Closes a connection that cannot be used again and starts a replacement if one is wanted.
    pub(crate) fn discard(self: &Arc<Self>, conn: Conn<M::Connection>, from: CountedIn) {
        let mut st = self.state.lock();
        st.leave(from);
        let conn = st.forget(conn);
        drop(st);
        self.close_counted(conn);
        self.replenish();
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

    /// Resets the session (if `reset`) and runs the after-checkin hook, then puts the
    /// connection back; discards it if either fails or takes longer than `close_timeout`.
    async fn reset_and_return(mut self, reset: bool) {
        let inner = self.inner.clone();
        let work = async {
            // Taken before the reset (which borrows the connection), and only for a hook: a
            // clock read per return is not free.
            let hook = inner.hooks.after_checkin.as_ref().map(|hook| {
                let meta =
                    crate::metadata::ConnectionMetadata::of(self.conn_mut(), Instant::now(), true);
                (hook, meta)
            });
            let conn = &mut self.conn_mut().raw;
            if reset {
                conn.reset().await?;
            }
            if let Some((hook, meta)) = hook {
                hook(conn, meta).await?;
            }
            Ok::<_, crate::Error>(())
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
