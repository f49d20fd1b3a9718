//! The fast lane's handshake, checked by loom over every interleaving and every value the
//! memory model lets each atomic load see: a connection parked in the stash never sits unseen
//! while someone waits or after the pool closed (no lost wake-up), and every connection ends in
//! exactly one place.
//!
//! ```sh
//! cargo xtask loom                     # exhaustive
//! cargo xtask loom --preemptions 3 --debug   # bounded, as CI runs it
//! # by hand (the cfg switches the stash to loom's atomics, in this crate's unit tests only):
//! RUSTFLAGS="--cfg pool_loom" cargo test -p pool-core --release --lib stash::loom_fast_lane
//! ```
//!
//! Real code under test: [`Stash`] (every atomic of the handshake, through `crate::sync`), the
//! locked [`State`] (`absorb_stash`, `place`, `take_idle`, `fail_waiters`, the accounting) and
//! the [`WaiterQueue`](crate::waiters::WaiterQueue) whose presence flag closes the lane.
//! Restated here: only the order in which `Inner`'s async code calls them around the lock, in
//! the functions below, each naming the one it mirrors so a reader can compare them. The
//! pool's `parking_lot` lock is a loom `Mutex`. Left out, as they touch no part of the
//! handshake: the lease and expiry checks before a return reaches the stash, connects, timers,
//! the breaker and metrics.
//!
//! What it catches (each tried by hand, each failing at three preemptions): a returner that does
//! not look at the flags after parking, a first waiter that does not take out what is parked,
//! and relaxed swaps on the slots (loom reports the racy read of the connection). The `SeqCst`
//! fences the handshake once had on both sides are not needed, and the exhaustive run passes
//! without them: see the stash's module docs for why.

use std::sync::atomic::{AtomicBool as StdAtomicBool, AtomicUsize, Ordering as StdOrdering};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::task::{Poll, Wake, Waker};

use loom::sync::{Arc, Mutex};
use loom::thread;
use tokio::time::Instant;

use super::Stash;
use crate::breaker::Breaker;
use crate::config::CircuitBreakerConfig;
use crate::conn::{Conn, ConnMeta, ConnParts};
use crate::error::{Error, Result};
use crate::inner::CountedIn;
use crate::mailbox::Mailbox;
use crate::state::{Absorbed, Placed, State};
use crate::waiters::Served;

/// A connection's driver half: its id, so the census can tell connections apart.
type Raw = u64;

/// The part of `Inner` (inner.rs) that the handshake touches.
struct Pool {
    /// The pool's one lock (a `parking_lot::Mutex` in `Inner`).
    state: Mutex<State<Raw>>,
    /// The same stash as `state.stash`, used without the lock (as `Inner::stash`).
    stash: StdArc<Stash<Raw>>,
    /// Ids of the connections the pool closed. Bookkeeping of the check, not of the pool:
    /// a std lock, taken around no loom operation, so it adds no interleaving.
    closed: StdMutex<Vec<u64>>,
}

/// Where a first `Acquire::poll` left the caller.
enum Outcome {
    /// Served at once: from its own stash slot, the idle set or another thread's slot.
    Got(Conn<Raw>),
    /// In line: what it is given arrives in this mailbox.
    Queued(StdArc<Mailbox<Served<Result<Conn<Raw>>>>>),
    /// The pool was closed.
    Closed,
}

/// A waiter's task: remembers being woken.
#[derive(Default)]
struct Task {
    woken: StdAtomicBool,
}

impl Wake for Task {
    fn wake(self: StdArc<Self>) {
        self.woken.store(true, StdOrdering::SeqCst);
    }
}

