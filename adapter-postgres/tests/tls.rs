//! TLS against real throwaway servers: verification is on whenever TLS is required, a wrong CA
//! or host name fails with a clear error, and a server without TLS is refused when TLS is
//! required.

#[path = "support/throwaway_server.rs"]
mod throwaway_server;

use std::sync::{Arc, Mutex, Weak};

use adapter_postgres::{PostgresConnector, PostgresOptions, RootCerts};
use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, Connector, Error, Value};
use throwaway_server::{Certs, Server};

static TLS_SERVER: Mutex<Weak<Server>> = Mutex::new(Weak::new());

fn tls_server() -> Arc<Server> {
    throwaway_server::shared(&TLS_SERVER, || Server::start(Some(Certs::generate())))
}

async fn connect(url: &str) -> pool_core::Result<adapter_postgres::PostgresConnection> {
    PostgresConnector::from_url(url)?.connect().await
}

async fn uses_tls(conn: &mut adapter_postgres::PostgresConnection) -> bool {
    let row = conn
        .client()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

fn connect_error_message(
    result: pool_core::Result<adapter_postgres::PostgresConnection>,
) -> String {
    match result {
        Err(err @ Error::Connect(_)) => err.to_string(),
        Err(other) => panic!("expected a connect error, got {other:?}"),
        Ok(_) => panic!("expected the connection to be refused"),
    }
}

#[tokio::test]
async fn verify_full_succeeds_with_the_right_ca_and_the_session_is_encrypted() {
    let server = tls_server();
    let url = server.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.ca_file().display()
        ),
    );
    let mut conn = connect(&url).await.unwrap();
    assert!(uses_tls(&mut conn).await);

    // The same through the builder, with the CA in memory.
    let ca = server.certs.as_ref().unwrap().ca_pem.clone().into_bytes();
    let options = PostgresOptions::from_url(&server.url("localhost", "sslmode=verify-full"))
        .unwrap()
        .with_root_certs(RootCerts::Pem(ca));
    let mut conn = options.build().unwrap().connect().await.unwrap();
    assert!(uses_tls(&mut conn).await);
}

#[tokio::test]
async fn verify_full_with_the_wrong_ca_fails_with_a_clear_error() {
    let server = tls_server();
    let url = server.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.wrong_ca_file().display()
        ),
    );
    let message = connect_error_message(connect(&url).await);
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("sslrootcert"), "{message}");
    assert!(
        message.contains(&format!("localhost:{}", server.port)),
        "{message}"
    );
}

#[tokio::test]
async fn verify_full_fails_when_the_host_name_is_not_in_the_certificate_but_verify_ca_accepts_it() {
    let server = tls_server();
    let ca = server.ca_file();
    let full = server.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let message = connect_error_message(connect(&full).await);
    assert!(message.contains("not valid for name"), "{message}");
    assert!(message.contains("verify-ca"), "{message}");

    let chain_only = server.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
    );
    let mut conn = connect(&chain_only).await.unwrap();
    assert!(uses_tls(&mut conn).await);

    // verify-ca still checks the chain.
    let wrong = server.url(
        "127.0.0.1",
        &format!(
            "sslmode=verify-ca&sslrootcert={}",
            server.wrong_ca_file().display()
        ),
    );
    let message = connect_error_message(connect(&wrong).await);
    assert!(message.contains("UnknownIssuer"), "{message}");
}

#[tokio::test]
async fn require_verifies_the_certificate_unless_explicitly_told_not_to() {
    let server = tls_server();
    let url = server.url(
        "localhost",
        &format!(
            "sslmode=require&sslrootcert={}",
            server.wrong_ca_file().display()
        ),
    );
    let message = connect_error_message(connect(&url).await);
    assert!(message.contains("unlike libpq"), "{message}");

    let right = server.url(
        "localhost",
        &format!("sslmode=require&sslrootcert={}", server.ca_file().display()),
    );
    let mut conn = connect(&right).await.unwrap();
    assert!(uses_tls(&mut conn).await);

    let opted_out = PostgresOptions::from_url(&url)
        .unwrap()
        .with_danger_accept_invalid_certs(true);
    let mut conn = opted_out.build().unwrap().connect().await.unwrap();
    assert!(uses_tls(&mut conn).await);
}

#[tokio::test]
async fn prefer_encrypts_without_checking_the_certificate() {
    let server = tls_server();
    let url = server.url(
        "127.0.0.1",
        &format!(
            "sslmode=prefer&sslrootcert={}",
            server.wrong_ca_file().display()
        ),
    );
    let mut conn = connect(&url).await.unwrap();
    assert!(uses_tls(&mut conn).await);
    let value = conn
        .client()
        .query_one("SELECT 1::int8", &[])
        .await
        .unwrap();
    assert_eq!(Value::I64(value.get(0)), Value::I64(1));
}

#[tokio::test]
async fn tls_required_against_a_server_without_tls_fails_with_a_clear_error() {
    let server = Server::start(None);
    let url = server.url("127.0.0.1", "sslmode=verify-ca");
    let message = connect_error_message(connect(&url).await);
    assert!(message.contains("does not accept TLS"), "{message}");
    assert!(message.contains("sslmode=verify-ca"), "{message}");

    // prefer falls back to plain TCP there.
    let mut conn = connect(&server.url("127.0.0.1", "sslmode=prefer"))
        .await
        .unwrap();
    assert!(!uses_tls(&mut conn).await);
}

#[tokio::test]
async fn a_query_timeout_cancels_over_tls_too() {
    let server = tls_server();
    let url = server.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.ca_file().display()
        ),
    );
    let mut conn = connect(&url).await.unwrap();
    let limit = Duration::from_millis(200);
    conn.set_query_timeout(Some(limit));
    let started = Instant::now();
    let err = conn.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    assert!(matches!(err, Error::QueryTimeout(_)), "{err:?}");
    assert!(started.elapsed() < limit + Duration::from_millis(1500));
    assert!(!conn.is_broken());
    let rows = conn.query("SELECT 5", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(5)));
}
