//! `reset` leaves nothing of one holder's session to the next: these sessions change state
//! through the neutral API, so the default (`SessionReset::Tracked`) sends
//! `COM_RESET_CONNECTION`, as `SessionReset::ResetConnection` always does.

mod common;

use adapter_mysql::{MysqlConnector, SessionReset};
use pool_core::{ConnectionProtocol, Connector, Value};

#[tokio::test]
async fn reset_drops_temporary_tables_and_user_variables() {
    let mut conn = common::connect().await;
    conn.execute("CREATE TEMPORARY TABLE scratch (x INT)", &[])
        .await
        .unwrap();
    conn.execute("SET @pool_secret = 'from the previous holder'", &[])
        .await
        .unwrap();

    conn.reset().await.expect("reset");

    assert_eq!(
        common::scalar(&mut conn, "SELECT @pool_secret", &[]).await,
        Value::Null
    );
    let error = conn.query("SELECT * FROM scratch", &[]).await.unwrap_err();
    assert_eq!(
        error.backend().and_then(|b| b.code()),
        Some("1146"),
        "{error}"
    );
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn reset_rolls_back_an_open_transaction() {
    let table = "reset_rollback_probe";
    let mut conn = common::connect().await;
    conn.execute(
        &format!("CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY) ENGINE=InnoDB"),
        &[],
    )
    .await
    .unwrap();
    conn.execute(&format!("DELETE FROM {table}"), &[])
        .await
        .unwrap();

    conn.execute("START TRANSACTION", &[]).await.unwrap();
    conn.execute(&format!("INSERT INTO {table} VALUES (?)"), &[1.into()])
        .await
        .unwrap();
    conn.reset().await.expect("reset");

    let mut other = common::connect().await;
    let count = common::scalar(&mut other, &format!("SELECT COUNT(*) FROM {table}"), &[]).await;
    assert_eq!(count.as_i64(), Some(0), "the insert was rolled back");
    let in_tx = common::scalar(&mut conn, "SELECT @@in_transaction", &[]).await;
    assert_eq!(in_tx.as_i64(), Some(0));
    other
        .execute(&format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn reset_restores_session_variables() {
    let mut conn = common::connect().await;
    conn.execute("SET SESSION sql_mode = 'ANSI_QUOTES'", &[])
        .await
        .unwrap();
    let global = common::scalar(&mut conn, "SELECT @@GLOBAL.sql_mode", &[]).await;
    conn.reset().await.unwrap();
    assert_eq!(
        common::scalar(&mut conn, "SELECT @@SESSION.sql_mode", &[]).await,
        global
    );
}

#[tokio::test]
async fn prepared_statements_work_after_reset_closed_them_on_the_server() {
    // Tracked (the default) would see a clean session and send nothing.
    let connector =
        MysqlConnector::new(common::options().with_session_reset(SessionReset::ResetConnection));
    let mut conn = connector.connect().await.unwrap();
    let sql = "SELECT ? * 2";
    assert_eq!(
        common::scalar(&mut conn, sql, &[2.into()]).await.as_i64(),
        Some(4)
    );
    conn.reset().await.unwrap();
    // The cached statement id is gone on the server; the adapter must prepare it again.
    assert_eq!(
        common::scalar(&mut conn, sql, &[3.into()]).await.as_i64(),
        Some(6)
    );
}
