//! A call dropped halfway (the caller's own timeout, a cancelled task) leaves a connection that
//! must not be reused: its statement may still be running on the server.

mod common;

use std::time::Duration;

use adapter_postgres::SessionReset;
use pool_core::ConnectionProtocol;

#[tokio::test]
async fn a_statement_abandoned_halfway_marks_the_connection_broken() {
    let mut conn = common::connect().await;
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        conn.query("SELECT pg_sleep(2)", &[]),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up first");
    assert!(conn.is_broken());
}

#[tokio::test]
async fn a_reset_abandoned_halfway_marks_the_connection_broken() {
    let slow_reset = SessionReset::Query("SELECT pg_sleep(2)".into());
    let mut conn = common::connect_with(common::options().with_session_reset(slow_reset)).await;
    let abandoned = tokio::time::timeout(Duration::from_millis(100), conn.reset()).await;
    assert!(abandoned.is_err(), "the caller gave up first");
    assert!(conn.is_broken());
}

#[tokio::test]
async fn a_call_that_finishes_leaves_the_connection_usable() {
    let mut conn = common::connect().await;
    conn.query("SELECT pg_sleep(0.01)", &[]).await.unwrap();
    conn.reset().await.unwrap();
    assert!(!conn.is_broken());
}
