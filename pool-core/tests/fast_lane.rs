//! The fast lane (connections parked per thread, outside the pool's lock) against the races it
//! invites: a line that keeps forming and emptying, so returners and queuers cross each other
//! all the time, and a close that lands while connections are being parked.
//!
//! A lost wake-up would leave a caller waiting while a connection sits parked: with a short
//! acquire timeout it shows as a `Timeout` error, which fails these tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pool_core::testing::TestConnector;
use pool_core::{Error, Pool};

fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn pool_of(size: usize, connector: TestConnector) -> Pool<TestConnector> {
    Pool::builder(connector)
        .min_size(size)
        .max_size(size)
        .configure(|c| {
            c.leak_detection_threshold = None;
            c.reset_on_return = false;
            c.test_on_checkout = false;
            c.acquire_timeout = Duration::from_secs(5);
        })
        .build()
        .await
        .unwrap()
}

#[test]
fn a_line_that_keeps_forming_and_emptying_loses_no_wakeup_and_no_connection() {
    const TASKS: u64 = 3;
    const GETS_PER_TASK: u64 = 100_000;
    two_workers().block_on(async {
        let connector = TestConnector::new();
        let faults = connector.faults();
        // Three tasks over two connections: sometimes nobody waits (the lane is open),
        // sometimes one does (it is closed), flipping many times a millisecond.
        let pool = pool_of(2, connector).await;
        let done = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let pool = pool.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..GETS_PER_TASK {
                    let conn = pool.get().await.expect("no get may time out");
                    conn.begin_use();
                    if (i + t) % 3 == 0 {
                        tokio::task::yield_now().await;
                    }
                    conn.end_use();
                    drop(conn);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(done.load(Ordering::Relaxed), TASKS * GETS_PER_TASK);
        assert!(!faults.double_use_seen(), "a connection had two holders");
        assert_eq!(faults.connects_succeeded(), 2, "no connection was replaced");
        let stats = pool.stats();
        assert_eq!(stats.checkouts_total, TASKS * GETS_PER_TASK);
        assert_eq!(stats.timeouts_total, 0);
        assert_eq!(
            (stats.active, stats.idle, stats.waiting),
            (0, 2, 0),
            "parked connections count as idle"
        );
        pool.check_invariants().unwrap();
    });
}

#[test]
fn parked_connections_are_found_by_a_caller_on_another_thread() {
    two_workers().block_on(async {
        let connector = TestConnector::new();
        let faults = connector.faults();
        let pool = pool_of(1, connector).await;
        // Park the only connection in this thread's slot...
        drop(pool.get().await.unwrap());
        assert_eq!(pool.counts().idle, 1);
        // ...and take it from a plain thread that has never used the pool.
        let other = pool.clone();
        let handle = tokio::runtime::Handle::current();
        let id = std::thread::spawn(move || {
            handle.block_on(async {
                let conn = other.get_timeout(Duration::from_secs(1)).await.unwrap();
                conn.id()
            })
        })
        .join()
        .unwrap();
        assert_eq!(faults.connects_succeeded(), 1, "the parked one was reused");
        assert_eq!(pool.get().await.unwrap().id(), id);
        pool.check_invariants().unwrap();
    });
}

#[test]
fn closing_while_tasks_cycle_closes_every_parked_connection() {
    two_workers().block_on(async {
        let connector = TestConnector::new();
        let faults = connector.faults();
        let pool = pool_of(4, connector).await;
        let cycles = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let pool = pool.clone();
            let cycles = cycles.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match pool.get().await {
                        Ok(conn) => {
                            drop(conn);
                            cycles.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                        }
                        Err(Error::Closed) => return,
                        Err(other) => panic!("only Closed may end the loop, got {other}"),
                    }
                }
            }));
        }
        while cycles.load(Ordering::Relaxed) < 10_000 {
            tokio::task::yield_now().await;
        }
        let report = pool.close(Duration::from_secs(5)).await;
        for task in tasks {
            task.await.unwrap();
        }
        assert!(report.complete, "close left connections behind: {report:?}");
        assert_eq!(
            faults.open(),
            0,
            "every connection, parked or not, was closed"
        );
        assert_eq!(faults.closed_politely(), 4);
        pool.check_invariants().unwrap();
    });
}

#[test]
fn after_shrinking_returned_connections_above_the_new_maximum_close_instead_of_parking() {
    two_workers().block_on(async {
        let pool = pool_of(4, TestConnector::new()).await;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(pool.get().await.unwrap());
        }
        pool.resize(1, 1).unwrap();
        // Each return from a thread of its own, so each would land in a stash slot of its own.
        for conn in held {
            std::thread::spawn(move || drop(conn)).join().unwrap();
        }
        // Synchronous on each return: the surplus leaves `open` before the connection's close
        // task even runs. (Parked, they would stay counted: open 4 > max 1. `counts()` and
        // `stats()` would hide that, since they take parked connections back first.)
        pool.check_invariants()
            .expect("connections above max_size were kept");
        let counts = pool.counts();
        assert_eq!((counts.active, counts.idle), (0, 1));
    });
}
