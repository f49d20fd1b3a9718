//! Latency statistics: cumulative buckets for exporters, and percentiles over a recent window.
//!
//! Each of a pool's three recorders (wait, create, use) keeps two views of the same values:
//!
//! - **Since start, in fixed buckets** ([`LatencySnapshot`]): one counter per bucket at
//!   [`LatencySnapshot::BUCKET_BOUNDS`] (the Prometheus exporter's `le` bounds), plus the sum and
//!   the count. Prometheus wants exactly this: cumulative counters it takes rates of itself.
//!   The counts are exact at microsecond resolution; reading them copies 168 bytes.
//! - **The recent window, as a histogram** (the percentiles of [`PoolStats`](crate::PoolStats)):
//!   a ring of [`WINDOW_SLOTS`] HdrHistograms, each holding [`WINDOW_SLOT`] of values, so the
//!   percentiles describe the last 45 to 60 seconds ([`LatencySummary::window_secs`] says how
//!   much exactly), not everything since the pool started. A slot is cleared when its turn
//!   comes round again.
//!
//! ## Accuracy
//!
//! Values are kept in whole microseconds (a value is truncated, so it may read up to 1 µs low)
//! up to one hour (longer values count as one hour). The window's histograms have two
//! significant digits: a percentile or maximum reads at most 1/128 (0.8 %) high, never low
//! apart from the truncation. The buckets are exact: a value lands in `le = b` when its whole
//! microseconds are at most `b`. Use time is sampled on the fast path (see `inner.rs`): there
//! its percentiles are those of the sampled checkouts, a statistical estimate.
//!
//! ## Memory, and why it is laid out this way
//!
//! Three significant digits over 1 µs..1 h cost 188 KB per histogram; the pool used to keep 24
//! of them (4.5 MB) and merged 3 into fresh copies on every `stats()` (565 KB). Now a window
//! slot is a `Histogram<u32>` with two digits: 13.3 KB. A recorder allocates its four slots on
//! its first value (a pool never used keeps none), so a pool holds at most 3 × 4 × 13.3 KB =
//! 160 KB of histograms, and about 9 KB of shards. `stats()` merges the live slots into a
//! scratch histogram kept per thread (one per thread that reads stats, not one per pool), so
//! it allocates nothing but that scratch, once per thread; `histograms()` allocates nothing.
//! `u32` counts do not overflow in practice: a slot holds 15 s of values and the merged window
//! a minute's, and one bin would need 4 × 10⁹ of them in that minute (checkouts served at once
//! are not recorded: see [`LatencyRecorder::summary`]); counts saturate rather than wrap.
//!
//! ## The recording path
//!
//! Recording is hot: every waited checkout records its wait, and one fast-path return in eight
//! records its use time. It reads no clock (times are passed in), allocates nothing (but the
//! window, on a recorder's first value) and takes no lock shared between worker threads for
//! most values: each thread appends `(value, count)` to a small batch in its own shard (as
//! before, a mutex threads share only when there are more than eight of them, and readers);
//! only a full batch (32 values), or one whose window slot is over, is folded into the window
//! under the recorder's lock, so that lock is taken once per 32 values per thread. Keeping a
//! histogram per shard instead would cost 8 shards × 4 slots × 13.3 KB per recorder: over the
//! memory target.
//!
//! Which slot a value belongs to comes from a coarse clock ([`WindowClock`]): the slot number
//! is an atomic the recorders load, advanced by the pool's sampler (every
//! `autoscale.sample_interval`, 500 ms by default) and by every `stats()` call. A batch never
//! spans two slots. So the window's edges are as precise as that tick; the values themselves
//! are exact.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::time::Instant;

/// Shards a recorder spreads its writers over; a thread always uses the same one.
const SHARDS: usize = 8;
/// Values a shard collects before it takes the recorder's lock to fold them in.
const BATCH: usize = 32;
/// Values are recorded in microseconds up to one hour (which fits a `u32`).
const MAX_MICROS: u64 = 3_600_000_000;
/// Two significant digits: percentiles within 1 % (1/128 exactly) at 13.3 KB per histogram.
const SIGNIFICANT_DIGITS: u8 = 2;
/// How much time one slot of the window covers.
pub(crate) const WINDOW_SLOT: Duration = Duration::from_secs(15);
/// Slots in the window: the percentiles cover the current slot and the three before it.
pub(crate) const WINDOW_SLOTS: u64 = 4;

