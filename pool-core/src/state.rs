//! The pool's state under its one lock: which connections exist and where they are.
//!
//! Nothing here awaits, allocates in the steady state, or calls user code; every method is a
//! short critical section, and every change of a count goes through one of them. The async code
//! that drives it lives in `acquire.rs`, `create.rs`, `checkin.rs` and `close.rs`.
//!
//! Accounting: `open` counts every connection that exists, wherever it is:
//! `open == idle.len() + active + preparing`, where `active` includes the connections parked in
//! the stash (the fast lane, `stash.rs`), which are idle in every figure the pool reports, and
//! `preparing` counts the pool's own work on a connection (a health check, the reset after a
//! return), so `active` is what callers hold. `connecting` counts reserved slots whose
//! connection is still being opened, and `open + connecting <= max_size` always holds.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::task::Waker;

use smallvec::SmallVec;
use tokio::time::Instant;

use crate::breaker::Breaker;
use crate::conn::{Conn, ConnMeta};
use crate::error::{BackendError, Error, PoolCounts, Result};
use crate::inner::CountedIn;
use crate::stash::Stash;
use crate::sync::atomic::AtomicBool;
use crate::waiters::WaiterQueue;

pub(crate) struct State<C> {
    /// Idle connections: least recently used at the front, most recently used at the back.
    /// Checkout takes from the back (warm caches, and the cold end ages out).
    pub(crate) idle: VecDeque<Conn<C>>,
    pub(crate) waiters: WaiterQueue<Result<Conn<C>>>,
    /// The fast lane (shared with the pool, which uses it without this lock).
    pub(crate) stash: Arc<Stash<C>>,
    pub(crate) open: usize,
    pub(crate) connecting: usize,
    /// Connections checked out by callers, handed to a waiter that has not taken it yet, or
    /// parked in the stash.
    pub(crate) active: usize,
    /// Connections the pool itself works on: taken out for a background health check, or
    /// being reset after a return.
    pub(crate) preparing: usize,
    /// Connections being closed right now (already out of `open`).
    pub(crate) closing: usize,
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    /// How many connections the pool keeps open and ready: `min_size` unless the auto-scaler
    /// raised it.
    pub(crate) warm_target: usize,
    pub(crate) max_concurrent_creates: usize,
    pub(crate) closed: bool,
    pub(crate) breaker: Breaker,
    /// Every open connection's shared bookkeeping, for the leak detector.
    pub(crate) live: HashMap<u64, Arc<ConnMeta>>,
    pub(crate) last_connect_error: Option<BackendError>,
    /// Checkouts served without waiting from the idle set: counted here because the lock is
    /// held anyway (the stash counts its own).
    pub(crate) immediate_checkouts: u64,
    /// Fast-lane checkouts of connections no longer tracked in `live`.
    pub(crate) closed_fast_checkouts: u64,
    /// Checkouts served after waiting, counted when a connection is handed to a waiter (and
    /// taken back if the waiter left without collecting it).
    pub(crate) waited_checkouts: u64,
    /// The deadline the deadline watcher is sleeping until, if any: a new waiter with an
    /// earlier one must wake it.
    pub(crate) watch_armed: Option<Instant>,
}

/// Where each connection taken back from the stash went. Inline up to four: the first caller
/// to queue absorbs the stash, and in the steady state that must not allocate.
pub(crate) type Absorbed<C> = SmallVec<[Placed<C>; 4]>;

/// Slots reserved for new connections by [`State::reserve_creates`], the only place that
/// makes one. Each must become a `Reservation` (create.rs), whose drop gives the slot back.
#[must_use = "reserved slots must become reservations, or they are never given back"]
#[derive(Debug)]
pub(crate) struct Reserved(usize);

impl Reserved {
    /// No slot reserved.
    pub(crate) fn none() -> Self {
        Self(0)
    }

    pub(crate) fn count(&self) -> usize {
        self.0
    }

    /// Hands the slots over to the reservations made from them.
    pub(crate) fn into_count(self) -> usize {
        self.0
    }
}

/// Where a connection went when it was placed back.
pub(crate) enum Placed<C> {
    /// Handed to a waiter; wake it (if it was not polling right then) once the lock is
    /// released.
    Handed(Option<Waker>),
    /// Kept idle.
    Idle,
    /// Not wanted (pool closed or above its size): close it.
    Surplus(Conn<C>),
}

