//! Snapshots of what people read: the stats JSON a dashboard polls, and every error's message.

use std::time::Duration;

use pool_core::testing::TestConnector;
use pool_core::{BackendError, Error, Pool, PoolCounts};

#[tokio::test(start_paused = true)]
async fn stats_json() {
    let pool = Pool::builder(TestConnector::new())
        .name("orders")
        .min_size(2)
        .max_size(4)
        .configure(|c| {
            c.autoscale.enabled = false;
            c.reset_on_return = false;
            c.leak_detection_threshold = None;
        })
        .build()
        .await
        .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    drop(a);
    waiter.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let stats = pool.stats();
    drop(b);
    insta::assert_json_snapshot!(stats);
}

#[test]
fn error_messages() {
    let cause = BackendError::connection("connection refused (os error 111)");
    let counts = PoolCounts {
        active: 10,
        idle: 0,
        preparing: 0,
        connecting: 2,
        waiting: 37,
        max: 10,
    };
    let errors = [
        Error::Timeout {
            waited: Duration::from_secs(30),
            counts,
            last_connect_error: None,
        },
        Error::Timeout {
            waited: Duration::from_secs(30),
            counts,
            last_connect_error: Some(cause.clone()),
        },
        Error::CircuitOpen {
            retry_in: Duration::from_millis(42_500),
            failures: 5,
            last_error: Some(cause.clone()),
        },
        Error::Closed,
        Error::Connect(cause.clone()),
        Error::ConnectTimeout(Duration::from_secs(10)),
        Error::config("min_size", "(20) must not exceed max_size (10)"),
        Error::Backend(BackendError::query("syntax error at or near \"SELEC\"").with_code("42601")),
        Error::QueryTimeout(Duration::from_secs(60)),
    ];
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    insta::assert_debug_snapshot!(rendered);
}
