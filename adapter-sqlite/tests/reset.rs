//! `reset` returns a connection to a clean session: no open transaction, no temporary objects,
//! no attached databases.

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Connector, Value};

#[tokio::test]
async fn reset_rolls_back_an_open_transaction() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    conn.reset().await.unwrap();
    let rows = conn.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
    // A new transaction can begin: the old one is really gone.
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("COMMIT", &[]).await.unwrap();
}

#[tokio::test]
async fn reset_drops_temporary_tables_and_detaches_databases() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TEMP TABLE scratch (x)", &[])
        .await
        .unwrap();
    conn.execute("ATTACH ':memory:' AS extra", &[])
        .await
        .unwrap();
    conn.reset().await.unwrap();
    let err = conn.query("SELECT * FROM scratch", &[]).await.unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    let rows = conn
        .query(
            "SELECT count(*) FROM pragma_database_list WHERE name = 'extra'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
}

#[tokio::test]
async fn reset_on_a_clean_connection_is_harmless() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TABLE keep (x)", &[]).await.unwrap();
    conn.reset().await.unwrap();
    conn.reset().await.unwrap();
    let rows = conn.query("SELECT count(*) FROM keep", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
}

#[tokio::test]
async fn a_reset_begun_at_return_runs_before_the_next_statement_without_being_awaited() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    conn.execute("CREATE TEMP TABLE scratch (x)", &[])
        .await
        .unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    // What a return does: nothing to wait for.
    assert_eq!(conn.begin_reset(), pool_core::ResetStart::Done);
    // The next holder's first statement already sees a clean session.
    let rows = conn.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
    let err = conn.query("SELECT * FROM scratch", &[]).await.unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn through_the_pool_with_the_defaults_a_transaction_never_reaches_the_next_holder() {
    let pool = pool_core::Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
        .max_size(1)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    drop(conn);
    let mut next = pool.get().await.unwrap();
    // Outside a transaction, BEGIN works; inside the old one it would fail.
    next.execute("BEGIN", &[]).await.unwrap();
    // The table was created before BEGIN and stays; the insert was rolled back.
    let rows = next.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
    next.execute("COMMIT", &[]).await.unwrap();
}
