//! The connector knows its sessions, so a test can count them on the server after close.

mod common;

use pool_core::{ConnectionProtocol, Connector};

#[tokio::test]
async fn the_connection_id_is_the_servers_session_id() {
    let mut conn = common::connect().await;
    let server_id = common::scalar(&mut conn, "SELECT CONNECTION_ID()", &[]).await;
    assert_eq!(server_id.as_i64(), Some(i64::from(conn.connection_id())));
}

#[tokio::test]
async fn closed_connections_leave_no_session_on_the_server() {
    let connector = common::connector();
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(connector.connect().await.unwrap());
    }
    let mut ids: Vec<u32> = conns.iter().map(|c| c.connection_id()).collect();
    ids.sort_unstable();
    assert_eq!(connector.session_ids(), ids);
    assert_eq!(connector.live_session_ids().await.unwrap().len(), 3);

    for mut conn in conns {
        conn.close().await.unwrap();
        assert!(conn.is_broken(), "a closed connection is never reused");
    }
    // The server ends a session shortly after COM_QUIT; give it a moment.
    let mut live = connector.live_session_ids().await.unwrap();
    for _ in 0..50 {
        if live.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        live = connector.live_session_ids().await.unwrap();
    }
    assert!(live.is_empty(), "sessions still open: {live:?}");
    assert!(connector.session_ids().is_empty(), "forgotten once gone");
}

#[tokio::test]
async fn a_dropped_connection_is_closed_too() {
    let connector = common::connector();
    let conn = connector.connect().await.unwrap();
    drop(conn);
    let mut live = connector.live_session_ids().await.unwrap();
    for _ in 0..50 {
        if live.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        live = connector.live_session_ids().await.unwrap();
    }
    assert!(live.is_empty(), "sessions still open: {live:?}");
}

#[tokio::test]
async fn closing_a_connection_with_an_abandoned_statement_ends_its_session_at_once() {
    let connector = common::connector();
    let mut conn = connector.connect().await.unwrap();
    // The caller gives up on a long statement (no query timeout: only the caller's own).
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        conn.query("SELECT SLEEP(30)", &[]),
    )
    .await;
    assert!(abandoned.is_err(), "the statement was still running");
    assert!(conn.is_broken());

    let started = std::time::Instant::now();
    conn.close().await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "close did not wait behind the statement: {:?}",
        started.elapsed()
    );
    let mut live = connector.live_session_ids().await.unwrap();
    for _ in 0..50 {
        if live.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        live = connector.live_session_ids().await.unwrap();
    }
    assert!(
        live.is_empty(),
        "the abandoned statement's session outlived close: {live:?}"
    );
}
