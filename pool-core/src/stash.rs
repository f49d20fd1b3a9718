//! The fast lane: one parked connection per thread, outside the pool's lock.
//!
//! A task that returns a connection while nobody is queued parks it in its thread's slot; the
//! next checkout on that thread takes it from there. Each slot is one atomic word on its own
//! cache line, so two worker threads cycling connections share no line but the pool's `Arc`
//! count, where the pool's one lock made them take turns twice per checkout. (HikariCP's
//! `ConcurrentBag` keeps a thread-local list for the same reason.)
//!
//! A parked connection stays counted as `active` in the locked state: parking and unparking
//! need no lock. Everything that needs the true picture (counts, stats, maintenance, close)
//! first moves parked connections back under the lock
//! ([`State::absorb_stash`](crate::state::State::absorb_stash)); the cost is one slow-path
//! checkout per thread after each such look.
//!
//! Fairness: the lane is open only while nobody waits in line, the pool is not closed and not
//! above its maximum size. The first caller to queue raises the waiter queue's presence flag,
//! then, under the lock, takes out whatever is parked; a returner parks first, then checks the
//! flag. Both sides touch the returner's slot with an atomic swap (acquire-release), and swaps
//! of one word are totally ordered: if the waiter's swap comes first, the returner's swap reads
//! what it left and so also sees the flag raised before it; if the returner's comes first, the
//! waiter takes the connection. Either way a parked connection never sits unseen while someone
//! waits for one (the lost wake-up that deadlocked bb8 and hangs qp), with no fence on the
//! return path. Closing and a shrinking resize raise their flag and take everything out the
//! same way.
//!
//! The handshake is model-checked with loom over every interleaving of a returner, a waiter
//! and a closer (`stash/loom_fast_lane.rs`, `cargo xtask loom`): the check fails when the
//! returner skips its look at the flag, when the first waiter skips taking out the parked
//! connections, or when the swaps are relaxed; it passes without the `SeqCst` fences this
//! handshake used to have on both sides, which the swaps make redundant.

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::conn::Conn;
use crate::sync::AtomicCell;
use crate::sync::atomic::{AtomicBool, Ordering};

#[cfg(all(test, pool_loom))]
mod loom_fast_lane;

/// One parked connection or none. `Option<Conn>` is one pointer (the connection is boxed), so
/// the cell is a plain atomic word: parking and taking are one atomic swap each.
type Slot<C> = AtomicCell<Option<Conn<C>>>;

pub(crate) struct Stash<C> {
    /// A slot per thread number, each on its own cache line.
    slots: Box<[CachePadded<Slot<C>>]>,
    /// The waiter queue's "someone is in line" flag (written under the pool's lock).
    anyone_waiting: Arc<AtomicBool>,
    closed: AtomicBool,
    /// More connections are open than `max_size` allows (after a shrinking resize): returns
    /// must go through the lock, which closes the surplus.
    over_capacity: AtomicBool,
}

impl<C> Stash<C> {
    /// A stash with a slot per likely worker thread, sharing the waiter queue's presence flag.
    pub(crate) fn new(anyone_waiting: Arc<AtomicBool>) -> Self {
        // Twice the cores: threads get slots round-robin, so neighbouring worker threads land
        // on different slots even when other threads took numbers in between.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_slots((cores * 2).clamp(2, 64), anyone_waiting)
    }

    /// A stash with `count` slots (the model check picks the count; `new` sizes it from the
    /// cores).
    fn with_slots(count: usize, anyone_waiting: Arc<AtomicBool>) -> Self {
        let slots = (0..count)
            .map(|_| CachePadded::new(AtomicCell::new(None)))
            .collect();
        Self {
            slots,
            anyone_waiting,
            closed: AtomicBool::new(false),
            over_capacity: AtomicBool::new(false),
        }
    }

    /// May the fast lane be used right now (nobody queued, pool open, not above its size)?
    pub(crate) fn is_open(&self) -> bool {
        !self.anyone_waiting.load(Ordering::Relaxed)
            && !self.closed.load(Ordering::Relaxed)
            && !self.over_capacity.load(Ordering::Relaxed)
    }

    /// Takes the connection parked in this thread's slot, if any, for a checkout (counted on
    /// the connection).
    pub(crate) fn take_local(&self) -> Option<Conn<C>> {
        let conn = self.local().take()?;
        conn.meta.count_fast_checkout();
        Some(conn)
    }

    /// Parks a returned connection in this thread's slot. Returns the connection it displaced,
    /// if another thread sharing the slot had parked one there: that one goes the slow way.
    /// The caller must then call [`still_open_after_park`](Self::still_open_after_park).
    pub(crate) fn park_local(&self, conn: Conn<C>) -> Option<Conn<C>> {
        self.local().swap(Some(conn))
    }

    /// After parking: is the lane still open? False means someone queued (or the pool closed)
    /// meanwhile and may not have seen the parked connection: the caller must absorb the stash
    /// under the lock.
    pub(crate) fn still_open_after_park(&self) -> bool {
        // No fence needed: the park was a swap on the slot that whoever raised a flag swaps
        // afterwards (see the module docs).
        self.is_open()
    }

    /// Closes the lane while the pool holds more connections than its maximum, and opens it
    /// again once it does not (under the pool's lock; absorb the stash after closing it).
    pub(crate) fn set_over_capacity(&self, over: bool) {
        if self.over_capacity.load(Ordering::Relaxed) != over {
            self.over_capacity.store(over, Ordering::Relaxed);
        }
    }

    /// Closes the lane for good (the pool is closing); absorb the stash afterwards.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Takes any parked connection, for a checkout that found the idle set empty (under the
    /// pool's lock).
    pub(crate) fn take_any(&self) -> Option<Conn<C>> {
        self.slots.iter().find_map(|slot| slot.take())
    }

    /// Takes every parked connection out, for the pool's lock holder to place.
    pub(crate) fn drain(&self) -> impl Iterator<Item = Conn<C>> + '_ {
        self.slots.iter().filter_map(|slot| slot.take())
    }

    fn local(&self) -> &Slot<C> {
        &self.slots[thread_number() % self.slots.len()]
    }
}

/// A number per thread, handed out in the order threads first use a pool.
#[cfg(not(all(test, pool_loom)))]
fn thread_number() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

/// The same numbering for the model check: loom runs all its threads on one OS thread and
/// replays every execution from the start, so the per-thread number and the counter are
/// loom's, fresh in each execution. The counter is a plain atomic inside it: which slot a
/// thread gets is no part of the handshake, and a loom atomic would only multiply the
/// interleavings to explore.
#[cfg(all(test, pool_loom))]
fn thread_number() -> usize {
    use std::sync::atomic::AtomicUsize;
    loom::lazy_static! {
        static ref NEXT: AtomicUsize = AtomicUsize::new(0);
    }
    loom::thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

#[cfg(all(test, not(pool_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_one_lock_free_atomic_word() {
        // Otherwise crossbeam falls back to a global table of locks: still correct, but the
        // fast lane would share lines between threads again.
        assert!(AtomicCell::<Option<Conn<u64>>>::is_lock_free());
    }
}
