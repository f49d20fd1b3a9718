//! A coarse clock for the checkout path: the time as of the sampler's last tick.
//!
//! Checkout validation only needs to know whether a connection sat idle longer than
//! `validation_bypass` (500 ms by default), and a clock read costs as much as the rest of a
//! checkout. So the fast path reads this instead: one relaxed atomic load. The sampler moves it
//! every `autoscale.sample_interval` (500 ms by default); nothing on the checkout path writes
//! it, so it adds no shared write there.
//!
//! Worst-case staleness: one sample interval. A connection is validated whenever it was idle
//! longer than `validation_bypass + sample_interval`, and may be validated (needlessly) once
//! idle longer than `validation_bypass - sample_interval`. While the background tasks are not
//! running (their runtime ended and no caller has restarted them yet), readers use the real
//! clock instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct CoarseClock {
    epoch: Instant,
    /// Nanoseconds since `epoch` at the last update.
    nanos: AtomicU64,
}

impl CoarseClock {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            nanos: AtomicU64::new(0),
        }
    }

    /// The time as of the last update, in nanoseconds since the clock's epoch: what the
    /// checkout path compares (integers: no `Instant` arithmetic, which costs as much as the
    /// load).
    pub(crate) fn ticks(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed)
    }

    /// `at` on this clock's scale (0 for anything before the epoch).
    pub(crate) fn ticks_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A reading of this clock as an `Instant`.
    pub(crate) fn instant_at(&self, ticks: u64) -> Instant {
        self.epoch + Duration::from_nanos(ticks)
    }

    /// Moves the clock forward to `now` (never back).
    pub(crate) fn advance(&self, now: Instant) {
        self.nanos.fetch_max(self.ticks_at(now), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_only_moves_forward() {
        let epoch = Instant::now();
        let clock = CoarseClock::new(epoch);
        assert_eq!(clock.instant_at(clock.ticks()), epoch);
        clock.advance(epoch + Duration::from_millis(500));
        clock.advance(epoch + Duration::from_millis(100));
        assert_eq!(
            clock.instant_at(clock.ticks()),
            epoch + Duration::from_millis(500)
        );
        assert_eq!(clock.ticks(), 500_000_000);
        assert_eq!(
            clock.ticks_at(epoch + Duration::from_secs(2)),
            2_000_000_000
        );
    }
}