const BUCKETS: usize = LatencySnapshot::BUCKET_BOUNDS.len();

/// [`LatencySnapshot::BUCKET_BOUNDS`] in microseconds.
const BOUNDS_MICROS: [u64; BUCKETS] = {
    let mut micros = [0; BUCKETS];
    let mut i = 0;
    while i < BUCKETS {
        micros[i] = LatencySnapshot::BUCKET_BOUNDS[i].as_micros() as u64;
        i += 1;
    }
    micros
};

/// Bit lengths of a `u64`, 0 to 64: values of bit length `n` lie in `[2^(n-1), 2^n)`.
const BANDS: usize = 65;

/// For each bit length, how many bounds lie below the band, and the one bound inside it, if
/// any (`u64::MAX` if none). A band holds at most one bound because each bound at least
/// doubles the one before (checked here, at compile time). So a value's bucket is one table
/// lookup and one comparison: recording stays cheap and branch-free.
const BANDS_TABLE: ([u8; BANDS], [u64; BANDS]) = {
    let mut below = [0u8; BANDS];
    let mut inside = [u64::MAX; BANDS];
    let mut i = 1;
    while i < BUCKETS {
        assert!(BOUNDS_MICROS[i] >= 2 * BOUNDS_MICROS[i - 1]);
        i += 1;
    }
    let mut n = 1;
    while n < BANDS {
        let low = 1u64 << (n - 1);
        let mut i = 0;
        while i < BUCKETS {
            let bound = BOUNDS_MICROS[i];
            if bound < low {
                below[n] += 1;
            } else if bound / 2 < low {
                // low <= bound < 2 low
                inside[n] = bound;
            }
            i += 1;
        }
        n += 1;
    }
    (below, inside)
};

/// The bucket of a value: the number of bounds below it (so a value equal to a bound is in
/// that bound's bucket).
fn bucket_of(micros: u64) -> usize {
    let band = (u64::BITS - micros.leading_zeros()) as usize;
    usize::from(BANDS_TABLE.0[band]) + usize::from(micros > BANDS_TABLE.1[band])
}

fn new_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

fn micros_of(value: Duration) -> u32 {
    let micros = u64::try_from(value.as_micros()).unwrap_or(MAX_MICROS);
    // MAX_MICROS < u32::MAX, so this never saturates further.
    u32::try_from(micros.min(MAX_MICROS)).unwrap_or(u32::MAX)
}

/// Values one thread recorded that are not yet folded into the shared view; all in one slot.
struct Batch {
    slot: u64,
    len: usize,
    values: [(u32, u32); BATCH],
}

/// One slot of the window: the values recorded while the clock showed `slot`.
struct Slot {
    slot: u64,
    histogram: Histogram<u32>,
}

/// What the recorder has folded in, under its lock.
struct Totals {
    /// Per bucket (not cumulative); the last one counts values above every bound.
    buckets: [u64; BUCKETS + 1],
    count: u64,
    sum_micros: u64,
    /// Empty until the first value, then `WINDOW_SLOTS` long; slot `n` lives at `n % len`.
    window: Vec<Slot>,
}

impl Totals {
    fn absorb(&mut self, batch: &Batch) {
        let values = &batch.values[..batch.len];
        for &(micros, count) in values {
            let micros = u64::from(micros);
            let count = u64::from(count);
            let bucket = bucket_of(micros);
            // Saturating: a metric must never panic; u64 counts do not overflow in practice.
            self.buckets[bucket] = self.buckets[bucket].saturating_add(count);
            self.count = self.count.saturating_add(count);
            self.sum_micros = self.sum_micros.saturating_add(micros.saturating_mul(count));
        }
        if self.window.is_empty() {
            return;
        }
        let len = self.window.len() as u64;
        let slot = &mut self.window[(batch.slot % len) as usize];
        if slot.slot > batch.slot {
            // The ring has moved past this batch's slot: too old for the window.
            return;
        }
        if slot.slot < batch.slot {
            slot.histogram.reset();
            slot.slot = batch.slot;
        }
        for &(micros, count) in values {
            slot.histogram.saturating_record_n(u64::from(micros), count);
        }
    }
}

