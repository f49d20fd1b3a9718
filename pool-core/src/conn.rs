//! A connection as the pool keeps it: the driver's connection plus what the pool knows of it.

use std::backtrace::Backtrace;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::atomic::AtomicCell;
use parking_lot::Mutex;
use tokio::time::Instant;

/// Who owns a connection's slot right now; decided by compare-and-swap so that a holder
/// returning the connection and the leak reclaimer freeing its slot can never both win.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Lease {
    /// In the pool (idle, being validated or health-checked, or being created).
    Pooled = 0,
    /// Checked out to a caller.
    Active = 1,
    /// Checked out, then reclaimed as a leak: its slot is already free, and the connection is
    /// closed when the holder drops it.
    Reclaimed = 2,
}

/// What the pool tracks per connection beyond the connection itself. Allocated once when the
/// connection opens, shared with the leak detector, never per checkout.
#[derive(Debug)]
pub(crate) struct ConnMeta {
    pub(crate) id: u64,
    pub(crate) created_at: Instant,
    /// When the connection retires (max lifetime minus this connection's jitter).
    pub(crate) expires_at: Option<Instant>,
    /// The [`Lease`] in the low two bits, the checkout generation (how many times the
    /// connection was checked out) above them: the leak reclaimer names the checkout it found
    /// overdue, so it can never take the connection from a later holder.
    lease: AtomicU64,
    /// Checkouts of this connection served by the stash (fast lane). Only the connection's
    /// holder of the moment writes it, so a load and a store suffice: the fast lane writes no
    /// shared counter and needs no read-modify-write for it.
    fast_checkouts: AtomicU64,
    /// Set by the reaper when the connection outlived its lifetime while checked out: it is
    /// closed when it comes back (the return path reads no clock to find out itself).
    retire: AtomicBool,
    /// Nanoseconds since the pool's epoch at the current checkout, or [`UNSTAMPED`] when the
    /// checkout read no clock (the fast path): the leak scan then stamps it with its own time.
    checked_out_at: AtomicU64,
    leak_reported: AtomicBool,
    /// The caller of `get()` for the current checkout (one atomic word, no lock). Only
    /// written while leak detection is on.
    checkout_caller: AtomicCell<Option<&'static Location<'static>>>,
    /// The whole stack of the current checkout, when `leak_capture_backtrace` asks for it.
    checkout_trace: Mutex<Option<Backtrace>>,
}

/// `checked_out_at` of a checkout whose time was not read.
const UNSTAMPED: u64 = u64::MAX;

/// The lease word's low bits hold the [`Lease`].
const LEASE_BITS: u32 = 2;
const LEASE_MASK: u64 = (1 << LEASE_BITS) - 1;

/// Which checkout of a connection the leak scan looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckoutGeneration(u64);

impl ConnMeta {
    pub(crate) fn new(id: u64, created_at: Instant, expires_at: Option<Instant>) -> Arc<Self> {
        Arc::new(Self {
            id,
            created_at,
            expires_at,
            lease: AtomicU64::new(Lease::Pooled as u64),
            retire: AtomicBool::new(false),
            fast_checkouts: AtomicU64::new(0),
            checked_out_at: AtomicU64::new(UNSTAMPED),
            leak_reported: AtomicBool::new(false),
            checkout_caller: AtomicCell::new(None),
            checkout_trace: Mutex::new(None),
        })
    }

    /// The current checkout, if the connection is checked out: what the leak scan reads before
    /// deciding to [`reclaim`](Self::reclaim) it.
    pub(crate) fn current_checkout(&self) -> Option<CheckoutGeneration> {
        let word = self.lease.load(Ordering::Acquire);
        (word & LEASE_MASK == Lease::Active as u64)
            .then_some(CheckoutGeneration(word >> LEASE_BITS))
    }

    /// Marks the connection checked out (a new checkout generation); with leak detection on,
    /// also when (nanoseconds since the pool's epoch, if the checkout read the clock) and
    /// where. No lock unless a stack trace was captured. Only the connection's next holder
    /// calls it, while the lease is `Pooled`, so nobody else writes the word meanwhile.
    pub(crate) fn check_out(&self, leak_tracking: Option<LeakTracking>) {
        if let Some(tracking) = leak_tracking {
            self.checked_out_at
                .store(tracking.at_nanos.unwrap_or(UNSTAMPED), Ordering::Relaxed);
            self.leak_reported.store(false, Ordering::Relaxed);
            self.checkout_caller.store(Some(tracking.caller));
            if tracking.trace.is_some() {
                *self.checkout_trace.lock() = tracking.trace;
            }
        }
        let generation = (self.lease.load(Ordering::Relaxed) >> LEASE_BITS).wrapping_add(1);
        self.lease.store(
            (generation << LEASE_BITS) | Lease::Active as u64,
            Ordering::Release,
        );
    }

