//! Statistics: counters updated where things happen, and the [`PoolStats`] snapshot.
//!
//! Counters on slow paths (connects, failures, leaks) are atomics; checkouts are counted under
//! the pool's lock where that path holds it anyway, and on the connection itself on the
//! lock-free fast lane (see `stash.rs`); latencies go to per-thread batches of the latency
//! recorders, folded into a shared window once per 32 values (see `histogram.rs`). No
//! statistic reads a clock or adds a shared write of its own to `get()`'s fast path.
//!
//! Counters and [`PoolHistograms`] count from the pool's start; the percentiles in
//! [`PoolStats`] cover a recent window (the last 45 to 60 seconds, `window_secs` in each
//! [`LatencySummary`]), so they show how the pool does now, not on average since it started.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::time::Instant;

use crate::breaker::CircuitState;
use crate::histogram::{LatencyRecorder, LatencySnapshot, LatencySummary, WindowClock};

/// Monotonic counters. Relaxed ordering: each is an independent tally.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) created: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) circuit_rejections: AtomicU64,
    pub(crate) validation_failures: AtomicU64,
    pub(crate) health_check_failures: AtomicU64,
    pub(crate) broken_on_return: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) idle_timeouts: AtomicU64,
    pub(crate) leaks: AtomicU64,
    pub(crate) leaks_reclaimed: AtomicU64,
    pub(crate) circuit_opened: AtomicU64,
    pub(crate) circuit_half_opened: AtomicU64,
    pub(crate) circuit_closed: AtomicU64,
    pub(crate) scale_ups: AtomicU64,
    pub(crate) scale_downs: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Everything the pool measures.
pub(crate) struct Metrics {
    pub(crate) counters: Counters,
    /// Time callers spent queued for a connection (only those that had to wait).
    pub(crate) wait: LatencyRecorder,
    /// Time to open a connection (connect + after-connect hook).
    pub(crate) create: LatencyRecorder,
    /// Time a connection stayed checked out.
    pub(crate) usage: LatencyRecorder,
    /// Which slot of the latency windows is current.
    clock: WindowClock,
    /// The sampler's last reading, for the checkout rate.
    pub(crate) rate: Mutex<RateSample>,
    /// When an acquire last timed out, for [`PoolState::Degraded`].
    last_timeout: Mutex<Option<Instant>>,
}

/// How long an acquire timeout keeps the pool [`PoolState::Degraded`]: the span of the latency
/// windows, so the state and the wait percentiles beside it tell of the same minute.
const DEGRADED_AFTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A pool whose recent wait p99 exceeds this fraction of its acquire timeout is degraded:
/// more than 1 % of checkouts wait a quarter of the way to failing.
const DEGRADED_WAIT_FRACTION: u32 = 4;

#[derive(Debug, Clone, Copy)]
pub(crate) struct RateSample {
    pub(crate) at: Instant,
    pub(crate) checkouts: u64,
    pub(crate) per_second: f64,
    /// False until the sampler's first reading: until then the rate is the average since the
    /// pool was built (a pool used for less than one interval would otherwise show 0 after
    /// a thousand checkouts).
    pub(crate) sampled: bool,
}

/// A tenth of a checkout per second is precision enough, and reads better in JSON.
fn round_rate(per_second: f64) -> f64 {
    (per_second * 10.0).round() / 10.0
}

impl Metrics {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            counters: Counters::default(),
            wait: LatencyRecorder::new(),
            create: LatencyRecorder::new(),
            usage: LatencyRecorder::new(),
            clock: WindowClock::new(now),
            rate: Mutex::new(RateSample {
                at: now,
                checkouts: 0,
                per_second: 0.0,
                sampled: false,
            }),
            last_timeout: Mutex::new(None),
        }
    }

    /// Counts `n` acquires that timed out just now (the slow path: they waited their whole
    /// acquire timeout).
    pub(crate) fn record_timeouts(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.counters.timeouts.fetch_add(n, Ordering::Relaxed);
        *self.last_timeout.lock() = Some(Instant::now());
    }

    /// Updates the checkout rate from the running total (called by the sampler), and moves the
    /// latency windows' clock: the sampler's tick is what keeps it current between `stats()`
    /// calls.
    pub(crate) fn sample_rate(&self, now: Instant, checkouts: u64) {
        self.advance_windows(now, checkouts);
        let mut rate = self.rate.lock();
        let elapsed = now.saturating_duration_since(rate.at).as_secs_f64();
        if elapsed > 0.0 {
            let per_second = checkouts.saturating_sub(rate.checkouts) as f64 / elapsed;
            rate.per_second = round_rate(per_second);
            rate.at = now;
            rate.checkouts = checkouts;
            rate.sampled = true;
        }
    }
}

