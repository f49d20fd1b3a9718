//! Instants computed from configured durations, without overflow.
//!
//! A user may ask for `get_timeout(Duration::MAX)` or put a century into the configuration to
//! mean "no limit"; `Instant + Duration` panics on overflow. Every deadline the pool computes
//! from a duration it was given goes through [`after`], which saturates at a point so far away
//! that it never comes (as tokio itself does for its own far-future timers).

use std::time::Duration;

use tokio::time::Instant;

/// About thirty years: later than any process lives, early enough for every clock to represent.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + duration`, or thirty years from `now` when that is sooner or the sum overflows.
pub(crate) fn after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(FAR_FUTURE))
        .unwrap_or_else(|| now + Duration::from_secs(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_duration_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365));
        assert_eq!(
            after(now, Duration::from_secs(2)),
            now + Duration::from_secs(2)
        );
    }
}
