//! Statement errors leave the connection usable; a session the server ended is reported broken.

mod common;

use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, ErrorClass};

#[tokio::test]
async fn a_syntax_error_is_a_query_error_and_leaves_the_connection_usable() {
    let mut conn = common::connect().await;
    let error = conn.query("SELEC 1", &[]).await.unwrap_err();

    let backend = error.backend().expect("a backend error");
    assert_eq!(backend.class(), ErrorClass::Query);
    assert_eq!(backend.code(), Some("1064"));
    assert!(!error.is_connection_broken());
    assert!(!conn.is_broken());
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await.as_i64(),
        Some(1)
    );
}

#[tokio::test]
async fn a_duplicate_key_is_a_query_error_with_its_mysql_code() {
    let mut conn = common::connect().await;
    conn.execute("CREATE TEMPORARY TABLE dup (id INT PRIMARY KEY)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO dup VALUES (?)", &[1.into()])
        .await
        .unwrap();
    let error = conn
        .execute("INSERT INTO dup VALUES (?)", &[1.into()])
        .await
        .unwrap_err();

    let backend = error.backend().expect("a backend error");
    assert_eq!(
        (backend.class(), backend.code()),
        (ErrorClass::Query, Some("1062"))
    );
    assert!(!conn.is_broken());
    conn.ping().await.expect("still usable");
}

#[tokio::test]
async fn a_parameter_count_mismatch_leaves_the_connection_usable() {
    let mut conn = common::connect().await;
    let error = conn.query("SELECT ?, ?", &[1.into()]).await.unwrap_err();
    assert_eq!(error.backend().unwrap().class(), ErrorClass::Query);
    assert!(!conn.is_broken());
    conn.ping().await.expect("still usable");
}

#[tokio::test]
async fn a_session_killed_from_another_connection_is_a_connection_error_and_broken() {
    let mut victim = common::connect().await;
    let mut admin = common::connect().await;
    admin
        .execute(&format!("KILL CONNECTION {}", victim.connection_id()), &[])
        .await
        .expect("KILL CONNECTION");

    let error = victim.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(
        error.backend().map(|b| b.class()),
        Some(ErrorClass::Connection),
        "{error:?}"
    );
    assert!(error.is_connection_broken());
    assert!(victim.is_broken());
}

#[tokio::test]
async fn a_killed_session_fails_its_ping_and_is_broken() {
    let mut victim = common::connect().await;
    let mut admin = common::connect().await;
    admin
        .execute(&format!("KILL {}", victim.connection_id()), &[])
        .await
        .expect("KILL");

    assert!(victim.ping().await.unwrap_err().is_connection_broken());
    assert!(victim.is_broken());
}

#[tokio::test]
async fn closing_a_broken_connection_does_not_hang() {
    let mut victim = common::connect().await;
    let mut admin = common::connect().await;
    admin
        .execute(&format!("KILL {}", victim.connection_id()), &[])
        .await
        .unwrap();
    let _ = victim.ping().await;

    let started = Instant::now();
    let _ = victim.close().await; // may report the dead socket; must not hang
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(victim.is_broken(), "a closed connection is never reused");
}
