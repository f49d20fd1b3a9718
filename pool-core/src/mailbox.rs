//! A waiter's mailbox: where the giver leaves what a queued caller receives.
//!
//! A waited `get()` used to take the pool's lock three times: to queue, for the giver to hand
//! over, and once more for the woken caller to collect its connection from the queue. The
//! last one is the costly one: it comes when the pool is busiest (a return just happened, and
//! more are coming) and every other caller and returner waits behind it. With a mailbox the
//! giver, still under the pool's lock, leaves the value in the waiter's own slot and takes its
//! waker; the woken caller reads its slot under the slot's own lock, which nobody else wants
//! by then. Two pool locks per waited get instead of three.
//!
//! Mailboxes are shared (`Arc`) between the queue entry and the caller, and recycled through
//! a small per-thread free list once the caller holds the only reference, so a waited get
//! allocates nothing in the steady state. The free list is type-erased because one thread can
//! serve pools of several connection types.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::task::{Poll, Waker};

use parking_lot::Mutex;

/// One waiter's slot: the value once delivered, else the waker to call when it is.
pub(crate) struct Mailbox<V> {
    slot: Mutex<Slot<V>>,
}

struct Slot<V> {
    delivered: Option<V>,
    waker: Option<Waker>,
}

/// How many empty mailboxes a thread keeps for reuse. Enough for every caller one thread can
/// have in line at once in any realistic program; beyond it they are freed.
const KEPT_PER_THREAD: usize = 1024;

thread_local! {
    static FREE: RefCell<Vec<Arc<dyn Any + Send + Sync>>> = const { RefCell::new(Vec::new()) };
}

impl<V: Send + 'static> Mailbox<V> {
    /// An empty mailbox that will wake `waker` on delivery: a recycled one when this thread
    /// has one of this type, else a new one.
    pub(crate) fn ready_for(waker: &Waker) -> Arc<Self> {
        let reused = FREE
            .try_with(|free| {
                let mut free = free.borrow_mut();
                let position = free.iter().rposition(|m| (**m).is::<Self>())?;
                free.swap_remove(position).downcast::<Self>().ok()
            })
            .ok()
            .flatten();
        let mut mailbox = reused.unwrap_or_else(|| {
            Arc::new(Self {
                slot: Mutex::new(Slot {
                    delivered: None,
                    waker: None,
                }),
            })
        });
        match Arc::get_mut(&mut mailbox) {
            // A new or recycled mailbox has no other owner: no lock needed to prepare it.
            Some(unique) => {
                let slot = unique.slot.get_mut();
                slot.delivered = None;
                slot.waker = Some(waker.clone());
            }
            None => unreachable!("a new or recycled mailbox has one owner"),
        }
        mailbox
    }

    /// Gives an empty mailbox back for reuse by this thread, if nobody else holds it.
    pub(crate) fn recycle(mut mailbox: Arc<Self>) {
        let Some(unique) = Arc::get_mut(&mut mailbox) else {
            return;
        };
        let slot = unique.slot.get_mut();
        slot.delivered = None;
        slot.waker = None;
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < KEPT_PER_THREAD {
                free.push(mailbox);
            }
        });
    }
}

impl<V> Mailbox<V> {
    /// Leaves `value` and returns the waker to call once the giver has released its locks.
    pub(crate) fn deliver(&self, value: V) -> Option<Waker> {
        let mut slot = self.slot.lock();
        slot.delivered = Some(value);
        slot.waker.take()
    }

    /// The delivered value, or `Pending` after remembering `waker` for the delivery.
    pub(crate) fn poll(&self, waker: &Waker) -> Poll<V> {
        let mut slot = self.slot.lock();
        if let Some(value) = slot.delivered.take() {
            return Poll::Ready(value);
        }
        match &mut slot.waker {
            Some(stored) if stored.will_wake(waker) => {}
            stored => *stored = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// The delivered value, if one came and was not collected: for a caller that leaves.
    pub(crate) fn take(&self) -> Option<V> {
        self.slot.lock().delivered.take()
    }

    /// The waker of a caller still waiting, to make it poll again without serving it.
    pub(crate) fn waker(&self) -> Option<Waker> {
        self.slot.lock().waker.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_wakes_the_waiter_once_and_is_collected_once() {
        let mailbox = Mailbox::<u32>::ready_for(Waker::noop());
        assert!(mailbox.poll(Waker::noop()).is_pending());
        assert!(
            mailbox.deliver(7).is_some(),
            "the waiter's waker comes back"
        );
        assert_eq!(mailbox.poll(Waker::noop()), Poll::Ready(7));
        assert!(mailbox.poll(Waker::noop()).is_pending());
    }

    #[test]
    fn an_uncollected_delivery_can_be_taken_back() {
        let mailbox = Mailbox::<u32>::ready_for(Waker::noop());
        mailbox.deliver(3);
        assert_eq!(mailbox.take(), Some(3));
        assert_eq!(mailbox.take(), None);
    }

    #[test]
    fn recycled_mailboxes_come_back_empty_and_only_to_their_own_type() {
        let first = Mailbox::<u32>::ready_for(Waker::noop());
        first.deliver(1);
        let address = Arc::as_ptr(&first);
        Mailbox::recycle(first);
        let other_type = Mailbox::<String>::ready_for(Waker::noop());
        assert_ne!(Arc::as_ptr(&other_type).cast::<()>(), address.cast::<()>());
        let again = Mailbox::<u32>::ready_for(Waker::noop());
        assert_eq!(Arc::as_ptr(&again), address, "reused, not allocated");
        assert_eq!(again.take(), None, "a reused mailbox holds nothing");
        assert!(again.waker().is_some());
    }

    #[test]
    fn a_shared_mailbox_is_not_recycled() {
        let mailbox = Mailbox::<u64>::ready_for(Waker::noop());
        let held_by_queue = mailbox.clone();
        let address = Arc::as_ptr(&mailbox);
        Mailbox::recycle(mailbox);
        held_by_queue.deliver(5);
        let next = Mailbox::<u64>::ready_for(Waker::noop());
        assert_ne!(Arc::as_ptr(&next), address);
        assert_eq!(held_by_queue.take(), Some(5));
    }
}