impl Pool {
    /// A pool of `conns` connections (ids 1, 2, …), all checked out and returned to the
    /// caller, whose stash has `slots` slots. The connections go through the real accounting:
    /// reserved, admitted (idle), taken.
    fn all_checked_out(conns: u64, slots: usize) -> (Arc<Self>, Vec<Conn<Raw>>) {
        let now = Instant::now();
        let size = conns as usize;
        let breaker = Breaker::new(&CircuitBreakerConfig::default(), now);
        let mut st = State::new(size, size, size, breaker);
        // A fixed slot count (`Stash::new` takes twice the cores): every slot is one more
        // swap in each look into the stash, and the scenarios choose who shares a slot.
        st.stash = StdArc::new(Stash::with_slots(slots, st.stash.anyone_waiting.clone()));
        let mut out = Vec::new();
        for id in 1..=conns {
            assert_eq!(st.reserve_creates(1).into_count(), 1);
            let conn = Conn::new(ConnParts {
                raw: id,
                meta: ConnMeta::new(id, now, None),
                last_used: now,
                unstamped_use: false,
                last_used_tick: 0,
                expires_tick: u64::MAX,
                checkouts: 0,
            });
            assert!(matches!(st.admit(conn), Placed::Idle));
            out.push(st.take_idle().expect("just admitted"));
        }
        let stash = st.stash.clone();
        let pool = Self {
            state: Mutex::new(st),
            stash,
            closed: StdMutex::new(Vec::new()),
        };
        (Arc::new(pool), out)
    }

    /// The end of `Inner::check_in` (checkin.rs), from `if self.stash.is_open()` on: park,
    /// re-check the lane, absorb the stash if it closed meanwhile; else (or for a displaced
    /// connection) `put_back` under the lock.
    fn check_in(&self, mut conn: Conn<Raw>) {
        if self.stash.is_open() {
            let displaced = self.stash.park_local(conn);
            if !self.stash.still_open_after_park() {
                self.absorb_stash();
            }
            match displaced {
                Some(displaced) => conn = displaced,
                None => return,
            }
        }
        self.put_back(conn);
    }

    /// `Acquire::poll` (acquire.rs) on its first call: the caller's own slot while the lane is
    /// open, then under the lock: closed?, an idle connection (or any parked one), else queue;
    /// the first in line raises the flag (`push`) and absorbs the stash.
    /// (Creating connections is left out: the pool is full, `reserve_creates` finds nothing
    /// to do.)
    fn acquire(&self, waker: &Waker) -> Outcome {
        let lane_open = self.stash.is_open();
        if lane_open && let Some(conn) = self.stash.take_local() {
            return Outcome::Got(conn);
        }
        let mut st = self.state.lock().unwrap();
        if st.closed {
            return Outcome::Closed;
        }
        if let Some(conn) = st.take_idle() {
            return Outcome::Got(conn);
        }
        let now = Instant::now();
        let mailbox = Mailbox::ready_for(waker);
        st.waiters.push(mailbox.clone(), now, now);
        let parked = if st.waiters.waiting() == 1 {
            st.absorb_stash()
        } else {
            Absorbed::new()
        };
        drop(st);
        self.after_absorb(parked);
        Outcome::Queued(mailbox)
    }

    /// `Inner::begin_close` (close.rs): under the lock, close the lane, fail the waiters,
    /// absorb the stash and take the idle connections; then act on them.
    fn close(&self) {
        let mut st = self.state.lock().unwrap();
        if st.closed {
            return;
        }
        st.closed = true;
        st.stash.close();
        let wakers = st.fail_waiters(|| Error::Closed);
        let parked = st.absorb_stash();
        let idle = st.take_surplus_idle(0);
        drop(st);
        self.after_absorb(parked);
        wakers.into_iter().for_each(Waker::wake);
        for conn in idle {
            self.close_counted(conn);
        }
    }

    /// `Inner::absorb_stash` (checkin.rs).
    fn absorb_stash(&self) {
        let placed = self.state.lock().unwrap().absorb_stash();
        self.after_absorb(placed);
    }

    /// `Inner::put_back` (checkin.rs).
    fn put_back(&self, conn: Conn<Raw>) {
        let mut st = self.state.lock().unwrap();
        st.leave(CountedIn::Active);
        let placed = st.place(conn, None);
        drop(st);
        self.after_place(placed);
    }

    /// `Inner::after_absorb` (checkin.rs).
    fn after_absorb(&self, placed: Absorbed<Raw>) {
        for placed in placed {
            self.after_place(placed);
        }
    }

