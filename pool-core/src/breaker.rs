//! The circuit breaker's state machine: pure bookkeeping, kept in the pool's locked state.
//!
//! It protects a database that refuses or drops new sessions from a storm of connects, without
//! turning a blip into minutes of errors:
//!
//! ```text
//!            failure_threshold consecutive failed connects
//!   Closed ─────────────────────────────────────────────────▶ Open (for interval i)
//!     ▲                                                         │ i has passed
//!     │ the trial connects                                      ▼
//!     └──────────────────────────────────────────────────── HalfOpen: one trial connect
//!              the trial fails: Open again, for a fifth of the outage so far (up to the cap)
//! ```
//!
//! - **Closed**: connects run as usual; each failure counts, each success clears the count.
//! - **Open**: acquires that need a new connection fail at once with `CircuitOpen` and the
//!   time left; callers waiting for a return keep waiting. The interval grows with the
//!   outage: it is a fifth of the time since the breaker first opened, at least
//!   `open_duration` (250 ms by default) and at most `max_open_duration` (60 s); a successful
//!   trial ends the outage, and the next one starts again from `open_duration`. Each interval
//!   is drawn between half of it and all of it (jitter), so many pools that opened together
//!   do not send their trials together.
//!
//!   Why a fifth of the outage and not doubling per failed trial: doubling from 1 s sends the
//!   trials at about 1, 3 and 7 s, so a database back after 5 s waits 2 s more for the pool
//!   to notice, and one back after 20 s waits up to 11 s. Tying the interval to the outage's
//!   length bounds that wait to `open_duration` for outages up to 5 × `open_duration` and to
//!   a fifth of the outage after (20 % longer than the outage at worst), while the trials
//!   still thin out geometrically (each interval ≥ 1.1 × the one before, once past
//!   `open_duration`): with the defaults, at most four refused connects a second for the first
//!   1.25 s, one a second at five seconds, one a minute after five minutes.
//! - **HalfOpen**: exactly one trial connect is in flight; callers that need a connection
//!   meanwhile queue for the trial's outcome within their own deadline (served by the trial's
//!   connection and the connects that follow it, or failed with `CircuitOpen` if it fails),
//!   instead of being refused with nothing to wait for. A trial abandoned without a verdict
//!   (its caller gave up, the pool closed) lets the next caller try.
//!
//! Only a failed *connect* counts: checkout-validation failures do not, since a database
//! restart kills every idle session at once, and those dead sessions must not lock callers out
//! of a server that is already back. An attempt that was already in flight when the breaker
//! opened counts, but does not push the next trial further out.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::config::CircuitBreakerConfig;

/// The open interval is the outage so far divided by this (see the module docs).
const OUTAGE_FRACTION: u32 = 5;

/// Where the circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CircuitState {
    /// Normal operation.
    Closed,
    /// Failing fast: acquires that need a new connection get
    /// [`Error::CircuitOpen`](crate::Error::CircuitOpen) at once.
    Open,
    /// One trial connection is allowed through; its result decides.
    HalfOpen,
}

impl CircuitState {
    /// The state as a small number for gauges: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        }
    }
}

/// What a caller that needs a new connection may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Connect as usual.
    Connect,
    /// Connect: this attempt is the half-open trial.
    Trial,
    /// Fail fast; the breaker allows the next attempt after this long.
    Reject { retry_in: Duration },
    /// The half-open trial is in flight: wait for its outcome without connecting.
    AwaitTrial,
}

/// A change of state, reported so the pool can log and count it outside the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    pub(crate) from: CircuitState,
    pub(crate) to: CircuitState,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    enabled: bool,
    threshold: u32,
    /// The shortest open interval, the first one of every outage.
    first_interval: Duration,
    max_interval: Duration,
    /// When the breaker first opened in the current outage (reset by a successful connect).
    outage_began: Option<Instant>,
    state: CircuitState,
    consecutive_failures: u32,
    open_until: Instant,
    trial_in_flight: bool,
}

