//! A return sends nothing on a clean session, and resets what the holder dirtied, through the
//! neutral API or the native client (issue 11).
//!
//! The observable is `resets_sent_for_testing`: the resets a connection sent to its thread,
//! awaited or queued at a return. Pools have `max_size` 1, so the next holder gets the very
//! connection the last one returned.

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::{ConnectionProtocol, Connector, Pool, ResetStart, Value};

async fn connection() -> SqliteConnection {
    SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn pool() -> Pool<SqliteConnector> {
    let pool = Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
        .max_size(1)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    drop(conn);
    pool
}

async fn count(conn: &mut SqliteConnection, sql: &str) -> Value {
    conn.query(sql, &[]).await.unwrap()[0]
        .get(0)
        .cloned()
        .unwrap()
}

/// Asserts the session `conn` shows is clean: no transaction, no temporary objects, nothing
/// attached, and no row of `t` left by a rolled-back holder.
async fn assert_clean(conn: &mut SqliteConnection) {
    // BEGIN fails inside an open transaction.
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("COMMIT", &[]).await.unwrap();
    let temp = count(conn, "SELECT count(*) FROM temp.sqlite_master").await;
    assert_eq!(temp, Value::I64(0), "temporary objects left");
    let attached = count(
        conn,
        "SELECT count(*) FROM pragma_database_list WHERE name NOT IN ('main', 'temp')",
    )
    .await;
    assert_eq!(attached, Value::I64(0), "databases left attached");
    let rows = count(conn, "SELECT count(*) FROM t").await;
    assert_eq!(rows, Value::I64(0), "rows of a rolled-back transaction");
}

#[tokio::test]
async fn a_clean_return_queues_nothing() {
    let mut conn = connection().await;
    for sql in [
        "CREATE TABLE t (x)",
        "INSERT INTO t VALUES (1)",
        "SELECT * FROM t",
        "BEGIN; INSERT INTO t VALUES (2); COMMIT",
        "SAVEPOINT s; INSERT INTO t VALUES (3); RELEASE s",
        "DELETE FROM t",
    ] {
        conn.execute(sql, &[]).await.unwrap();
        assert_eq!(conn.begin_reset(), ResetStart::Done);
    }
    conn.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(conn.begin_reset(), ResetStart::Done);
    assert_eq!(conn.resets_sent_for_testing(), 0);
}

#[tokio::test]
async fn plain_reads_and_writes_return_clean_through_the_pool() {
    let pool = pool().await;
    let before = pool.get().await.unwrap().resets_sent_for_testing();
    for i in 0..5 {
        let mut conn = pool.get().await.unwrap();
        conn.execute("INSERT INTO t VALUES (?)", &[Value::I64(i)])
            .await
            .unwrap();
        conn.query("SELECT x FROM t WHERE x = ?", &[Value::I64(i)])
            .await
            .unwrap();
    }
    let mut conn = pool.get().await.unwrap();
    assert_eq!(conn.resets_sent_for_testing(), before);
    let rows = count(&mut conn, "SELECT count(*) FROM t").await;
    assert_eq!(rows, Value::I64(5));
}

#[tokio::test]
async fn an_open_transaction_is_rolled_back_at_return() {
    let pool = pool().await;
    let mut conn = pool.get().await.unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let sent = conn.resets_sent_for_testing();
    drop(conn);
    let mut next = pool.get().await.unwrap();
    assert_eq!(next.resets_sent_for_testing(), sent + 1);
    assert_clean(&mut next).await;
}

#[tokio::test]
async fn temporary_objects_and_attached_databases_are_gone_at_return() {
    let pool = pool().await;
    let mut conn = pool.get().await.unwrap();
    conn.execute("CREATE TEMP TABLE scratch (x)", &[])
        .await
        .unwrap();
    conn.execute("CREATE VIEW temp.v AS SELECT 1", &[])
        .await
        .unwrap();
    conn.execute("ATTACH ':memory:' AS extra", &[])
        .await
        .unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    drop(conn);
    assert_clean(&mut pool.get().await.unwrap()).await;
}

#[tokio::test]
async fn a_temporary_table_alone_is_dropped_at_return() {
    let pool = pool().await;
    let mut conn = pool.get().await.unwrap();
    conn.execute("CREATE TEMPORARY TABLE scratch (x)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO scratch VALUES (1)", &[])
        .await
        .unwrap();
    drop(conn);
    assert_clean(&mut pool.get().await.unwrap()).await;
}

#[tokio::test]
async fn what_the_native_client_leaves_is_reset_at_return() {
    let pool = pool().await;
    let mut conn = pool.get().await.unwrap();
    conn.with_native(|c| {
        c.execute_batch(
            "CREATE TEMP TABLE scratch (x); ATTACH ':memory:' AS extra; \
             BEGIN; INSERT INTO t VALUES (1);",
        )
    })
    .await
    .unwrap()
    .unwrap();
    drop(conn);
    assert_clean(&mut pool.get().await.unwrap()).await;
}

#[tokio::test]
async fn any_native_access_runs_the_full_reset() {
    let mut conn = connection().await;
    let autocommit = conn.with_native(|c| c.is_autocommit()).await.unwrap();
    assert!(autocommit);
    assert_eq!(conn.begin_reset(), ResetStart::Done);
    assert_eq!(conn.resets_sent_for_testing(), 1);
    // The reset ran: the session is clean again and the next return sends nothing.
    conn.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(conn.begin_reset(), ResetStart::Done);
    assert_eq!(conn.resets_sent_for_testing(), 1);
}

#[tokio::test]
async fn a_pragma_runs_the_reset_but_is_not_restored() {
    let mut conn = connection().await;
    conn.execute("PRAGMA foreign_keys = OFF", &[])
        .await
        .unwrap();
    assert_eq!(conn.begin_reset(), ResetStart::Done);
    assert_eq!(conn.resets_sent_for_testing(), 1);
    // Documented: the reset does not restore pragmas.
    let fk = count(&mut conn, "PRAGMA foreign_keys").await;
    assert_eq!(fk, Value::I64(0));
}

#[tokio::test]
async fn an_awaited_reset_cleans_the_session_for_the_next_return() {
    let mut conn = connection().await;
    conn.execute("CREATE TEMP TABLE scratch (x)", &[])
        .await
        .unwrap();
    conn.reset().await.unwrap();
    assert_eq!(conn.resets_sent_for_testing(), 1);
    conn.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(conn.begin_reset(), ResetStart::Done);
    assert_eq!(conn.resets_sent_for_testing(), 1);
}
