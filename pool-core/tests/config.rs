//! Configuration: every bad value is a typed error naming the field; TOML with humane
//! durations loads; unknown keys are refused.

use std::time::Duration;

use pool_core::testing::TestConnector;
use pool_core::{Error, Pool, PoolConfig};

fn check(change: impl FnOnce(&mut PoolConfig), field: &str, reason_contains: &str) {
    let mut config = PoolConfig::default();
    change(&mut config);
    match config.validate() {
        Err(Error::Config { field: f, reason }) => {
            assert_eq!(f, field, "wrong field named (reason: {reason})");
            assert!(
                reason.contains(reason_contains),
                "{field}: reason {reason:?} should mention {reason_contains:?}"
            );
        }
        other => panic!("{field}: expected a config error, got {other:?}"),
    }
}

#[test]
fn every_invalid_value_is_a_config_error_naming_its_field() {
    check(|c| c.max_size = 0, "max_size", "at least 1");
    check(
        |c| c.min_size = Some(101),
        "min_size",
        "must not exceed max_size",
    );
    check(
        |c| c.max_concurrent_creates = 0,
        "max_concurrent_creates",
        "at least 1",
    );
    check(
        |c| c.acquire_timeout = Duration::ZERO,
        "acquire_timeout",
        "longer than zero",
    );
    check(
        |c| c.connect_timeout = Duration::ZERO,
        "connect_timeout",
        "longer than zero",
    );
    check(
        |c| c.health_check_timeout = Duration::ZERO,
        "health_check_timeout",
        "longer than zero",
    );
    check(
        |c| c.close_timeout = Duration::ZERO,
        "close_timeout",
        "longer than zero",
    );
    check(
        |c| c.health_check_interval = Some(Duration::ZERO),
        "health_check_interval",
        "longer than zero",
    );
    check(
        |c| c.idle_timeout = Some(Duration::ZERO),
        "idle_timeout",
        "longer than zero",
    );
    check(
        |c| c.max_lifetime = Some(Duration::ZERO),
        "max_lifetime",
        "longer than zero",
    );
    check(
        |c| c.query_timeout = Some(Duration::ZERO),
        "query_timeout",
        "longer than zero",
    );
    check(
        |c| c.leak_detection_threshold = Some(Duration::ZERO),
        "leak_detection_threshold",
        "longer than zero",
    );
    check(
        |c| {
            c.leak_detection_threshold = None;
            c.leak_reclaim_after = Some(Duration::from_secs(1));
        },
        "leak_reclaim_after",
        "needs leak_detection_threshold",
    );
    check(
        |c| c.leak_reclaim_after = Some(Duration::from_secs(1)),
        "leak_reclaim_after",
        "must not be shorter",
    );
    check(
        |c| c.connect_backoff_max = Duration::from_millis(1),
        "connect_backoff_max",
        "must not be shorter",
    );
    check(
        |c| c.max_lifetime_jitter = 1.5,
        "max_lifetime_jitter",
        "fraction",
    );
    check(
        |c| c.max_lifetime_jitter = -0.1,
        "max_lifetime_jitter",
        "fraction",
    );
    check(
        |c| c.max_lifetime_jitter = f64::NAN,
        "max_lifetime_jitter",
        "fraction",
    );
    check(
        |c| c.autoscale.scale_up_threshold = 1.2,
        "autoscale.scale_up_threshold",
        "fraction",
    );
    check(|c| c.autoscale.step = 0.0, "autoscale.step", "fraction");
    check(
        |c| c.autoscale.target_utilization = 0.0,
        "autoscale.target_utilization",
        "fraction",
    );
    check(
        |c| {
            c.autoscale.scale_down_threshold = 0.9;
            c.autoscale.scale_up_threshold = 0.8;
        },
        "autoscale.scale_down_threshold",
        "must be below",
    );
    check(
        |c| c.autoscale.sample_interval = Duration::ZERO,
        "autoscale.sample_interval",
        "longer than zero",
    );
    check(
        |c| c.circuit_breaker.failure_threshold = 0,
        "circuit_breaker.failure_threshold",
        "at least 1",
    );
    check(
        |c| c.circuit_breaker.open_duration = Duration::ZERO,
        "circuit_breaker.open_duration",
        "longer than zero",
    );
}

