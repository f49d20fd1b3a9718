//! The breaker and failing connects at the edges: no caller is stranded behind a connect that
//! gave up, and a connection that is broken from birth is a failed connect, not a spin.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{CircuitState, Error, Pool};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_caller_arriving_while_a_retry_sleeps_behind_an_open_breaker_fails_fast() {
    let connector = TestConnector::new();
    connector.faults().set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(4)
        .configure(|c| {
            c.circuit_breaker.failure_threshold = 2;
            c.autoscale.enabled = false;
        })
        .build()
        .await
        .unwrap();
    // Two callers: two connects fail, the second opens the breaker while the first sleeps in
    // its backoff before a retry that will never be allowed.
    let (a, b) = tokio::join!(pool.get(), pool.get());
    assert!(a.is_err() && b.is_err());
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);

    let start = Instant::now();
    let error = pool.get().await.unwrap_err();
    assert!(
        matches!(error, Error::CircuitOpen { .. }),
        "expected CircuitOpen, got {error:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "the caller waited {:?} behind a connect that gave up",
        start.elapsed()
    );
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn connections_broken_from_birth_are_failed_connects_with_backoff_and_a_cause() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(4)
        .configure(|c| c.autoscale.enabled = false)
        .build()
        .await
        .unwrap();
    faults.set_born_broken(true);
    let start = Instant::now();
    let error = pool
        .get_timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(start.elapsed() <= Duration::from_millis(200));
    // Backoff from 100 ms: a handful of attempts, not thousands.
    assert!(
        faults.connects_attempted() <= 5,
        "{} connects in 200 ms",
        faults.connects_attempted()
    );
    assert!(
        error.to_string().contains("reported itself broken"),
        "the error names no cause: {error}"
    );
    assert!(pool.stats().connect_failures_total >= 1);
    pool.check_invariants().unwrap();
}
