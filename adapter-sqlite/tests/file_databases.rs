//! File databases open in WAL mode with a busy timeout; the single-writer arrangement gives a
//! writer and read-only readers of the same file.

use std::time::Duration;

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::{ConnectionProtocol, Connector, Value};

async fn pragma(conn: &mut SqliteConnection, name: &str) -> Value {
    let rows = conn.query(&format!("PRAGMA {name}"), &[]).await.unwrap();
    rows[0].get(0).cloned().unwrap()
}

#[tokio::test]
async fn file_databases_default_to_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let connector = SqliteConnector::from_url(&format!("sqlite://{}", path.display())).unwrap();
    let mut conn = connector.connect().await.unwrap();
    assert_eq!(
        pragma(&mut conn, "journal_mode").await,
        Value::Text("wal".into())
    );
    assert_eq!(pragma(&mut conn, "foreign_keys").await, Value::I64(1));
    assert!(path.exists(), "mode=rwc created the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_for_the_lock_up_to_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?busy_timeout=5s",
        dir.path().join("busy.db").display()
    );
    let connector = SqliteConnector::from_url(&url).unwrap();
    assert_eq!(connector.options().busy_timeout, Duration::from_secs(5));
    let mut holder = connector.connect().await.unwrap();
    let mut waiter = connector.connect().await.unwrap();
    holder.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    holder.execute("BEGIN IMMEDIATE", &[]).await.unwrap();
    let started = std::time::Instant::now();
    let insert = tokio::spawn(async move {
        let result = waiter.execute("INSERT INTO t VALUES (1)", &[]).await;
        (result, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    holder.execute("COMMIT", &[]).await.unwrap();
    let (result, waited) = insert.await.unwrap();
    assert_eq!(result.unwrap(), 1, "the insert ran once the lock was free");
    assert!(
        waited >= Duration::from_millis(150),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn url_options_reach_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?journal_mode=delete&busy_timeout=250ms&synchronous=normal&foreign_keys=false",
        dir.path().join("opts.db").display()
    );
    let mut conn = SqliteConnector::from_url(&url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(
        pragma(&mut conn, "journal_mode").await,
        Value::Text("delete".into())
    );
    assert_eq!(pragma(&mut conn, "synchronous").await, Value::I64(1));
    assert_eq!(pragma(&mut conn, "foreign_keys").await, Value::I64(0));
}

#[tokio::test]
async fn shared_cache_and_mode_rw_open_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let mut creator = SqliteConnector::from_url(&format!("sqlite://{}", path.display()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    creator.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    let connector =
        SqliteConnector::from_url(&format!("sqlite://{}?mode=rw&cache=shared", path.display()))
            .unwrap();
    let mut a = connector.connect().await.unwrap();
    let mut b = connector.connect().await.unwrap();
    a.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let rows = b.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(1)));
}

#[tokio::test]
async fn mode_ro_opens_an_existing_file_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    let mut writer = SqliteConnector::from_url(&format!("sqlite://{}", path.display()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    writer.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    writer
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap();

    let mut reader = SqliteConnector::from_url(&format!("sqlite://{}?mode=ro", path.display()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let rows = reader.query("SELECT x FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(1)));
    let err = reader
        .execute("INSERT INTO t VALUES (2)", &[])
        .await
        .unwrap_err();
    assert!(!err.is_connection_broken(), "{err:?}");
    assert_eq!(
        err.backend().and_then(|b| b.code()),
        Some("8"),
        "SQLITE_READONLY"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_connector_sees_the_writers_data_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer_connector =
        SqliteConnector::from_url(&format!("sqlite://{}", dir.path().join("rw.db").display()))
            .unwrap();
    let reader_connector = writer_connector.read_only();
    let mut writer = writer_connector.connect().await.unwrap();
    let mut reader = reader_connector.connect().await.unwrap();

    writer.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    // In WAL mode a reader's open transaction does not block the writer.
    reader.execute("BEGIN", &[]).await.unwrap();
    reader.query("SELECT count(*) FROM t", &[]).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(1),
        writer.execute("INSERT INTO t VALUES (1)", &[]),
    )
    .await
    .expect("the writer was blocked by a reader")
    .unwrap();
    reader.execute("COMMIT", &[]).await.unwrap();
    let rows = reader.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(1)));

    let err = reader
        .execute("INSERT INTO t VALUES (2)", &[])
        .await
        .unwrap_err();
    assert!(!err.is_connection_broken(), "{err:?}");
    assert!(err.to_string().contains("readonly"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_queue_on_the_busy_timeout_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let connector =
        SqliteConnector::from_url(&format!("sqlite://{}", dir.path().join("w.db").display()))
            .unwrap();
    let mut setup = connector.connect().await.unwrap();
    setup.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let mut conn = connector.connect().await.unwrap();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                conn.execute("INSERT INTO t VALUES (?)", &[Value::I64(w * 1000 + i)])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = setup.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_warming_up_many_connections_on_a_fresh_file_never_sees_database_locked() {
    // Each round a fresh file: the warm-up's connections all switch it to WAL at once.
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}/fresh-{round}.db?mode=rwc",
            dir.path().display()
        );
        let pool =
            pool_core::Pool::builder(adapter_sqlite::SqliteConnector::from_url(&url).unwrap())
                .min_size(8)
                .max_size(8)
                .build()
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(pool.stats().total, 8);
        pool.close(std::time::Duration::from_secs(5)).await;
    }
}
