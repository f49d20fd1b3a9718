//! The `ConnectionProtocol` surface: execute counts changed rows, query returns named columns,
//! ping, parameter style, and native access through `with_native`.

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::{ConnectionProtocol, Connector, ParameterStyle, Value};

async fn memory() -> SqliteConnection {
    SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn execute_returns_the_rows_changed_and_query_returns_named_columns() {
    let mut conn = memory().await;
    assert_eq!(
        conn.execute("CREATE TABLE t (id INTEGER, name TEXT)", &[])
            .await
            .unwrap(),
        0
    );
    let inserted = conn
        .execute(
            "INSERT INTO t VALUES (?, ?), (?, ?)",
            &[1.into(), "one".into(), 2.into(), "two".into()],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    assert_eq!(
        conn.execute("UPDATE t SET name = 'x' WHERE id = 2", &[])
            .await
            .unwrap(),
        1
    );

    let rows = conn
        .query("SELECT id, name FROM t ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].columns(), ["id", "name"]);
    assert_eq!(
        rows[0].get_by_name("name"),
        Some(&Value::Text("one".into()))
    );
    assert_eq!(rows[1].values(), [Value::I64(2), Value::Text("x".into())]);
}

#[tokio::test]
async fn dollar_and_numbered_placeholders_are_accepted_too() {
    let mut conn = memory().await;
    assert_eq!(conn.parameter_style(), ParameterStyle::QuestionMark);
    let rows = conn
        .query("SELECT ?2 - ?1", &[10.into(), 3.into()])
        .await
        .unwrap();
    assert_eq!(rows[0].values(), [Value::I64(-7)]);
    // `$n` binds the n-th value, whatever order the names appear in.
    let rows = conn
        .query("SELECT $2 - $1", &[10.into(), 3.into()])
        .await
        .unwrap();
    assert_eq!(rows[0].values(), [Value::I64(-7)]);
}

#[tokio::test]
async fn ping_succeeds_on_a_healthy_connection() {
    let mut conn = memory().await;
    conn.ping().await.unwrap();
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn with_native_runs_a_closure_on_the_rusqlite_connection() {
    let mut conn = memory().await;
    let sum: i64 = conn
        .with_native(|c| {
            let tx = c.transaction()?;
            tx.execute_batch("CREATE TABLE n (x); INSERT INTO n VALUES (20), (22);")?;
            let sum = tx.query_row("SELECT sum(x) FROM n", [], |r| r.get(0))?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(sum)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum, 42);
    // The native work is visible through the neutral API.
    let rows = conn.query("SELECT count(*) FROM n", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(2)));
}

#[tokio::test]
async fn a_panic_in_with_native_reaches_the_caller_and_the_connection_survives() {
    let conn = std::sync::Arc::new(tokio::sync::Mutex::new(memory().await));
    let shared = std::sync::Arc::clone(&conn);
    let task = tokio::spawn(async move {
        let mut conn = shared.lock().await;
        conn.with_native(|_| -> () { panic!("boom in native code") })
            .await
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic(), "the panic resumes in the calling task");

    let mut conn = conn.lock().await;
    conn.ping().await.unwrap();
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn several_statements_without_parameters_run_as_a_batch() {
    let mut conn = memory().await;
    let changed = conn
        .execute(
            "CREATE TABLE b (x); INSERT INTO b VALUES (1); INSERT INTO b VALUES (2), (3);",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(changed, 3);
}
