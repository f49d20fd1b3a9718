//! The password provider is asked at every connect, and what it returns is what is sent.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use adapter_mysql::MysqlConnector;
use pool_core::{ConnectionProtocol, Connector, CredentialsProvider, Error, Secret};

#[tokio::test]
async fn the_password_provider_is_called_at_every_connect() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // The test server's root has an empty password.
    let connector = MysqlConnector::new(common::options().with_password_provider(
        CredentialsProvider::new(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Secret::new(""))
            }
        }),
    ));

    for expected in 1..=3 {
        let mut conn = connector.connect().await.expect("connect");
        conn.ping().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), expected);
        conn.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_provided_password_is_the_one_sent() {
    let connector = MysqlConnector::new(common::options().with_password_provider(
        CredentialsProvider::new(|| async { Ok(Secret::new("rotated-t0ken")) }),
    ));
    let error = connector.connect().await.unwrap_err();
    let Error::Connect(backend) = &error else {
        panic!("expected a connect error, got {error:?}");
    };
    assert_eq!(backend.code(), Some("1045"), "access denied: {error}");
    assert!(!error.to_string().contains("rotated-t0ken"), "{error}");
}

#[tokio::test]
async fn a_failing_provider_fails_the_connect() {
    let connector = MysqlConnector::new(common::options().with_password_provider(
        CredentialsProvider::new(|| async {
            Err(Error::config("vault", "token service unavailable"))
        }),
    ));
    let error = connector.connect().await.unwrap_err();
    assert!(matches!(error, Error::Connect(_)), "{error:?}");
    assert!(
        error.to_string().contains("token service unavailable"),
        "{error}"
    );
}

#[tokio::test]
async fn the_cancel_side_connection_asks_the_provider_too() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let connector = MysqlConnector::new(common::options().with_password_provider(
        CredentialsProvider::new(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Secret::new(""))
            }
        }),
    ));
    let mut conn = connector.connect().await.unwrap();
    conn.set_query_timeout(Some(std::time::Duration::from_millis(100)));
    let error = conn.query("SELECT SLEEP(5)", &[]).await.unwrap_err();
    assert!(matches!(error, Error::QueryTimeout(_)), "{error:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one connect, one cancel");
}

#[tokio::test]
async fn a_rotated_password_reaches_the_next_connect() {
    // The first connect gets the right (empty) password, the next ones a rotated one that
    // the server refuses: each connect asked again, and sent what it was given.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let connector = MysqlConnector::new(common::options().with_password_provider(
        CredentialsProvider::new(move || {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            async move { Ok(Secret::new(if first { "" } else { "rotated-t0ken" })) }
        }),
    ));

    let mut conn = connector
        .connect()
        .await
        .expect("the first password is right");
    conn.ping().await.unwrap();
    let error = connector.connect().await.unwrap_err();

    let Error::Connect(backend) = &error else {
        panic!("expected a connect error, got {error:?}");
    };
    assert_eq!(backend.code(), Some("1045"), "access denied: {error}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn debug_of_options_shows_no_password_and_no_token() {
    let with_password = adapter_mysql::MysqlOptions::new()
        .with_host("db")
        .with_password("s3cret-pw");
    let with_provider = adapter_mysql::MysqlOptions::new()
        .with_host("db")
        .with_password_provider(CredentialsProvider::new(|| async {
            Ok(Secret::new("t0ken"))
        }));
    let debug = format!("{with_password:?} {with_provider:?}");
    assert!(
        !debug.contains("s3cret-pw") && !debug.contains("t0ken"),
        "{debug}"
    );
    assert!(debug.contains("<redacted>"), "{debug}");
}
