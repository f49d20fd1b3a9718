//! Every time-based feature, in tokio's paused virtual time: idle timeout, lifetime and its
//! jitter (also enforced on return), the health-check interval, and the breaker's open timeout.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{CircuitState, Pool, PoolConfig};
use tokio::time::sleep;

fn quiet(config: &mut PoolConfig) {
    config.autoscale.enabled = false;
    config.leak_detection_threshold = None;
    config.reset_on_return = false;
    config.health_check_interval = None;
    config.max_lifetime = None;
    config.idle_timeout = None;
}

#[tokio::test(start_paused = true)]
async fn idle_connections_above_min_size_close_after_the_idle_timeout() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(5)
        .configure(|c| {
            quiet(c);
            c.idle_timeout = Some(Duration::from_secs(10));
        })
        .build()
        .await
        .unwrap();
    let held: Vec<_> = futures_join(&pool, 5).await;
    drop(held);
    assert_eq!(pool.stats().idle, 5);
    sleep(Duration::from_secs(9)).await;
    assert_eq!(
        pool.stats().total,
        5,
        "nothing closes before the idle timeout"
    );
    sleep(Duration::from_secs(5)).await;
    let stats = pool.stats();
    assert_eq!(stats.total, 1, "idle ones above min_size closed: {stats:?}");
    assert_eq!(stats.idle_timeouts_total, 4);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn connections_retire_at_their_lifetime_and_are_replaced() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(3)
        .max_size(3)
        .configure(|c| {
            quiet(c);
            c.max_lifetime = Some(Duration::from_secs(100));
            c.max_lifetime_jitter = 0.0;
        })
        .build()
        .await
        .unwrap();
    sleep(Duration::from_secs(99)).await;
    assert_eq!(faults.connects_succeeded(), 3);
    sleep(Duration::from_secs(30)).await;
    let stats = pool.stats();
    assert_eq!(stats.expired_total, 3, "{stats:?}");
    assert_eq!(faults.connects_succeeded(), 6, "replaced to keep min_size");
    assert_eq!(stats.total, 3);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn lifetime_jitter_spreads_expiries() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(40)
        .max_size(40)
        .configure(|c| {
            quiet(c);
            c.max_concurrent_creates = 40;
            c.max_lifetime = Some(Duration::from_secs(100));
            // Each connection loses up to half its lifetime: expiries spread over 50..100 s.
            c.max_lifetime_jitter = 0.5;
        })
        .build()
        .await
        .unwrap();
    // The reaper looks every 25 s; at 76 s it has retired those that expired by 75 s.
    sleep(Duration::from_secs(76)).await;
    let expired = pool.stats().expired_total;
    assert!(
        expired > 0 && expired < 40,
        "with jitter some but not all expire by 75 s; {expired} did"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_is_never_idle_still_retires_on_return() {
    never_idle_connection_retires_on_return(true).await;
}

/// The fast return path reads no clock: the reaper flags a connection that outlived its
/// lifetime while checked out, and the return closes it.
#[tokio::test(start_paused = true)]
async fn without_checkout_validation_a_connection_never_idle_still_retires_on_return() {
    never_idle_connection_retires_on_return(false).await;
}

async fn never_idle_connection_retires_on_return(test_on_checkout: bool) {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            quiet(c);
            c.test_on_checkout = test_on_checkout;
            c.max_lifetime = Some(Duration::from_secs(60));
            c.max_lifetime_jitter = 0.0;
        })
        .build()
        .await
        .unwrap();
    let conn = pool.get().await.unwrap();
    let first_id = conn.id();
    sleep(Duration::from_secs(61)).await;
    drop(conn);
    let next = pool.get().await.unwrap();
    assert_ne!(next.id(), first_id, "the expired connection was not reused");
    assert_eq!(pool.stats().expired_total, 1);
    assert_eq!(faults.connects_succeeded(), 2);
}

/// Returns on the fast path are stamped by the next sweep: the idle timeout then counts from
/// the sweep, so a connection retires up to one sweep interval late but never early.
#[tokio::test(start_paused = true)]
async fn without_checkout_validation_the_idle_timeout_counts_from_the_return_not_the_checkout() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(2)
        .configure(|c| {
            quiet(c);
            c.test_on_checkout = false;
            c.idle_timeout = Some(Duration::from_secs(10));
        })
        .build()
        .await
        .unwrap();
    let held = futures_join(&pool, 2).await;
    // Held for twice the idle timeout: a return stamped with the checkout (or open) time would
    // look idle for 20 s already.
    sleep(Duration::from_secs(20)).await;
    drop(held);
    sleep(Duration::from_millis(9_900)).await;
    let stats = pool.stats();
    assert_eq!(stats.total, 2, "retired before its idle timeout: {stats:?}");
    // The sweep runs every 2.5 s (a quarter of the idle timeout).
    sleep(Duration::from_secs(3)).await;
    let stats = pool.stats();
    assert_eq!(stats.total, 1, "the one above min_size retired: {stats:?}");
    assert_eq!(stats.idle_timeouts_total, 1);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_health_check_replaces_idle_connections_that_died() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(4)
        .configure(|c| {
            quiet(c);
            c.health_check_interval = Some(Duration::from_secs(30));
        })
        .build()
        .await
        .unwrap();
    faults.set_ping(Behavior::Fail);
    sleep(Duration::from_secs(29)).await;
    assert_eq!(faults.pings(), 0, "no ping before the interval");
    sleep(Duration::from_secs(2)).await;
    faults.set_ping(Behavior::Ok);
    let stats = pool.stats();
    assert_eq!(stats.health_check_failures_total, 2, "{stats:?}");
    assert_eq!(faults.connects_succeeded(), 4, "both replaced");
    assert_eq!(stats.total, 2);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_hung_health_check_is_cut_at_its_timeout() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            quiet(c);
            c.health_check_interval = Some(Duration::from_secs(10));
            c.health_check_timeout = Duration::from_secs(2);
        })
        .build()
        .await
        .unwrap();
    faults.set_ping(Behavior::Hang);
    sleep(Duration::from_secs(11)).await;
    assert_eq!(pool.stats().idle, 0, "the connection is out being checked");
    sleep(Duration::from_secs(2)).await;
    faults.set_ping(Behavior::Ok);
    assert_eq!(pool.stats().health_check_failures_total, 1);
    assert_eq!(faults.connects_succeeded(), 2);
}

