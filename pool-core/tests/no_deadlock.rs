//! 1,024 tasks over a pool of 4, a million gets: no deadlock, no lost wake-up (the scenario
//! that deadlocked bb8 and qp in public benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::TestConnector;

const TASKS: u64 = 1024;
const GETS: u64 = 1_000_000;

#[test]
fn many_tasks_over_a_small_pool_finish_with_no_deadlock_and_no_lost_wakeup() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connector = TestConnector::new();
        let faults = connector.faults();
        let pool = Pool::builder(connector)
            .min_size(4)
            .max_size(4)
            .configure(|c| {
                c.leak_detection_threshold = None;
                c.reset_on_return = false;
                c.test_on_checkout = false;
                // A lost wake-up shows as a timeout: make it loud rather than slow.
                c.acquire_timeout = Duration::from_secs(30);
            })
            .build()
            .await
            .unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let pool = pool.clone();
            let done = done.clone();
            let share = GETS / TASKS + u64::from(t < GETS % TASKS);
            tasks.push(tokio::spawn(async move {
                for _ in 0..share {
                    let conn = pool.get().await.expect("no get may time out");
                    conn.begin_use();
                    tokio::task::yield_now().await;
                    conn.end_use();
                    drop(conn);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(done.load(Ordering::Relaxed), GETS);
        assert!(!faults.double_use_seen());
        assert_eq!(faults.connects_succeeded(), 4, "no connection was replaced");
        let stats = pool.stats();
        assert_eq!(stats.checkouts_total, GETS);
        assert_eq!(stats.timeouts_total, 0);
        assert_eq!((stats.active, stats.waiting), (0, 0));
        pool.check_invariants().unwrap();
    });
}
