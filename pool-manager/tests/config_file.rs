//! Building from a TOML file: validation errors name pool, key and reason; `${VAR}`
//! substitution; defaults and replica inheritance; URL scheme → adapter through the registry;
//! no password in any error or `Debug` output.

mod common;

use std::time::Duration;

use adapter_postgres::PostgresConnector;
use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::testing::{Behavior, TestConnector};
use pool_core::{Pool, Value};
use pool_manager::{AdapterRegistry, ManagerConfig, ManagerError};

const SECRET: &str = "hunter2-s3cret";

fn env(name: &str) -> Option<String> {
    match name {
        "PW" => Some(SECRET.to_owned()),
        "MAX" => Some("7".to_owned()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<ManagerConfig, ManagerError> {
    ManagerConfig::from_toml_str_with_env(text, &env)
}

/// Parses `text` and checks the error's pool, key and (part of the) reason.
fn check(text: &str, pool: &str, key: &str, reason: &str) {
    let err = parse(text).expect_err(text);
    let ManagerError::Config {
        pool: got_pool,
        key: got_key,
        reason: got_reason,
    } = &err
    else {
        panic!("expected a Config error for {text:?}, got {err:?}");
    };
    assert_eq!(
        (got_pool.as_str(), got_key.as_str()),
        (pool, key),
        "{text}\n{err}"
    );
    assert!(got_reason.contains(reason), "{text}\nreason: {got_reason}");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[test]
fn bad_files_are_reported_with_pool_key_and_reason() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("[pools.a]\nmax_size = 5", "a", "url", "is required"),
        ("[pools.a]\nurl = 5", "a", "url", "must be a string"),
        ("[pools.a]\nurl = \"\"", "a", "url", "must not be empty"),
        (
            "[pools.a]\nurl = \"t:x\"\nmax_sise = 5",
            "a",
            "max_sise",
            "is not a pool option",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nmax_size = \"ten\"",
            "a",
            "max_size",
            "is the string `\"ten\"` but takes a whole number",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nmax_size = 0",
            "a",
            "max_size",
            "must be at least 1",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nmin_size = 9\nmax_size = 5",
            "a",
            "min_size",
            "must not exceed max_size (5)",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nacquire_timeout = \"5 parsecs\"",
            "a",
            "acquire_timeout",
            "is not a duration (`5 parsecs`: unknown time unit \"parsecs\"",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nacquire_timeout = \"0s\"",
            "a",
            "acquire_timeout",
            "must be longer than zero",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nwarmup = \"sometimes\"",
            "a",
            "warmup",
            "unknown variant",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\ncircuit_breaker = { failure_threshold = 0 }",
            "a",
            "circuit_breaker.failure_threshold",
            "must be at least 1",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\ncircuit_breaker = { bogus = 1 }",
            "a",
            "circuit_breaker.bogus",
            "is not a pool option",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\n[pools.a.autoscale]\nscale_up_threshold = 1.5",
            "a",
            "autoscale.scale_up_threshold",
            "must be a fraction",
        ),
        (
            "[pools.a]\nurl = \"postgres://app:${NOPE}@db/x\"",
            "a",
            "url",
            "`NOPE`, which is not set",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nname = \"b\"",
            "a",
            "name",
            "cannot be set",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nreplicas = 3",
            "a",
            "replicas",
            "must be an array of tables",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\n[[pools.a.replicas]]\nmax_size = 3",
            "a",
            "replicas[0].url",
            "is required",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\n[[pools.a.replicas]]\nurl = \"t:y\"\n[[pools.a.replicas]]\nurl = \"t:z\"\nmax_size = 0",
            "a",
            "replicas[1].max_size",
            "must be at least 1",
        ),
        (
            "[pools.a]\nurl = \"t:x\"\nmin_size = 3\n[[pools.a.replicas]]\nurl = \"t:y\"\nmax_size = 2",
            "a",
            "replicas[0].min_size",
            "must not exceed max_size (2)",
        ),
        (
            "[defaults]\nmax_size = 0\n[pools.a]\nurl = \"t:x\"",
            "defaults",
            "max_size",
            "must be at least 1",
        ),
        (
            "[defaults]\nmin_size = 50\n[pools.a]\nurl = \"t:x\"\nmax_size = 10",
            "a",
            "min_size",
            "must not exceed max_size (10)",
        ),
        ("defaults = 1", "", "defaults", "must be a table"),
        ("pools = 3", "", "pools", "must be a table"),
        ("pool = 3", "", "pool", "is not a top-level key"),
        ("[pools]\na = 3", "a", "", "must be a table"),
        (
            "[pools.a]\nurl = \"t:x\"\nquery_timeout = \"${MAX}\"",
            "a",
            "query_timeout",
            // The value (7) came from the environment: named by its variable, never shown.
            "comes from the environment (`MAX`), and its value (not shown here) is not a duration",
        ),
    ];
    for (text, pool, key, reason) in cases {
        check(text, pool, key, reason);
    }
}

#[test]
fn a_syntax_error_gives_the_line_and_column_without_the_source_line() {
    let text = "[pools.a]\nurl = \"postgres://app:hunter2-s3cret@db\nmax_size = 5\n";
    let err = parse(text).unwrap_err();
    let ManagerError::Syntax { line, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 2, "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
}

#[test]
fn env_variables_are_substituted_and_defaults_merged_key_by_key() {
    let config = parse(
        r#"
        [defaults]
        acquire_timeout = "5s"
        circuit_breaker = { failure_threshold = 3, open_duration = "30s" }

        [pools.orders]
        url = "postgres://app:${PW}@db/orders?application_name=${APP:-orders}"
        max_size = 20
        circuit_breaker = { open_duration = "10s" }

        [pools.cache]
        url = "sqlite:///tmp/cache.db"
        acquire_timeout = "250ms"
        "#,
    )
    .unwrap();
    let orders = &config.pools["orders"];
    assert_eq!(
        orders.url(),
        format!("postgres://app:{SECRET}@db/orders?application_name=orders")
    );
    assert_eq!(orders.config.name, "orders");
    assert_eq!(orders.config.max_size, 20);
    assert_eq!(orders.config.acquire_timeout, Duration::from_secs(5));
    assert_eq!(
        orders.config.circuit_breaker.failure_threshold, 3,
        "from defaults"
    );
    assert_eq!(
        orders.config.circuit_breaker.open_duration,
        Duration::from_secs(10)
    );
    let cache = &config.pools["cache"];
    assert_eq!(cache.config.acquire_timeout, Duration::from_millis(250));
    assert_eq!(
        cache.config.max_size,
        pool_core::PoolConfig::default().max_size
    );
}

/// docs/guide.md: options that can be switched off take `"off"` (or `false`) in the file, in
/// `[defaults]` as in a pool, and a pool may switch one back on.
#[test]
fn options_are_switched_off_in_a_file_with_off_or_false() {
    let config = parse(
        r#"
        [defaults]
        idle_timeout = "off"
        leak_detection_threshold = false

        [pools.reports]
        url = "postgres://db/reports"
        query_timeout = "off"
        health_check_interval = false
        max_lifetime = "disabled"

        [pools.orders]
        url = "postgres://db/orders"
        idle_timeout = "10m"
        leak_reclaim_after = "none"
        "#,
    )
    .unwrap();
    let reports = &config.pools["reports"].config;
    assert_eq!(reports.idle_timeout, None, "from defaults");
    assert_eq!(reports.leak_detection_threshold, None, "from defaults");
    assert_eq!(reports.query_timeout, None);
    assert_eq!(reports.health_check_interval, None);
    assert_eq!(reports.max_lifetime, None);
    let orders = &config.pools["orders"].config;
    assert_eq!(orders.idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(orders.leak_reclaim_after, None);
    assert_eq!(
        orders.query_timeout,
        pool_core::PoolConfig::default().query_timeout,
        "a key left out keeps the default"
    );
}

#[test]
fn replicas_inherit_the_pool_settings_and_may_override_them() {
    let config = parse(
        r#"
        [pools.orders]
        url = "postgres://db/orders"
        max_size = 20
        acquire_timeout = "2s"

        [[pools.orders.replicas]]
        url = "postgres://replica1/orders"

        [[pools.orders.replicas]]
        url = "postgres://replica2/orders"
        max_size = 5
        "#,
    )
    .unwrap();
    let replicas = &config.pools["orders"].replicas;
    assert_eq!(replicas.len(), 2);
    assert_eq!(replicas[0].config.max_size, 20);
    assert_eq!(replicas[0].config.name, "orders.replica1");
    assert_eq!(replicas[1].config.max_size, 5);
    assert_eq!(replicas[1].config.acquire_timeout, Duration::from_secs(2));
    assert_eq!(replicas[1].url(), "postgres://replica2/orders");
}

#[test]
fn debug_output_of_a_parsed_file_never_shows_the_password() {
    let config = parse(
        "[pools.a]\nurl = \"postgres://app:${PW}@db/x\"\n[[pools.a.replicas]]\nurl = \"mysql://db/x?password=${PW}\"",
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("postgres://app:***@db/x"), "{debug}");
    assert!(debug.contains("password=***"), "{debug}");
    assert_eq!(config.pools["a"].redacted_url(), "postgres://app:***@db/x");
}

#[tokio::test]
async fn a_file_builds_working_pools_through_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().display().to_string();
    let text = r#"
        [pools.cache]
        url = "sqlite://${DIR}/cache.db"
        max_size = 2
        min_size = 1

        [pools.fake]
        url = "test://anything"
        min_size = 2
        max_size = 3

        [[pools.fake.replicas]]
        url = "test://replica"
        min_size = 1
    "#;
    let lookup = move |name: &str| (name == "DIR").then(|| dir_path.clone());
    let config = ManagerConfig::from_toml_str_with_env(text, &lookup).unwrap();
    let registry = AdapterRegistry::new()
        .with_connector("sqlite", SqliteConnector::from_url)
        .with("test", |_url, config| {
            Box::pin(async move {
                let pool = Pool::builder(TestConnector::new())
                    .config(config)
                    .build()
                    .await?;
                Ok(pool.into())
            })
        });
    let manager = config.build(&registry).await.unwrap();
    assert_eq!(manager.names(), ["cache", "fake"]);

    let mut conn = manager.get("cache").await.unwrap();
    conn.execute("CREATE TABLE t (x INTEGER)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO t VALUES (42)", &[])
        .await
        .unwrap();
    let rows = conn.query("SELECT x FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(42)));
    assert!(conn.is::<SqliteConnection>());
    drop(conn);

    let cache: Pool<SqliteConnector> = manager.pool("cache").unwrap();
    assert_eq!((cache.name(), cache.stats().max_size), ("cache", 2));
    let fake: Pool<TestConnector> = manager.pool("fake").unwrap();
    assert_eq!(fake.stats().total, 2);
    let replica = &manager.replicas("fake").unwrap()[0];
    assert_eq!(replica.config().name, "fake.replica1");
    assert_eq!(replica.stats().max_size, 3, "inherited");
    assert_eq!(
        manager.get_read("fake").await.unwrap().pool_name(),
        "fake.replica1"
    );
    assert!(
        manager
            .close_all(Duration::from_secs(5))
            .await
            .is_complete()
    );
}

#[tokio::test]
async fn an_unknown_scheme_is_an_error_listing_the_registered_ones() {
    let config = parse("[pools.a]\nurl = \"redis://app:${PW}@cache\"").unwrap();
    let registry = AdapterRegistry::new()
        .with_connector("sqlite", SqliteConnector::from_url)
        .with_connector("postgres", PostgresConnector::from_url);
    let err = config.build(&registry).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "pool `a`: no adapter registered for the URL scheme `redis`; registered schemes: postgres, sqlite"
    );
}

#[tokio::test]
async fn a_failed_build_names_the_pool_hides_the_password_and_closes_the_pools_already_built() {
    let config = parse(
        r#"
        [pools.good]
        url = "test://ok"
        min_size = 2

        [pools.orders]
        url = "postgres://app:${PW}@127.0.0.1:1/orders?connect_timeout=2"
        min_size = 1
        "#,
    )
    .unwrap();
    let connector = TestConnector::new();
    let faults = connector.faults();
    let registry = AdapterRegistry::new()
        .with_connector("postgres", PostgresConnector::from_url)
        .with_connector("test", move |_url| Ok(connector.clone()));
    let err = config.build(&registry).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("could not build pool `orders` (postgres://app:***@127.0.0.1:1/orders"),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
    assert!(err.pool_error().is_some());
    // The good pool was built (two connections) and closed again.
    assert_eq!(faults.connects_succeeded(), 2);
    assert_eq!(faults.open(), 0, "the pools already built were closed");
}

#[tokio::test]
async fn a_pool_that_starts_degraded_builds_and_reports_its_state() {
    let config =
        parse("[pools.flaky]\nurl = \"test://x\"\nmin_size = 1\nwarmup = \"start_degraded\"")
            .unwrap();
    let registry = AdapterRegistry::new().with_connector("test", |_url| {
        let connector = TestConnector::new();
        connector.faults().set_connect(Behavior::Fail);
        Ok(connector)
    });
    let manager = config.build(&registry).await.unwrap();
    let stats = manager.stats();
    assert_ne!(stats.pools["flaky"].state, pool_core::PoolState::Healthy);
    manager.close_all(Duration::from_secs(1)).await;
}

#[test]
fn reading_a_missing_file_names_it() {
    let err = ManagerConfig::from_file("/nonexistent/pools.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("could not read the configuration file `/nonexistent/pools.toml`"),
        "{err}"
    );
}
