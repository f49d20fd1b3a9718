//! Helpers shared by the test files.
#![allow(dead_code)]

pub mod http;

use std::sync::Arc;
use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::{Faults, TestConnector};

/// A TestConnector pool with the background tasks that would add timers turned off.
pub async fn test_pool(name: &str, min: usize, max: usize) -> (Pool<TestConnector>, Arc<Faults>) {
    test_pool_with(name, min, max, |_| {}).await
}

/// Like [`test_pool`], with a change to the configuration.
pub async fn test_pool_with(
    name: &str,
    min: usize,
    max: usize,
    change: impl FnOnce(&mut pool_core::PoolConfig),
) -> (Pool<TestConnector>, Arc<Faults>) {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .name(name)
        .min_size(min)
        .max_size(max)
        .configure(|c| {
            c.health_check_interval = None;
            c.leak_detection_threshold = None;
            c.autoscale.enabled = false;
            c.acquire_timeout = Duration::from_secs(30);
            change(c);
        })
        .build()
        .await
        .expect("a TestConnector pool builds");
    (pool, faults)
}

pub const PG_URL: &str = "postgres://root@127.0.0.1:5432/test";
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
