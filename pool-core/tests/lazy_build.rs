//! `PoolBuilder::build_lazy`: returns at once without connecting, also with no runtime
//! running; connections open in the background once a runtime uses the pool.

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::TestConnector;

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn built_outside_a_runtime_then_used_inside_one() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(4)
        .acquire_timeout(Duration::from_secs(5))
        .build_lazy()
        .unwrap();
    assert_eq!(
        faults.connects_attempted(),
        0,
        "nothing opens without a runtime"
    );
    assert_eq!(pool.stats().total, 0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let conn = pool.get().await.unwrap();
        drop(conn);
        settle().await;
        assert_eq!(pool.stats().total, 2, "warmed up to min_size on first use");
        pool.check_invariants().unwrap();
        pool.close(Duration::from_secs(1)).await;
    });
    assert!(faults.connects_succeeded() >= 2);
}

#[tokio::test(start_paused = true)]
async fn built_inside_a_runtime_it_returns_before_connecting_and_warms_up_in_the_background() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(3)
        .max_size(3)
        .build_lazy()
        .unwrap();
    assert_eq!(pool.stats().total, 0, "build_lazy waits for no connection");
    settle().await;
    assert_eq!(pool.stats().total, 3);
    assert_eq!(pool.stats().idle, 3);
    assert_eq!(faults.connects_succeeded(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_database_fails_get_not_the_build() {
    let connector = TestConnector::new();
    connector
        .faults()
        .set_connect(pool_core::testing::Behavior::Fail);
    let pool = Pool::builder(connector)
        .min_size(1)
        .acquire_timeout(Duration::from_millis(200))
        .build_lazy()
        .expect("a lazy build never connects");
    assert!(pool.get().await.is_err());
}

#[test]
fn an_invalid_config_is_still_refused() {
    let error = Pool::builder(TestConnector::new())
        .min_size(5)
        .max_size(2)
        .build_lazy()
        .unwrap_err();
    assert!(error.to_string().contains("min_size"), "{error}");
}

#[test]
fn the_background_tasks_start_on_first_use_in_a_runtime() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(3)
        .idle_timeout(Some(Duration::from_secs(1)))
        .build_lazy()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let held = [
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        ];
        drop(held);
        settle().await;
        assert_eq!(pool.stats().total, 3);
        // Only the reaper closes idle connections above min_size: it runs.
        tokio::time::sleep(Duration::from_secs(3)).await;
        settle().await;
        assert_eq!(pool.stats().total, 1, "surplus idle connections reaped");
        pool.check_invariants().unwrap();
    });
}
