//! The latency percentiles of `stats()` describe the last minute or so and say how long; the
//! bucketed histograms for exporters (`histograms()`) and the counters keep everything since
//! the pool started. All in paused (virtual) time, so every wait is exact.

use std::time::Duration;

use pool_core::testing::TestConnector;
use pool_core::{LatencySummary, Pool};

async fn pool_of_one() -> Pool<TestConnector> {
    Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            c.reset_on_return = false;
            c.test_on_checkout = false;
            c.leak_detection_threshold = None;
        })
        .build()
        .await
        .unwrap()
}

/// One checkout served at once that holds the connection for `wait`, and one that waits for it.
async fn one_wait(pool: &Pool<TestConnector>, wait: Duration) {
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    while pool.counts().waiting == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(wait).await;
    drop(held);
    waiter.await.unwrap().unwrap();
}

/// `got` (ms) is `want` as the window's histogram reports it: never low, at most 1/128 high.
#[track_caller]
fn assert_about(got: f64, want: Duration) {
    let want = want.as_secs_f64() * 1e3;
    assert!(
        got >= want && got <= want * (1.0 + 1.0 / 128.0),
        "got {got} ms, want {want} ms"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_percentiles_match_the_exact_waits_with_checkouts_served_at_once_as_zero() {
    let pool = pool_of_one().await;
    // 50 checkouts served at once, 50 that waited 1, 2, ..., 50 ms.
    for ms in 1..=50 {
        one_wait(&pool, Duration::from_millis(ms)).await;
    }
    let wait: LatencySummary = pool.stats().wait;
    assert_eq!(wait.count, 100);
    // Ranks 50, 95 and 99 of the sorted 100: a zero, 45 ms and 49 ms.
    assert_eq!(wait.p50_ms, 0.0);
    assert_about(wait.p95_ms, Duration::from_millis(45));
    assert_about(wait.p99_ms, Duration::from_millis(49));
    assert_about(wait.max_ms, Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn stats_percentiles_forget_what_is_older_than_the_window_and_say_how_long_it_is() {
    let pool = pool_of_one().await;
    one_wait(&pool, Duration::from_millis(423)).await;
    let stats = pool.stats();
    assert_eq!(stats.wait.count, 2);
    assert_about(stats.wait.p99_ms, Duration::from_millis(423));
    assert!(stats.wait.window_secs < 1.0, "{}", stats.wait.window_secs);

    // Six seconds idle: still in the window (it is a minute, not a few seconds).
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_about(pool.stats().wait.p99_ms, Duration::from_millis(423));

    // Seventy seconds idle: the percentiles describe an idle pool; nothing else forgot.
    tokio::time::sleep(Duration::from_secs(64)).await;
    let stats = pool.stats();
    assert_eq!(stats.wait.count, 0);
    assert_eq!((stats.wait.p50_ms, stats.wait.p99_ms), (0.0, 0.0));
    assert_eq!(stats.wait.max_ms, 0.0);
    assert!(
        (45.0..=60.0).contains(&stats.wait.window_secs),
        "{}",
        stats.wait.window_secs
    );
    assert_eq!(stats.usage.count, 0);
    assert_eq!(stats.checkouts_total, 2);
    let histograms = pool.histograms();
    assert_eq!(histograms.wait.count(), 2);
    // The checkout served at once is a zero, the other waited 423 ms (in the 0.5 s bucket).
    assert_eq!(histograms.wait.count_at_most(Duration::from_micros(100)), 1);
    assert_eq!(histograms.wait.count_at_most(Duration::from_millis(250)), 1);
    assert_eq!(histograms.wait.count_at_most(Duration::from_millis(500)), 2);
    assert_eq!(histograms.wait.sum(), Duration::from_millis(423));
    assert_eq!(histograms.create.count(), 1);

    // New waits show up at once, alone.
    one_wait(&pool, Duration::from_millis(7)).await;
    let wait = pool.stats().wait;
    assert_eq!(wait.count, 2);
    assert_about(wait.max_ms, Duration::from_millis(7));
    assert_eq!(pool.histograms().wait.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_window_moves_on_the_samplers_clock_when_nobody_reads_the_stats() {
    let pool = pool_of_one().await;
    one_wait(&pool, Duration::from_millis(300)).await;
    // Nobody calls stats() for two minutes; the sampler keeps the window's clock going, so
    // the waits recorded just before this reading are not mistaken for old ones...
    tokio::time::sleep(Duration::from_secs(120)).await;
    one_wait(&pool, Duration::from_millis(20)).await;
    let wait = pool.stats().wait;
    // ...and the one from two minutes ago is not mistaken for a recent one.
    assert_eq!(wait.count, 2);
    assert_about(wait.max_ms, Duration::from_millis(20));
}