/// The pool's overall condition, for health endpoints and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PoolState {
    /// Working normally.
    Healthy,
    /// Working, but hurting callers or short of connections: an acquire timed out in the last
    /// minute, or more than 1 % of the last minute's checkouts waited over a quarter of the
    /// acquire timeout (wait p99), or fewer connections are open than `min_size`. A busy pool
    /// whose callers queue briefly is healthy.
    Degraded,
    /// The circuit breaker is not closed: the database is failing.
    Critical,
    /// Closed: hands out nothing.
    Closed,
}

/// A snapshot of one pool's numbers; serializes to JSON for dashboards.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool's name.
    pub name: String,
    /// Overall condition.
    pub state: PoolState,
    /// Connections checked out by callers.
    pub active: usize,
    /// Connections open and idle.
    pub idle: usize,
    /// Connections the pool itself is working on: a background health check, or the reset
    /// (and after-checkin hook) after a return. Neither held by a caller nor ready to hand out.
    pub preparing: usize,
    /// Connections open: `active + idle + preparing`.
    pub total: usize,
    /// Connections being opened.
    pub connecting: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Configured minimum size.
    pub min_size: usize,
    /// Configured maximum size.
    pub max_size: usize,
    /// Connections the pool currently keeps warm (moved by the auto-scaler).
    pub warm_target: usize,
    /// Connections opened since the pool started.
    pub created_total: u64,
    /// Connections closed since the pool started.
    pub closed_total: u64,
    /// Failed connection attempts.
    pub connect_failures_total: u64,
    /// Acquires that gave up at their timeout.
    pub timeouts_total: u64,
    /// Acquires refused at once because the circuit breaker was open.
    pub circuit_rejections_total: u64,
    /// Connections handed to callers.
    pub checkouts_total: u64,
    /// Checkouts per second over the last sampling interval (`autoscale.sample_interval`,
    /// 500 ms by default); before the first sample, since the pool was built.
    pub checkout_rate_per_sec: f64,
    /// Time spent waiting for a connection (calls served at once count as zero), over the
    /// recent window: `wait.count` is the checkouts of the window.
    pub wait: LatencySummary,
    /// Time connections stayed checked out, over the recent window (sampled on the fast path).
    pub usage: LatencySummary,
    /// Time to open a connection, over the recent window.
    pub create: LatencySummary,
    /// Active / open, 0 when nothing is open.
    pub utilization: f64,
    /// Checkout validations that failed (the connection was replaced).
    pub validation_failures_total: u64,
    /// Background health checks that failed (the connection was replaced).
    pub health_check_failures_total: u64,
    /// Connections closed because they came back broken.
    pub broken_on_return_total: u64,
    /// Connections retired at their maximum lifetime.
    pub expired_total: u64,
    /// Connections closed after sitting idle too long.
    pub idle_timeouts_total: u64,
    /// Suspected leaks reported.
    pub leaks_total: u64,
    /// Leaked connections whose slot was reclaimed.
    pub leaks_reclaimed_total: u64,
    /// Circuit breaker state.
    pub circuit: CircuitState,
    /// Consecutive connection failures the breaker has seen.
    pub circuit_consecutive_failures: u32,
    /// Times the breaker opened.
    pub circuit_opened_total: u64,
    /// Times the breaker went half-open.
    pub circuit_half_opened_total: u64,
    /// Times the breaker closed again.
    pub circuit_closed_total: u64,
    /// Auto-scaler decisions to grow.
    pub scale_ups_total: u64,
    /// Auto-scaler decisions to shrink.
    pub scale_downs_total: u64,
}

/// The latency histograms in buckets since the pool started, for exporters that need them
/// (Prometheus). Reading them allocates nothing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolHistograms {
    /// Time spent waiting for a connection.
    pub wait: LatencySnapshot,
    /// Time to open a connection.
    pub create: LatencySnapshot,
    /// Time connections stayed checked out.
    pub usage: LatencySnapshot,
}

/// The parts of a stats snapshot read under the pool's lock.
pub(crate) struct LockedCounts {
    pub(crate) active: usize,
    pub(crate) idle: usize,
    pub(crate) preparing: usize,
    pub(crate) open: usize,
    pub(crate) connecting: usize,
    pub(crate) waiting: usize,
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    pub(crate) warm_target: usize,
    pub(crate) closed: bool,
    pub(crate) circuit: CircuitState,
    pub(crate) consecutive_failures: u32,
    pub(crate) immediate_checkouts: u64,
    pub(crate) waited_checkouts: u64,
    /// The configured acquire timeout (not locked state: it sets the degraded threshold).
    pub(crate) acquire_timeout: std::time::Duration,
}

impl Metrics {
    fn advance_windows(&self, now: Instant, checkouts: u64) -> crate::histogram::Window {
        self.clock
            .advance(now, checkouts, &[&self.wait, &self.create, &self.usage])
    }

