//! Isolation: exhausting, breaking or closing one pool never slows or fails another.
//!
//! Every test runs in tokio's paused virtual time: an acquire that had to wait for anything
//! (a timer, a timeout, a backoff) would show up as elapsed virtual time, so "not slowed" is
//! asserted exactly (zero virtual time), not against a wall-clock threshold.

mod common;

use std::time::Duration;

use common::{test_pool, test_pool_with};
use pool_core::PoolState;
use pool_core::testing::Behavior;
use pool_manager::PoolManager;
use tokio::time::Instant;

/// Times `n` acquire-and-query rounds on `name` in virtual time.
async fn timed_acquires(manager: &PoolManager, name: &str, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut conn = manager.get(name).await.expect("the calm pool serves");
        conn.query("SELECT 1", &[]).await.unwrap();
    }
    start.elapsed()
}

async fn let_tasks_queue() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_saturated_pool_does_not_delay_acquires_on_another() {
    let manager = PoolManager::new();
    let (busy, _) = test_pool("busy", 0, 2).await;
    let (calm, _) = test_pool("calm", 1, 4).await;
    manager.register("busy", busy.clone()).unwrap();
    manager.register("calm", calm).unwrap();

    let baseline = timed_acquires(&manager, "calm", 100).await;

    // Hold every connection of `busy` and queue 50 more callers behind them.
    let held = [
        manager.get("busy").await.unwrap(),
        manager.get("busy").await.unwrap(),
    ];
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.get("busy").await.map(drop) })
        })
        .collect();
    let_tasks_queue().await;
    assert_eq!(busy.stats().waiting, 50, "busy is saturated with a queue");

    let under_load = timed_acquires(&manager, "calm", 100).await;
    assert_eq!(baseline, Duration::ZERO);
    assert_eq!(under_load, Duration::ZERO, "calm never waited on busy");
    assert_eq!(busy.stats().waiting, 50, "busy's callers are still queued");

    drop(held);
    for waiter in waiters {
        waiter
            .await
            .unwrap()
            .expect("busy's callers are served once it frees up");
    }
}

#[tokio::test(start_paused = true)]
async fn a_pool_whose_database_is_down_does_not_fail_or_slow_another() {
    let manager = PoolManager::new();
    let (broken, faults) = test_pool_with("broken", 0, 2, |c| {
        c.circuit_breaker.failure_threshold = 1;
    })
    .await;
    let (calm, _) = test_pool("calm", 1, 4).await;
    manager.register("broken", broken.clone()).unwrap();
    manager.register("calm", calm).unwrap();

    faults.set_connect(Behavior::Fail);
    let err = manager.get("broken").await.unwrap_err();
    assert!(
        matches!(err.pool_error(), Some(pool_core::Error::CircuitOpen { .. })),
        "{err}"
    );
    assert_eq!(broken.state(), PoolState::Critical);

    // Callers of the broken pool keep failing fast while the other pool serves at once.
    let stuck: Vec<_> = (0..20)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.get("broken").await.map(drop) })
        })
        .collect();
    assert_eq!(timed_acquires(&manager, "calm", 100).await, Duration::ZERO);
    for task in stuck {
        assert!(task.await.unwrap().is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn a_pool_whose_connects_hang_does_not_slow_another() {
    let manager = PoolManager::new();
    let (hanging, faults) = test_pool("hanging", 0, 2).await;
    let (calm, _) = test_pool("calm", 1, 4).await;
    manager.register("hanging", hanging).unwrap();
    manager.register("calm", calm).unwrap();
    faults.set_connect(Behavior::Hang);
    let stuck: Vec<_> = (0..10)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.get("hanging").await.map(drop) })
        })
        .collect();
    let_tasks_queue().await;
    assert_eq!(timed_acquires(&manager, "calm", 100).await, Duration::ZERO);
    for task in stuck {
        let err = task.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn closing_one_pool_leaves_the_others_serving() {
    let manager = PoolManager::new();
    let (closing, _) = test_pool("closing", 1, 2).await;
    let (calm, _) = test_pool("calm", 1, 4).await;
    manager.register("closing", closing.clone()).unwrap();
    manager.register("calm", calm).unwrap();
    let held = manager.get("closing").await.unwrap();
    let close = tokio::spawn(async move { closing.close(Duration::from_secs(60)).await });
    let_tasks_queue().await;
    // `closing` waits for its checked-out connection; `calm` is unaffected meanwhile.
    assert!(manager.get("closing").await.is_err());
    assert_eq!(timed_acquires(&manager, "calm", 100).await, Duration::ZERO);
    drop(held);
    assert!(close.await.unwrap().complete);
    assert_eq!(timed_acquires(&manager, "calm", 10).await, Duration::ZERO);
}
