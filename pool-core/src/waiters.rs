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
//! allocates nothing in the steady state. A value goes into the waiter's own [`Mailbox`],
//! which the woken caller reads without the pool's lock; its entry is then finished. A
//! cancelled waiter is marked gone and skipped; one that leaves after a value was delivered
//! finds it in its mailbox (see [`WaiterQueue::cancel`]) and passes it on, so nothing is lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use tokio::time::Instant;

use crate::mailbox::Mailbox;
use crate::sync::atomic::{AtomicBool, Ordering};

enum Entry<T> {
    Waiting {
        mailbox: Arc<Mailbox<Served<T>>>,
        enqueued_at: Instant,
        deadline: Instant,
    },
    /// Served, expired or cancelled.
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

    /// Takes a place at the back of the line; what it is given arrives in `mailbox`.
    pub(crate) fn push(
        &mut self,
        mailbox: Arc<Mailbox<Served<T>>>,
        enqueued_at: Instant,
        deadline: Instant,
    ) -> Ticket {
        let ticket = self.base + self.entries.len() as u64;
        self.entries.push_back(Entry::Waiting {
            mailbox,
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
        mailbox: Arc<Mailbox<Served<T>>>,
        enqueued_at: Instant,
        deadline: Instant,
    ) -> Ticket {
        self.base -= 1;
        self.entries.push_front(Entry::Waiting {
            mailbox,
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
                Entry::Waiting { mailbox, .. } => mailbox.waker(),
                Entry::Gone => None,
            })
            .collect()
    }

    /// Leaves the line. `true` if the caller was still waiting; `false` if something was
    /// delivered to its mailbox first (or it had left already): the caller must look there
    /// and pass on what it finds.
    pub(crate) fn cancel(&mut self, ticket: Ticket) -> bool {
        let Some(entry) = self.entry_mut(ticket) else {
            return false;
        };
        let was_waiting = matches!(std::mem::replace(entry, Entry::Gone), Entry::Waiting { .. });
        if was_waiting {
            self.waiting -= 1;
            self.publish();
        }
        self.pop_finished();
        was_waiting
    }

    /// Gives `value` to the oldest waiter and returns its waker, to call once the lock is
    /// released; gives the value back when nobody waits. `now`, when the giver knows it, lets
    /// the waiter learn how long it waited without reading the clock itself.
    pub(crate) fn hand_over(&mut self, value: T, now: Option<Instant>) -> Result<Option<Waker>, T> {
        if self.waiting == 0 {
            return Err(value);
        }
        while self.cursor < self.base + self.entries.len() as u64 {
            let index = (self.cursor - self.base) as usize;
            self.cursor += 1;
            let entry = std::mem::replace(&mut self.entries[index], Entry::Gone);
            if let Entry::Waiting {
                mailbox,
                enqueued_at,
                ..
            } = entry
            {
                let waited = now.map(|now| now.saturating_duration_since(enqueued_at));
                let waker = mailbox.deliver(Served { value, waited });
                self.waiting -= 1;
                self.publish();
                self.pop_finished();
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
                Ok(waker) => wakers.extend(waker),
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
            if matches!(entry, Entry::Waiting { deadline, .. } if *deadline <= now)
                && let Entry::Waiting {
                    mailbox,
                    enqueued_at,
                    ..
                } = std::mem::replace(entry, Entry::Gone)
            {
                let waited = now.saturating_duration_since(enqueued_at);
                wakers.extend(mailbox.deliver(Served {
                    value: make(waited),
                    waited: Some(waited),
                }));
                self.waiting -= 1;
            }
        }
        self.publish();
        self.pop_finished();
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
                Entry::Gone => None,
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
    use std::task::{Poll, Waker};

    type Line = WaiterQueue<u32>;
    type Inbox = Arc<Mailbox<Served<u32>>>;

    fn push(q: &mut Line, deadline_secs: u64) -> Inbox {
        let now = Instant::now();
        let mailbox = Mailbox::ready_for(Waker::noop());
        q.push(
            mailbox.clone(),
            now,
            now + Duration::from_secs(deadline_secs),
        );
        mailbox
    }

    fn poll(mailbox: &Inbox) -> Option<u32> {
        match mailbox.poll(Waker::noop()) {
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
        assert_eq!(poll(&b), Some(2));
        assert_eq!(poll(&a), Some(1));
        assert_eq!(poll(&c), None);
        assert_eq!(q.waiting(), 1);
    }

    #[test]
    fn cancelled_waiters_are_skipped_and_undelivered_values_come_back() {
        let mut q = WaiterQueue::new(Arc::default());
        let a_ticket = q.base;
        let _a = push(&mut q, 10);
        let b_ticket = q.base + 1;
        let b = push(&mut q, 10);
        assert!(q.cancel(a_ticket), "a was still waiting");
        assert!(q.hand_over(7, None).is_ok());
        // b was served but cancels before taking it: the value is in its mailbox.
        assert!(!q.cancel(b_ticket));
        assert_eq!(b.take().map(|served| served.value), Some(7));
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
        assert_eq!(poll(&short), Some(99));
        assert_eq!(poll(&long), None);
        assert_eq!(q.waiting(), 1);
        assert!(q.earliest_deadline().unwrap() > Instant::now() + Duration::from_secs(4));
    }

    #[test]
    fn a_caller_that_re_enters_goes_ahead_of_everyone_waiting() {
        let mut q = WaiterQueue::new(Arc::default());
        let a = push(&mut q, 10);
        let b = push(&mut q, 10);
        assert!(q.hand_over(1, None).is_ok());
        assert_eq!(poll(&a), Some(1));
        // a's connection failed validation: it re-enters ahead of b.
        let now = Instant::now();
        let a_again = Mailbox::ready_for(Waker::noop());
        q.push_front(a_again.clone(), now, now + Duration::from_secs(10));
        assert!(q.hand_over(2, None).is_ok());
        assert_eq!(poll(&b), None);
        assert_eq!(poll(&a_again), Some(2));
        assert!(q.hand_over(3, None).is_ok());
        assert_eq!(poll(&b), Some(3));
        assert_eq!(q.waiting(), 0);
    }

    #[test]
    fn the_queue_reuses_its_memory_and_lets_go_of_served_mailboxes() {
        let mut q = WaiterQueue::new(Arc::default());
        for round in 0..1000u32 {
            let mailbox = push(&mut q, 10);
            assert!(q.hand_over(round, None).is_ok());
            assert_eq!(poll(&mailbox), Some(round));
            assert_eq!(
                Arc::strong_count(&mailbox),
                1,
                "the queue holds no reference"
            );
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
        assert_eq!(poll(&a), Some(1));
        assert_eq!(poll(&b), Some(0));
        let c_ticket = q.base + q.entries.len() as u64;
        let _c = push(&mut q, 10);
        assert!(seen(&flag));
        assert!(q.cancel(c_ticket));
        assert!(!seen(&flag), "the only waiter left");
    }
}
