//! A pool outlives the runtime that built it: one static pool shared by many `#[tokio::test]`
//! runtimes is a common pattern. Its background tasks (the deadline watcher among them) move
//! to the runtime of the next caller that waits, so every caller's timeout still holds.

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::TestConnector;
use tokio::runtime::Builder;

#[test]
fn acquire_timeout_holds_after_the_runtime_that_built_the_pool_is_gone() {
    let first = Builder::new_current_thread().enable_all().build().unwrap();
    let pool = first
        .block_on(
            Pool::builder(TestConnector::new())
                .min_size(1)
                .max_size(1)
                .build(),
        )
        .unwrap();
    drop(first);

    let second = Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    second.block_on(async {
        let held = pool.get().await.unwrap();
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            pool.get_timeout(Duration::from_millis(100)),
        )
        .await
        .expect("the acquire timeout was not enforced: still pending after 5 s");
        let error = waited.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        drop(held);
        // The returned connection is served again on this runtime.
        let again = pool.get_timeout(Duration::from_secs(1)).await.unwrap();
        drop(again);
        pool.check_invariants().unwrap();
    });
}

#[test]
fn a_waiter_on_another_runtime_is_timed_when_the_watchers_runtime_ends_mid_wait() {
    let first = Builder::new_current_thread().enable_all().build().unwrap();
    let pool = first
        .block_on(
            Pool::builder(TestConnector::new())
                .min_size(1)
                .max_size(1)
                .build(),
        )
        .unwrap();
    let held = first.block_on(pool.get()).unwrap();
    let second = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let waiter = {
        let pool = pool.clone();
        second.spawn(async move { pool.get_timeout(Duration::from_millis(200)).await.map(drop) })
    };
    // Let the waiter queue while the watcher still runs on the first runtime, then end that
    // runtime: the waiter must still get its timeout.
    second.block_on(async {
        while pool.counts().waiting == 0 {
            tokio::task::yield_now().await;
        }
    });
    drop(first);
    let outcome = second.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiter was stranded when the watcher's runtime ended")
            .unwrap()
    });
    assert!(outcome.unwrap_err().is_timeout());
    drop(held);
}
