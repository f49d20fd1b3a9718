//! The first-come-first-served queue of callers waiting for a connection.
//!
//! Lives inside the pool's locked state and contains no `.await`. Each waiter holds a ticket;
//! a returned or new connection is handed to the oldest ticket still waiting and its task is
//! woken. Registering and handing over happen under the same lock, so a wake-up can never be
//! missed between "no connection free" and "I am waiting" (the bug that deadlocked bb8).
//!
//! Entries are kept in ticket order in a `VecDeque` that reuses its memory, so waiting
//! allocates nothing in the steady state. A cancelled waiter is marked gone and skipped;
//! a value delivered to a waiter that was cancelled before taking it is given back by
//! [`WaiterQueue::cancel`], so the caller can pass it on and nothing is lost.

use std::collections::VecDeque;
use std::task::{Poll, Waker};

enum Entry<T> {
    Waiting(Option<Waker>),
    Ready(T),
    Gone,
}

/// A ticket: a waiter's place in line.
pub(crate) type Ticket = u64;

pub(crate) struct WaiterQueue<T> {
    entries: VecDeque<Entry<T>>,
    /// The ticket of `entries[0]`.
    base: Ticket,
    /// Every ticket before this one has been served or cancelled.
    cursor: Ticket,
    waiting: usize,
}

impl<T> WaiterQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            base: 0,
            cursor: 0,
            waiting: 0,
        }
    }

    /// Callers still waiting (not yet served, not cancelled).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Takes a place at the back of the line.
    pub(crate) fn push(&mut self, waker: Option<Waker>) -> Ticket {
        let ticket = self.base + self.entries.len() as u64;
        self.entries.push_back(Entry::Waiting(waker));
        self.waiting += 1;
        ticket
    }

    /// The value handed to `ticket`, or `Pending` after remembering `waker`.
    pub(crate) fn poll(&mut self, ticket: Ticket, waker: &Waker) -> Poll<T> {
        let Some(entry) = self.entry_mut(ticket) else {
            // Only a ticket that was already completed can be missing; its future never polls
            // again, so this is unreachable in practice and harmless if it were reached.
            return Poll::Pending;
        };
        match entry {
            Entry::Waiting(stored) => {
                match stored {
                    Some(w) if w.will_wake(waker) => {}
                    _ => *stored = Some(waker.clone()),
                }
                Poll::Pending
            }
            Entry::Ready(_) => {
                let Entry::Ready(value) = std::mem::replace(entry, Entry::Gone) else {
                    unreachable!("matched Ready above")
                };
                self.pop_finished();
                Poll::Ready(value)
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
            Entry::Waiting(_) => {
                self.waiting -= 1;
                None
            }
            Entry::Ready(value) => Some(value),
            Entry::Gone => None,
        };
        self.pop_finished();
        value
    }

    /// Gives `value` to the oldest waiter and returns the waker to call once the lock is
    /// released; gives the value back when nobody waits.
    pub(crate) fn hand_over(&mut self, value: T) -> Result<Option<Waker>, T> {
        while self.cursor < self.base + self.entries.len() as u64 {
            let index = (self.cursor - self.base) as usize;
            self.cursor += 1;
            let entry = &mut self.entries[index];
            if let Entry::Waiting(waker) = entry {
                let waker = waker.take();
                *entry = Entry::Ready(value);
                self.waiting -= 1;
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
            match self.hand_over(make()) {
                Ok(Some(waker)) => wakers.push(waker),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        wakers
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

    fn poll(q: &mut WaiterQueue<u32>, t: Ticket) -> Option<u32> {
        match q.poll(t, Waker::noop()) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    #[test]
    fn values_go_to_waiters_in_arrival_order() {
        let mut q = WaiterQueue::new();
        let a = q.push(None);
        let b = q.push(None);
        let c = q.push(None);
        assert!(q.hand_over(1).is_ok());
        assert!(q.hand_over(2).is_ok());
        assert_eq!(poll(&mut q, b), Some(2));
        assert_eq!(poll(&mut q, a), Some(1));
        assert_eq!(poll(&mut q, c), None);
        assert_eq!(q.waiting(), 1);
    }

    #[test]
    fn cancelled_waiters_are_skipped_and_undelivered_values_come_back() {
        let mut q = WaiterQueue::new();
        let a = q.push(None);
        let b = q.push(None);
        assert_eq!(q.cancel(a), None);
        assert!(q.hand_over(7).is_ok());
        // b was served but cancels before taking it: the value must come back.
        assert_eq!(q.cancel(b), Some(7));
        assert_eq!(q.waiting(), 0);
        assert!(matches!(q.hand_over(8), Err(8)));
    }

    #[test]
    fn the_queue_reuses_its_memory() {
        let mut q = WaiterQueue::new();
        for round in 0..1000u32 {
            let t = q.push(None);
            assert!(q.hand_over(round).is_ok());
            assert_eq!(poll(&mut q, t), Some(round));
        }
        assert!(q.entries.is_empty());
    }
}
