//! Secret hygiene: a password never appears in anything the pool or the adapters print.
//!
//! A throwaway PostgreSQL requires the password `Sup3rS3cretPa55word`; a pool reaches it through a
//! fault proxy with that password in its URL and goes through connect failures (a wrong
//! password, a vanished server), a leak report and circuit breaker changes. MariaDB is asked
//! for root with the same string as a wrong password. Every tracing event of the process, and
//! the `Debug` and `Display` of configurations, connectors, pools, errors, the stats JSON and
//! pool-manager's Prometheus exposition, is searched for the password (and for the wrong
//! password tried).

use std::time::Duration;

use adapter_mysql::{MysqlConnector, MysqlOptions};
use adapter_postgres::{PostgresConnector, PostgresOptions};
use conformance::chaos::log_capture;
use conformance::fault_proxy::{Fault, FaultProxy};
use conformance::throwaway::ThrowawayPostgres;
use pool_core::{ConnectionProtocol, Connector, Error, Pool};

const SECRET: &str = "Sup3rS3cretPa55word";
const WRONG: &str = "Wr0ngS3cretPa55word";

fn both(seen: &mut Vec<String>, what: &str, value: &(impl std::fmt::Debug + std::fmt::Display)) {
    seen.push(format!("{what} (Display): {value}"));
    seen.push(format!("{what} (Debug): {value:?}"));
}

#[test]
fn passwords_never_appear_in_logs_debug_display_errors_or_stats() {
    let capture = log_capture();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    runtime.block_on(async {
        let server = ThrowawayPostgres::start_with(Some(SECRET))
            .expect("a throwaway PostgreSQL with password authentication");
        let proxy = FaultProxy::start(([127, 0, 0, 1], server.port()).into())
            .await
            .unwrap();
        let url = format!(
            "postgres://postgres:{SECRET}@127.0.0.1:{}/postgres?application_name=secrets",
            proxy.port()
        );

        // Configuration and connector.
        let options = PostgresOptions::from_url(&url).unwrap();
        seen.push(format!("PostgresOptions: {options:?}"));
        let connector = PostgresConnector::from_url(&url).unwrap();
        seen.push(format!("PostgresConnector: {connector:?}"));

        // A wrong password.
        let wrong = PostgresConnector::from_url(&format!(
            "postgres://postgres:{WRONG}@127.0.0.1:{}/postgres",
            server.port()
        ))
        .unwrap();
        let error = wrong
            .connect()
            .await
            .err()
            .unwrap_or_else(|| panic!("a wrong password fails"));
        both(&mut seen, "wrong password", &error);
        let error = Pool::builder(wrong)
            .min_size(1)
            .build()
            .await
            .err()
            .unwrap_or_else(|| panic!("warm-up with a wrong password fails"));
        both(&mut seen, "pool build with a wrong password", &error);

        // A pool with leaks and breaker changes.
        let pool = Pool::builder(connector)
            .min_size(1)
            .max_size(2)
            .acquire_timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(500))
            .configure(|c| {
                c.leak_detection_threshold = Some(Duration::from_millis(100));
                c.leak_capture_backtrace = true;
                c.circuit_breaker.open_duration = Duration::from_millis(200);
                c.circuit_breaker.failure_threshold = 2;
                c.connect_backoff_initial = Duration::from_millis(20);
            })
            .build()
            .await
            .expect("the pool builds");
        seen.push(format!("Pool: {pool:?}"));
        seen.push(format!("PoolConfig: {:?}", pool.config()));
        seen.push(format!("pool connector: {:?}", pool.connector()));
        {
            let mut conn = pool.get().await.unwrap();
            conn.query("SELECT 1", &[]).await.unwrap();
            seen.push(format!("PooledConnection: {conn:?}"));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        proxy.set(Fault::Refuse);
        let mut open = None;
        for _ in 0..200 {
            match pool.get().await {
                Err(e @ Error::CircuitOpen { .. }) => {
                    open = Some(e);
                    break;
                }
                Err(e) => both(&mut seen, "error while the database is gone", &e),
                Ok(conn) => drop(conn),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let open = open.expect("the breaker opened");
        both(&mut seen, "CircuitOpen", &open);
        proxy.set(Fault::Pass);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut conn = pool.get().await.expect("the database is back");
        conn.ping().await.unwrap();
        drop(conn);
        seen.push(format!(
            "stats JSON: {}",
            serde_json::to_string(&pool.stats()).unwrap()
        ));
        seen.push(format!("stats Debug: {:?}", pool.stats()));
        let manager = pool_manager::PoolManager::new();
        manager
            .register("secrets", pool.clone())
            .expect("the pool registers");
        let exposition = pool_manager::metrics::encode(&manager);
        assert!(
            exposition.contains("secrets"),
            "the exposition covers the pool"
        );
        seen.push(format!("Prometheus exposition: {exposition}"));
        seen.push(format!(
            "manager stats JSON: {}",
            serde_json::to_string(&manager.stats()).unwrap()
        ));
        pool.close(Duration::from_secs(2)).await;

        // MariaDB, root with a wrong password.
        let mysql_url = format!("mysql://root:{SECRET}@127.0.0.1:3306/test");
        let options = MysqlOptions::from_url(&mysql_url).unwrap();
        seen.push(format!("MysqlOptions: {options:?}"));
        let connector = MysqlConnector::from_url(&mysql_url).unwrap();
        seen.push(format!("MysqlConnector: {connector:?}"));
        let error = connector
            .connect()
            .await
            .err()
            .unwrap_or_else(|| panic!("a wrong password fails"));
        both(&mut seen, "mysql wrong password", &error);
        let error = Pool::builder(connector)
            .min_size(1)
            .build()
            .await
            .err()
            .unwrap_or_else(|| panic!("warm-up with a wrong password fails"));
        both(&mut seen, "mysql pool build", &error);
        drop(server);
    });

    let log = capture.text();
    // The capture saw what it had to see, or the check proves nothing.
    for expected in [
        "circuit breaker opened",
        "circuit breaker closed",
        "secrets",
    ] {
        assert!(
            log.contains(expected),
            "the log capture has no {expected:?}"
        );
    }
    assert!(
        log.contains("passwords_never_appear"),
        "no leak report with its checkout trace was captured"
    );
    for (what, text) in seen
        .iter()
        .map(|s| ("output", s.as_str()))
        .chain([("tracing output", log.as_str())])
    {
        for secret in [SECRET, WRONG] {
            assert!(!text.contains(secret), "{secret} appears in {what}: {text}");
        }
    }
}