#[tokio::test(start_paused = true)]
async fn checkout_validation_runs_only_after_the_bypass_window() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            quiet(c);
            c.validation_bypass = Duration::from_millis(500);
        })
        .build()
        .await
        .unwrap();
    sleep(Duration::from_secs(1)).await;
    drop(pool.get().await.unwrap());
    assert_eq!(faults.pings(), 1, "stale: validated");
    drop(pool.get().await.unwrap());
    assert_eq!(faults.pings(), 1, "used just now: not validated");
    // A session killed while idle is caught at checkout and replaced, unseen by the caller.
    sleep(Duration::from_secs(1)).await;
    faults.set_ping(Behavior::Fail);
    let conn = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(|c| c.id()) }
    });
    sleep(Duration::from_millis(1)).await;
    faults.set_ping(Behavior::Ok);
    assert!(conn.await.unwrap().is_ok());
    assert_eq!(pool.stats().validation_failures_total, 1);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_half_opens_after_its_open_duration_and_closes_on_success() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(4)
        .configure(|c| {
            quiet(c);
            c.circuit_breaker.failure_threshold = 3;
            c.circuit_breaker.open_duration = Duration::from_secs(20);
            c.connect_backoff_initial = Duration::from_millis(10);
        })
        .build()
        .await
        .unwrap();
    let Err(pool_core::Error::CircuitOpen { retry_in, .. }) = pool.get().await.map(drop) else {
        panic!("the breaker opens")
    };
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
    // The interval is drawn between half the open duration and all of it.
    assert!(retry_in >= Duration::from_secs(10) && retry_in <= Duration::from_secs(20));
    let attempts = faults.connects_attempted();

    sleep(retry_in - Duration::from_secs(1)).await;
    assert!(
        pool.get().await.is_err(),
        "still open before the open duration"
    );
    assert_eq!(faults.connects_attempted(), attempts);

    sleep(Duration::from_secs(2)).await;
    faults.set_connect(Behavior::Ok);
    let conn = pool.get().await.expect("the half-open trial succeeds");
    assert_eq!(
        faults.connects_attempted(),
        attempts + 1,
        "exactly one trial"
    );
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Closed);
    drop(conn);
    let stats = pool.stats();
    assert_eq!(
        (
            stats.circuit_opened_total,
            stats.circuit_half_opened_total,
            stats.circuit_closed_total
        ),
        (1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_opens_the_breaker_again_and_manual_reset_closes_it() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    faults.set_connect(Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(4)
        .configure(|c| {
            quiet(c);
            c.circuit_breaker.failure_threshold = 2;
            c.circuit_breaker.open_duration = Duration::from_secs(5);
            c.connect_backoff_initial = Duration::from_millis(10);
        })
        .build()
        .await
        .unwrap();
    assert!(pool.get().await.is_err());
    sleep(Duration::from_secs(6)).await;
    assert!(pool.get().await.is_err(), "the trial fails");
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
    faults.set_connect(Behavior::Ok);
    pool.circuit_breaker().reset();
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Closed);
    assert!(pool.get().await.is_ok());
}

async fn futures_join(
    pool: &Pool<TestConnector>,
    n: usize,
) -> Vec<pool_core::PooledConnection<TestConnector>> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.get().await.unwrap());
    }
    held
}

#[tokio::test(start_paused = true)]
async fn the_validation_bypass_holds_within_one_sample_interval_without_a_clock_read() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            quiet(c);
            c.validation_bypass = Duration::from_millis(500);
            c.autoscale.sample_interval = Duration::from_millis(100);
        })
        .build()
        .await
        .unwrap();
    sleep(Duration::from_secs(1)).await;
    drop(pool.get().await.unwrap());
    let pings = faults.pings();
    // Idle for less than the bypass minus one sample interval: never validated.
    sleep(Duration::from_millis(390)).await;
    drop(pool.get().await.unwrap());
    assert_eq!(faults.pings(), pings, "used 390 ms ago: not validated");
    // Idle for more than the bypass plus one sample interval: always validated.
    sleep(Duration::from_millis(610)).await;
    drop(pool.get().await.unwrap());
    assert_eq!(faults.pings(), pings + 1, "used 610 ms ago: validated");
}
