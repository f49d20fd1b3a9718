//! Waiters are served first come, first served, and a returned connection goes to the oldest
//! waiter rather than to whoever asks next.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::Pool;
use pool_core::testing::TestConnector;

async fn pool_of_one() -> Pool<TestConnector> {
    Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            c.reset_on_return = false;
            c.leak_detection_threshold = None;
        })
        .build()
        .await
        .unwrap()
}

async fn wait_until_waiting(pool: &Pool<TestConnector>, n: usize) {
    while pool.stats().waiting < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let pool = pool_of_one().await;
    let held = pool.get().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let handle = pool.clone();
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let conn = handle.get().await.unwrap();
            order.lock().push(i);
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(conn);
        }));
        wait_until_waiting(&pool, i + 1).await;
    }
    drop(held);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock(), (0..20).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_returned_connection_goes_to_the_oldest_waiter_not_to_a_newcomer() {
    let pool = pool_of_one().await;
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id()) })
    };
    wait_until_waiting(&pool, 1).await;
    let id = held.id();
    drop(held);
    // The newcomer finds the connection already promised to the waiter.
    assert!(pool.try_get().await.unwrap().is_none());
    assert_eq!(waiter.await.unwrap().unwrap(), id);
}

#[tokio::test(start_paused = true)]
async fn a_get_with_no_one_queued_ahead_takes_an_idle_connection_at_once() {
    let pool = pool_of_one().await;
    let before = tokio::time::Instant::now();
    let conn = pool.get().await.unwrap();
    assert_eq!(before.elapsed(), Duration::ZERO);
    drop(conn);
    assert_eq!(pool.stats().wait.max_ms, 0.0);
}
