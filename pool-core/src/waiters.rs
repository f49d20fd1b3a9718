//! The first-come-first-served queue of callers waiting for a connection.
//!
//! Lives inside the pool's locked state and contains no `.await`. Each waiter holds a ticket;
//! a returned or new connection is handed to the oldest ticket still waiting and its task is
//! woken. Registering and handing over happen under the same lock, so a wake-up can never be
//! missed between "no connection free" and "I am waiting" (the bug that deadlocked bb8).
//!
//! Every waiter carries its deadline. One watcher per pool (`maintenance::deadlines`) fails
//! the expired ones, so a wait needs no timer of its own: registering and cancelling a tokio
//! timer per wait would cost more than the rest of the wait path.
//!
//! Entries are kept in ticket order in a `VecDeque` that reuses its memory, so waiting
//! allocates nothing in the steady state. A cancelled waiter is marked gone and skipped;
//! a value delivered to a waiter that was cancelled before taking it is given back by
//! [`WaiterQueue::cancel`], so the caller can pass it on and nothing is lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::atomic::{AtomicBool, Ordering};

enum Entry<T> {
    Waiting {
        waker: Waker,
        enqueued_at: Instant,
        deadline: Instant,
    },
    Ready {
        value: T,
        enqueued_at: Instant,
        handed_at: Option<Instant>,
    },
    Gone,
}

/// A ticket: a waiter's place in line.
pub(crate) type Ticket = u64;

/// Tickets start in the middle of their range: callers that re-enter at the front get numbers
/// below the first (one per retry; 2^62 of them would take longer than any process lives).
const FIRST_TICKET: Ticket = 1 << 62;

/// What a waiter receives: the value, and how long it waited when the giver knew the time.
pub(crate) struct Served<T> {
    pub(crate) value: T,
    pub(crate) waited: Option<Duration>,
}

pub(crate) struct WaiterQueue<T> {
    entries: VecDeque<Entry<T>>,
    /// The ticket of `entries[0]`.
    base: Ticket,
    /// Every ticket before this one has been served or cancelled.
    cursor: Ticket,
    waiting: usize,
    /// `waiting > 0`, readable without the pool's lock: while it is set the stash's fast lane
    /// is closed, so nobody overtakes a queued caller. Written only when it changes, so the
    /// readers' cache line stays clean in the steady state.
    anyone_waiting: Arc<AtomicBool>,
}

impl<T> WaiterQueue<T> {
    /// An empty queue that keeps `anyone_waiting` equal to "someone is in line".
    pub(crate) fn new(anyone_waiting: Arc<AtomicBool>) -> Self {
        anyone_waiting.store(false, Ordering::Relaxed);
        Self {
            entries: VecDeque::new(),
            base: FIRST_TICKET,
            cursor: FIRST_TICKET,
            waiting: 0,
            anyone_waiting,
        }
    }

    /// Publishes a change of `waiting` between zero and non-zero.
    fn publish(&self) {
        let now = self.waiting > 0;
        if self.anyone_waiting.load(Ordering::Relaxed) != now {
            self.anyone_waiting.store(now, Ordering::Relaxed);
        }
    }

    /// Callers still waiting (not yet served, not cancelled).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Takes a place at the back of the line.
    pub(crate) fn push(&mut self, waker: Waker, enqueued_at: Instant, deadline: Instant) -> Ticket {
        let ticket = self.base + self.entries.len() as u64;
        self.entries.push_back(Entry::Waiting {
            waker,
            enqueued_at,
            deadline,
        });
        self.waiting += 1;
        self.publish();
        ticket
    }

    /// Takes a place at the front of the line, ahead of everyone waiting: for a caller that
    /// was already served once and must try again (its connection failed validation).
    ///
    /// Tickets are positions, so a place can only be added at either end. When two callers'
    /// connections fail validation at the same moment, the one that comes back second stands
    /// ahead of the first, even if it arrived later: FIFO holds for each caller against
    /// everyone who never failed, not between two retries racing each other.
    pub(crate) fn push_front(
        &mut self,
        waker: Waker,
        enqueued_at: Instant,
        deadline: Instant,
    ) -> Ticket {
        self.base -= 1;
        self.entries.push_front(Entry::Waiting {
            waker,
            enqueued_at,
            deadline,
        });
        // Every ticket before this one has been served or cancelled, as the cursor promises.
        self.cursor = self.base;
        self.waiting += 1;
        self.publish();
        self.base
    }