#[test]
fn the_defaults_are_valid_and_documented_values() {
    let c = PoolConfig::default();
    c.validate().unwrap();
    assert_eq!((c.effective_min_size(), c.max_size), (5, 100));
    assert_eq!(c.acquire_timeout, Duration::from_secs(30));
    assert_eq!(c.validation_bypass, Duration::from_millis(500));
    assert_eq!(c.health_check_interval, Some(Duration::from_secs(60)));
    assert_eq!(c.health_check_timeout, Duration::from_secs(5));
    assert_eq!(c.leak_detection_threshold, Some(Duration::from_secs(300)));
    assert_eq!(c.idle_timeout, Some(Duration::from_secs(3600)));
    assert_eq!(c.max_lifetime, Some(Duration::from_secs(7200)));
    assert_eq!(c.query_timeout, Some(Duration::from_secs(60)));
    assert_eq!(c.circuit_breaker.failure_threshold, 5);
    assert_eq!(c.circuit_breaker.open_duration, Duration::from_millis(250));
    assert_eq!(c.circuit_breaker.max_open_duration, Duration::from_secs(60));
    assert_eq!(c.autoscale.target_utilization, 0.7);
    assert_eq!(c.autoscale.scale_up_threshold, 0.8);
    assert_eq!(c.autoscale.scale_down_threshold, 0.5);
    assert_eq!(c.autoscale.step, 0.2);
    assert_eq!(c.autoscale.scale_down_cooldown, Duration::from_secs(60));
}

#[test]
fn toml_with_humane_durations_loads() {
    let config: PoolConfig = toml::from_str(
        r#"
        name = "orders"
        min_size = 2
        max_size = 20
        acquire_timeout = "5s"
        idle_timeout = "10m"
        leak_detection_threshold = "1m 30s"
        warmup = "start_degraded"

        [circuit_breaker]
        failure_threshold = 3
        open_duration = "500ms"

        [autoscale]
        enabled = false
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.name, "orders");
    assert_eq!(config.acquire_timeout, Duration::from_secs(5));
    assert_eq!(config.idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(
        config.leak_detection_threshold,
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        config.circuit_breaker.open_duration,
        Duration::from_millis(500)
    );
    assert!(!config.autoscale.enabled);
    // Untouched keys keep their defaults.
    assert_eq!(config.max_lifetime, Some(Duration::from_secs(7200)));
}

#[test]
fn a_file_can_turn_optional_timeouts_off() {
    let config: PoolConfig = toml::from_str(
        r#"
        idle_timeout = "off"
        max_lifetime = false
        query_timeout = "90s"
        leak_detection_threshold = "none"
        health_check_interval = "disabled"
        "#,
    )
    .unwrap();
    assert_eq!(config.health_check_interval, None);
    assert_eq!(config.idle_timeout, None);
    assert_eq!(config.max_lifetime, None);
    assert_eq!(config.query_timeout, Some(Duration::from_secs(90)));
    assert_eq!(config.leak_detection_threshold, None);
    let error = toml::from_str::<PoolConfig>("idle_timeout = true").unwrap_err();
    assert!(error.to_string().contains("off"), "{error}");
}

#[test]
fn unknown_keys_and_bad_durations_are_refused_with_their_name() {
    let error = toml::from_str::<PoolConfig>("max_sise = 3").unwrap_err();
    assert!(error.to_string().contains("max_sise"), "{error}");
    let error = toml::from_str::<PoolConfig>(r#"acquire_timeout = "fast""#).unwrap_err();
    assert!(
        error.to_string().contains("acquire_timeout") || error.to_string().contains("fast"),
        "{error}"
    );
}

#[tokio::test]
async fn build_refuses_an_invalid_config_without_connecting() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let error = Pool::builder(connector)
        .min_size(10)
        .max_size(2)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Config { field, .. } if field == "min_size"),
        "{error}"
    );
    assert_eq!(faults.connects_attempted(), 0);
}