/// Records latencies from many threads; see the [module docs](self).
pub(crate) struct LatencyRecorder {
    /// The window slot values recorded now belong to (advanced by [`WindowClock`]).
    slot: AtomicU64,
    /// Set once the window's histograms exist.
    window_ready: AtomicBool,
    shards: Box<[CachePadded<Mutex<Batch>>]>,
    totals: CachePadded<Mutex<Totals>>,
}

impl LatencyRecorder {
    pub(crate) fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                CachePadded::new(Mutex::new(Batch {
                    slot: 0,
                    len: 0,
                    values: [(0, 0); BATCH],
                }))
            })
            .collect();
        Self {
            slot: AtomicU64::new(0),
            window_ready: AtomicBool::new(false),
            shards,
            totals: CachePadded::new(Mutex::new(Totals {
                buckets: [0; BUCKETS + 1],
                count: 0,
                sum_micros: 0,
                window: Vec::new(),
            })),
        }
    }

    pub(crate) fn record(&self, value: Duration) {
        self.record_n(value, 1);
    }

    /// Records `count` values of `value`. No clock reading, no allocation (but the window's,
    /// once), no shared lock but once per [`BATCH`] values of this thread.
    pub(crate) fn record_n(&self, value: Duration, count: u64) {
        let micros = micros_of(value);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        let slot = self.slot.load(Ordering::Relaxed);
        let mut batch = self.shards[shard_index()].lock();
        if batch.len > 0 && batch.slot != slot {
            self.fold(&mut batch);
        }
        if batch.len == 0 {
            batch.slot = slot;
            if !self.window_ready.load(Ordering::Acquire) {
                self.allocate_window();
            }
        }
        let len = batch.len;
        batch.values[len] = (micros, count);
        batch.len = len + 1;
        if batch.len == BATCH {
            self.fold(&mut batch);
        }
    }

    /// Folds a shard's batch into the totals. Lock order: shard, then totals.
    fn fold(&self, batch: &mut Batch) {
        self.totals.lock().absorb(batch);
        batch.len = 0;
    }

    #[cold]
    fn allocate_window(&self) {
        let mut totals = self.totals.lock();
        if totals.window.is_empty() {
            totals.window = (0..WINDOW_SLOTS)
                .map(|_| Slot {
                    slot: 0,
                    histogram: new_histogram(),
                })
                .collect();
        }
        self.window_ready.store(true, Ordering::Release);
    }

    /// Folds every shard's pending values in, so readers see everything recorded so far.
    fn fold_all(&self) {
        for shard in self.shards.iter() {
            let mut batch = shard.lock();
            if batch.len > 0 {
                self.fold(&mut batch);
            }
        }
    }

    /// Moves this recorder to window slot `slot` (never backwards).
    fn advance(&self, slot: u64) {
        if slot > self.slot.load(Ordering::Relaxed) {
            self.slot.fetch_max(slot, Ordering::Relaxed);
        }
    }

    /// Everything recorded since the pool started, in buckets.
    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        self.fold_all();
        let totals = self.totals.lock();
        LatencySnapshot {
            buckets: totals.buckets,
            count: totals.count,
            sum_micros: totals.sum_micros,
        }
    }

    /// Percentiles of the values recorded in `window`. With `events`, the window saw that many
    /// events in all, and those not recorded count as zero (checkouts served at once are
    /// counted, not timed). Merges into the calling thread's scratch histogram.
    pub(crate) fn summary(&self, window: &Window, events: Option<u64>) -> LatencySummary {
        self.fold_all();
        with_scratch(|scratch| {
            {
                let totals = self.totals.lock();
                for slot in &totals.window {
                    if window.contains(slot.slot) {
                        // Same configuration, so this cannot fail.
                        let _ = scratch.add(&slot.histogram);
                    }
                }
            }
            let recorded = scratch.len();
            let zeros = events.map_or(0, |events| events.saturating_sub(recorded));
            let summary = summarize(scratch, zeros, window.covered);
            scratch.reset();
            summary
        })
    }
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// Runs `f` with this thread's empty scratch histogram (allocated on the thread's first use),
/// which `f` must leave empty.
fn with_scratch<R>(f: impl FnOnce(&mut Histogram<u32>) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Option<Histogram<u32>>> = const { RefCell::new(None) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(scratch.get_or_insert_with(new_histogram)),
        // Not reachable (nothing calls back into stats while merging); never panic for it.
        Err(_) => f(&mut new_histogram()),
    })
}

