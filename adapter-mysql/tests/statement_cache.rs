//! Statements with parameters are prepared once per connection and reused.

mod common;

use adapter_mysql::MysqlConnector;
use pool_core::{ConnectionProtocol, Connector};

async fn prepares(conn: &mut adapter_mysql::MysqlConnection) -> i64 {
    status(conn, "Com_stmt_prepare").await
}

async fn status(conn: &mut adapter_mysql::MysqlConnection, name: &str) -> i64 {
    let rows = conn
        .query(&format!("SHOW SESSION STATUS LIKE '{name}'"), &[])
        .await
        .unwrap();
    let value = rows[0].get(1).unwrap();
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a count")
}

#[tokio::test]
async fn a_repeated_statement_is_prepared_once() {
    let mut conn = common::connect().await;
    let before = prepares(&mut conn).await;
    for i in 0..10_i64 {
        let v = common::scalar(&mut conn, "SELECT ? + 100", &[i.into()]).await;
        assert_eq!(v.as_i64(), Some(i + 100));
    }
    conn.execute("DO ?", &[1.into()]).await.unwrap();
    conn.execute("DO ?", &[2.into()]).await.unwrap();
    assert_eq!(prepares(&mut conn).await - before, 2);
}

#[tokio::test]
async fn a_zero_sized_cache_prepares_every_time_and_closes_what_it_prepared() {
    let connector = MysqlConnector::new(common::options().with_statement_cache_capacity(0));
    let mut conn = connector.connect().await.unwrap();
    let before = prepares(&mut conn).await;
    let closed_before = status(&mut conn, "Com_stmt_close").await;
    for i in 0..3_i64 {
        let v = common::scalar(&mut conn, "SELECT ? + 1", &[i.into()]).await;
        assert_eq!(v.as_i64(), Some(i + 1));
    }
    assert_eq!(conn.execute("DO ?", &[1.into()]).await.unwrap(), 0);
    assert_eq!(prepares(&mut conn).await - before, 4);
    assert_eq!(status(&mut conn, "Com_stmt_close").await - closed_before, 4);
}

#[tokio::test]
async fn statements_evicted_from_a_full_cache_are_closed_on_the_server() {
    let connector = MysqlConnector::new(common::options().with_statement_cache_capacity(2));
    let mut conn = connector.connect().await.unwrap();
    let closed_before = status(&mut conn, "Com_stmt_close").await;
    for sql in [
        "SELECT ? + 1",
        "SELECT ? + 2",
        "SELECT ? + 3",
        "SELECT ? + 4",
    ] {
        common::scalar(&mut conn, sql, &[1.into()]).await;
    }
    assert_eq!(status(&mut conn, "Com_stmt_close").await - closed_before, 2);
}
