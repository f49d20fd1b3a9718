//! A call dropped halfway (the caller's own timeout, a cancelled task) leaves a connection that
//! must not be reused: its statement may still be running on the server. Closing it cancels
//! that statement, so the session ends with `close()`.

mod common;

use std::time::{Duration, Instant};

use adapter_postgres::SessionReset;
use pool_core::{ConnectionProtocol, Pool, Value};

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

/// Native statements of the session named `application_name` still running on the server.
async fn running_native_sleeps(
    observer: &mut adapter_postgres::PostgresConnection,
    name: &str,
) -> i64 {
    common::scalar(
        observer,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
         AND state = 'active' AND query = 'SELECT pg_sleep(30)'",
        &[Value::Text(name.to_owned())],
    )
    .await
    .as_i64()
    .expect("count(*) is an integer")
}

#[tokio::test]
async fn a_connection_dropped_during_a_native_statement_frees_its_slot_at_once() {
    // A pool of one: the next caller can only be served by the dropped connection's slot.
    // Before, the return reset the session, which waited behind the running statement for
    // the whole close_timeout (5 s) while the slot stayed taken.
    let name = common::unique_table("native_dropped");
    let connector = common::options()
        .with_application_name(&name)
        .build()
        .unwrap();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .acquire_timeout(Duration::from_secs(10))
        .configure(|c| c.close_timeout = Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let conn = pool.get().await.unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        conn.client().simple_query("SELECT pg_sleep(30)"),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up first");
    drop(conn);

    let started = Instant::now();
    let mut next = pool.get().await.expect("the next caller is served");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "the next caller waited {waited:?} (close_timeout is 5 s)"
    );
    assert_eq!(
        common::scalar(&mut next, "SELECT 1", &[]).await.as_i64(),
        Some(1)
    );

    // The old session's statement is cancelled in the background, not left to run 30 s.
    let mut observer = common::connect().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut running = running_native_sleeps(&mut observer, &name).await;
    while running > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        running = running_native_sleeps(&mut observer, &name).await;
    }
    assert_eq!(
        running, 0,
        "the abandoned pg_sleep(30) still runs 2 s later"
    );
    eprintln!("the next caller waited {waited:?}");
    drop(next);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_statement_dropped_by_its_holder_does_not_break_the_connection() {
    // Dropping a `Statement` sends Close and Sync without awaiting the answer: an unanswered
    // request that runs nothing, which must not cost the connection.
    let mut conn = common::connect().await;
    let statement = conn.client().prepare("SELECT 1").await.unwrap();
    conn.client().query(&statement, &[]).await.unwrap();
    drop(statement);
    assert!(!conn.is_broken());
    conn.reset().await.unwrap();
    assert!(!conn.is_broken());
}
