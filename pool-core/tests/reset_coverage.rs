//! A connection being reset after its return counts as on its way to the next caller: a caller
//! that returns a dirtied session and asks again at once waits the reset's round trip for it,
//! instead of opening a new connection each time (which grew a pool to twice what its
//! workload needs, up to `max_size`; found by the load test with the defaults).

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::{Behavior, TestConnector};
use tokio::time::Instant;

/// A pool with the defaults (so `max_size` 100) except `min_size` (none warm, so every
/// connection is one the callers' demand opened) and the auto-scaler off (for the same
/// reason); connects of 5 ms and session resets of 1 ms.
async fn pool_with_slow_resets() -> (Pool<TestConnector>, TestConnector) {
    let connector = TestConnector::new();
    let pool = Pool::builder(connector.clone())
        .min_size(0)
        .configure(|c| c.autoscale.enabled = false)
        .build()
        .await
        .unwrap();
    let faults = connector.faults();
    faults.set_connect(Behavior::Slow(Duration::from_millis(5)));
    faults.set_reset(Behavior::Slow(Duration::from_millis(1)));
    (pool, connector)
}

#[tokio::test(start_paused = true)]
async fn workers_that_dirty_every_session_open_one_connection_each_at_most() {
    const WORKERS: usize = 10;
    let (pool, connector) = pool_with_slow_resets().await;
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    let mut conn = pool.get().await.unwrap();
                    conn.dirty_it();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let opened = connector.faults().connects_succeeded();
    assert!(
        opened <= WORKERS as u64,
        "{WORKERS} workers made the pool open {opened} connections"
    );
    assert!(
        connector.faults().resets() >= 2_000,
        "every return was reset: {}",
        connector.faults().resets()
    );
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_caller_counted_on_a_reset_that_fails_gets_a_new_connection() {
    let (pool, connector) = pool_with_slow_resets().await;
    connector
        .faults()
        .set_reset(Behavior::SlowFail(Duration::from_millis(1)));
    let mut first = pool.get().await.unwrap();
    assert_eq!(pool.stats().total, 1, "the pool's only connection");
    first.dirty_it();
    let id = first.id();
    drop(first);
    // The only connection is being reset: this caller counts on it, and the failed reset
    // discards it, which must start a replacement for the caller.
    let asked = Instant::now();
    let second = tokio::time::timeout(Duration::from_secs(1), pool.get())
        .await
        .expect("served by a replacement, not left waiting")
        .unwrap();
    assert_ne!(
        second.id(),
        id,
        "the connection whose reset failed was discarded"
    );
    assert!(
        asked.elapsed() <= Duration::from_millis(1 + 5),
        "served by the replacement as soon as it opened: {:?}",
        asked.elapsed()
    );
    drop(second);
    pool.check_invariants().unwrap();
}
