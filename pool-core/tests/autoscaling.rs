//! Auto-scaling in virtual time: the warm size grows within 2 s when utilization is high or
//! callers queue (pre-warming the new connections), and shrinks after a cooldown of low use.

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::TestConnector;
use tokio::time::sleep;

async fn scaling_pool() -> Pool<TestConnector> {
    Pool::builder(TestConnector::new())
        .min_size(5)
        .max_size(50)
        .configure(|c| {
            c.leak_detection_threshold = None;
            c.reset_on_return = false;
            c.autoscale.enabled = true;
            c.autoscale.scale_down_cooldown = Duration::from_secs(60);
        })
        .build()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_pool_grows_and_prewarms_within_two_seconds_of_high_utilization() {
    let pool = scaling_pool().await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(pool.get().await.unwrap());
    }
    assert_eq!(pool.stats().warm_target, 5);
    sleep(Duration::from_secs(2)).await;
    let stats = pool.stats();
    assert!(stats.warm_target > 5, "{stats:?}");
    assert!(
        stats.idle > 0,
        "the new connections were opened ahead of demand: {stats:?}"
    );
    assert!(stats.scale_ups_total >= 1);
    // Growth is by 20 % per decision (at least one): 5 → 6 → 8 → 10 → 12 in four samples.
    assert!(stats.warm_target <= 12, "{stats:?}");
    pool.check_invariants().unwrap();
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn the_pool_shrinks_after_a_cooldown_of_low_utilization_but_not_below_min_size() {
    let pool = scaling_pool().await;
    let held: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(pool.get().await.unwrap());
        }
        v
    };
    sleep(Duration::from_secs(5)).await;
    let grown = pool.stats();
    assert!(grown.warm_target >= 20, "{grown:?}");
    drop(held);
    sleep(Duration::from_secs(59)).await;
    assert_eq!(
        pool.stats().warm_target,
        grown.warm_target,
        "no shrink before the cooldown"
    );
    sleep(Duration::from_secs(2)).await;
    let shrunk = pool.stats();
    assert!(shrunk.warm_target < grown.warm_target, "{shrunk:?}");
    assert!(shrunk.total < grown.total);
    assert!(shrunk.scale_downs_total >= 1);
    // Long enough for every further step: never below min_size.
    sleep(Duration::from_secs(3600)).await;
    let floor = pool.stats();
    assert_eq!(floor.warm_target, 5);
    assert_eq!(floor.total, 5);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn with_autoscaling_off_the_warm_size_stays_at_min_size() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(3)
        .max_size(10)
        .configure(|c| {
            c.autoscale.enabled = false;
            c.leak_detection_threshold = None;
        })
        .build()
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.get().await.unwrap());
    }
    sleep(Duration::from_secs(10)).await;
    let stats = pool.stats();
    assert_eq!(
        (stats.warm_target, stats.total, stats.scale_ups_total),
        (3, 3, 0)
    );
}
