//! Statements are prepared once per connection and kept, within a bound; with the cache off
//! nothing named is prepared (PgBouncer transaction mode).

mod common;

use pool_core::{ConnectionProtocol, Value};

async fn server_prepared(conn: &mut adapter_postgres::PostgresConnection) -> i64 {
    // Counted through the native client's simple protocol, which prepares nothing itself.
    let messages = conn
        .client()
        .simple_query("SELECT count(*) FROM pg_prepared_statements")
        .await
        .unwrap();
    messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("one row")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_repeated_statement_is_prepared_once() {
    let mut conn = common::connect().await;
    for i in 0..5 {
        let v = common::scalar(&mut conn, "SELECT $1::int8 * 2", &[Value::I64(i)]).await;
        assert_eq!(v, Value::I64(i * 2));
    }
    assert_eq!(conn.cached_statements(), 1);
    assert_eq!(server_prepared(&mut conn).await, 1);
}

#[tokio::test]
async fn the_cache_is_bounded_and_evicted_statements_are_closed_on_the_server() {
    let mut conn = common::connect_with(common::options().with_statement_cache_capacity(2)).await;
    for sql in ["SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4"] {
        conn.query(sql, &[]).await.unwrap();
    }
    assert_eq!(conn.cached_statements(), 2);
    // Evicted statements are closed with a message that goes out before the next query.
    assert_eq!(server_prepared(&mut conn).await, 2);
}

#[tokio::test]
async fn with_the_cache_off_no_named_statement_is_left_on_the_server() {
    let mut conn = common::connect_with(common::options().with_statement_cache_capacity(0)).await;
    for i in 0..3 {
        let v = common::scalar(&mut conn, "SELECT $1::int4 + 1", &[Value::I64(i)]).await;
        assert_eq!(v, Value::I64(i + 1));
    }
    assert_eq!(conn.cached_statements(), 0);
    assert_eq!(server_prepared(&mut conn).await, 0);
}

#[tokio::test]
async fn statements_deallocated_behind_the_cache_are_prepared_again() {
    let mut conn = common::connect().await;
    assert_eq!(
        common::scalar(&mut conn, "SELECT 10", &[]).await,
        Value::I64(10)
    );
    conn.client().batch_execute("DEALLOCATE ALL").await.unwrap();
    assert_eq!(
        common::scalar(&mut conn, "SELECT 10", &[]).await,
        Value::I64(10)
    );
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn a_statement_whose_result_type_changed_is_prepared_again() {
    let mut conn = common::connect().await;
    conn.execute("CREATE TEMP TABLE reshaped (x int4)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO reshaped VALUES (1)", &[])
        .await
        .unwrap();
    assert_eq!(
        common::scalar(&mut conn, "SELECT * FROM reshaped", &[]).await,
        Value::I64(1)
    );
    conn.execute("ALTER TABLE reshaped ALTER x TYPE text", &[])
        .await
        .unwrap();
    assert_eq!(
        common::scalar(&mut conn, "SELECT * FROM reshaped", &[]).await,
        Value::Text("1".into())
    );
}

#[tokio::test]
async fn prepare_cached_hands_out_the_cached_statement_for_the_native_client() {
    let mut conn = common::connect().await;
    conn.prepare_cached("SELECT $1::int8 + 1").await.unwrap();
    let second = conn.prepare_cached("SELECT $1::int8 + 1").await.unwrap();
    assert_eq!(conn.cached_statements(), 1);
    assert_eq!(
        server_prepared(&mut conn).await,
        1,
        "prepared once, then cached"
    );
    let row = conn.client().query_one(&second, &[&41_i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    // The neutral API shares the cache.
    let v = common::scalar(&mut conn, "SELECT $1::int8 + 1", &[Value::I64(1)]).await;
    assert_eq!(v, Value::I64(2));
    assert_eq!(conn.cached_statements(), 1);
    assert_eq!(server_prepared(&mut conn).await, 1);
}

#[tokio::test]
async fn prepare_cached_reports_a_statement_the_server_rejects() {
    let mut conn = common::connect().await;
    let error = conn.prepare_cached("SELEC 1").await.unwrap_err();
    assert!(error.to_string().contains("syntax"), "{error}");
    assert!(
        !conn.is_broken(),
        "a statement error leaves the session usable"
    );
}