    /// `Inner::after_place` (checkin.rs).
    fn after_place(&self, placed: Placed<Raw>) {
        match placed {
            Placed::Handed(waker) => waker.into_iter().for_each(Waker::wake),
            Placed::Idle => {}
            Placed::Surplus(conn) => self.close_counted(conn),
        }
    }

    /// `Inner::close_counted` (close.rs) spawns the close; here it is recorded.
    fn close_counted(&self, conn: Conn<Raw>) {
        self.closed.lock().unwrap().push(conn.into_raw());
    }
}

/// Where every connection is once all threads have finished.
#[derive(Debug, Default)]
struct Census {
    /// Ids held by the waiter (served at once, or handed over in line).
    waiter: Vec<u64>,
    /// What the waiter's ticket said at the end, if it queued: `None` while still waiting.
    waiter_error: Option<Error>,
    still_waiting: bool,
    idle: Vec<u64>,
    parked: Vec<u64>,
    closed: Vec<u64>,
    /// What `State::check_invariants` found broken, if anything.
    broken: Option<String>,
    /// `active` in the locked state, parked connections included.
    active: usize,
    lane_open: bool,
}

impl Census {
    /// Settles the waiter's outcome (as a later `poll_queued` would) and looks everywhere a
    /// connection can be, checking the accounting before taking parked ones out.
    fn take(pool: &Pool, outcome: Outcome, task: &StdArc<Task>) -> Self {
        let mut census = Self::default();
        let st = pool.state.lock().unwrap();
        match outcome {
            Outcome::Got(conn) => census.waiter.push(conn.into_raw()),
            Outcome::Closed => census.waiter_error = Some(Error::Closed),
            Outcome::Queued(mailbox) => match mailbox.poll(Waker::noop()) {
                Poll::Ready(served) => {
                    assert!(
                        task.woken.load(StdOrdering::SeqCst),
                        "a waiter was served but never woken"
                    );
                    settle(&mut census, served.value);
                }
                Poll::Pending => census.still_waiting = true,
            },
        }
        census.broken = st.check_invariants().err();
        census.active = st.active;
        census.lane_open = st.stash.is_open();
        census.idle = st.idle.iter().map(|conn| conn.raw).collect();
        census.parked = st.stash.drain().map(Conn::into_raw).collect();
        drop(st);
        census.closed = pool.closed.lock().unwrap().clone();
        census
    }

    /// Every id in `1..=conns` is in exactly one place.
    fn assert_each_once(&self, conns: u64) {
        let mut seen: Vec<u64> = [&self.waiter, &self.idle, &self.parked, &self.closed]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        seen.sort_unstable();
        let expected: Vec<u64> = (1..=conns).collect();
        assert_eq!(
            seen, expected,
            "a connection lost or in two places: {self:?}"
        );
    }

    fn assert_accounting(&self) {
        assert!(self.broken.is_none(), "accounting broken: {self:?}");
        assert_eq!(
            self.active,
            self.waiter.len() + self.parked.len(),
            "active must count the waiter's connection and the parked ones: {self:?}"
        );
    }
}

fn settle(census: &mut Census, value: Result<Conn<Raw>>) {
    match value {
        Ok(conn) => census.waiter.push(conn.into_raw()),
        Err(error) => census.waiter_error = Some(error),
    }
}

/// Runs `model` under loom (its bounds come from `LOOM_MAX_PREEMPTIONS` and the other `LOOM_*`
/// variables) and prints how many executions it explored and how long that took, which
/// `cargo xtask loom` reports.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let executions = StdArc::new(AtomicUsize::new(0));
    let counted = executions.clone();
    let start = std::time::Instant::now();
    loom::model(move || {
        let n = counted.fetch_add(1, StdOrdering::Relaxed) + 1;
        if n % 1_000_000 == 0 {
            eprintln!("{n} executions after {:.0?}", start.elapsed());
        }
        model();
    });
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    println!(
        "{name}: {} executions in {:.1?}",
        executions.load(StdOrdering::Relaxed),
        start.elapsed()
    );
}

/// A waiter's thread: one first poll, as `Pool::get` makes it.
fn spawn_waiter(pool: &Arc<Pool>) -> (thread::JoinHandle<Outcome>, StdArc<Task>) {
    let task = StdArc::new(Task::default());
    let waker = Waker::from(task.clone());
    let pool = pool.clone();
    (thread::spawn(move || pool.acquire(&waker)), task)
}

