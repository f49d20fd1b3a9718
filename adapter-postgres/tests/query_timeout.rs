//! A query past the timeout is cancelled on the server; the connection stays usable.

mod common;

use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, Error, Value};

#[tokio::test]
async fn a_slow_query_is_cancelled_on_the_server_within_the_timeout_and_the_connection_works_after()
{
    let mut conn = common::connect().await;
    let mut observer = common::connect().await;
    let pid = common::backend_pid(&mut conn).await;
    let limit = Duration::from_millis(200);
    conn.set_query_timeout(Some(limit));
    assert_eq!(conn.query_timeout(), Some(limit));

    let started = Instant::now();
    let err = conn.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, Error::QueryTimeout(d) if d == limit),
        "{err:?}"
    );
    assert!(
        took < limit + Duration::from_millis(1500),
        "returned after {took:?}"
    );
    eprintln!("query timeout of {limit:?} returned after {took:?}");
    assert!(!conn.is_broken());

    // The server is no longer running it: the session is idle, not in pg_sleep.
    let state = common::scalar(
        &mut observer,
        "SELECT state FROM pg_stat_activity WHERE pid = $1",
        &[Value::I64(pid)],
    )
    .await;
    assert_eq!(state, Value::Text("idle".into()));

    // And the next statement on the same connection works, and is not hit by the cancel.
    assert_eq!(
        common::scalar(&mut conn, "SELECT 41 + 1", &[]).await,
        Value::I64(42)
    );
    let rows = conn.query("SELECT pg_sleep(0.05), 7", &[]).await.unwrap();
    assert_eq!(rows[0].get(1), Some(&Value::I64(7)));
}

#[tokio::test]
async fn without_a_timeout_queries_run_to_completion() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(None);
    let rows = conn.query("SELECT pg_sleep(0.3), 1", &[]).await.unwrap();
    assert_eq!(rows[0].get(1), Some(&Value::I64(1)));
}

#[tokio::test]
async fn a_statement_cancelled_by_someone_else_is_a_query_error() {
    let mut conn = common::connect().await;
    let mut admin = common::connect().await;
    let pid = common::backend_pid(&mut conn).await;
    let cancel = async {
        // Wait until the sleep is running on the server, then cancel it from outside.
        loop {
            let running = common::scalar(
                &mut admin,
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(5)%' AND state = 'active'",
                &[Value::I64(pid)],
            )
            .await;
            if running == Value::I64(1) {
                break;
            }
        }
        common::scalar(
            &mut admin,
            "SELECT pg_cancel_backend($1)",
            &[Value::I64(pid)],
        )
        .await
    };
    let (result, cancelled) = tokio::join!(conn.query("SELECT pg_sleep(5)", &[]), cancel);
    assert_eq!(cancelled, Value::Bool(true));
    let err = result.unwrap_err();
    assert_eq!(err.backend().and_then(|b| b.code()), Some("57014"), "{err}");
    assert!(!err.is_connection_broken());
    assert!(!conn.is_broken());
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await,
        Value::I64(1)
    );
}
