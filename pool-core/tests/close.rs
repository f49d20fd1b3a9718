//! Closing: waiters get `Closed`, holders' connections close when returned, nothing stays
//! open and no background task outlives the pool, also when the last handle is just dropped.

use std::time::Duration;

use pool_core::testing::TestConnector;
use pool_core::{Error, Pool, PoolState};
use tokio::time::sleep;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn close_wakes_waiters_closes_returned_connections_and_leaves_nothing_running() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(3)
        .build()
        .await
        .unwrap();
    let held: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(pool.get().await.unwrap());
        }
        v
    };
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(|_| ()) })
        })
        .collect();
    while pool.stats().waiting < 5 {
        tokio::task::yield_now().await;
    }

    let closer = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close(Duration::from_secs(10)).await })
    };
    for waiter in waiters {
        assert!(matches!(waiter.await.unwrap(), Err(Error::Closed)));
    }
    assert!(matches!(pool.get().await, Err(Error::Closed)));
    assert_eq!(pool.state(), PoolState::Closed);

    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        faults.open(),
        3,
        "holders keep their connections until they return them"
    );
    drop(held);
    let report = closer.await.unwrap();
    assert!(report.complete, "{report:?}");
    assert_eq!(report.still_checked_out, 0);
    assert_eq!(faults.open(), 0, "every connection closed");
    assert_eq!(
        faults.closed_politely(),
        3,
        "closed through close(), not just dropped"
    );
    settle().await;
    assert_eq!(alive_tasks(), 0, "no background task outlives the pool");
}

#[tokio::test(start_paused = true)]
async fn close_reports_connections_still_checked_out_at_its_deadline() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let report = pool.close(Duration::from_secs(2)).await;
    assert!(!report.complete);
    assert_eq!(report.still_checked_out, 1);
    drop(held);
    settle().await;
    assert_eq!(pool.stats().total, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_stops_every_background_task() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(4)
        .configure(|c| {
            c.health_check_interval = Some(Duration::from_secs(1));
            c.leak_detection_threshold = Some(Duration::from_secs(1));
        })
        .build()
        .await
        .unwrap();
    sleep(Duration::from_secs(3)).await;
    assert!(
        alive_tasks() >= 3,
        "maintenance tasks run while the pool lives"
    );
    let clone = pool.clone();
    drop(pool);
    settle().await;
    assert!(alive_tasks() >= 3, "a clone keeps the pool alive");
    drop(clone);
    settle().await;
    sleep(Duration::from_millis(10)).await;
    assert_eq!(alive_tasks(), 0);
    assert_eq!(faults.open(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_connection_returned_after_close_is_closed_not_pooled() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .configure(|c| c.reset_on_return = false)
        .build()
        .await
        .unwrap();
    let conn = pool.get().await.unwrap();
    let _ = pool.close(Duration::from_millis(1)).await;
    drop(conn);
    settle().await;
    assert_eq!(faults.open(), 0);
    assert_eq!(pool.stats().idle, 0);
}
