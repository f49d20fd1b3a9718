//! Closing a connection: a side connection's `KILL` only for a session whose statement may
//! still be running, never for one already gone, and never on a server process other than the
//! one that opened the session.

mod common;

use std::time::Duration;

use adapter_mysql::MysqlConnector;
use pool_core::{ConnectionProtocol, Connector, Value};

/// Runs `sql` on a plain side session of its own (not recorded by any test connector).
async fn admin(sql: &str) -> Vec<Value> {
    let mut side = common::connect().await;
    let rows = side.query(sql, &[]).await.expect(sql);
    side.close().await.unwrap();
    rows.into_iter().filter_map(|r| r.get(0).cloned()).collect()
}

async fn session_listed(id: u32) -> bool {
    let found = admin(&format!(
        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"
    ))
    .await;
    found.first().and_then(Value::as_i64) == Some(1)
}

/// Starts `SELECT SLEEP(30)` and abandons it halfway, as a caller that gives up does.
async fn abandon_a_long_statement(conn: &mut adapter_mysql::MysqlConnection) {
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        conn.query("SELECT SLEEP(30)", &[]),
    )
    .await;
    assert!(abandoned.is_err(), "the statement was still running");
    assert!(conn.is_broken());
}

#[tokio::test]
async fn closing_a_session_the_server_ended_opens_no_side_connection() {
    let connector: MysqlConnector = common::connector();
    let mut conn = connector.connect().await.unwrap();
    admin(&format!("KILL CONNECTION {}", conn.connection_id())).await;
    let error = conn.query("SELECT 1", &[]).await.unwrap_err();
    assert!(error.is_connection_broken(), "{error}");
    let sessions_before = connector.session_ids().len();
    conn.close().await.unwrap();
    assert_eq!(
        connector.session_ids().len(),
        sessions_before,
        "close opened a side connection to kill a session that was already gone"
    );
}

#[tokio::test]
async fn an_abandoned_statement_is_ended_with_its_session_on_close() {
    let mut conn = common::connect().await;
    let id = conn.connection_id();
    abandon_a_long_statement(&mut conn).await;
    conn.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while session_listed(id).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session {id} still runs its abandoned statement after close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn no_kill_reaches_a_server_process_other_than_the_sessions_own() {
    let mut conn = common::connect().await;
    let id = conn.connection_id();
    conn.pretend_the_server_restarted_for_testing();
    abandon_a_long_statement(&mut conn).await;
    conn.close().await.unwrap();
    // The guard refused: the session (standing in for someone else's after a restart) is
    // still there, running its statement.
    assert!(session_listed(id).await, "the KILL went through");
    admin(&format!("KILL CONNECTION {id}")).await;
}
