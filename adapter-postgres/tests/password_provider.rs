//! The password provider is asked before every connection attempt, so rotating credentials
//! (IAM tokens) are always fresh.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pool_core::{Connector, CredentialsProvider, Error, Secret, Value};

#[tokio::test]
async fn the_provider_is_called_once_per_connect() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let connector = common::options()
        .with_password_provider(CredentialsProvider::new(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(Secret::new(format!("token-{n}"))) }
        }))
        .build()
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "not called before connecting"
    );
    for expected in 1..=3 {
        let mut conn = connector.connect().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), expected);
        assert_eq!(
            common::scalar(&mut conn, "SELECT 1", &[]).await,
            Value::I64(1)
        );
    }
}

#[tokio::test]
async fn a_failing_provider_is_a_connect_error_that_says_so() {
    let connector = common::options()
        .with_password_provider(CredentialsProvider::new(|| async {
            Err(Error::config("vault", "lease expired"))
        }))
        .build()
        .unwrap();
    let err = connector.connect().await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("password provider") && message.contains("lease expired"),
        "{message}"
    );
}
