//! Aggregated stats of every pool, and closing every pool at once with a deadline.

mod common;

use std::time::Duration;

use common::test_pool;
use pool_manager::PoolManager;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn stats_serialize_every_pool_and_route_to_json() {
    let manager = PoolManager::new();
    let (primary, _) = test_pool("orders", 2, 4).await;
    let (replica, _) = test_pool("orders.replica1", 1, 4).await;
    manager
        .register_replicated("orders", primary, [replica])
        .unwrap();
    manager
        .register("cache", test_pool("cache", 1, 2).await.0)
        .unwrap();
    let mut held = manager.get("cache").await.unwrap();
    held.query("SELECT 1", &[]).await.unwrap();

    let json = serde_json::to_value(manager.stats()).unwrap();
    let pools = json["pools"].as_object().unwrap();
    let names: Vec<&str> = pools.keys().map(String::as_str).collect();
    assert_eq!(names, ["cache", "orders", "orders.replica1"]);
    assert_eq!(json["pools"]["cache"]["active"], 1);
    assert_eq!(json["pools"]["orders"]["idle"], 2);
    assert_eq!(json["pools"]["orders"]["state"], "healthy");
    assert_eq!(json["pools"]["cache"]["checkouts_total"], 1);
    assert_eq!(json["routes"]["orders"]["replicas"][0], "orders.replica1");
    assert!(json["pools"]["orders"]["wait"]["p99_ms"].is_number());
}

#[tokio::test(start_paused = true)]
async fn close_all_closes_every_pool_and_reports_the_ones_still_busy() {
    let manager = PoolManager::new();
    manager.register("a", test_pool("a", 2, 2).await.0).unwrap();
    manager.register("b", test_pool("b", 1, 2).await.0).unwrap();
    manager.register("c", test_pool("c", 1, 2).await.0).unwrap();
    let held_b = manager.get("b").await.unwrap();
    let held_c = manager.get("c").await.unwrap();

    let report = manager.close_all(Duration::from_secs(3)).await;
    assert!(!report.is_complete());
    assert_eq!(report.not_closed(), ["b", "c"]);
    assert!(report.pools["a"].complete);
    assert_eq!(report.pools["b"].still_checked_out, Some(1));
    assert_eq!(
        report.to_string(),
        "not closed in time: b (1 still checked out) c (1 still checked out)"
    );
    for name in ["a", "b", "c"] {
        assert!(manager.any_pool(name).unwrap().is_closed(), "{name}");
        assert!(manager.get(name).await.is_err(), "{name} hands out nothing");
    }
    drop((held_b, held_c));
}

#[tokio::test(start_paused = true)]
async fn close_all_closes_the_pools_in_parallel() {
    let manager = PoolManager::new();
    let mut held = Vec::new();
    for name in ["a", "b", "c", "d"] {
        manager
            .register(name, test_pool(name, 1, 1).await.0)
            .unwrap();
        held.push(manager.get(name).await.unwrap());
    }
    let deadline = Duration::from_secs(10);
    let start = Instant::now();
    let report = manager.close_all(deadline).await;
    let took = start.elapsed();
    assert_eq!(report.not_closed().len(), 4);
    // Sequential closing would take four deadlines; parallel takes one.
    assert!(took >= deadline && took < deadline * 2, "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn close_all_completes_once_connections_come_back_before_the_deadline() {
    let manager = PoolManager::new();
    manager.register("a", test_pool("a", 1, 1).await.0).unwrap();
    let held = manager.get("a").await.unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
    });
    let report = manager.close_all(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.to_string(), "all 1 pools closed");
}