#[tokio::test]
async fn resize_validates_and_applies_at_run_time() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(4)
        .build()
        .await
        .unwrap();
    assert!(matches!(pool.resize(3, 2), Err(Error::Config { .. })));
    assert!(matches!(pool.resize(0, 0), Err(Error::Config { .. })));
    pool.resize(2, 2).unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    assert!(
        pool.get_timeout(Duration::from_millis(50)).await.is_err(),
        "max is now 2"
    );
    let stats = pool.stats();
    assert_eq!((stats.min_size, stats.max_size), (2, 2));
    drop((a, b));
    pool.resize(1, 1).unwrap();
    tokio::task::yield_now().await;
    assert!(pool.stats().total <= 1);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn max_size_alone_below_the_default_min_size_builds() {
    let pool = Pool::builder(TestConnector::new())
        .max_size(1)
        .build()
        .await
        .unwrap();
    let stats = pool.stats();
    assert_eq!((stats.min_size, stats.max_size, stats.total), (1, 1, 1));
    // Set explicitly, a min_size above max_size is still an error that names both.
    let error = Pool::builder(TestConnector::new())
        .min_size(3)
        .max_size(2)
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("min_size"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn durations_too_long_to_add_to_an_instant_mean_no_limit_instead_of_a_panic() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            c.acquire_timeout = Duration::MAX;
            c.connect_timeout = Duration::MAX;
            c.health_check_timeout = Duration::MAX;
            c.close_timeout = Duration::MAX;
            c.connect_backoff_max = Duration::MAX;
            c.health_check_interval = Some(Duration::MAX);
            c.idle_timeout = Some(Duration::MAX);
            c.max_lifetime = Some(Duration::MAX);
            c.leak_detection_threshold = Some(Duration::MAX);
            c.query_timeout = Some(Duration::MAX);
            c.autoscale.sample_interval = Duration::MAX;
            c.autoscale.scale_down_cooldown = Duration::MAX;
            c.circuit_breaker.open_duration = Duration::MAX;
            c.circuit_breaker.max_open_duration = Duration::MAX;
        })
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get_timeout(Duration::MAX).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(pool.counts().waiting, 1, "still waiting, without a panic");
    drop(held);
    waiter.await.unwrap().unwrap();
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn every_builder_setter_lands_in_the_pool_config() {
    let mut autoscale = pool_core::AutoscaleConfig::default();
    autoscale.enabled = false;
    let mut breaker = pool_core::CircuitBreakerConfig::default();
    breaker.failure_threshold = 7;
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(3)
        .max_concurrent_creates(2)
        .connect_backoff(Duration::from_millis(20), Duration::from_secs(3))
        .test_on_checkout(false)
        .validation_bypass(Duration::from_millis(250))
        .health_check_interval(None)
        .health_check_timeout(Duration::from_secs(2))
        .leak_detection_threshold(Some(Duration::from_secs(30)))
        .leak_capture_backtrace(true)
        .leak_reclaim_after(Some(Duration::from_secs(60)))
        .idle_timeout(Some(Duration::from_secs(90)))
        .max_lifetime(None)
        .max_lifetime_jitter(0.0)
        .reset_on_return(false)
        .close_timeout(Duration::from_secs(4))
        .autoscale(autoscale.clone())
        .circuit_breaker(breaker.clone())
        .build()
        .await
        .unwrap();
    let c = pool.config();
    assert_eq!(c.max_concurrent_creates, 2);
    assert_eq!(c.connect_backoff_initial, Duration::from_millis(20));
    assert_eq!(c.connect_backoff_max, Duration::from_secs(3));
    assert!(!c.test_on_checkout);
    assert_eq!(c.validation_bypass, Duration::from_millis(250));
    assert_eq!(c.health_check_interval, None);
    assert_eq!(c.health_check_timeout, Duration::from_secs(2));
    assert_eq!(c.leak_detection_threshold, Some(Duration::from_secs(30)));
    assert!(c.leak_capture_backtrace);
    assert_eq!(c.leak_reclaim_after, Some(Duration::from_secs(60)));
    assert_eq!(c.idle_timeout, Some(Duration::from_secs(90)));
    assert_eq!(c.max_lifetime, None);
    assert_eq!(c.max_lifetime_jitter, 0.0);
    assert!(!c.reset_on_return);
    assert_eq!(c.close_timeout, Duration::from_secs(4));
    assert_eq!(c.autoscale, autoscale);
    assert_eq!(c.circuit_breaker, breaker);
}
