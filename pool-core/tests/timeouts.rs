//! No acquire waits past its timeout, a timeout says why, and an open breaker fails fast.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{CircuitState, Error, Pool};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn no_acquire_waits_past_its_timeout_and_the_error_says_why() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(2)
        .max_size(2)
        .configure(|c| c.leak_detection_threshold = None)
        .build()
        .await
        .unwrap();
    let _a = pool.get().await.unwrap();
    let _b = pool.get().await.unwrap();
    let start = Instant::now();
    let error = pool.get_timeout(Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let Error::Timeout {
        waited,
        counts,
        last_connect_error,
    } = &error
    else {
        panic!("expected a timeout, got {error:?}");
    };
    assert_eq!(*waited, Duration::from_secs(2));
    assert_eq!((counts.active, counts.idle, counts.max), (2, 0, 2));
    assert!(
        last_connect_error.is_none(),
        "the pool is exhausted, not broken"
    );
    assert_eq!(pool.stats().timeouts_total, 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_against_a_dead_database_carries_the_last_connect_error() {
    let connector = TestConnector::new();
    connector.faults().set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(2)
        .configure(|c| c.circuit_breaker.enabled = false)
        .build()
        .await
        .unwrap();
    let start = Instant::now();
    let error = pool.get_timeout(Duration::from_secs(3)).await.unwrap_err();
    assert!(start.elapsed() <= Duration::from_secs(3));
    match error {
        Error::Timeout {
            last_connect_error: Some(cause),
            ..
        } => assert!(cause.to_string().contains("connection refused"), "{cause}"),
        other => panic!("expected a timeout with the cause, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_connect_is_bounded_by_the_acquire_timeout() {
    let connector = TestConnector::new();
    connector.faults().set_connect(Behavior::Hang);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(2)
        .build()
        .await
        .unwrap();
    let start = Instant::now();
    let error = pool
        .get_timeout(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(start.elapsed(), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_fails_fast_with_the_real_cause_and_stops_hammering() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(8)
        .configure(|c| {
            c.circuit_breaker.failure_threshold = 5;
            c.circuit_breaker.open_duration = Duration::from_secs(10);
            c.connect_backoff_initial = Duration::from_millis(10);
        })
        .build()
        .await
        .unwrap();

    // The first caller waits while the pool retries; the fifth failure opens the breaker and
    // the caller gets CircuitOpen long before its timeout.
    let first = pool.get_timeout(Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(first, Error::CircuitOpen { .. }), "{first:?}");
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
    let attempts_when_opened = faults.connects_attempted();
    assert_eq!(attempts_when_opened, 5);

    for _ in 0..100 {
        let start = Instant::now();
        let error = pool.get().await.unwrap_err();
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "an open breaker fails at once"
        );
        match error {
            Error::CircuitOpen {
                last_error: Some(cause),
                retry_in,
                ..
            } => {
                assert!(cause.to_string().contains("connection refused"));
                assert!(retry_in <= Duration::from_secs(10));
            }
            other => panic!("expected CircuitOpen with the cause, got {other:?}"),
        }
    }
    assert_eq!(
        faults.connects_attempted(),
        attempts_when_opened,
        "no connection attempts while open"
    );
    // The 100 callers refused at once, and the first caller, failed when the breaker opened.
    assert_eq!(pool.stats().circuit_rejections_total, 101);
}

#[tokio::test(start_paused = true)]
async fn connect_retries_sleeping_when_the_breaker_opens_do_not_connect_while_it_is_open() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(8)
        .configure(|c| {
            c.max_concurrent_creates = 4;
            c.circuit_breaker.failure_threshold = 5;
            c.circuit_breaker.open_duration = Duration::from_secs(10);
            c.autoscale.enabled = false;
        })
        .build()
        .await
        .unwrap();
    // Eight callers: four connects in flight, each retrying with its own backoff.
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get_timeout(Duration::from_secs(30)).await.map(drop) })
        })
        .collect();
    for caller in callers {
        assert!(caller.await.unwrap().is_err());
    }
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
    let attempts_when_opened = faults.connects_attempted();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        faults.connects_attempted(),
        attempts_when_opened,
        "no slot that was sleeping in its backoff may connect while the breaker is open"
    );
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_after_a_failed_validation_reports_the_whole_wait() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(2)
        .configure(|c| {
            c.validation_bypass = Duration::ZERO;
            c.health_check_timeout = Duration::from_millis(500);
            c.health_check_interval = None;
            c.autoscale.enabled = false;
        })
        .build()
        .await
        .unwrap();
    let _held = pool.get().await.unwrap();
    // The idle one fails its validation (a hung ping) and its replacement never arrives, so the
    // caller then queues until its deadline.
    faults.set_ping(Behavior::Hang);
    faults.set_connect(Behavior::Slow(Duration::from_secs(60)));
    let start = Instant::now();
    let error = pool.get_timeout(Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    match error {
        Error::Timeout { waited, .. } => assert_eq!(waited, Duration::from_secs(2)),
        other => panic!("expected a timeout, got {other:?}"),
    }
}
