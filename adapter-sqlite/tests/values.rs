//! Neutral values survive a round trip through SQLite; booleans come back as integers.

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Connector, Value};

#[tokio::test]
async fn every_value_round_trips_through_a_table() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TABLE v (a, b, c, d, e)", &[])
        .await
        .unwrap();
    let values = vec![
        Value::Null,
        Value::I64(i64::MIN),
        Value::F64(-0.25),
        Value::Text("ünïcode ✓".into()),
        Value::Bytes(vec![0, 1, 254, 255]),
    ];
    conn.execute("INSERT INTO v VALUES (?, ?, ?, ?, ?)", &values)
        .await
        .unwrap();
    let rows = conn.query("SELECT * FROM v", &[]).await.unwrap();
    assert_eq!(rows[0].values(), values.as_slice());
}

#[tokio::test]
async fn booleans_are_stored_as_integers_and_come_back_as_i64() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    let rows = conn
        .query("SELECT ?, ?", &[Value::Bool(true), Value::Bool(false)])
        .await
        .unwrap();
    assert_eq!(rows[0].values(), [Value::I64(1), Value::I64(0)]);
    assert_eq!(rows[0].get(0).and_then(Value::as_bool), Some(true));
}

#[tokio::test]
async fn invalid_utf8_text_is_a_query_error_not_a_broken_connection() {
    let mut conn = SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = conn
        .query("SELECT CAST(x'c328' AS TEXT)", &[])
        .await
        .unwrap_err();
    assert!(!err.is_connection_broken(), "{err:?}");
    assert!(!conn.is_broken());
    conn.ping().await.unwrap();
}