/// The value at quantile `q` of `zeros` zeros and the values in `histogram`, in microseconds.
fn quantile(histogram: &Histogram<u32>, zeros: u64, q: f64) -> u64 {
    let recorded = histogram.len();
    let total = zeros.saturating_add(recorded);
    if total == 0 {
        return 0;
    }
    // HdrHistogram's rule: the smallest value with at least ceil(q × total) values at or below it.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
    if rank <= zeros {
        return 0;
    }
    // The (rank - zeros)-th recorded value; the half keeps float rounding off the boundary.
    let rank = rank - zeros;
    histogram.value_at_quantile((rank as f64 - 0.5) / recorded as f64)
}

fn summarize(histogram: &Histogram<u32>, zeros: u64, covered: Duration) -> LatencySummary {
    let ms = |micros: u64| micros as f64 / 1e3;
    LatencySummary {
        count: zeros.saturating_add(histogram.len()),
        p50_ms: ms(quantile(histogram, zeros, 0.50)),
        p95_ms: ms(quantile(histogram, zeros, 0.95)),
        p99_ms: ms(quantile(histogram, zeros, 0.99)),
        max_ms: ms(if histogram.is_empty() {
            0
        } else {
            histogram.max()
        }),
        // Milliseconds are precision enough for a window of up to a minute, and read better.
        window_secs: (covered.as_secs_f64() * 1e3).round() / 1e3,
    }
}

/// Which slots a reading covers, and how much time that is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// The current slot.
    pub(crate) slot: u64,
    /// From the start of the oldest slot in the window to the reading.
    pub(crate) covered: Duration,
    /// Events counted since the window began (see [`WindowClock::advance`]).
    pub(crate) events: u64,
}

impl Window {
    fn contains(&self, slot: u64) -> bool {
        slot <= self.slot && slot + WINDOW_SLOTS > self.slot
    }
}

/// The coarse clock of the windows: which slot values recorded now belong to. See the
/// [module docs](self).
pub(crate) struct WindowClock {
    /// Slot 0 starts here.
    origin: Instant,
    marks: Mutex<Marks>,
}

/// The current slot, and an event count (checkouts) noted when each recent slot began, so a
/// reading can tell how many events fall in its window.
struct Marks {
    slot: u64,
    /// `(slot, events when it began)`, slot `n` at `n % WINDOW_SLOTS`.
    at_start: [(u64, u64); WINDOW_SLOTS as usize],
}

