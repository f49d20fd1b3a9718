//! Reset on return leaves nothing for the next holder: transactions are rolled back and session
//! state is discarded, as the configured `SessionReset` says.

mod common;

use adapter_postgres::SessionReset;
use pool_core::{ConnectionProtocol, Value};

async fn setting(conn: &mut adapter_postgres::PostgresConnection) -> Value {
    common::scalar(conn, "SELECT current_setting('work_mem')", &[]).await
}

async fn temp_table_exists(conn: &mut adapter_postgres::PostgresConnection) -> bool {
    common::scalar(
        conn,
        "SELECT to_regclass('pg_temp.holder_scratch') IS NOT NULL",
        &[],
    )
    .await
        == Value::Bool(true)
}

#[tokio::test]
async fn discard_all_drops_temp_tables_and_settings_made_by_the_previous_holder() {
    let mut conn = common::connect().await;
    let default_work_mem = setting(&mut conn).await;
    conn.execute("CREATE TEMP TABLE holder_scratch (x int)", &[])
        .await
        .unwrap();
    conn.execute("SET work_mem = '77MB'", &[]).await.unwrap();
    assert_eq!(setting(&mut conn).await, Value::Text("77MB".into()));
    assert!(temp_table_exists(&mut conn).await);

    conn.reset().await.unwrap();

    assert!(!temp_table_exists(&mut conn).await);
    assert_eq!(setting(&mut conn).await, default_work_mem);
    // DISCARD ALL deallocated the prepared statements; the cache was cleared with them, so the
    // same statements prepare again and work.
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await,
        Value::I64(1)
    );
    // The application name set at connect time survives (it is the session default).
    assert_eq!(
        common::scalar(&mut conn, "SELECT current_setting('application_name')", &[]).await,
        Value::Text("pool".into())
    );
}

#[tokio::test]
async fn an_open_transaction_is_rolled_back_before_the_discard() {
    let table = common::unique_table("reset_open_tx");
    let mut conn = common::connect().await;
    conn.execute(&format!("CREATE TABLE {table} (x int)"), &[])
        .await
        .unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
        .await
        .unwrap();

    conn.reset().await.unwrap();

    let count = common::scalar(&mut conn, &format!("SELECT count(*) FROM {table}"), &[]).await;
    conn.execute(&format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
    assert_eq!(count, Value::I64(0));
}

#[tokio::test]
async fn a_failed_transaction_is_rolled_back_and_the_connection_works() {
    let mut conn = common::connect().await;
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("CREATE TEMP TABLE holder_scratch (x int)", &[])
        .await
        .unwrap();
    assert!(conn.query("SELECT 1/0", &[]).await.is_err());
    // Inside the failed transaction everything is refused ...
    assert!(conn.query("SELECT 1", &[]).await.is_err());

    conn.reset().await.unwrap();

    assert!(!conn.is_broken());
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await,
        Value::I64(1)
    );
    assert!(!temp_table_exists(&mut conn).await);
}

#[tokio::test]
async fn discard_all_keep_statements_cleans_the_session_but_keeps_the_statement_cache() {
    let mut conn = common::connect_with(
        common::options().with_session_reset(SessionReset::DiscardAllKeepStatements),
    )
    .await;
    let default_work_mem = setting(&mut conn).await;
    conn.execute("CREATE TEMP TABLE holder_scratch (x int)", &[])
        .await
        .unwrap();
    conn.execute("SET work_mem = '77MB'", &[]).await.unwrap();
    let cached = conn.cached_statements();
    assert!(cached > 0);

    conn.reset().await.unwrap();

    assert_eq!(conn.cached_statements(), cached);
    assert!(!temp_table_exists(&mut conn).await);
    assert_eq!(setting(&mut conn).await, default_work_mem);
    let prepared = common::scalar(
        &mut conn,
        "SELECT count(*) FROM pg_prepared_statements",
        &[],
    )
    .await;
    assert!(prepared.as_i64().unwrap() >= i64::try_from(cached).unwrap());
}

#[tokio::test]
async fn a_custom_reset_query_runs_after_the_rollback() {
    let mut conn = common::connect_with(
        common::options().with_session_reset(SessionReset::Query("RESET work_mem".into())),
    )
    .await;
    let default_work_mem = setting(&mut conn).await;
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("SET work_mem = '77MB'", &[]).await.unwrap();
    conn.execute("COMMIT", &[]).await.unwrap();
    conn.execute("CREATE TEMP TABLE holder_scratch (x int)", &[])
        .await
        .unwrap();

    conn.reset().await.unwrap();

    assert_eq!(setting(&mut conn).await, default_work_mem);
    // Only what the custom query resets is reset.
    assert!(temp_table_exists(&mut conn).await);
}

#[tokio::test]
async fn rollback_only_keeps_session_state() {
    let mut conn =
        common::connect_with(common::options().with_session_reset(SessionReset::RollbackOnly))
            .await;
    conn.execute("SET work_mem = '77MB'", &[]).await.unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("CREATE TEMP TABLE holder_scratch (x int)", &[])
        .await
        .unwrap();

    conn.reset().await.unwrap();

    assert_eq!(setting(&mut conn).await, Value::Text("77MB".into()));
    assert!(
        !temp_table_exists(&mut conn).await,
        "the transaction was rolled back"
    );
}
