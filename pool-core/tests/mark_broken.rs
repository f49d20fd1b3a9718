//! `PooledConnection::mark_broken`: a connection its holder marked is closed on drop, never
//! handed to the next caller, and its slot is refilled.

use pool_core::Pool;
use pool_core::testing::TestConnector;

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_marked_connection_is_closed_on_drop_and_replaced() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .reset_on_return(true)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let first = conn.id();
    assert!(!conn.is_marked_broken());
    conn.mark_broken();
    assert!(conn.is_marked_broken());
    drop(conn);
    settle().await;
    assert_eq!(
        faults.resets(),
        0,
        "a marked connection is not reset, it is closed"
    );
    assert_eq!(pool.stats().broken_on_return_total, 1);
    let next = pool.get().await.unwrap();
    assert_ne!(next.id(), first, "the next holder gets a new connection");
    assert!(!next.is_marked_broken());
    assert_eq!(faults.connects_succeeded(), 2);
    drop(next);
    settle().await;
    assert_eq!(pool.stats().total, 1, "refilled to min_size, not beyond");
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_unmarked_connection_is_reused() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .build()
        .await
        .unwrap();
    let first = pool.get().await.unwrap().id();
    settle().await;
    assert_eq!(pool.get().await.unwrap().id(), first);
    assert_eq!(pool.stats().broken_on_return_total, 0);
}
