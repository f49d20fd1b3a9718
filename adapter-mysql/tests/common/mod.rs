//! Shared helpers for the tests against the real server (`MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`).
#![allow(dead_code)]

pub mod wire_log;

use adapter_mysql::{MysqlConnection, MysqlConnector, MysqlOptions};
use pool_core::{Connector, Value};

pub fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

pub fn options() -> MysqlOptions {
    MysqlOptions::from_url(&url()).expect("MYSQL_URL parses")
}

pub fn connector() -> MysqlConnector {
    MysqlConnector::new(options())
}

pub async fn connect() -> MysqlConnection {
    connector()
        .connect()
        .await
        .expect("connect to the test server")
}

/// The single value of a one-row, one-column result.
pub async fn scalar(conn: &mut MysqlConnection, sql: &str, params: &[Value]) -> Value {
    use pool_core::ConnectionProtocol;
    let rows = conn.query(sql, params).await.expect(sql);
    assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
    rows[0].get(0).cloned().expect("one column")
}
