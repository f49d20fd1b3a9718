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
//! then looks into every slot under the lock; a returner parks first, then checks the flag. A full fence on
//! both sides between the write and the read means at least one of them sees the other, so a
//! parked connection can never sit unseen while someone waits for one (the lost wake-up that
//! deadlocked bb8 and hangs qp).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

use crossbeam_utils::CachePadded;
use crossbeam_utils::atomic::AtomicCell;

use crate::conn::Conn;

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
        let slots = (0..(cores * 2).clamp(2, 64))
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
        // Pairs with the fence in `announce`: parking, then reading the flags, against
        // raising a flag, then looking into the slots.
        fence(Ordering::SeqCst);
        self.is_open()
    }

    /// Called under the pool's lock after raising a flag (a waiter queued, or the pool closed)
    /// and before looking into the slots; see the module docs.
    pub(crate) fn announce(&self) {
        fence(Ordering::SeqCst);
    }

    /// Closes the lane while the pool holds more connections than its maximum, and opens it
    /// again once it does not (under the pool's lock; absorb the stash after closing it).
    pub(crate) fn set_over_capacity(&self, over: bool) {
        if self.over_capacity.load(Ordering::Relaxed) != over {
            self.over_capacity.store(over, Ordering::Relaxed);
            if over {
                self.announce();
            }
        }
    }

    /// Closes the lane for good (the pool is closing); absorb the stash afterwards.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.announce();
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
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_one_lock_free_atomic_word() {
        // Otherwise crossbeam falls back to a global table of locks: still correct, but the
        // fast lane would share lines between threads again.
        assert!(AtomicCell::<Option<Conn<u64>>>::is_lock_free());
    }
}
