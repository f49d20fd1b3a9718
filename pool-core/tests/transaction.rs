//! `PooledConnection::begin`: a transaction guard that commits only when told, and whose
//! abandonment never reaches the next holder.

use pool_core::Pool;
use pool_core::testing::TestConnector;
use pool_core::{ConnectionProtocol, Value};

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn pool(reset_on_return: bool) -> pool_core::PoolBuilder<TestConnector> {
    Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .reset_on_return(reset_on_return)
}

#[tokio::test(start_paused = true)]
async fn commit_sends_begin_then_commit_and_closes_the_transaction() {
    let pool = pool(true).build().await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES ($1)", &[Value::I64(1)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!conn.in_transaction());
    assert_eq!(
        conn.executed(),
        ["BEGIN", "INSERT INTO t VALUES ($1)", "COMMIT"]
    );
}

#[tokio::test(start_paused = true)]
async fn explicit_rollback_sends_rollback() {
    let pool = pool(true).build().await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let tx = conn.begin().await.unwrap();
    tx.rollback().await.unwrap();
    assert!(!conn.in_transaction());
    assert_eq!(conn.executed(), ["BEGIN", "ROLLBACK"]);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_transaction_stays_open_until_the_next_begin_rolls_it_back() {
    let pool = pool(true).build().await.unwrap();
    let mut conn = pool.get().await.unwrap();
    drop(conn.begin().await.unwrap());
    assert!(conn.in_transaction(), "nothing can be sent from Drop");
    conn.begin().await.unwrap().commit().await.unwrap();
    assert_eq!(conn.executed(), ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT"]);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_transaction_is_reset_on_return_and_the_connection_kept() {
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
    drop(conn.begin().await.unwrap());
    drop(conn);
    settle().await;
    assert_eq!(faults.resets(), 1, "the reset rolls the transaction back");
    let next = pool.get().await.unwrap();
    assert_eq!(next.id(), first);
    assert!(!next.in_transaction(), "a new checkout starts clean");
}

#[tokio::test(start_paused = true)]
async fn without_reset_on_return_a_dropped_transaction_closes_the_connection() {
    let pool = pool(false).build().await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let first = conn.id();
    drop(conn.begin().await.unwrap());
    drop(conn);
    settle().await;
    let next = pool.get().await.unwrap();
    assert_ne!(
        next.id(),
        first,
        "the next holder never gets the open transaction"
    );
    assert!(next.executed().is_empty());
    drop(next);
    // A committed transaction leaves the connection reusable even without the reset.
    let mut conn = pool.get().await.unwrap();
    let second = conn.id();
    conn.begin().await.unwrap().commit().await.unwrap();
    drop(conn);
    settle().await;
    assert_eq!(pool.get().await.unwrap().id(), second);
}