impl WindowClock {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            origin: now,
            marks: Mutex::new(Marks {
                slot: 0,
                at_start: [(0, 0); WINDOW_SLOTS as usize],
            }),
        }
    }

    /// Moves the clock to `now` (never backwards) and moves `recorders` with it; `events` is the
    /// running total of events (checkouts) at `now`. Returns the window ending at `now`.
    pub(crate) fn advance(
        &self,
        now: Instant,
        events: u64,
        recorders: &[&LatencyRecorder],
    ) -> Window {
        let elapsed = now.saturating_duration_since(self.origin);
        let now_slot = u64::try_from(elapsed.as_nanos() / WINDOW_SLOT.as_nanos()).unwrap_or(0);
        let mut marks = self.marks.lock();
        if now_slot > marks.slot {
            marks.slot = now_slot;
            marks.at_start[(now_slot % WINDOW_SLOTS) as usize] = (now_slot, events);
            for recorder in recorders {
                recorder.advance(now_slot);
            }
        }
        let slot = marks.slot;
        let oldest = slot.saturating_sub(WINDOW_SLOTS - 1);
        let before_window = WINDOW_SLOT.saturating_mul(u32::try_from(oldest).unwrap_or(u32::MAX));
        // The oldest mark still in the window tells how many events came before it.
        let before = marks
            .at_start
            .iter()
            .filter(|&&(mark, _)| mark >= oldest && mark <= slot)
            .map(|&(_, events)| events)
            .min()
            .unwrap_or(events);
        Window {
            slot,
            covered: elapsed.saturating_sub(before_window),
            events: events.saturating_sub(before),
        }
    }
}

/// A latency histogram since the pool started, in fixed buckets: what a Prometheus histogram
/// exports (cumulative counters, `_sum`, `_count`). The counts are exact: values are kept in
/// whole microseconds (truncated), up to one hour (longer values count as one hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Per bucket; the last one counts values above every bound.
    buckets: [u64; BUCKETS + 1],
    count: u64,
    sum_micros: u64,
}

impl LatencySnapshot {
    /// The upper bounds of the buckets, 100 µs to 1 minute: dense where connection pools
    /// usually live (sub-millisecond checkouts, connects of tens of milliseconds). The
    /// Prometheus exporter of `pool-manager` uses them as its `le` bounds.
    pub const BUCKET_BOUNDS: [Duration; 18] = [
        Duration::from_micros(100),
        Duration::from_micros(250),
        Duration::from_micros(500),
        Duration::from_millis(1),
        Duration::from_micros(2_500),
        Duration::from_millis(5),
        Duration::from_millis(10),
        Duration::from_millis(25),
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_millis(250),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_millis(2_500),
        Duration::from_secs(5),
        Duration::from_secs(10),
        Duration::from_secs(30),
        Duration::from_secs(60),
    ];

    /// Adds `n` values of zero (checkouts that did not wait are counted, not timed).
    pub(crate) fn add_zeros(&mut self, n: u64) {
        self.buckets[0] = self.buckets[0].saturating_add(n);
        self.count = self.count.saturating_add(n);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of all recorded values.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros)
    }

    /// How many values were at most `bound`: a cumulative bucket, as Prometheus wants them.
    /// Exact when `bound` is one of [`BUCKET_BOUNDS`](Self::BUCKET_BOUNDS) (values in whole
    /// microseconds); for another bound, the count at the largest bucket bound below it, and
    /// [`count`](Self::count) from one hour up (longer values are recorded as one hour).
    pub fn count_at_most(&self, bound: Duration) -> u64 {
        if bound >= Duration::from_micros(MAX_MICROS) {
            return self.count;
        }
        Self::BUCKET_BOUNDS
            .iter()
            .zip(&self.buckets)
            .take_while(|&(&upper, _)| upper <= bound)
            .map(|(_, &n)| n)
            .fold(0, u64::saturating_add)
    }
}

