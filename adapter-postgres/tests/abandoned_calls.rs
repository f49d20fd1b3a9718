//! A call dropped halfway (the caller's own timeout, a cancelled task) leaves a connection that
//! must not be reused: its statement may still be running on the server. Closing it cancels
//! that statement, so the session ends with `close()`.

mod common;

use std::time::{Duration, Instant};

use adapter_postgres::SessionReset;
use pool_core::{ConnectionProtocol, Value};

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

/// How many sessions named `application_name` the server lists, polled until none is left or
/// `within` has passed; returns how long it took, or the count still seen.
async fn wait_until_no_session_named(
    application_name: &str,
    within: Duration,
) -> Result<Duration, i64> {
    let mut observer = common::connect().await;
    let started = Instant::now();
    loop {
        let seen = common::scalar(
            &mut observer,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[Value::Text(application_name.to_owned())],
        )
        .await
        .as_i64()
        .expect("count(*) is an integer");
        if seen == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= within {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn close_ends_the_session_of_an_abandoned_statement_within_a_second() {
    let name = common::unique_table("abandoned_close");
    let mut conn = common::connect_with(common::options().with_application_name(&name)).await;
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        conn.query("SELECT pg_sleep(30)", &[]),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up first");

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn.close())
        .await
        .expect("close() returns promptly")
        .unwrap();
    let closing = started.elapsed();
    let gone = wait_until_no_session_named(&name, Duration::from_secs(1))
        .await
        .unwrap_or_else(|seen| {
            panic!("{seen} session(s) named {name} still listed 1 s after close()")
        });
    eprintln!("close() took {closing:?}; the session was gone {gone:?} after it");
}

#[tokio::test]
async fn close_ends_the_session_of_an_abandoned_reset_within_a_second() {
    let name = common::unique_table("abandoned_reset_close");
    let slow_reset = SessionReset::Query("SELECT pg_sleep(30)".into());
    let mut conn = common::connect_with(
        common::options()
            .with_application_name(&name)
            .with_session_reset(slow_reset),
    )
    .await;
    let abandoned = tokio::time::timeout(Duration::from_millis(200), conn.reset()).await;
    assert!(abandoned.is_err(), "the caller gave up first");

    tokio::time::timeout(Duration::from_secs(5), conn.close())
        .await
        .expect("close() returns promptly")
        .unwrap();
    if let Err(seen) = wait_until_no_session_named(&name, Duration::from_secs(1)).await {
        panic!("{seen} session(s) named {name} still listed 1 s after close()");
    }
}
