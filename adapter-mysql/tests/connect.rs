//! Connecting: the optional connect timeout, and an abandoned statement never leaves a
//! connection that looks healthy but is not.

mod common;

use std::time::{Duration, Instant};

use adapter_mysql::MysqlConnector;
use pool_core::{ConnectionProtocol, Connector, Error};

#[tokio::test]
async fn the_connect_timeout_bounds_a_server_that_never_answers() {
    // Accepts TCP connections but never sends the MySQL handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let limit = Duration::from_millis(200);
    let connector = MysqlConnector::from_url(&format!(
        "mysql://root@127.0.0.1:{port}/test?connect_timeout_ms=200"
    ))
    .unwrap();

    let started = Instant::now();
    let error = connector.connect().await.unwrap_err();
    assert!(
        matches!(error, Error::ConnectTimeout(d) if d == limit),
        "{error:?}"
    );
    assert!(started.elapsed() < limit + Duration::from_secs(1));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there now
    let connector =
        MysqlConnector::from_url(&format!("mysql://root@127.0.0.1:{port}/test")).unwrap();
    let error = connector.connect().await.unwrap_err();
    assert!(matches!(error, Error::Connect(_)), "{error:?}");
    assert!(error.is_connection_broken());
}

#[tokio::test]
async fn a_statement_abandoned_by_its_caller_marks_the_connection_broken() {
    let mut conn = common::connect().await;
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        conn.query("SELECT SLEEP(2)", &[]),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up");
    assert!(
        conn.is_broken(),
        "the protocol state is unknown, so the pool must not reuse it"
    );
}

#[tokio::test]
async fn a_healthy_connection_pings() {
    let mut conn = common::connect().await;
    conn.ping().await.unwrap();
    assert!(!conn.is_broken());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_unix_socket_url_connects() {
    let socket = "/run/mysqld/mysqld.sock";
    if !std::path::Path::new(socket).exists() {
        // The server's socket lives elsewhere on this machine; the TCP tests cover connecting.
        assert!(
            std::env::var("MYSQL_URL").is_ok(),
            "expected the local socket at {socket}"
        );
        return;
    }
    let connector =
        MysqlConnector::from_url(&format!("mysql://root@localhost/test?socket={socket}")).unwrap();
    let mut conn = connector.connect().await.unwrap();
    let host = common::scalar(
        &mut conn,
        "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
        &[],
    )
    .await;
    // TCP sessions show "127.0.0.1:<port>"; socket sessions show "localhost".
    assert_eq!(host.as_str(), Some("localhost"));
    conn.ping().await.unwrap();
}
