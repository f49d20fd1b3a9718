//! `MysqlConnection::bounded`: calls through `mysql_async`'s query API run under the query
//! timeout, with the same `KILL QUERY` as the neutral API's, and stay tracked.

mod common;

use std::time::{Duration, Instant};

use adapter_mysql::mysql_async::prelude::Queryable;
use pool_core::{ConnectionProtocol, Error, ErrorClass, ResetStart};

const TIMEOUT: Duration = Duration::from_millis(200);
/// Opening the side connection and the kill's round trip, on a loaded two-core machine.
const MARGIN: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_native_call_past_the_timeout_is_killed_on_the_server_and_the_connection_works_after() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(Some(TIMEOUT));

    let started = Instant::now();
    let error = conn
        .bounded(async |db| db.query_drop("DO SLEEP(5)").await)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(error, Error::QueryTimeout(d) if d == TIMEOUT),
        "{error:?}"
    );
    assert!(elapsed < TIMEOUT + MARGIN, "returned after {elapsed:?}");
    assert!(!conn.is_broken(), "the kill was confirmed: still usable");

    let answer: Option<i64> = conn
        .bounded(async |db| db.query_first("SELECT 40 + 2").await)
        .await
        .unwrap();
    assert_eq!(answer, Some(42));
}

#[tokio::test]
async fn a_native_call_without_a_timeout_runs_to_completion() {
    let mut conn = common::connect().await;
    conn.set_query_timeout(None);
    let seven: Option<i64> = conn
        .bounded(async |db| {
            db.query_first("SELECT 7 FROM (SELECT SLEEP(0.3)) AS pause")
                .await
        })
        .await
        .unwrap();
    assert_eq!(seven, Some(7));
}

#[tokio::test]
async fn a_native_error_is_classified_like_the_neutral_apis() {
    let mut conn = common::connect().await;
    let error = conn
        .bounded(async |db| db.query_drop("SELEC 1").await)
        .await
        .unwrap_err();
    let backend = error.backend().expect("a backend error");
    assert_eq!(backend.class(), ErrorClass::Query, "{error}");
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn a_clean_native_call_costs_the_return_nothing_and_a_dirty_one_a_reset() {
    let mut conn = common::connect().await;
    // A prepared statement (scanned when prepared) and a text query: both read, both clean.
    let one: Option<i64> = conn
        .bounded(async |db| {
            let statement = db.prep("SELECT ?").await?;
            db.exec_first(&statement, (1,)).await
        })
        .await
        .unwrap();
    assert_eq!(one, Some(1));
    let two: Option<i64> = conn
        .bounded(async |db| db.query_first("SELECT 2").await)
        .await
        .unwrap();
    assert_eq!(two, Some(2));
    assert_eq!(conn.begin_reset(), ResetStart::Done, "nothing to clean");

    conn.bounded(async |db| db.query_drop("SET @bounded_marker = 1").await)
        .await
        .unwrap();
    assert_eq!(
        conn.begin_reset(),
        ResetStart::Await,
        "a user variable to clear"
    );
    conn.reset().await.unwrap();
    let marker: Option<Option<i64>> = conn
        .bounded(async |db| db.query_first("SELECT @bounded_marker").await)
        .await
        .unwrap();
    assert_eq!(marker, Some(None), "the reset cleared it");
}
