//! Warm-up and connection creation: min_size opened at build (fail fast or start degraded),
//! creation bounded by `max_concurrent_creates`, and a connect in flight survives the caller
//! that asked for it.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{Error, Pool, PoolState, WarmupMode};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn build_opens_min_size_connections() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(4)
        .max_size(8)
        .build()
        .await
        .unwrap();
    assert_eq!(faults.connects_succeeded(), 4);
    assert_eq!(pool.stats().idle, 4);
    assert_eq!(pool.state(), PoolState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_warmup_returns_the_connect_error_and_leaves_nothing_open() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_connect(Behavior::Fail);
    let error = Pool::builder(connector)
        .min_size(3)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Connect(_)), "{error:?}");
    assert!(error.to_string().contains("connection refused"), "{error}");
    assert_eq!(faults.open(), 0);
}

#[tokio::test(start_paused = true)]
async fn degraded_warmup_starts_and_fills_up_in_the_background() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(3)
        .max_size(5)
        .warmup(WarmupMode::StartDegraded)
        .configure(|c| c.circuit_breaker.enabled = false)
        .build()
        .await
        .unwrap();
    assert_eq!(pool.stats().total, 0);
    assert_eq!(pool.state(), PoolState::Degraded);
    faults.set_connect(Behavior::Ok);
    sleep(Duration::from_secs(15)).await;
    assert_eq!(pool.stats().total, 3);
    assert_eq!(pool.state(), PoolState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_waiters_opens_at_most_max_concurrent_creates_at_a_time() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(100)
        .configure(|c| {
            c.max_concurrent_creates = 3;
            c.autoscale.enabled = false;
        })
        .build()
        .await
        .unwrap();
    faults.set_connect(Behavior::Slow(Duration::from_millis(100)));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                sleep(Duration::from_millis(50)).await;
                drop(conn);
            })
        })
        .collect();
    let mut most_connecting = 0;
    for _ in 0..200 {
        sleep(Duration::from_millis(5)).await;
        most_connecting = most_connecting.max(pool.stats().connecting);
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(most_connecting <= 3, "{most_connecting} connects at once");
    assert!(most_connecting > 0);
    assert!(faults.max_open() <= 100);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_acquire_does_not_abort_the_connect_it_started() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(2)
        .configure(|c| c.autoscale.enabled = false)
        .build()
        .await
        .unwrap();
    faults.set_connect(Behavior::Slow(Duration::from_secs(2)));
    let gave_up = pool.get_timeout(Duration::from_millis(500)).await;
    assert!(gave_up.unwrap_err().is_timeout());
    sleep(Duration::from_secs(2)).await;
    // The connect finished anyway and went to the idle set: no churn.
    assert_eq!(faults.connects_succeeded(), 1);
    assert_eq!(pool.stats().idle, 1);
    let before = faults.connects_attempted();
    let _conn = pool.get().await.unwrap();
    assert_eq!(
        faults.connects_attempted(),
        before,
        "the next caller reuses it"
    );
}
