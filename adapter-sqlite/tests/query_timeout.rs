//! The query timeout interrupts a runaway statement with `sqlite3_interrupt`, returns
//! `Error::QueryTimeout` promptly, and leaves the connection usable.

use std::time::{Duration, Instant};

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::{ConnectionProtocol, Connector, Error, Value};

const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

async fn memory() -> SqliteConnection {
    SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_query_is_interrupted_within_the_timeout_and_the_connection_stays_usable() {
    let mut conn = memory().await;
    let timeout = Duration::from_millis(200);
    conn.set_query_timeout(Some(timeout));

    let started = Instant::now();
    let err = conn.query(ENDLESS, &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, Error::QueryTimeout(d) if d == timeout),
        "{err:?}"
    );
    assert!(took >= timeout, "returned early: {took:?}");
    assert!(took < timeout + Duration::from_millis(400), "took {took:?}");

    assert!(!conn.is_broken());
    let rows = conn.query("SELECT 41 + 1", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(42)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_is_bounded_by_the_timeout_too() {
    let mut conn = memory().await;
    conn.set_query_timeout(Some(Duration::from_millis(100)));
    conn.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    let err = conn
        .execute(&format!("INSERT INTO t {ENDLESS}"), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QueryTimeout(_)), "{err:?}");
    // The interrupted insert was rolled back as a whole.
    let rows = conn.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_within_the_timeout_is_unaffected() {
    let mut conn = memory().await;
    conn.set_query_timeout(Some(Duration::from_millis(200)));
    let rows = conn
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) \
             SELECT count(*) FROM c",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(1000)));
    assert_eq!(conn.query_timeout(), Some(Duration::from_millis(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_is_interrupted_and_the_next_call_runs_promptly() {
    let mut conn = memory().await;
    // No query timeout: only the cancellation can stop it.
    let cancelled =
        tokio::time::timeout(Duration::from_millis(100), conn.query(ENDLESS, &[])).await;
    assert!(cancelled.is_err(), "the endless query cannot have finished");

    let started = Instant::now();
    conn.ping().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the abandoned statement kept the thread busy for {:?}",
        started.elapsed()
    );
    assert!(!conn.is_broken());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_interrupt_never_hits_the_next_request() {
    let mut conn = memory().await;
    // Timeouts about as long as the query, so interrupts land before, during and just after it.
    let racing = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
                  SELECT count(*) FROM c";
    for round in 0..50u64 {
        conn.set_query_timeout(Some(Duration::from_micros(200 + round * 40)));
        match conn.query(racing, &[]).await {
            Ok(rows) => assert_eq!(rows[0].get(0), Some(&Value::I64(20000))),
            Err(Error::QueryTimeout(_)) => {}
            Err(other) => panic!("round {round}: {other:?}"),
        }
        conn.set_query_timeout(None);
        let rows = conn.query("SELECT ?", &[Value::I64(round as i64)]).await;
        assert_eq!(
            rows.unwrap_or_else(|e| panic!("round {round}: {e:?}"))[0].get(0),
            Some(&Value::I64(round as i64))
        );
    }
    assert!(!conn.is_broken());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_also_ends_a_wait_for_a_lock_and_the_write_never_happens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?busy_timeout=10s",
        dir.path().join("lock.db").display()
    );
    let connector = SqliteConnector::from_url(&url).unwrap();
    let mut holder = connector.connect().await.unwrap();
    let mut blocked = connector.connect().await.unwrap();
    holder.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    holder.execute("BEGIN IMMEDIATE", &[]).await.unwrap();

    let timeout = Duration::from_millis(200);
    blocked.set_query_timeout(Some(timeout));
    let started = Instant::now();
    let err = blocked
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::QueryTimeout(_)), "{err:?}");
    assert!(took < timeout + Duration::from_millis(400), "took {took:?}");

    holder.execute("COMMIT", &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rows = holder.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(
        rows[0].get(0),
        Some(&Value::I64(0)),
        "the timed-out insert ran later"
    );
    blocked
        .execute("INSERT INTO t VALUES (2)", &[])
        .await
        .unwrap();
}
