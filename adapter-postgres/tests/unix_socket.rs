//! Unix-socket hosts work (tokio-postgres names no TLS host there; the server declines TLS).

mod common;

use adapter_postgres::PostgresOptions;
use pool_core::Value;

#[tokio::test]
async fn a_unix_socket_host_connects_with_the_default_sslmode() {
    let options =
        PostgresOptions::from_url("host=/var/run/postgresql user=root dbname=test").unwrap();
    let mut conn = common::connect_with(options).await;
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await,
        Value::I64(1)
    );
}

#[test]
fn a_unix_socket_host_with_required_tls_is_refused_at_build() {
    let err = PostgresOptions::from_url("host=/var/run/postgresql user=root sslmode=require")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("Unix socket"), "{err}");
}
