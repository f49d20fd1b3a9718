//! `PostgresConnection::bounded`: calls through the native client run under the query
//! timeout, with the same server-side cancel as the neutral API's.

mod common;

use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, Error, ErrorClass, ResetStart, Value};

const LIMIT: Duration = Duration::from_millis(200);

#[tokio::test]
async fn a_native_call_past_the_timeout_is_cancelled_on_the_server_and_the_connection_works_after()
{
    let mut conn = common::connect().await;
    let mut observer = common::connect().await;
    let pid = common::backend_pid(&mut conn).await;
    conn.set_query_timeout(Some(LIMIT));

    let started = Instant::now();
    let err = conn
        .bounded(async |client| client.query_one("SELECT pg_sleep(5)", &[]).await)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, Error::QueryTimeout(d) if d == LIMIT),
        "{err:?}"
    );
    assert!(
        took < LIMIT + Duration::from_millis(1500),
        "returned after {took:?}"
    );
    assert!(!conn.is_broken(), "the cancel was confirmed: still usable");

    let state = common::scalar(
        &mut observer,
        "SELECT state FROM pg_stat_activity WHERE pid = $1",
        &[Value::I64(pid)],
    )
    .await;
    assert_eq!(state, Value::Text("idle".into()));

    let answer: i32 = conn
        .bounded(async |client| client.query_one("SELECT 41 + 1", &[]).await?.try_get(0))
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

#[tokio::test]
async fn a_native_transaction_cut_off_by_the_timeout_is_rolled_back_on_return() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(Some(LIMIT));
    let err = conn
        .bounded(async |client| {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_sleep(5)", &[]).await?;
            tx.commit().await
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QueryTimeout(_)), "{err:?}");
    // Dropping the transaction queued a ROLLBACK; whatever state the session is in, the return
    // leaves it outside any transaction: the server's own ReadyForQuery status, which the
    // adapter reads, says idle afterwards, and a statement runs.
    if conn.begin_reset() == ResetStart::Await {
        conn.reset().await.unwrap();
    }
    assert_eq!(
        conn.begin_reset(),
        ResetStart::Done,
        "idle, nothing to clean"
    );
    let one = common::scalar(&mut conn, "SELECT 1", &[]).await;
    assert_eq!(one, Value::I64(1));
}

#[tokio::test]
async fn a_native_call_without_a_timeout_runs_to_completion() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(None);
    let seven: i32 = conn
        .bounded(async |client| {
            client
                .query_one("SELECT 7 FROM pg_sleep(0.3)", &[])
                .await?
                .try_get(0)
        })
        .await
        .unwrap();
    assert_eq!(seven, 7);
}

#[tokio::test]
async fn a_native_error_is_classified_like_the_neutral_apis() {
    let mut conn = common::connect().await;
    let err = conn
        .bounded(async |client| client.execute("SELEC 1", &[]).await)
        .await
        .unwrap_err();
    let backend = err.backend().expect("a backend error");
    assert_eq!(backend.class(), ErrorClass::Query, "{err}");
    assert_eq!(backend.code(), Some("42601"), "a syntax error: {err}");
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn prepare_cached_runs_under_the_query_timeout_too() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(Some(LIMIT));
    let statement = conn.prepare_cached("SELECT $1::int + 1").await.unwrap();
    let two: i32 = conn
        .bounded(async |client| client.query_one(&statement, &[&1_i32]).await?.try_get(0))
        .await
        .unwrap();
    assert_eq!(two, 2);
    assert_eq!(conn.cached_statements(), 1);
}