    /// Active → Pooled; false when the leak reclaimer got there first. Without leak
    /// reclaiming nobody else changes the lease, and a plain store does (one atomic
    /// read-modify-write less per return).
    pub(crate) fn check_in(&self, reclaim_possible: bool) -> bool {
        let word = self.lease.load(Ordering::Relaxed);
        let pooled = (word & !LEASE_MASK) | Lease::Pooled as u64;
        if !reclaim_possible {
            self.lease.store(pooled, Ordering::Release);
            return true;
        }
        word & LEASE_MASK == Lease::Active as u64
            && self
                .lease
                .compare_exchange(word, pooled, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Active → Reclaimed, for the checkout `seen` only; false when its holder returned it
    /// first (even if the connection was checked out again since).
    pub(crate) fn reclaim(&self, seen: CheckoutGeneration) -> bool {
        let active = (seen.0 << LEASE_BITS) | Lease::Active as u64;
        let reclaimed = (seen.0 << LEASE_BITS) | Lease::Reclaimed as u64;
        self.lease
            .compare_exchange(active, reclaimed, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Counts a checkout served by the stash. Only the connection's current holder calls it.
    pub(crate) fn count_fast_checkout(&self) {
        let n = self.fast_checkouts.load(Ordering::Relaxed);
        self.fast_checkouts.store(n + 1, Ordering::Relaxed);
    }

    pub(crate) fn fast_checkouts(&self) -> u64 {
        self.fast_checkouts.load(Ordering::Relaxed)
    }

    /// Asks for the connection to be closed when it is next returned.
    pub(crate) fn request_retirement(&self) {
        self.retire.store(true, Ordering::Relaxed);
    }

    pub(crate) fn retirement_requested(&self) -> bool {
        self.retire.load(Ordering::Relaxed)
    }

    /// When the current checkout happened (nanoseconds since the pool's epoch). A checkout
    /// that read no clock is stamped now with `now_nanos`, the leak scan's time, so a leak is
    /// reported at most one scan interval late.
    pub(crate) fn checked_out_at_nanos(&self, now_nanos: u64) -> u64 {
        match self.checked_out_at.compare_exchange(
            UNSTAMPED,
            now_nanos,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => now_nanos,
            Err(stamped) => stamped,
        }
    }

    /// True the first time it is called per checkout: a leak is reported once.
    pub(crate) fn mark_leak_reported(&self) -> bool {
        !self.leak_reported.swap(true, Ordering::Relaxed)
    }

    /// The caller of `get()` and, if captured, the stack trace of the current checkout.
    pub(crate) fn checkout_site(&self) -> (Option<String>, Option<String>) {
        (
            self.checkout_caller.load().map(ToString::to_string),
            self.checkout_trace.lock().as_ref().map(ToString::to_string),
        )
    }
}

/// What leak detection records at a checkout.
#[derive(Debug)]
pub(crate) struct LeakTracking {
    /// `None` when the checkout read no clock.
    pub(crate) at_nanos: Option<u64>,
    pub(crate) caller: &'static Location<'static>,
    pub(crate) trace: Option<Backtrace>,
}

/// A live connection with its bookkeeping, boxed once when it opens: it travels between the
/// idle set, the stash, waiters and holders as one pointer, and a stash slot holds it in one
/// atomic word.
pub(crate) struct Conn<C>(Box<ConnParts<C>>);

pub(crate) struct ConnParts<C> {
    pub(crate) raw: C,
    pub(crate) meta: Arc<ConnMeta>,
    /// When a holder last returned it (or when it opened); older than that while
    /// `unstamped_use` is set.
    pub(crate) last_used: Instant,
    /// Returned without a clock reading (the fast path reads none): the next sweep that looks
    /// at idle connections stamps `last_used` with its own time, so "idle since" is late by at
    /// most one sweep interval, never early.
    pub(crate) unstamped_use: bool,
    /// When a holder last returned it (or when it opened), on the pool's coarse clock (see
    /// `clock.rs`): what checkout validation's bypass compares, in integers. Unlike
    /// `last_used`, set on every return, also on the fast path.
    pub(crate) last_used_tick: u64,
    /// `meta.expires_at` on the same clock (`u64::MAX`: never).
    pub(crate) expires_tick: u64,
    /// How many times it was handed to a caller.
    pub(crate) checkouts: u64,
}

impl<C> Conn<C> {
    pub(crate) fn new(parts: ConnParts<C>) -> Self {
        Self(Box::new(parts))
    }

    /// The driver's connection, leaving the pool's bookkeeping behind.
    pub(crate) fn into_raw(self) -> C {
        self.0.raw
    }
}

impl<C> std::ops::Deref for Conn<C> {
    type Target = ConnParts<C>;

    fn deref(&self) -> &ConnParts<C> {
        &self.0
    }
}

impl<C> std::ops::DerefMut for Conn<C> {
    fn deref_mut(&mut self) -> &mut ConnParts<C> {
        &mut self.0
    }
}

impl<C> ConnParts<C> {
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.meta.expires_at.is_some_and(|at| now >= at)
    }

    /// Records a use whose time was not read, at `now` (a sweep's time).
    pub(crate) fn stamp(&mut self, now: Instant) {
        if self.unstamped_use {
            self.last_used = now;
            self.unstamped_use = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Arc<ConnMeta> {
        ConnMeta::new(1, Instant::now(), None)
    }

    #[test]
    fn the_reclaimer_cannot_take_a_later_checkout() {
        let meta = meta();
        meta.check_out(None);
        let overdue = meta.current_checkout().expect("checked out");
        // The holder returns it and someone else checks it out before the scan acts.
        assert!(meta.check_in(true));
        meta.check_out(None);
        assert!(
            !meta.reclaim(overdue),
            "the new holder's checkout was reclaimed"
        );
        assert!(meta.check_in(true), "the new holder's return must succeed");
    }

    #[test]
    fn the_reclaimer_and_the_holder_cannot_both_win() {
        let meta = meta();
        meta.check_out(None);
        let overdue = meta.current_checkout().expect("checked out");
        assert!(meta.reclaim(overdue));
        assert!(
            !meta.check_in(true),
            "a reclaimed connection must not come back"
        );
        assert_eq!(meta.current_checkout(), None);
    }

    #[test]
    fn a_pooled_connection_has_no_checkout_to_reclaim() {
        let meta = meta();
        assert_eq!(meta.current_checkout(), None);
        meta.check_out(None);
        assert!(meta.check_in(false));
        assert_eq!(meta.current_checkout(), None);
    }
}