/// Percentiles of a latency histogram over a recent window, in milliseconds.
///
/// The window is the last 45 to 60 seconds ([`window_secs`](Self::window_secs) says which),
/// less while the pool is younger. Percentiles and the maximum come from a histogram with two
/// significant digits over whole microseconds: they read at most 1/128 (0.8 %) high, and low
/// only by the truncation to whole microseconds. Values longer than an hour count as one hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Number of values in the window.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest value.
    pub max_ms: f64,
    /// The seconds of history the numbers above cover, up to the moment of the reading.
    pub window_secs: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `got` is `want` read through the window's histogram: at most 1/128 high.
    #[track_caller]
    fn assert_about(got: f64, want: f64) {
        assert!(
            got >= want && got <= want * (1.0 + 1.0 / 128.0),
            "got {got}, want {want}"
        );
    }

    fn clock_and_recorder() -> (WindowClock, LatencyRecorder) {
        (WindowClock::new(Instant::now()), LatencyRecorder::new())
    }

    fn read(clock: &WindowClock, recorder: &LatencyRecorder) -> LatencySummary {
        let window = clock.advance(Instant::now(), 0, &[recorder]);
        recorder.summary(&window, None)
    }

    #[test]
    fn records_from_many_threads_merge_into_one_view() {
        let (clock, recorder) = clock_and_recorder();
        let recorder = std::sync::Arc::new(recorder);
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
        assert_eq!(snap.sum(), Duration::from_micros(400 * 401 / 2));
        assert_eq!(snap.count_at_most(Duration::from_micros(100)), 100);
        assert_eq!(snap.count_at_most(Duration::from_micros(250)), 250);
        let summary = read(&clock, &recorder);
        assert_eq!(summary.count, 400);
        // Below 256 µs two significant digits are still exact.
        assert_eq!(summary.p50_ms, 0.2);
        assert_about(summary.max_ms, 0.4);
    }

    #[test]
    fn the_window_length_is_rounded_to_the_millisecond() {
        let empty = Histogram::<u32>::new(3).unwrap();
        let summary = summarize(&empty, 0, Duration::from_nanos(45_123_456_789));
        assert_eq!(summary.window_secs, 45.123);
    }

    #[test]
    fn buckets_are_exact_at_their_bounds() {
        let recorder = LatencyRecorder::new();
        for bound in LatencySnapshot::BUCKET_BOUNDS {
            recorder.record(bound);
            recorder.record(bound + Duration::from_micros(1));
        }
        recorder.record(Duration::from_secs(7200));
        let snap = recorder.snapshot();
        for (i, bound) in LatencySnapshot::BUCKET_BOUNDS.into_iter().enumerate() {
            // Each bound and everything below it; not the values 1 µs above.
            assert_eq!(snap.count_at_most(bound), 2 * i as u64 + 1, "{bound:?}");
        }
        assert_eq!(snap.count(), 37);
        assert_eq!(snap.count_at_most(Duration::from_secs(3600)), 37);
        assert_eq!(snap.count_at_most(Duration::ZERO), 0);
    }

    #[test]
    fn the_bucket_table_agrees_with_a_search_of_the_bounds() {
        let search = |micros: u64| BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        let near_bounds = BOUNDS_MICROS
            .iter()
            .flat_map(|&b| [b - 1, b, b + 1, b / 2, b * 2]);
        let powers = (0..64).flat_map(|n| [(1u64 << n) - 1, 1 << n, (1 << n) + 1]);
        for micros in (0..100_000)
            .chain(near_bounds)
            .chain(powers)
            .chain([u64::MAX])
        {
            assert_eq!(bucket_of(micros), search(micros), "{micros} µs");
        }
    }

    /// Pseudo-random latencies spread over six decades (1 µs to 1 s), log-uniform.
    fn spread(n: usize, seed: u64) -> Vec<u64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| 10f64.powf(rng.f64() * 6.0).round() as u64)
            .collect()
    }

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_values() {
        for (seed, zeros) in [(1, 0), (2, 0), (3, 50_000), (4, 150_000)] {
            let (clock, recorder) = clock_and_recorder();
            let mut values = spread(100_000, seed);
            for &v in &values {
                recorder.record(Duration::from_micros(v));
            }
            let window = clock.advance(Instant::now(), 0, &[&recorder]);
            let summary = recorder.summary(&window, Some(values.len() as u64 + zeros));
            values.extend(std::iter::repeat_n(0, zeros as usize));
            values.sort_unstable();
            let exact = |q: f64| {
                let rank = ((q * values.len() as f64).ceil() as usize).max(1);
                values[rank - 1] as f64 / 1e3
            };
            assert_eq!(summary.count, values.len() as u64);
            for (q, got) in [
                (0.50, summary.p50_ms),
                (0.95, summary.p95_ms),
                (0.99, summary.p99_ms),
                (1.0, summary.max_ms),
            ] {
                let want = exact(q);
                assert!(
                    got >= want && got <= want * (1.0 + 1.0 / 128.0),
                    "seed {seed}, zeros {zeros}, q {q}: got {got} ms, exact {want} ms"
                );
            }
        }
    }

    #[test]
    fn recorded_zeros_and_implicit_zeros_agree() {
        let (clock, with_zeros) = clock_and_recorder();
        let implicit = LatencyRecorder::new();
        for v in [0, 0, 0, 5, 7, 1000] {
            with_zeros.record(Duration::from_micros(v));
            if v > 0 {
                implicit.record(Duration::from_micros(v));
            }
        }
        let window = clock.advance(Instant::now(), 0, &[&with_zeros, &implicit]);
        assert_eq!(
            with_zeros.summary(&window, None),
            implicit.summary(&window, Some(6))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_forgets_values_older_than_its_slots() {
        let (clock, recorder) = clock_and_recorder();
        recorder.record(Duration::from_millis(400));
        let s = read(&clock, &recorder);
        assert_eq!(s.count, 1);
        assert_about(s.max_ms, 400.0);
        assert_eq!(s.window_secs, 0.0);

        // 20 s later the old value is still in the window, beside a new one.
        tokio::time::advance(Duration::from_secs(20)).await;
        clock.advance(Instant::now(), 0, &[&recorder]);
        recorder.record(Duration::from_millis(2));
        let s = read(&clock, &recorder);
        assert_eq!(s.count, 2);
        assert_about(s.max_ms, 400.0);
        assert_eq!(s.window_secs, 20.0);

        // At 60 s the first slot (0-15 s) has left the window; the second value stays.
        tokio::time::advance(Duration::from_secs(40)).await;
        let s = read(&clock, &recorder);
        assert_eq!(s.count, 1);
        assert_about(s.max_ms, 2.0);
        assert_eq!(s.window_secs, 45.0);

        // At 80 s the window is empty, but the buckets since start keep everything.
        tokio::time::advance(Duration::from_secs(20)).await;
        let s = read(&clock, &recorder);
        assert_eq!((s.count, s.p99_ms, s.max_ms), (0, 0.0, 0.0));
        assert_eq!(s.window_secs, 50.0);
        let snap = recorder.snapshot();
        assert_eq!(snap.count(), 2);
        assert_eq!(snap.sum(), Duration::from_millis(402));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waiting_in_its_shard_is_not_mistaken_for_a_recent_one() {
        let (clock, recorder) = clock_and_recorder();
        // Recorded at 0 s and left in this thread's batch (nobody reads for a while).
        recorder.record(Duration::from_millis(300));
        // The sampler ticks past the window; the next value opens a new batch.
        tokio::time::advance(Duration::from_secs(70)).await;
        clock.advance(Instant::now(), 0, &[&recorder]);
        recorder.record(Duration::from_millis(1));
        let s = read(&clock, &recorder);
        assert_eq!(s.count, 1);
        assert_about(s.max_ms, 1.0);
        assert_eq!(recorder.snapshot().count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn implicit_zeros_count_only_the_events_of_the_window() {
        let (clock, recorder) = clock_and_recorder();
        // 100 checkouts in the first slot, 10 waited 1 ms.
        for _ in 0..10 {
            recorder.record(Duration::from_millis(1));
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        // The sampler's tick: 100 checkouts so far.
        clock.advance(Instant::now(), 100, &[&recorder]);
        // Then 4 more, one of which waited 8 ms.
        recorder.record(Duration::from_millis(8));
        let window = clock.advance(Instant::now(), 104, &[&recorder]);
        let s = recorder.summary(&window, Some(window.events));
        assert_eq!(s.count, 4);
        assert_eq!(s.p50_ms, 0.0);
        assert_about(s.max_ms, 8.0);
    }

    #[test]
    fn a_recorder_never_used_holds_no_histogram() {
        let recorder = LatencyRecorder::new();
        assert!(recorder.totals.lock().window.is_empty());
        recorder.record(Duration::from_micros(1));
        assert_eq!(recorder.totals.lock().window.len(), WINDOW_SLOTS as usize);
    }
}
