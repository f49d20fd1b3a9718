//! Errors print each cause once: a cause is in `Display` or behind `source()`, never both, so
//! a report that walks the chain (anyhow's `{:#}`, tracing) does not repeat it.

use std::error::Error as StdError;
use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{BackendError, Error, Pool, PoolCounts};

/// What `anyhow`'s `{:#}` prints: every message of the chain, joined.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn every_variant_that_carries_a_driver_error_prints_it_once() {
    let cause = || BackendError::connection("server closed the connection unexpectedly");
    let counts = PoolCounts {
        active: 1,
        idle: 0,
        preparing: 0,
        connecting: 0,
        waiting: 2,
        max: 1,
    };
    let errors = [
        Error::Connect(cause()),
        Error::Backend(cause()),
        Error::Timeout {
            waited: Duration::from_secs(1),
            counts,
            last_connect_error: Some(cause()),
        },
        Error::CircuitOpen {
            retry_in: Duration::from_secs(1),
            failures: 5,
            last_error: Some(cause()),
        },
    ];
    for error in errors {
        let text = chain(&error);
        assert_eq!(
            occurrences(&text, "server closed the connection unexpectedly"),
            1,
            "{text}"
        );
    }
    let backend = cause().with_code("08006");
    assert_eq!(occurrences(&chain(&backend), "unexpectedly"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_build_reports_its_cause_once() {
    let connector = TestConnector::new();
    connector.faults().set_connect(Behavior::Fail);
    let error = Pool::builder(connector)
        .min_size(1)
        .build()
        .await
        .unwrap_err();
    let text = chain(&error);
    assert_eq!(occurrences(&text, "connection refused"), 1, "{text}");
    // The driver's error is still there for code that wants it.
    assert!(error.backend().is_some());
}