impl Breaker {
    pub(crate) fn new(config: &CircuitBreakerConfig, now: Instant) -> Self {
        Self {
            enabled: config.enabled,
            threshold: config.failure_threshold,
            first_interval: config.open_duration,
            max_interval: config.max_open_duration.max(config.open_duration),
            outage_began: None,
            state: CircuitState::Closed,
            consecutive_failures: 0,
            open_until: now,
            trial_in_flight: false,
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        self.state
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Time left until a trial is allowed (zero unless open).
    pub(crate) fn retry_in(&self, now: Instant) -> Duration {
        match self.state {
            CircuitState::Open => self.open_until.saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }

    /// May a new connection be attempted now? Moves open → half-open when its time is up.
    pub(crate) fn permit(&mut self, now: Instant) -> (Permit, Option<Transition>) {
        match self.state {
            CircuitState::Closed => (Permit::Connect, None),
            CircuitState::Open if now >= self.open_until => {
                self.trial_in_flight = true;
                let transition = self.set(CircuitState::HalfOpen);
                (Permit::Trial, transition)
            }
            CircuitState::Open => (
                Permit::Reject {
                    retry_in: self.open_until - now,
                },
                None,
            ),
            CircuitState::HalfOpen if !self.trial_in_flight => {
                self.trial_in_flight = true;
                (Permit::Trial, None)
            }
            CircuitState::HalfOpen => (Permit::AwaitTrial, None),
        }
    }

    /// A connect succeeded.
    pub(crate) fn record_success(&mut self) -> Option<Transition> {
        self.consecutive_failures = 0;
        self.trial_in_flight = false;
        self.outage_began = None;
        self.set(CircuitState::Closed)
    }

    /// A connect failed: may open the breaker. An attempt that was already in flight when the
    /// breaker opened only counts: it must not push the next trial further out.
    pub(crate) fn record_connect_failure(&mut self, now: Instant) -> Option<Transition> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.state == CircuitState::Open {
            return None;
        }
        let trial_failed = self.state == CircuitState::HalfOpen;
        self.trial_in_flight = false;
        if self.enabled && (trial_failed || self.consecutive_failures >= self.threshold) {
            let interval = self.interval(now).mul_f64(0.5 + 0.5 * fastrand::f64());
            self.open_until = crate::deadline::after(now, interval);
            self.set(CircuitState::Open)
        } else {
            None
        }
    }

    /// The whole open interval for an opening at `now`, before jitter: a fifth of the outage
    /// so far, within `[open_duration, max_open_duration]`.
    fn interval(&mut self, now: Instant) -> Duration {
        let began = *self.outage_began.get_or_insert(now);
        (now.saturating_duration_since(began) / OUTAGE_FRACTION)
            .clamp(self.first_interval, self.max_interval)
    }

    /// The half-open trial ended without a verdict (cancelled, or no longer needed).
    pub(crate) fn abandon_trial(&mut self) {
        self.trial_in_flight = false;
    }

    /// Manual reset: closed, failure count cleared.
    pub(crate) fn reset(&mut self) -> Option<Transition> {
        self.record_success()
    }

    fn set(&mut self, to: CircuitState) -> Option<Transition> {
        let from = std::mem::replace(&mut self.state, to);
        (from != to).then_some(Transition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_secs(10);

    fn breaker(now: Instant) -> Breaker {
        Breaker::new(
            &CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 3,
                open_duration: FIRST,
                max_open_duration: Duration::from_secs(35),
            },
            now,
        )
    }

    fn open(b: &mut Breaker, now: Instant) {
        for _ in 0..3 {
            b.record_connect_failure(now);
        }
        assert_eq!(b.state(), CircuitState::Open);
    }

    /// Fails the trial at `now` (after the open interval passed) and returns the new interval.
    fn fail_trial(b: &mut Breaker, now: Instant) -> Duration {
        let (permit, transition) = b.permit(now);
        assert_eq!(permit, Permit::Trial);
        assert_eq!(transition.unwrap().to, CircuitState::HalfOpen);
        assert_eq!(
            b.record_connect_failure(now).unwrap().to,
            CircuitState::Open
        );
        b.retry_in(now)
    }

    #[test]
    fn opens_after_threshold_consecutive_connect_failures() {
        let now = Instant::now();
        let mut b = breaker(now);
        assert_eq!(b.record_connect_failure(now), None);
        assert_eq!(b.record_connect_failure(now), None);
        let t = b.record_connect_failure(now).expect("third failure opens");
        assert_eq!((t.from, t.to), (CircuitState::Closed, CircuitState::Open));
        let Permit::Reject { retry_in } = b.permit(now).0 else {
            panic!("an open breaker refuses")
        };
        assert!(retry_in >= FIRST / 2 && retry_in <= FIRST, "{retry_in:?}");
    }

    #[test]
    fn a_success_clears_the_count_before_the_threshold() {
        let now = Instant::now();
        let mut b = breaker(now);
        b.record_connect_failure(now);
        b.record_connect_failure(now);
        assert_eq!(b.record_success(), None);
        b.record_connect_failure(now);
        b.record_connect_failure(now);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn a_straggling_failure_does_not_extend_an_open_breaker() {
        let now = Instant::now();
        let mut b = breaker(now);
        open(&mut b, now);
        let before = b.retry_in(now);
        let later = now + Duration::from_secs(2);
        assert_eq!(b.record_connect_failure(later), None);
        assert_eq!(b.retry_in(later), before - Duration::from_secs(2));
    }

    #[test]
    fn half_open_allows_exactly_one_trial_and_the_others_await_it() {
        let now = Instant::now();
        let mut b = breaker(now);
        open(&mut b, now);
        let later = now + FIRST;
        assert_eq!(b.permit(later).0, Permit::Trial);
        assert_eq!(b.permit(later).0, Permit::AwaitTrial);
        let t = b.record_success().expect("trial success closes");
        assert_eq!(t.to, CircuitState::Closed);
        assert_eq!(b.permit(later).0, Permit::Connect);
    }

    /// A breaker with the default intervals (`open_duration`, capped at 60 s), opened at `now`.
    fn default_intervals_opened(now: Instant) -> Breaker {
        let mut b = Breaker::new(
            &CircuitBreakerConfig {
                failure_threshold: 3,
                ..CircuitBreakerConfig::default()
            },
            now,
        );
        open(&mut b, now);
        b
    }

    #[test]
    fn the_open_interval_is_a_fifth_of_the_outage_within_its_bounds_and_a_success_resets_it() {
        let began = Instant::now();
        let mut b = default_intervals_opened(began);
        let defaults = CircuitBreakerConfig::default();
        let (first, cap) = (defaults.open_duration, defaults.max_open_duration);
        assert!(b.retry_in(began) >= first / 2 && b.retry_in(began) <= first);
        let mut now = began;
        let mut previous_whole = first;
        while now - began < Duration::from_secs(600) {
            now += b.retry_in(now);
            let whole = ((now - began) / 5).clamp(first, cap);
            let interval = fail_trial(&mut b, now);
            assert!(
                interval >= whole / 2 && interval <= whole,
                "{interval:?} after {:?} of outage, not within half of {whole:?}",
                now - began
            );
            assert!(whole >= previous_whole, "the interval never shrinks");
            previous_whole = whole;
        }
        assert_eq!(previous_whole, cap, "a long outage reaches the cap");
        now += b.retry_in(now);
        assert_eq!(b.permit(now).0, Permit::Trial);
        b.record_success();
        open(&mut b, now);
        assert!(
            b.retry_in(now) <= first,
            "a success ends the outage: the next one starts again from open_duration"
        );
    }

    #[test]
    fn a_database_back_is_tried_within_open_duration_or_a_fifth_of_the_outage() {
        // Whatever the jitter draws, the first trial after the database is back comes within
        // `open_duration` of its return for returns up to 5 × `open_duration` into the outage,
        // and within a fifth of the outage for later ones.
        let first = CircuitBreakerConfig::default().open_duration;
        for back_ms in [100, 300, 500, 1_000, 2_500, 5_000, 20_000] {
            for _ in 0..50 {
                let began = Instant::now();
                let back = began + Duration::from_millis(back_ms);
                let mut b = default_intervals_opened(began);
                let mut now = began;
                loop {
                    now += b.retry_in(now);
                    if now >= back {
                        break;
                    }
                    fail_trial(&mut b, now);
                }
                let bound = first.max(Duration::from_millis(back_ms) / 5);
                assert!(
                    now - back <= bound,
                    "back after {back_ms} ms, tried {:?} later",
                    now - back
                );
            }
        }
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_caller_try() {
        let now = Instant::now();
        let mut b = breaker(now);
        open(&mut b, now);
        let later = now + FIRST;
        assert_eq!(b.permit(later).0, Permit::Trial);
        b.abandon_trial();
        assert_eq!(b.permit(later).0, Permit::Trial);
    }
}