impl<C> State<C> {
    pub(crate) fn new(
        min_size: usize,
        max_size: usize,
        max_concurrent_creates: usize,
        breaker: Breaker,
    ) -> Self {
        let anyone_waiting = Arc::new(AtomicBool::new(false));
        Self {
            idle: VecDeque::with_capacity(max_size),
            stash: Arc::new(Stash::new(anyone_waiting.clone())),
            waiters: WaiterQueue::new(anyone_waiting),
            open: 0,
            connecting: 0,
            active: 0,
            preparing: 0,
            closing: 0,
            min_size,
            max_size,
            warm_target: min_size,
            max_concurrent_creates,
            closed: false,
            breaker,
            live: HashMap::with_capacity(max_size),
            last_connect_error: None,
            immediate_checkouts: 0,
            closed_fast_checkouts: 0,
            waited_checkouts: 0,
            watch_armed: None,
        }
    }

    /// The counts, with connections parked in the stash as active: absorb the stash first
    /// for exact ones.
    pub(crate) fn counts(&self) -> PoolCounts {
        PoolCounts {
            active: self.active,
            idle: self.idle.len(),
            preparing: self.preparing,
            connecting: self.connecting,
            waiting: self.waiters.waiting(),
            max: self.max_size,
        }
    }

    /// An idle connection (from the idle set, else parked in another thread's stash slot),
    /// only if nobody is queued ahead of the caller.
    pub(crate) fn take_idle(&mut self) -> Option<Conn<C>> {
        if self.waiters.waiting() > 0 {
            return None;
        }
        match self.idle.pop_back() {
            Some(conn) => {
                self.active += 1;
                self.immediate_checkouts += 1;
                Some(conn)
            }
            // Parked connections are counted as active already.
            None => {
                let conn = self.stash.take_any()?;
                self.immediate_checkouts += 1;
                Some(conn)
            }
        }
    }

    /// An idle connection for a caller that already waited its turn (a retry after its
    /// connection failed validation): it goes ahead of everyone queued after it.
    pub(crate) fn take_idle_ahead_of_queue(&mut self) -> Option<Conn<C>> {
        if let Some(conn) = self.idle.pop_back() {
            self.active += 1;
            self.immediate_checkouts += 1;
            return Some(conn);
        }
        let conn = self.stash.take_any()?;
        self.immediate_checkouts += 1;
        Some(conn)
    }

    /// Moves every connection parked in the stash back under the lock: to waiters first, then
    /// the idle set (most recently used end). Returns where each went, for the caller to act
    /// on once the lock is released. Allocates only when more than a few were parked at once.
    pub(crate) fn absorb_stash(&mut self) -> Absorbed<C> {
        let stash = self.stash.clone();
        let mut placed = Absorbed::new();
        for conn in stash.drain() {
            self.active -= 1;
            placed.push(self.place(conn, None));
        }
        placed
    }

    /// Gives idle connections returned without a clock reading the sweep's time `now`.
    pub(crate) fn stamp_idle(&mut self, now: Instant) {
        for conn in &mut self.idle {
            conn.stamp(now);
        }
    }

    /// Flags connections that outlived their lifetime while checked out, so their holders'
    /// returns close them.
    pub(crate) fn flag_expired_in_use(&self, now: Instant) {
        for meta in self.live.values() {
            if meta.expires_at.is_some_and(|at| now >= at) {
                meta.request_retirement();
            }
        }
    }

    /// Checkouts served without waiting: under the lock, plus those the fast lane counted on
    /// each connection (live ones, and those already closed).
    pub(crate) fn immediate_checkouts(&self) -> u64 {
        let live: u64 = self.live.values().map(|meta| meta.fast_checkouts()).sum();
        self.immediate_checkouts + self.closed_fast_checkouts + live
    }

    /// The share of open connections checked out (absorb the stash first: parked ones are
    /// idle).
    pub(crate) fn utilization(&self) -> f64 {
        if self.open == 0 {
            return 0.0;
        }
        self.active as f64 / self.open as f64
    }

