//! Latency histograms that many threads record into without sharing one lock.
//!
//! Each recorder is a few HdrHistogram shards, each behind its own small mutex; a thread
//! always records into the same shard, so two worker threads almost never touch the same lock
//! or cache line. Reading merges the shards: reads are rare (stats, scrapes), writes are not.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

const SHARDS: usize = 8;
/// Values are recorded in microseconds up to one hour, with three significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid")
}

struct Shard {
    histogram: Histogram<u64>,
    sum_micros: u64,
}

pub(crate) struct LatencyRecorder {
    shards: Box<[Mutex<Shard>]>,
}

impl LatencyRecorder {
    pub(crate) fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    histogram: new_histogram(),
                    sum_micros: 0,
                })
            })
            .collect();
        Self { shards }
    }

    pub(crate) fn record(&self, value: Duration) {
        self.record_n(value, 1);
    }

    pub(crate) fn record_n(&self, value: Duration, count: u64) {
        let micros = u64::try_from(value.as_micros())
            .unwrap_or(MAX_MICROS)
            .min(MAX_MICROS);
        let mut shard = self.shards[shard_index()].lock();
        // Saturating: the bounds above make overflow impossible, and a metric must never panic.
        let _ = shard.histogram.record_n(micros, count);
        shard.sum_micros = shard
            .sum_micros
            .saturating_add(micros.saturating_mul(count));
    }

    /// A merged copy of every shard.
    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        let mut merged = new_histogram();
        let mut sum_micros = 0u64;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            let _ = merged.add(&shard.histogram);
            sum_micros = sum_micros.saturating_add(shard.sum_micros);
        }
        LatencySnapshot {
            histogram: merged,
            sum_micros,
        }
    }
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// A point-in-time copy of a latency histogram (microsecond resolution).
#[derive(Clone)]
pub struct LatencySnapshot {
    histogram: Histogram<u64>,
    sum_micros: u64,
}

impl std::fmt::Debug for LatencySnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencySnapshot")
            .field("count", &self.count())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max())
            .finish()
    }
}

impl LatencySnapshot {
    /// Adds `n` values of zero (checkouts that did not wait are counted, not timed).
    pub(crate) fn add_zeros(&mut self, n: u64) {
        if n > 0 {
            let _ = self.histogram.record_n(0, n);
        }
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Sum of all recorded values.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros)
    }

    /// The value at quantile `q` (0.0..=1.0); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.histogram.value_at_quantile(q.clamp(0.0, 1.0)))
    }

    /// The largest recorded value.
    pub fn max(&self) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.histogram.max())
    }

    /// How many values were at most `bound`: a cumulative bucket, as Prometheus wants them.
    pub fn count_at_most(&self, bound: Duration) -> u64 {
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
        self.histogram
            .iter_recorded()
            .take_while(|v| v.value_iterated_to() <= micros)
            .map(|v| v.count_at_value())
            .sum()
    }

    /// The usual summary, in milliseconds, for JSON.
    pub fn summary(&self) -> LatencySummary {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        LatencySummary {
            count: self.count(),
            p50_ms: ms(self.quantile(0.50)),
            p95_ms: ms(self.quantile(0.95)),
            p99_ms: ms(self.quantile(0.99)),
            max_ms: ms(self.max()),
        }
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Number of values.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest value.
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_from_many_threads_merge_into_one_view() {
        let recorder = std::sync::Arc::new(LatencyRecorder::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let r = recorder.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        r.record(Duration::from_micros(t * 100 + i + 1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = recorder.snapshot();
        assert_eq!(snap.count(), 400);
        assert_eq!(snap.max(), Duration::from_micros(400));
        assert_eq!(snap.count_at_most(Duration::from_micros(100)), 100);
        let p50 = snap.quantile(0.5).as_micros();
        assert!((199..=201).contains(&p50), "p50 {p50}");
    }
}
