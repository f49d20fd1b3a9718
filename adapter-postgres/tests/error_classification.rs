//! Query errors leave the connection usable; errors that end the session mark it broken.

mod common;

use adapter_postgres::PostgresError;
use pool_core::{ConnectionProtocol, ErrorClass, Value};

#[tokio::test]
async fn a_syntax_error_is_a_query_error_with_its_sqlstate_and_the_connection_stays_usable() {
    let mut conn = common::connect().await;
    let err = conn.query("SELEC 1", &[]).await.unwrap_err();
    let backend = err.backend().expect("a backend error");
    assert_eq!(backend.class(), ErrorClass::Query);
    assert_eq!(backend.code(), Some("42601"));
    assert!(err.to_string().contains("syntax error"), "{err}");
    assert!(!err.is_connection_broken());
    assert!(!conn.is_broken());
    assert_eq!(
        common::scalar(&mut conn, "SELECT 2", &[]).await,
        Value::I64(2)
    );
}

#[tokio::test]
async fn a_constraint_violation_is_a_query_error_and_the_native_error_is_reachable() {
    let mut conn = common::connect().await;
    conn.execute("CREATE TEMP TABLE unique_things (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO unique_things VALUES (1)", &[])
        .await
        .unwrap();
    let err = conn
        .execute("INSERT INTO unique_things VALUES (1)", &[])
        .await
        .unwrap_err();
    let backend = err.backend().expect("a backend error");
    assert_eq!(backend.class(), ErrorClass::Query);
    assert_eq!(backend.code(), Some("23505"));
    let native = backend
        .source_error()
        .downcast_ref::<PostgresError>()
        .expect("the adapter's error type");
    assert_eq!(
        native.postgres().as_db_error().map(|db| db.constraint()),
        Some(Some("unique_things_pkey"))
    );
    assert!(!conn.is_broken());
    assert_eq!(
        common::scalar(&mut conn, "SELECT count(*) FROM unique_things", &[]).await,
        Value::I64(1)
    );
}

#[tokio::test]
async fn a_terminated_session_is_a_connection_error_and_marks_the_connection_broken() {
    let mut victim = common::connect().await;
    let mut admin = common::connect().await;
    let pid = common::backend_pid(&mut victim).await;
    assert!(!victim.is_broken());
    let terminated = common::scalar(
        &mut admin,
        "SELECT pg_terminate_backend($1)",
        &[Value::I64(pid)],
    )
    .await;
    assert_eq!(terminated, Value::Bool(true));

    let err = victim.query("SELECT 1", &[]).await.unwrap_err();
    assert!(err.is_connection_broken(), "{err:?}");
    assert_eq!(
        err.backend().map(|b| b.class()),
        Some(ErrorClass::Connection)
    );
    assert!(victim.is_broken());
}

#[tokio::test]
async fn a_closed_connection_reports_itself_broken() {
    let mut conn = common::connect().await;
    assert!(!conn.is_broken());
    conn.close().await.unwrap();
    assert!(conn.is_broken());
    assert!(conn.client().is_closed());
}
