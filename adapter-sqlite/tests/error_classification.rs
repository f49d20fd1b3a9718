//! Statement failures leave the connection usable; a handle closed underneath makes the next
//! call a connection-class error and the connection broken. Codes are SQLite extended codes.

use std::time::Duration;

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::{ConnectionProtocol, Connector, ErrorClass};

async fn memory() -> SqliteConnection {
    SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_syntax_error_is_query_class_and_leaves_the_connection_usable() {
    let mut conn = memory().await;
    let err = conn.query("SELEKT 1", &[]).await.unwrap_err();
    let backend = err.backend().expect("a driver error");
    assert_eq!(backend.class(), ErrorClass::Query);
    assert_eq!(backend.code(), Some("1"), "SQLITE_ERROR");
    assert!(
        backend
            .source_error()
            .downcast_ref::<rusqlite::Error>()
            .is_some()
    );
    assert!(!conn.is_broken());
    conn.ping().await.unwrap();
}

#[tokio::test]
async fn a_constraint_violation_is_query_class_with_the_extended_code() {
    let mut conn = memory().await;
    conn.execute("CREATE TABLE u (x UNIQUE)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO u VALUES (1)", &[]).await.unwrap();
    let err = conn
        .execute("INSERT INTO u VALUES (1)", &[])
        .await
        .unwrap_err();
    assert!(!err.is_connection_broken());
    assert_eq!(
        err.backend().and_then(|b| b.code()),
        Some("2067"),
        "SQLITE_CONSTRAINT_UNIQUE"
    );
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn a_wrong_parameter_count_is_query_class() {
    let mut conn = memory().await;
    let err = conn.query("SELECT ?", &[]).await.unwrap_err();
    assert!(!err.is_connection_broken(), "{err:?}");
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn busy_is_query_class_because_it_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?busy_timeout=50ms",
        dir.path().join("b.db").display()
    );
    let connector = SqliteConnector::from_url(&url).unwrap();
    let mut holder = connector.connect().await.unwrap();
    let mut other = connector.connect().await.unwrap();
    holder.execute("CREATE TABLE t (x)", &[]).await.unwrap();
    holder.execute("BEGIN IMMEDIATE", &[]).await.unwrap();
    let err = other
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.backend().and_then(|b| b.code()),
        Some("5"),
        "SQLITE_BUSY: {err}"
    );
    assert!(!err.is_connection_broken());
    assert!(!other.is_broken());
    holder.execute("COMMIT", &[]).await.unwrap();
    other
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_handle_closed_underneath_makes_the_next_call_a_connection_error() {
    let mut conn = memory().await;
    conn.kill_for_testing().await;
    // Like a session killed on a server, whose socket's end the reader sees, the connection
    // knows at once, and its next call fails as a connection error.
    assert!(conn.is_broken());
    let err = conn.query("SELECT 1", &[]).await.unwrap_err();
    assert!(err.is_connection_broken(), "{err:?}");
    assert!(conn.ping().await.unwrap_err().is_connection_broken());
    assert!(conn.reset().await.unwrap_err().is_connection_broken());
    // Closing a killed connection is still clean and quick.
    tokio::time::timeout(Duration::from_secs(1), conn.close())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_closed_connection_reports_broken_and_refuses_calls() {
    let mut conn = memory().await;
    conn.close().await.unwrap();
    assert!(conn.is_broken());
    let err = conn.query("SELECT 1", &[]).await.unwrap_err();
    assert!(err.is_connection_broken(), "{err:?}");
    conn.close().await.unwrap();
}
