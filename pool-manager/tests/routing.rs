//! Read/write routing: reads to the least busy healthy replica, writes to the primary.

mod common;

use std::time::Duration;

use adapter_postgres::PostgresConnector;
use common::{PG_URL, test_pool, test_pool_with};
use pool_core::testing::Behavior;
use pool_core::{CircuitState, Pool, Value};
use pool_manager::PoolManager;

async fn replica_set() -> (PoolManager, [std::sync::Arc<pool_core::testing::Faults>; 3]) {
    let (primary, fp) = test_pool("orders", 1, 4).await;
    let (r1, f1) = test_pool_with("orders.replica1", 0, 4, |c| {
        c.circuit_breaker.failure_threshold = 1;
    })
    .await;
    let (r2, f2) = test_pool_with("orders.replica2", 0, 4, |c| {
        c.circuit_breaker.failure_threshold = 1;
    })
    .await;
    let manager = PoolManager::new();
    manager
        .register_replicated("orders", primary, [r1, r2])
        .unwrap();
    (manager, [fp, f1, f2])
}

#[tokio::test(start_paused = true)]
async fn reads_go_to_the_replica_with_the_fewest_connections_in_use() {
    let (manager, _) = replica_set().await;
    let a = manager.get_read("orders").await.unwrap();
    let b = manager.get_read("orders").await.unwrap();
    let c = manager.get_read("orders").await.unwrap();
    assert_eq!(a.pool_name(), "orders.replica1");
    assert_eq!(b.pool_name(), "orders.replica2", "replica1 has one in use");
    assert_eq!(c.pool_name(), "orders.replica1", "a tie goes to the first");
    drop(a);
    drop(c);
    let d = manager.get_read("orders").await.unwrap();
    assert_eq!(
        d.pool_name(),
        "orders.replica1",
        "replica2 still has one in use"
    );
}

#[tokio::test(start_paused = true)]
async fn writes_always_go_to_the_primary() {
    let (manager, _) = replica_set().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let conn = manager.get_write("orders").await.unwrap();
        assert_eq!(conn.pool_name(), "orders");
        held.push(conn);
    }
    assert_eq!(manager.get("orders").await.unwrap().pool_name(), "orders");
}

#[tokio::test(start_paused = true)]
async fn reads_skip_a_replica_whose_breaker_is_open() {
    let (manager, [_, f1, _]) = replica_set().await;
    let replicas = manager.replicas("orders").unwrap();
    f1.set_connect(Behavior::Fail);
    assert!(replicas[0].get().await.is_err());
    assert_eq!(replicas[0].circuit_state(), CircuitState::Open);
    for _ in 0..5 {
        let conn = manager.get_read("orders").await.unwrap();
        assert_eq!(conn.pool_name(), "orders.replica2");
    }
}

#[tokio::test(start_paused = true)]
async fn reads_skip_a_closed_replica_and_fall_back_to_the_primary_when_none_is_healthy() {
    let (manager, [_, f1, _]) = replica_set().await;
    let replicas = manager.replicas("orders").unwrap();
    replicas[1].close(Duration::from_secs(1)).await;
    // Held, so replica1 has no idle connection and the next get must connect.
    let held = manager.get_read("orders").await.unwrap();
    assert_eq!(held.pool_name(), "orders.replica1");
    f1.set_connect(Behavior::Fail);
    assert!(replicas[0].get().await.is_err());
    assert_eq!(replicas[0].circuit_state(), CircuitState::Open);
    assert_eq!(
        manager.get_read("orders").await.unwrap().pool_name(),
        "orders"
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_falls_back_to_the_primary_when_the_chosen_replica_fails_fast() {
    let (manager, [_, f1, f2]) = replica_set().await;
    // Both replicas look healthy (breakers closed) but their databases are down: the chosen
    // one's breaker opens during the checkout, and the read goes to the primary.
    f1.set_connect(Behavior::Fail);
    f2.set_connect(Behavior::Fail);
    let conn = manager.get_read("orders").await.unwrap();
    assert_eq!(conn.pool_name(), "orders");
}

#[tokio::test(start_paused = true)]
async fn a_logical_pool_without_replicas_reads_from_its_primary() {
    let manager = PoolManager::new();
    manager
        .register("solo", test_pool("solo", 1, 2).await.0)
        .unwrap();
    assert_eq!(manager.get_read("solo").await.unwrap().pool_name(), "solo");
    assert!(manager.get_read("nope").await.is_err());
}

/// Two pools on the one local PostgreSQL stand in for a primary and its replica; each
/// session's `application_name` tells which pool it came from.
#[tokio::test]
async fn routing_against_a_real_postgres_primary_and_replica() {
    async fn pg_pool(app: &str) -> Pool<PostgresConnector> {
        let url = format!("{PG_URL}?application_name={app}");
        Pool::builder(PostgresConnector::from_url(&url).unwrap())
            .name(app)
            .min_size(1)
            .max_size(3)
            .build()
            .await
            .expect("PostgreSQL at 127.0.0.1:5432")
    }
    async fn app_name(conn: &mut pool_manager::ManagedConnection) -> String {
        let rows = conn
            .query("SELECT current_setting('application_name')", &[])
            .await
            .unwrap();
        match rows[0].get(0) {
            Some(Value::Text(s)) => s.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }
    let manager = PoolManager::new();
    manager
        .register_replicated(
            "orders",
            pg_pool("orders-primary").await,
            [pg_pool("orders-replica").await],
        )
        .unwrap();

    let mut read = manager.get_read("orders").await.unwrap();
    assert_eq!(app_name(&mut read).await, "orders-replica");
    let mut write = manager.get_write("orders").await.unwrap();
    assert_eq!(app_name(&mut write).await, "orders-primary");
    write
        .execute("CREATE TEMP TABLE routed (x int)", &[])
        .await
        .unwrap();
    drop((read, write));

    manager.replicas("orders").unwrap()[0]
        .close(Duration::from_secs(5))
        .await;
    let mut read = manager.get_read("orders").await.unwrap();
    assert_eq!(
        app_name(&mut read).await,
        "orders-primary",
        "fell back to the primary"
    );
    drop(read);
    assert!(
        manager
            .close_all(Duration::from_secs(5))
            .await
            .is_complete()
    );
}