    /// Keeps the fast lane closed while more connections are open than `max_size` allows (after
    /// a shrinking resize), so that returns reach `place`, which closes the surplus. Call after
    /// `open` or `max_size` changed.
    pub(crate) fn sync_capacity(&self) {
        self.stash.set_over_capacity(self.open > self.max_size);
    }

    /// Stops tracking a connection that leaves the pool, keeping its fast-lane checkout count.
    pub(crate) fn untrack(&mut self, id: u64) {
        if let Some(meta) = self.live.remove(&id) {
            self.closed_fast_checkouts += meta.fast_checkouts();
        }
    }

    /// Connections that will reach the next waiter without a new connect: those being opened,
    /// and those the pool is resetting after a return or health-checking, which take one round
    /// trip where a connect takes several (and a reset that fails discards its connection,
    /// which starts a replacement for whoever still waits).
    pub(crate) fn on_their_way(&self) -> usize {
        self.connecting + self.preparing
    }

    /// How many new connections the pool wants now: enough for the callers waiting beyond the
    /// connections [on their way](Self::on_their_way), and enough to reach the warm target;
    /// never past `max_size` or `max_concurrent_creates`.
    ///
    /// Counting the connections being reset matters when holders dirty their sessions: a
    /// caller that returns one and asks again at once (the next request on the same task)
    /// finds its own connection still being reset, and would otherwise open a new one each
    /// time, up to `max_size`, twice what the workload needs.
    pub(crate) fn wanted_creates(&self) -> usize {
        if self.closed {
            return 0;
        }
        let for_waiters = self.waiters.waiting().saturating_sub(self.on_their_way());
        let for_warmth = self.warm_target.saturating_sub(self.open + self.connecting);
        let wanted = for_waiters.max(for_warmth);
        let room = self.max_size.saturating_sub(self.open + self.connecting);
        let concurrency = self.max_concurrent_creates.saturating_sub(self.connecting);
        wanted.min(room).min(concurrency)
    }

    /// Reserves slots for up to `limit` of the wanted new connections.
    pub(crate) fn reserve_creates(&mut self, limit: usize) -> Reserved {
        let n = self.wanted_creates().min(limit);
        self.connecting += n;
        Reserved(n)
    }

    /// Is a connection still being opened worth finishing?
    pub(crate) fn still_wanted(&self) -> bool {
        !self.closed
            && (self.waiters.waiting() > 0 || self.open + self.connecting <= self.warm_target)
    }

    /// A reserved slot's connection opened.
    pub(crate) fn admit(&mut self, conn: Conn<C>) -> Placed<C> {
        self.connecting -= 1;
        self.open += 1;
        self.live.insert(conn.meta.id, conn.meta.clone());
        let now = conn.last_used;
        self.place(conn, Some(now))
    }

    /// A reserved slot is given up (the connect failed or was abandoned).
    pub(crate) fn release_reservation(&mut self) {
        self.connecting -= 1;
    }

    /// A returned connection needs the pool's work (a reset, the after-checkin hook) before
    /// it can serve again: from now on it is the pool's, not its holder's.
    pub(crate) fn start_preparing_returned(&mut self) {
        self.active -= 1;
        self.preparing += 1;
    }

    /// A connection leaves the place it was counted in (to be placed or forgotten next).
    pub(crate) fn leave(&mut self, from: CountedIn) {
        match from {
            CountedIn::Active => self.active -= 1,
            CountedIn::Preparing => self.preparing -= 1,
        }
    }

    /// A checked-out connection leaves the pool without coming back (detached by its holder,
    /// or reclaimed as a leak): its slot is free at once.
    pub(crate) fn release_checked_out(&mut self, id: u64) {
        self.active -= 1;
        self.open -= 1;
        self.sync_capacity();
        self.untrack(id);
    }

    /// A connection counted in `closing` finished closing.
    pub(crate) fn finish_closing(&mut self) {
        self.closing -= 1;
    }

    /// New size limits (already validated). The warm target moves inside them; the lane
    /// closes while above the new maximum. Returns the parked connections taken back and the
    /// idle connections above the new maximum, for the caller to act on and close.
    pub(crate) fn resize(
        &mut self,
        min_size: usize,
        max_size: usize,
    ) -> (Absorbed<C>, Vec<Conn<C>>) {
        self.min_size = min_size;
        self.max_size = max_size;
        self.warm_target = self.warm_target.clamp(min_size, max_size);
        self.sync_capacity();
        let parked = self.absorb_stash();
        (parked, self.take_surplus_idle(max_size))
    }

