//! Helpers shared by the integration tests: the real server at 127.0.0.1:5432 (trust auth,
//! database `test`, user `root`).
#![allow(dead_code)] // each test file uses a different subset

use adapter_postgres::{PostgresConnection, PostgresOptions};
use pool_core::{ConnectionProtocol, Connector, Value};

/// The local server, plain TCP (TLS is tested against throwaway servers in `tls.rs`).
pub const URL: &str = "postgres://root@127.0.0.1:5432/test?sslmode=disable";

pub fn options() -> PostgresOptions {
    PostgresOptions::from_url(URL).expect("the test URL parses")
}

pub async fn connect_with(options: PostgresOptions) -> PostgresConnection {
    options
        .build()
        .expect("options build")
        .connect()
        .await
        .expect("the local PostgreSQL at 127.0.0.1:5432 accepts connections")
}

pub async fn connect() -> PostgresConnection {
    connect_with(options()).await
}

/// The first column of the first row.
pub async fn scalar(conn: &mut PostgresConnection, sql: &str, params: &[Value]) -> Value {
    let rows = conn.query(sql, params).await.expect(sql);
    rows[0].get(0).cloned().expect("one column")
}

pub async fn backend_pid(conn: &mut PostgresConnection) -> i64 {
    scalar(conn, "SELECT pg_backend_pid()", &[])
        .await
        .as_i64()
        .expect("an integer pid")
}

/// A table name no other test (or concurrent run) uses.
pub fn unique_table(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
