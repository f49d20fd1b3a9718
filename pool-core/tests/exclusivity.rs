//! A connection is never held by two holders at once, and the pool never opens more than
//! `max_size` connections, under heavy concurrency on a multi-threaded runtime.

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::TestConnector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_never_held_by_two_holders_at_once_and_total_never_exceeds_max() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(0)
        .max_size(6)
        .configure(|c| {
            c.leak_detection_threshold = None;
            c.max_concurrent_creates = 6;
        })
        .build()
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200u32 {
                let conn = pool.get().await.expect("get");
                conn.begin_use();
                if i % 3 == 0 {
                    tokio::task::yield_now().await;
                }
                conn.end_use();
                pool.check_invariants()
                    .expect("open + connecting <= max_size");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        !faults.double_use_seen(),
        "a connection was used by two holders at once"
    );
    assert!(
        faults.max_open() <= 6,
        "{} connections were open at once",
        faults.max_open()
    );
    pool.check_invariants().unwrap();
    pool.close(Duration::from_secs(5)).await;
    assert_eq!(faults.open(), 0);
}