fn spawn_returner(pool: &Arc<Pool>, conn: Conn<Raw>) -> thread::JoinHandle<()> {
    let pool = pool.clone();
    thread::spawn(move || pool.check_in(conn))
}

/// One returner, one waiter, a pool of one: whatever the interleaving, the waiter ends with
/// the connection, taken itself or handed over (and woken), and the lane is open again.
#[test]
fn a_returned_connection_always_reaches_the_waiter() {
    check(|| {
        let (pool, mut conns) = Pool::all_checked_out(1, 2);
        let returner = spawn_returner(&pool, conns.pop().unwrap());
        let (waiter, task) = spawn_waiter(&pool);
        returner.join().unwrap();
        let outcome = waiter.join().unwrap();
        let census = Census::take(&pool, outcome, &task);
        assert!(!census.still_waiting, "lost wake-up: {census:?}");
        assert_eq!(
            census.waiter,
            [1],
            "the waiter must own the connection: {census:?}"
        );
        census.assert_each_once(1);
        census.assert_accounting();
        assert!(
            census.lane_open,
            "nobody waits, the lane must be open: {census:?}"
        );
    });
}

/// A returner, a waiter and `close`, a pool of one: the waiter is served or told the pool
/// closed, never left waiting; the connection is the waiter's or closed, exactly once; after
/// close no slot holds a connection and the lane stays shut.
#[test]
fn close_leaves_nothing_parked_and_nothing_lost() {
    check(|| {
        let (pool, mut conns) = Pool::all_checked_out(1, 2);
        let returner = spawn_returner(&pool, conns.pop().unwrap());
        let (waiter, task) = spawn_waiter(&pool);
        let closer = {
            let pool = pool.clone();
            thread::spawn(move || pool.close())
        };
        returner.join().unwrap();
        closer.join().unwrap();
        let outcome = waiter.join().unwrap();
        let census = Census::take(&pool, outcome, &task);
        assert!(!census.still_waiting, "lost wake-up: {census:?}");
        assert!(census.parked.is_empty(), "parked after close: {census:?}");
        assert!(census.idle.is_empty(), "idle after close: {census:?}");
        assert!(!census.lane_open, "the lane must stay shut: {census:?}");
        match &census.waiter_error {
            None => assert_eq!(census.waiter, [1], "{census:?}"),
            Some(Error::Closed) => assert_eq!(census.closed, [1], "{census:?}"),
            Some(other) => panic!("unexpected error {other}: {census:?}"),
        }
        census.assert_each_once(1);
        census.assert_accounting();
    });
}

/// Two returners and a waiter, a pool of two, a slot per thread: the waiter gets exactly one
/// of the connections; the other is idle or parked (the lane is open again once it was
/// served), and no connection is in two places.
#[test]
fn two_returners_on_two_slots_serve_the_waiter_once() {
    two_returners_and_a_waiter(3);
}

/// The same with one slot for all three threads: a park displaces the other returner's
/// connection, which must go the locked way (and the waiter may take from that slot).
#[test]
fn a_displaced_connection_is_not_lost() {
    two_returners_and_a_waiter(1);
}

fn two_returners_and_a_waiter(slots: usize) {
    check(move || {
        let (pool, mut conns) = Pool::all_checked_out(2, slots);
        let first = spawn_returner(&pool, conns.pop().unwrap());
        let second = spawn_returner(&pool, conns.pop().unwrap());
        let (waiter, task) = spawn_waiter(&pool);
        first.join().unwrap();
        second.join().unwrap();
        let outcome = waiter.join().unwrap();
        let census = Census::take(&pool, outcome, &task);
        assert!(!census.still_waiting, "lost wake-up: {census:?}");
        assert_eq!(census.waiter.len(), 1, "{census:?}");
        assert!(census.closed.is_empty(), "{census:?}");
        census.assert_each_once(2);
        census.assert_accounting();
        assert!(
            census.lane_open,
            "nobody waits, the lane must be open: {census:?}"
        );
    });
}
