//! Opening connections for a burst: each finished connect starts the next batch at once, so a
//! burst larger than `max_concurrent_creates` is served at the database's speed, with no wait
//! for the auto-scaler's sampler.

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::{Behavior, TestConnector};
use tokio::time::Instant;

/// An empty pool with 10 ms connects, at most four at a time, and a sampler that never ticks
/// during the test: only the connects themselves can start the next ones.
async fn empty_pool(max_size: usize) -> (Pool<TestConnector>, TestConnector) {
    let connector = TestConnector::new();
    let pool = Pool::builder(connector.clone())
        .min_size(0)
        .max_size(max_size)
        .configure(|c| {
            c.max_concurrent_creates = 4;
            c.autoscale.sample_interval = Duration::from_secs(3600);
        })
        .build()
        .await
        .unwrap();
    connector
        .faults()
        .set_connect(Behavior::Slow(Duration::from_millis(10)));
    (pool, connector)
}

#[tokio::test(start_paused = true)]
async fn six_callers_on_an_empty_pool_are_served_in_two_batches_of_connects() {
    let (pool, _connector) = empty_pool(10).await;
    let start = Instant::now();
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                let served = start.elapsed();
                // Held, so every caller needs a connection of its own.
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(conn);
                served
            })
        })
        .collect();
    let mut served = Vec::new();
    for caller in callers {
        served.push(caller.await.unwrap());
    }
    served.sort();
    assert_eq!(
        served,
        [10, 10, 10, 10, 20, 20].map(Duration::from_millis),
        "the second batch starts when the first connects finish"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hundred_holders_are_served_at_four_connects_per_ten_milliseconds() {
    let (pool, connector) = empty_pool(100).await;
    let start = Instant::now();
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                let served = start.elapsed();
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(conn);
                served
            })
        })
        .collect();
    let mut last = Duration::ZERO;
    for caller in callers {
        last = last.max(caller.await.unwrap());
    }
    // 100 connects, 4 at a time, 10 ms each: 25 rounds.
    assert_eq!(last, Duration::from_millis(250));
    assert_eq!(connector.faults().connects_succeeded(), 100);
    pool.check_invariants().unwrap();
}
