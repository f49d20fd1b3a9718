//! What the pool reports about itself is what callers experience: `active` (the `used` gauge)
//! counts only what callers hold, and `Degraded` means callers are being hurt, not that the
//! pool is busy.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{Pool, PoolState};
use tokio::time::sleep;

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_being_reset_after_its_return_is_preparing_not_active() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_reset(Behavior::Slow(Duration::from_secs(1)));
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(2)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.dirty_it();
    drop(conn);
    settle().await;

    let during = pool.stats();
    assert_eq!(
        (during.active, during.idle, during.preparing, during.total),
        (0, 1, 1, 2),
        "the reset is the pool's work, not a caller's"
    );
    assert_eq!(pool.counts().preparing, 1);

    sleep(Duration::from_secs(2)).await;
    let after = pool.stats();
    assert_eq!(
        (after.active, after.idle, after.preparing, after.total),
        (0, 2, 0, 2)
    );
    assert_eq!(faults.resets(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_busy_pool_whose_callers_queue_briefly_is_healthy() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| c.acquire_timeout = Duration::from_secs(4))
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    sleep(Duration::from_millis(100)).await;
    let busy = pool.stats();
    assert_eq!((busy.waiting, busy.active), (1, 1));
    assert_eq!(
        busy.state,
        PoolState::Healthy,
        "full with a waiter is busy, not hurt"
    );
    drop(held);
    waiter.await.unwrap().unwrap();
    // One checkout of two waited 100 ms: far under a quarter of the 4 s acquire timeout.
    assert_eq!(pool.stats().state, PoolState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn an_acquire_timeout_makes_the_pool_degraded_for_a_minute() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| c.acquire_timeout = Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    assert!(matches!(
        pool.get().await.map(drop),
        Err(pool_core::Error::Timeout { .. })
    ));
    drop(held);
    assert_eq!(pool.stats().state, PoolState::Degraded);
    sleep(Duration::from_secs(59)).await;
    assert_eq!(pool.stats().state, PoolState::Degraded);
    // Past the minute, with fast checkouts since, it is healthy again.
    sleep(Duration::from_secs(2)).await;
    for _ in 0..200 {
        drop(pool.get().await.unwrap());
    }
    assert_eq!(pool.stats().state, PoolState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn waits_beyond_a_quarter_of_the_acquire_timeout_make_the_pool_degraded() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| c.acquire_timeout = Duration::from_secs(4))
        .build()
        .await
        .unwrap();
    // Every other checkout waits 1.5 s, well past a quarter of the acquire timeout (1 s),
    // and none times out.
    for _ in 0..5 {
        let held = pool.get().await.unwrap();
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.get().await.map(drop) }
        });
        sleep(Duration::from_millis(1500)).await;
        drop(held);
        waiter.await.unwrap().unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.timeouts_total, 0);
    assert!(stats.wait.p99_ms >= 1000.0, "{:?}", stats.wait);
    assert_eq!(stats.state, PoolState::Degraded);
}
