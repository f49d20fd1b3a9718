//! The circuit breaker's state machine: pure bookkeeping, kept in the pool's locked state.
//!
//! closed → open after `failure_threshold` consecutive failures; open → half-open once
//! `open_duration` has passed, which lets exactly one trial connection through; the trial's
//! success closes the breaker, its failure opens it again. Only a failed *connect* counts:
//! checkout-validation failures do not, since a database restart kills every idle session at
//! once, and those dead sessions must not lock callers out of a server that is already back.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::config::CircuitBreakerConfig;

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
    open_duration: Duration,
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
            open_duration: config.open_duration,
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
            CircuitState::HalfOpen => (
                Permit::Reject {
                    retry_in: Duration::ZERO,
                },
                None,
            ),
        }
    }

    /// A connect succeeded.
    pub(crate) fn record_success(&mut self) -> Option<Transition> {
        self.consecutive_failures = 0;
        self.trial_in_flight = false;
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
            self.open_until = crate::deadline::after(now, self.open_duration);
            self.set(CircuitState::Open)
        } else {
            None
        }
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

    fn breaker(now: Instant) -> Breaker {
        Breaker::new(
            &CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 3,
                open_duration: Duration::from_secs(10),
            },
            now,
        )
    }

    #[test]
    fn opens_after_threshold_consecutive_connect_failures() {
        let now = Instant::now();
        let mut b = breaker(now);
        assert_eq!(b.record_connect_failure(now), None);
        assert_eq!(b.record_connect_failure(now), None);
        let t = b.record_connect_failure(now).expect("third failure opens");
        assert_eq!((t.from, t.to), (CircuitState::Closed, CircuitState::Open));
        assert_eq!(
            b.permit(now).0,
            Permit::Reject {
                retry_in: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn a_straggling_failure_does_not_extend_an_open_breaker() {
        let now = Instant::now();
        let mut b = breaker(now);
        for _ in 0..3 {
            b.record_connect_failure(now);
        }
        assert_eq!(b.record_connect_failure(now + Duration::from_secs(5)), None);
        assert_eq!(
            b.retry_in(now + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn half_open_allows_exactly_one_trial() {
        let now = Instant::now();
        let mut b = breaker(now);
        for _ in 0..3 {
            b.record_connect_failure(now);
        }
        let later = now + Duration::from_secs(10);
        assert_eq!(b.permit(later).0, Permit::Trial);
        assert!(matches!(b.permit(later).0, Permit::Reject { .. }));
        let t = b.record_success().expect("trial success closes");
        assert_eq!(t.to, CircuitState::Closed);
    }

    #[test]
    fn a_failed_trial_opens_again() {
        let now = Instant::now();
        let mut b = breaker(now);
        for _ in 0..3 {
            b.record_connect_failure(now);
        }
        let later = now + Duration::from_secs(10);
        assert_eq!(b.permit(later).0, Permit::Trial);
        assert_eq!(
            b.record_connect_failure(later).unwrap().to,
            CircuitState::Open
        );
        assert_eq!(b.retry_in(later), Duration::from_secs(10));
    }
}