    /// The wakers of everyone still waiting, to make them poll again (without serving them).
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        self.entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Waiting { waker, .. } => Some(waker.clone()),
                _ => None,
            })
            .collect()
    }

    /// The value handed to `ticket`, or `Pending` after remembering `waker`.
    pub(crate) fn poll(&mut self, ticket: Ticket, waker: &Waker) -> Poll<Served<T>> {
        let Some(entry) = self.entry_mut(ticket) else {
            // Only a ticket that was already completed can be missing; its future never polls
            // again, so this is unreachable in practice and harmless if it were reached.
            return Poll::Pending;
        };
        match entry {
            Entry::Waiting { waker: stored, .. } => {
                if !stored.will_wake(waker) {
                    *stored = waker.clone();
                }
                Poll::Pending
            }
            Entry::Ready { .. } => {
                let Entry::Ready {
                    value,
                    enqueued_at,
                    handed_at,
                } = std::mem::replace(entry, Entry::Gone)
                else {
                    unreachable!("matched Ready above")
                };
                self.pop_finished();
                Poll::Ready(Served {
                    value,
                    waited: handed_at.map(|at| at.saturating_duration_since(enqueued_at)),
                })
            }
            Entry::Gone => Poll::Pending,
        }
    }

    /// Leaves the line. Returns the value if one was handed over but not yet taken, so the
    /// caller can pass it to someone else.
    pub(crate) fn cancel(&mut self, ticket: Ticket) -> Option<T> {
        let entry = self.entry_mut(ticket)?;
        let previous = std::mem::replace(entry, Entry::Gone);
        let value = match previous {
            Entry::Waiting { .. } => {
                self.waiting -= 1;
                self.publish();
                None
            }
            Entry::Ready { value, .. } => Some(value),
            Entry::Gone => None,
        };
        self.pop_finished();
        value
    }

    /// Gives `value` to the oldest waiter and returns its waker, to call once the lock is
    /// released; gives the value back when nobody waits. `now`, when the giver knows it, lets
    /// the waiter learn how long it waited without reading the clock itself.
    pub(crate) fn hand_over(&mut self, value: T, now: Option<Instant>) -> Result<Waker, T> {
        if self.waiting == 0 {
            return Err(value);
        }
        while self.cursor < self.base + self.entries.len() as u64 {
            let index = (self.cursor - self.base) as usize;
            self.cursor += 1;
            let entry = &mut self.entries[index];
            if let Entry::Waiting { enqueued_at, .. } = entry {
                let enqueued_at = *enqueued_at;
                let Entry::Waiting { waker, .. } = std::mem::replace(
                    entry,
                    Entry::Ready {
                        value,
                        enqueued_at,
                        handed_at: now,
                    },
                ) else {
                    unreachable!("matched Waiting above")
                };
                self.waiting -= 1;
                self.publish();
                return Ok(waker);
            }
        }
        Err(value)
    }

    /// Hands a value made by `make` to every waiter (used to fail them all at once) and
    /// returns their wakers.
    pub(crate) fn hand_to_all(&mut self, mut make: impl FnMut() -> T) -> Vec<Waker> {
        let mut wakers = Vec::with_capacity(self.waiting);
        while self.waiting > 0 {
            match self.hand_over(make(), None) {
                Ok(waker) => wakers.push(waker),
                Err(_) => break,
            }
        }
        wakers
    }

    /// Hands a value made by `make(waited)` to every waiter whose deadline has passed.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        mut make: impl FnMut(Duration) -> T,
    ) -> Vec<Waker> {
        let mut wakers = Vec::new();
        let start = (self.cursor - self.base) as usize;
        for entry in self.entries.iter_mut().skip(start) {
            if let Entry::Waiting {
                deadline,
                enqueued_at,
                ..
            } = entry
                && *deadline <= now
            {
                let enqueued_at = *enqueued_at;
                let ready = Entry::Ready {
                    value: make(now.saturating_duration_since(enqueued_at)),
                    enqueued_at,
                    handed_at: Some(now),
                };
                if let Entry::Waiting { waker, .. } = std::mem::replace(entry, ready) {
                    wakers.push(waker);
                }
                self.waiting -= 1;
            }
        }
        self.publish();
        wakers
    }

    /// The earliest deadline of anyone still waiting.
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        if self.waiting == 0 {
            return None;
        }
        let start = (self.cursor - self.base) as usize;
        self.entries
            .iter()
            .skip(start)
            .filter_map(|entry| match entry {
                Entry::Waiting { deadline, .. } => Some(*deadline),
                _ => None,
            })
            .min()
    }

    fn entry_mut(&mut self, ticket: Ticket) -> Option<&mut Entry<T>> {
        let index = ticket.checked_sub(self.base)?;
        self.entries.get_mut(usize::try_from(index).ok()?)
    }

    /// Drops finished entries from the front so the queue does not grow without bound.
    fn pop_finished(&mut self) {
        while let Some(Entry::Gone) = self.entries.front() {
            self.entries.pop_front();
            self.base += 1;
        }
        if self.cursor < self.base {
            self.cursor = self.base;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn push(q: &mut WaiterQueue<u32>, deadline_secs: u64) -> Ticket {
        let now = Instant::now();
        q.push(
            Waker::noop().clone(),
            now,
            now + Duration::from_secs(deadline_secs),
        )
    }

    fn poll(q: &mut WaiterQueue<u32>, t: Ticket) -> Option<u32> {
        match q.poll(t, Waker::noop()) {
            Poll::Ready(served) => Some(served.value),
            Poll::Pending => None,
        }
    }

    #[test]
    fn values_go_to_waiters_in_arrival_order() {
        let mut q = WaiterQueue::new(Arc::default());
        let a = push(&mut q, 10);
        let b = push(&mut q, 10);
        let c = push(&mut q, 10);
        assert!(q.hand_over(1, None).is_ok());
        assert!(q.hand_over(2, None).is_ok());
        assert_eq!(poll(&mut q, b), Some(2));
        assert_eq!(poll(&mut q, a), Some(1));
        assert_eq!(poll(&mut q, c), None);
        assert_eq!(q.waiting(), 1);
    }

    #[test]
    fn cancelled_waiters_are_skipped_and_undelivered_values_come_back() {
        let mut q = WaiterQueue::new(Arc::default());
        let a = push(&mut q, 10);
        let b = push(&mut q, 10);
        assert_eq!(q.cancel(a), None);
        assert!(q.hand_over(7, None).is_ok());
        // b was served but cancels before taking it: the value must come back.
        assert_eq!(q.cancel(b), Some(7));
        assert_eq!(q.waiting(), 0);
        assert!(matches!(q.hand_over(8, None), Err(8)));
    }

    #[test]
    fn only_expired_waiters_are_failed_and_the_next_deadline_is_known() {
        let mut q = WaiterQueue::new(Arc::default());
        let short = push(&mut q, 1);
        let long = push(&mut q, 5);
        let expired = q.expire(Instant::now() + Duration::from_secs(2), |_| 99);
        assert_eq!(expired.len(), 1);
        assert_eq!(poll(&mut q, short), Some(99));
        assert_eq!(poll(&mut q, long), None);
        assert_eq!(q.waiting(), 1);
        assert!(q.earliest_deadline().unwrap() > Instant::now() + Duration::from_secs(4));
    }

    #[test]
    fn a_caller_that_re_enters_goes_ahead_of_everyone_waiting() {
        let mut q = WaiterQueue::new(Arc::default());
        let a = push(&mut q, 10);
        let b = push(&mut q, 10);
        assert!(q.hand_over(1, None).is_ok());
        assert_eq!(poll(&mut q, a), Some(1));
        // a's connection failed validation: it re-enters ahead of b.
        let now = Instant::now();
        let a_again = q.push_front(Waker::noop().clone(), now, now + Duration::from_secs(10));
        assert!(q.hand_over(2, None).is_ok());
        assert_eq!(poll(&mut q, b), None);
        assert_eq!(poll(&mut q, a_again), Some(2));
        assert!(q.hand_over(3, None).is_ok());
        assert_eq!(poll(&mut q, b), Some(3));
        assert_eq!(q.waiting(), 0);
    }

    #[test]
    fn the_queue_reuses_its_memory() {
        let mut q = WaiterQueue::new(Arc::default());
        for round in 0..1000u32 {
            let t = push(&mut q, 10);
            assert!(q.hand_over(round, None).is_ok());
            assert_eq!(poll(&mut q, t), Some(round));
        }
        assert!(q.entries.is_empty());
    }

    #[test]
    fn the_presence_flag_follows_the_line_through_every_change() {
        let flag = Arc::new(AtomicBool::new(true));
        let mut q = WaiterQueue::new(flag.clone());
        let seen = |flag: &AtomicBool| flag.load(Ordering::Relaxed);
        assert!(!seen(&flag), "a new queue has nobody waiting");
        let a = push(&mut q, 10);
        let b = push(&mut q, 0);
        assert!(seen(&flag));
        assert!(q.hand_over(1, None).is_ok());
        assert!(seen(&flag), "b still waits");
        assert_eq!(q.expire(Instant::now(), |_| 0).len(), 1);
        assert!(!seen(&flag), "served and expired: nobody waits");
        assert_eq!(poll(&mut q, a), Some(1));
        assert_eq!(poll(&mut q, b), Some(0));
        let c = push(&mut q, 10);
        assert!(seen(&flag));
        assert_eq!(q.cancel(c), None);
        assert!(!seen(&flag), "the only waiter left");
    }
}
