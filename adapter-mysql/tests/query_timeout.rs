//! A query past its timeout is cancelled on the server with `KILL QUERY`, the caller gets
//! `QueryTimeout`, and the connection stays usable.

mod common;

use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, Error};

const TIMEOUT: Duration = Duration::from_millis(200);
/// Opening the side connection and the kill's round trip, on a loaded two-core machine.
const MARGIN: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_query_past_its_timeout_is_cancelled_and_the_connection_stays_usable() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(Some(TIMEOUT));

    let started = Instant::now();
    let error = conn.query("SELECT SLEEP(5)", &[]).await.unwrap_err();
    let elapsed = started.elapsed();

    assert!(
        matches!(error, Error::QueryTimeout(d) if d == TIMEOUT),
        "{error:?}"
    );
    assert!(elapsed >= TIMEOUT, "returned after {elapsed:?}");
    assert!(elapsed < TIMEOUT + MARGIN, "returned after {elapsed:?}");
    assert!(!conn.is_broken());
    let next = common::scalar(&mut conn, "SELECT 40 + 2", &[]).await;
    assert_eq!(next.as_i64(), Some(42));
}

#[tokio::test]
async fn a_timed_out_statement_with_parameters_is_cancelled_too() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(Some(TIMEOUT));

    let started = Instant::now();
    let error = conn.execute("DO SLEEP(?)", &[5.into()]).await.unwrap_err();

    assert!(matches!(error, Error::QueryTimeout(_)), "{error:?}");
    assert!(
        started.elapsed() < TIMEOUT + MARGIN,
        "{:?}",
        started.elapsed()
    );
    assert!(!conn.is_broken());
    let next = common::scalar(&mut conn, "SELECT ?", &[7.into()]).await;
    assert_eq!(next.as_i64(), Some(7));
}

#[tokio::test]
async fn the_server_no_longer_runs_a_cancelled_query() {
    let mut conn = common::connect().await;
    let id = conn.connection_id();
    conn.set_query_timeout(Some(TIMEOUT));
    let _ = conn.query("SELECT SLEEP(30)", &[]).await.unwrap_err();

    let mut observer = common::connect().await;
    let command = common::scalar(
        &mut observer,
        "SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?",
        &[i64::from(id).into()],
    )
    .await;
    assert_eq!(command.as_str(), Some("Sleep"), "the session is idle again");
}

#[tokio::test]
async fn a_query_within_its_timeout_returns_its_rows() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(Some(Duration::from_secs(5)));
    let value = common::scalar(&mut conn, "SELECT SLEEP(0.05) + 1", &[]).await;
    assert_eq!(value.as_i64(), Some(1));
    assert_eq!(conn.query_timeout(), Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn a_kill_query_that_reaches_an_idle_session_does_not_interrupt_its_next_statement() {
    // The adapter relies on this when its cancel arrives just after the query finished.
    let mut conn = common::connect().await;
    let mut other = common::connect().await;
    other
        .execute(&format!("KILL QUERY {}", conn.connection_id()), &[])
        .await
        .expect("KILL QUERY");
    let value = common::scalar(&mut conn, "SELECT SLEEP(0.2)", &[]).await;
    assert_eq!(value.as_i64(), Some(0), "0 means SLEEP ran to its end");
}