    /// The wait histogram since start, with the checkouts served at once as zeros.
    pub(crate) fn wait_snapshot(&self, immediate_checkouts: u64) -> LatencySnapshot {
        let mut wait = self.wait.snapshot();
        wait.add_zeros(immediate_checkouts);
        wait
    }

    /// The checkout rate `stats()` shows at `now`: the sampler's, or before its first reading
    /// the average since the pool was built.
    fn checkout_rate(&self, now: Instant, checkouts: u64) -> f64 {
        let rate = self.rate.lock();
        if rate.sampled {
            return rate.per_second;
        }
        let elapsed = now.saturating_duration_since(rate.at).as_secs_f64();
        if elapsed > 0.0 {
            round_rate(checkouts as f64 / elapsed)
        } else {
            0.0
        }
    }

    pub(crate) fn stats(&self, name: &str, locked: LockedCounts) -> PoolStats {
        let c = &self.counters;
        let checkouts = locked
            .immediate_checkouts
            .saturating_add(locked.waited_checkouts);
        let now = Instant::now();
        let window = self.advance_windows(now, checkouts);
        // Only waits are recorded: the window's other checkouts were served at once.
        let wait = self.wait.summary(&window, Some(window.events));
        let timed_out_lately = self
            .last_timeout
            .lock()
            .is_some_and(|at| now.saturating_duration_since(at) <= DEGRADED_AFTER_TIMEOUT);
        let slow_waits = wait.p99_ms * 1e-3
            >= (locked.acquire_timeout / DEGRADED_WAIT_FRACTION).as_secs_f64()
            && wait.p99_ms > 0.0;
        let state = if locked.closed {
            PoolState::Closed
        } else if locked.circuit != CircuitState::Closed {
            PoolState::Critical
        } else if locked.open < locked.min_size || timed_out_lately || slow_waits {
            PoolState::Degraded
        } else {
            PoolState::Healthy
        };
        PoolStats {
            name: name.to_owned(),
            state,
            active: locked.active,
            idle: locked.idle,
            preparing: locked.preparing,
            total: locked.open,
            connecting: locked.connecting,
            waiting: locked.waiting,
            min_size: locked.min_size,
            max_size: locked.max_size,
            warm_target: locked.warm_target,
            created_total: Counters::get(&c.created),
            closed_total: Counters::get(&c.closed),
            connect_failures_total: Counters::get(&c.connect_failures),
            timeouts_total: Counters::get(&c.timeouts),
            circuit_rejections_total: Counters::get(&c.circuit_rejections),
            checkouts_total: checkouts,
            checkout_rate_per_sec: self.checkout_rate(now, checkouts),
            wait,
            usage: self.usage.summary(&window, None),
            create: self.create.summary(&window, None),
            utilization: if locked.open == 0 {
                0.0
            } else {
                locked.active as f64 / locked.open as f64
            },
            validation_failures_total: Counters::get(&c.validation_failures),
            health_check_failures_total: Counters::get(&c.health_check_failures),
            broken_on_return_total: Counters::get(&c.broken_on_return),
            expired_total: Counters::get(&c.expired),
            idle_timeouts_total: Counters::get(&c.idle_timeouts),
            leaks_total: Counters::get(&c.leaks),
            leaks_reclaimed_total: Counters::get(&c.leaks_reclaimed),
            circuit: locked.circuit,
            circuit_consecutive_failures: locked.consecutive_failures,
            circuit_opened_total: Counters::get(&c.circuit_opened),
            circuit_half_opened_total: Counters::get(&c.circuit_half_opened),
            circuit_closed_total: Counters::get(&c.circuit_closed),
            scale_ups_total: Counters::get(&c.scale_ups),
            scale_downs_total: Counters::get(&c.scale_downs),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_checkout_rate_is_rounded_to_a_tenth() {
        let start = Instant::now();
        let metrics = Metrics::new(start);
        metrics.sample_rate(start + Duration::from_nanos(1_234_567_891), 1_000);
        // 1000 / 1.234567891 s = 810.0000073…
        assert_eq!(metrics.rate.lock().per_second, 810.0);
        metrics.sample_rate(start + Duration::from_nanos(2_234_567_891), 1_333);
        assert_eq!(metrics.rate.lock().per_second, 333.0);
    }

    #[test]
    fn before_the_first_sample_the_rate_is_the_average_since_start() {
        let start = Instant::now();
        let metrics = Metrics::new(start);
        // The quickstart's case: 1,282 checkouts in 0.221 s, before the sampler ran once.
        let now = start + Duration::from_millis(221);
        assert_eq!(metrics.checkout_rate(now, 1_282), 5800.9);
        assert_eq!(metrics.checkout_rate(start, 0), 0.0);
        metrics.sample_rate(start + Duration::from_millis(500), 1_500);
        assert_eq!(
            metrics.checkout_rate(start + Duration::from_millis(600), 9_999),
            3000.0,
            "after the first sample, the sampler's interval rate"
        );
    }
}
