//! The adapter inside a `pool_core::Pool`: pooled connections share a memory database, the
//! single-writer arrangement works under concurrency, a killed connection is replaced, and the
//! pool's query timeout reaches every connection.

use std::time::Duration;

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Error, Pool, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_share_one_memory_database() {
    let pool = Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
        .min_size(2)
        .max_size(4)
        .build()
        .await
        .unwrap();
    pool.get()
        .await
        .unwrap()
        .execute("CREATE TABLE t (x)", &[])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get().await.unwrap();
            conn.execute("INSERT INTO t VALUES (?)", &[Value::I64(i)])
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = pool
        .get()
        .await
        .unwrap()
        .query("SELECT count(*) FROM t", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(8)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_pool_and_a_reader_pool_serve_concurrent_work() {
    let dir = tempfile::tempdir().unwrap();
    let connector =
        SqliteConnector::from_url(&format!("sqlite://{}", dir.path().join("app.db").display()))
            .unwrap();
    let readers = Pool::builder(connector.read_only())
        .min_size(1)
        .max_size(4)
        .build()
        .await
        .unwrap();
    let writer = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .build()
        .await
        .unwrap();
    writer
        .get()
        .await
        .unwrap()
        .execute("CREATE TABLE t (x)", &[])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (writer, readers) = (writer.clone(), readers.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..20 {
                writer
                    .get()
                    .await
                    .unwrap()
                    .execute("INSERT INTO t VALUES (?)", &[Value::I64(i * 100 + j)])
                    .await
                    .unwrap();
                readers
                    .get()
                    .await
                    .unwrap()
                    .query("SELECT count(*) FROM t", &[])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = readers
        .get()
        .await
        .unwrap()
        .query("SELECT count(*) FROM t", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(160)));
    let err = readers
        .get()
        .await
        .unwrap()
        .execute("DELETE FROM t", &[])
        .await
        .unwrap_err();
    assert!(!err.is_connection_broken(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_is_replaced_by_the_pool() {
    let pool = Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
        .min_size(1)
        .max_size(1)
        .build()
        .await
        .unwrap();
    {
        let mut conn = pool.get().await.unwrap();
        conn.execute("CREATE TABLE survives (x)", &[])
            .await
            .unwrap();
        conn.kill_for_testing().await;
        assert!(
            conn.query("SELECT 1", &[])
                .await
                .unwrap_err()
                .is_connection_broken()
        );
        assert!(conn.is_broken());
    }
    let mut conn = pool.get().await.unwrap();
    assert!(!conn.is_broken());
    // A fresh connection to the same memory database, which the connector kept alive.
    let rows = conn
        .query("SELECT count(*) FROM survives", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pools_query_timeout_reaches_its_connections() {
    let pool = Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
        .min_size(1)
        .max_size(1)
        .query_timeout(Some(Duration::from_millis(100)))
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let err = conn
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
             SELECT count(*) FROM c",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QueryTimeout(_)), "{err:?}");
    conn.ping().await.unwrap();
}