    /// Puts a connection that is not checked out (new, or back from a holder or a health
    /// check) where it is needed: the oldest waiter first, else the idle set. `now`, if the
    /// caller has it, saves the waiter a clock read.
    pub(crate) fn place(&mut self, conn: Conn<C>, now: Option<Instant>) -> Placed<C> {
        if self.closed || self.open > self.max_size {
            return Placed::Surplus(self.forget(conn));
        }
        match self.waiters.hand_over(Ok(conn), now) {
            Ok(waker) => {
                self.active += 1;
                // Counted here, under the lock the giver holds anyway: the waiter collects it
                // from its mailbox without this lock (and gives the count back if it left).
                self.waited_checkouts += 1;
                Placed::Handed(waker)
            }
            Err(Ok(conn)) => {
                self.idle.push_back(conn);
                Placed::Idle
            }
            Err(Err(_)) => unreachable!("hand_over returns the value it was given"),
        }
    }

    /// A connection leaves the pool for good (the caller closes it); `open` drops by one.
    pub(crate) fn forget(&mut self, conn: Conn<C>) -> Conn<C> {
        self.open -= 1;
        self.sync_capacity();
        self.untrack(conn.meta.id);
        self.closing += 1;
        conn
    }

    /// Fails every waiter with the error `make` builds; returns the wakers to call.
    pub(crate) fn fail_waiters(&mut self, make: impl Fn() -> Error) -> Vec<Waker> {
        self.waiters.hand_to_all(|| Err(make()))
    }

    /// Idle connections that have passed their lifetime, or (above the warm target) sat idle
    /// longer than `idle_timeout`. Removed from the idle set and from `open`.
    pub(crate) fn take_retirees(
        &mut self,
        now: Instant,
        idle_timeout: Option<std::time::Duration>,
    ) -> Vec<Conn<C>> {
        let mut retirees = Vec::new();
        let mut index = 0;
        while index < self.idle.len() {
            let conn = &self.idle[index];
            let expired = conn.is_expired(now);
            let idle_too_long = idle_timeout
                .is_some_and(|t| now.saturating_duration_since(conn.last_used) >= t)
                && self.open - retirees.len() > self.warm_target;
            if expired || idle_too_long {
                let conn = self.idle.remove(index).expect("index is in bounds");
                retirees.push(conn);
            } else {
                index += 1;
            }
        }
        retirees.into_iter().map(|c| self.forget(c)).collect()
    }

    /// The least recently used idle connections above `target` open connections.
    pub(crate) fn take_surplus_idle(&mut self, target: usize) -> Vec<Conn<C>> {
        let mut surplus = Vec::new();
        while self.open > target {
            let Some(conn) = self.idle.pop_front() else {
                break;
            };
            surplus.push(self.forget(conn));
        }
        surplus
    }

    /// Does the pool need nothing more from anyone (used by `close`)?
    pub(crate) fn drained(&self) -> bool {
        self.open == 0 && self.connecting == 0 && self.closing == 0
    }

    pub(crate) fn now_total(&self) -> usize {
        self.open + self.connecting
    }

    /// Checks the accounting identities; the first violated one is described.
    pub(crate) fn check_invariants(&self) -> std::result::Result<(), String> {
        if self.open != self.idle.len() + self.active + self.preparing {
            return Err(format!(
                "open ({}) != idle ({}) + active ({}) + preparing ({})",
                self.open,
                self.idle.len(),
                self.active,
                self.preparing
            ));
        }
        if self.live.len() != self.open {
            return Err(format!(
                "{} connections tracked but {} open",
                self.live.len(),
                self.open
            ));
        }
        // After a shrinking resize, connections checked out above the new maximum close as
        // they come back: more may be open than `max_size` then, but none idle and none
        // being opened.
        let over = self.open + self.connecting > self.max_size;
        if over && !self.closed && (self.connecting > 0 || !self.idle.is_empty()) {
            return Err(format!(
                "open ({}) + connecting ({}) exceeds max_size ({}) with {} idle",
                self.open,
                self.connecting,
                self.max_size,
                self.idle.len()
            ));
        }
        Ok(())
    }
}
