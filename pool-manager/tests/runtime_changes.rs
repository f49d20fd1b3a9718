//! Changing pools at run time: remove, replace (waiting checkouts move to the new pool),
//! reload of the configuration (changed rebuilt, unchanged kept, removed closed, new added),
//! all or nothing on a bad configuration, and metrics that follow the current pools.

mod common;

use std::time::Duration;

use adapter_sqlite::SqliteConnector;
use pool_manager::{AdapterRegistry, AnyPool, ManagerConfig, ManagerError, PoolManager};

use common::test_pool;

const DRAIN: Duration = Duration::from_secs(5);

#[tokio::test(start_paused = true)]
async fn removed_pool_refuses_new_checkouts_with_a_typed_error_and_is_closed() {
    let manager = PoolManager::new();
    let (pool, faults) = test_pool("old", 2, 4).await;
    manager.register("old", pool.clone()).unwrap();
    manager
        .register("kept", test_pool("kept", 1, 4).await.0)
        .unwrap();

    let report = manager.remove("old", DRAIN).await.unwrap();

    assert!(report.is_complete(), "{report}");
    assert!(pool.is_closed());
    assert_eq!(faults.open(), 0, "its connections are closed");
    assert_eq!(manager.names(), ["kept"]);
    let err = manager.get("old").await.unwrap_err();
    assert!(
        matches!(&err, ManagerError::Removed { name } if name == "old"),
        "{err}"
    );
    assert_eq!(err.to_string(), "pool `old` was removed");
    assert!(
        manager.get("kept").await.is_ok(),
        "other pools are untouched"
    );
    assert!(matches!(
        manager.remove("nope", DRAIN).await,
        Err(ManagerError::UnknownPool { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn remove_lets_callers_holding_connections_finish() {
    let manager = PoolManager::new();
    let (pool, faults) = test_pool("db", 1, 1).await;
    manager.register("db", pool).unwrap();
    let mut held = manager.get("db").await.unwrap();

    let removing = tokio::spawn({
        let manager = manager.clone();
        async move { manager.remove("db", DRAIN).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        held.query("SELECT 1", &[]).await.unwrap().len(),
        1,
        "a held connection still works while its pool drains"
    );
    drop(held);
    let report = removing.await.unwrap();

    assert!(report.is_complete(), "{report}");
    assert_eq!(faults.open(), 0);
}

#[tokio::test(start_paused = true)]
async fn remove_reports_connections_not_returned_by_the_deadline() {
    let manager = PoolManager::new();
    manager
        .register("db", test_pool("db", 1, 1).await.0)
        .unwrap();
    let held = manager.get("db").await.unwrap();

    let report = manager.remove("db", Duration::from_secs(1)).await.unwrap();

    assert!(!report.is_complete());
    assert_eq!(report.pools["db"].still_checked_out, Some(1));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn replace_sends_new_checkouts_to_the_new_pool_and_closes_the_old_one() {
    let manager = PoolManager::new();
    let (old, old_faults) = test_pool("db", 1, 4).await;
    manager.register("db", old.clone()).unwrap();
    let (new, new_faults) = test_pool("db", 0, 4).await;
    let new: AnyPool = new.into();

    let report = manager.replace("db", new.clone(), DRAIN).await.unwrap();

    assert!(report.is_complete(), "{report}");
    assert!(old.is_closed());
    assert_eq!(old_faults.open(), 0);
    assert!(manager.any_pool("db").unwrap().same_pool(&new));
    let conn = manager.get("db").await.unwrap();
    assert_eq!(conn.pool_name(), "db", "the name is kept");
    assert_eq!(new_faults.connects_succeeded(), 1);
    assert!(matches!(
        manager.replace("other", new.clone(), DRAIN).await,
        Err(ManagerError::UnknownPool { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn checkouts_waiting_on_the_old_pool_move_to_the_new_one() {
    let manager = PoolManager::new();
    let (old, _) = test_pool("db", 1, 1).await;
    manager.register("db", old).unwrap();
    let held = manager.get("db").await.unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move {
                let conn = manager.get("db").await?;
                Ok::<_, ManagerError>(conn.id())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (new, new_faults) = test_pool("db", 0, 4).await;

    let replacing = tokio::spawn({
        let manager = manager.clone();
        async move { manager.replace("db", new, DRAIN).await.unwrap() }
    });
    for waiter in waiters {
        waiter
            .await
            .unwrap()
            .expect("a waiter is served by the new pool, not failed");
    }
    assert!(new_faults.connects_succeeded() >= 1);
    drop(held);
    assert!(replacing.await.unwrap().is_complete());
}

#[tokio::test(start_paused = true)]
async fn replace_replicated_swaps_the_primary_and_every_replica() {
    let manager = PoolManager::new();
    let (primary, _) = test_pool("db", 0, 2).await;
    let (replica, _) = test_pool("db.replica1", 0, 2).await;
    manager
        .register_replicated("db", primary.clone(), [replica.clone()])
        .unwrap();
    let (new_primary, _) = test_pool("db", 0, 2).await;
    let (new_replica, new_replica_faults) = test_pool("db.replica1", 0, 2).await;

    let report = manager
        .replace_replicated("db", new_primary, [new_replica], DRAIN)
        .await
        .unwrap();

    assert_eq!(
        report.pools.keys().collect::<Vec<_>>(),
        ["db", "db.replica1"]
    );
    assert!(primary.is_closed() && replica.is_closed());
    let read = manager.get_read("db").await.unwrap();
    assert_eq!(read.pool_name(), "db.replica1");
    assert_eq!(new_replica_faults.connects_succeeded(), 1);
}

fn registry() -> AdapterRegistry {
    AdapterRegistry::new().with_connector("sqlite", SqliteConnector::from_url)
}

fn config(text: &str) -> ManagerConfig {
    ManagerConfig::from_toml_str(text).unwrap()
}

const FIRST: &str = r#"
    [pools.kept]
    url = "sqlite::memory:"
    min_size = 1
    [pools.changed]
    url = "sqlite::memory:"
    max_size = 2
    [pools.gone]
    url = "sqlite::memory:"
"#;

const SECOND: &str = r#"
    [pools.kept]
    url = "sqlite::memory:"
    min_size = 1
    [pools.changed]
    url = "sqlite::memory:"
    max_size = 3
    [pools.added]
    url = "sqlite::memory:"
"#;

#[tokio::test]
async fn reload_adds_rebuilds_keeps_and_removes_pools() {
    let manager = config(FIRST).build(&registry()).await.unwrap();
    let kept = manager.any_pool("kept").unwrap();
    let changed = manager.any_pool("changed").unwrap();
    let gone = manager.any_pool("gone").unwrap();
    let kept_created = kept.stats().created_total;

    let report = manager.reload(&config(SECOND), DRAIN).await.unwrap();

    assert_eq!(report.added, ["added"]);
    assert_eq!(report.changed, ["changed"]);
    assert_eq!(report.unchanged, ["kept"]);
    assert_eq!(report.removed, ["gone"]);
    assert!(report.closed.is_complete(), "{report}");
    assert_eq!(manager.names(), ["added", "changed", "kept"]);
    let still = manager.any_pool("kept").unwrap();
    assert!(still.same_pool(&kept), "an unchanged pool is the same pool");
    assert_eq!(
        still.stats().created_total,
        kept_created,
        "with the same connections"
    );
    assert!(!kept.is_closed());
    assert!(changed.is_closed() && gone.is_closed());
    assert_eq!(manager.any_pool("changed").unwrap().config().max_size, 3);
    assert!(matches!(
        manager.get("gone").await,
        Err(ManagerError::Removed { .. })
    ));
    let mut conn = manager.get("added").await.unwrap();
    assert_eq!(conn.query("SELECT 1", &[]).await.unwrap().len(), 1);
}

/// A manager built from a file holding `text`; the file (in a directory deleted when the
/// returned guard drops) can be rewritten for a reload.
async fn manager_from_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf, PoolManager) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pools.toml");
    std::fs::write(&path, text).unwrap();
    let manager = ManagerConfig::from_file(&path)
        .unwrap()
        .build(&registry())
        .await
        .unwrap();
    (dir, path, manager)
}

#[tokio::test]
async fn reload_file_reads_the_file_again() {
    let (_dir, path, manager) = manager_from_file(FIRST).await;
    std::fs::write(&path, SECOND).unwrap();

    let report = manager.reload_file(&path, DRAIN).await.unwrap();

    assert_eq!(report.added, ["added"]);
    assert_eq!(manager.names(), ["added", "changed", "kept"]);
}

#[tokio::test]
async fn a_bad_reload_fails_like_startup_and_changes_nothing() {
    let (_dir, path, manager) = manager_from_file(FIRST).await;
    let before: Vec<AnyPool> = manager.pools().into_iter().map(|(_, p)| p).collect();

    std::fs::write(&path, "[pools.kept\nurl = 1").unwrap();
    let syntax = manager.reload_file(&path, DRAIN).await.unwrap_err();
    assert!(matches!(syntax, ManagerError::Syntax { .. }), "{syntax}");

    let unknown_scheme = r#"
        [pools.kept]
        url = "sqlite::memory:"
        min_size = 2
        [pools.new]
        url = "redis://cache"
    "#;
    let err = manager
        .reload(&config(unknown_scheme), DRAIN)
        .await
        .unwrap_err();
    assert!(matches!(err, ManagerError::UnknownScheme { .. }), "{err}");

    assert_eq!(manager.names(), ["changed", "gone", "kept"]);
    let after: Vec<AnyPool> = manager.pools().into_iter().map(|(_, p)| p).collect();
    assert!(before.iter().zip(&after).all(|(b, a)| b.same_pool(a)));
    assert!(after.iter().all(|p| !p.is_closed()));
    // The next good reload still diffs against the file the manager runs.
    let report = manager.reload(&config(FIRST), DRAIN).await.unwrap();
    assert_eq!(report.unchanged, ["changed", "gone", "kept"]);
}

#[tokio::test(start_paused = true)]
async fn reload_needs_a_manager_built_from_a_configuration() {
    let manager = PoolManager::new();
    manager
        .register("db", test_pool("db", 0, 1).await.0)
        .unwrap();

    let err = manager.reload(&config(FIRST), DRAIN).await.unwrap_err();

    assert!(matches!(err, ManagerError::NoRegistry), "{err}");
    assert_eq!(manager.names(), ["db"]);
}

#[tokio::test(start_paused = true)]
async fn metrics_drop_a_removed_pool_and_keep_a_replaced_pools_name() {
    let manager = PoolManager::new();
    manager
        .register("gone", test_pool("gone", 1, 2).await.0)
        .unwrap();
    manager
        .register("db", test_pool("db", 1, 2).await.0)
        .unwrap();
    let before = pool_manager::metrics::encode(&manager);
    assert!(before.contains(r#"pool_name="gone""#), "{before}");

    manager.remove("gone", DRAIN).await.unwrap();
    manager
        .replace("db", test_pool("db", 1, 2).await.0, DRAIN)
        .await
        .unwrap();
    let after = pool_manager::metrics::encode(&manager);

    assert!(!after.contains(r#""gone""#), "{after}");
    assert!(after.contains(r#""db""#), "{after}");
    assert_eq!(manager.stats().pools.keys().collect::<Vec<_>>(), ["db"]);
}

#[tokio::test]
async fn reload_adds_again_a_pool_removed_by_hand_and_leaves_hand_registered_ones() {
    let manager = config(FIRST).build(&registry()).await.unwrap();
    manager.remove("kept", DRAIN).await.unwrap();
    let (by_hand, _) = test_pool("by_hand", 0, 1).await;
    manager.register("by_hand", by_hand.clone()).unwrap();

    let report = manager.reload(&config(FIRST), DRAIN).await.unwrap();

    assert_eq!(report.added, ["kept"]);
    assert_eq!(report.unchanged, ["changed", "gone"]);
    assert!(report.removed.is_empty() && report.changed.is_empty());
    assert_eq!(manager.names(), ["by_hand", "changed", "gone", "kept"]);
    assert!(!by_hand.is_closed());
    assert!(manager.get("kept").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn replace_while_connections_are_held_lets_them_finish_on_the_old_pool() {
    let manager = PoolManager::new();
    let (old, old_faults) = test_pool("db", 1, 1).await;
    manager.register("db", old.clone()).unwrap();
    let mut held = manager.get("db").await.unwrap();
    let (new, new_faults) = test_pool("db", 0, 2).await;

    let replacing = tokio::spawn({
        let manager = manager.clone();
        async move { manager.replace("db", new, DRAIN).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = manager.get("db").await.unwrap();
    assert_eq!(
        new_faults.connects_succeeded(),
        1,
        "new gets go to the new pool"
    );
    assert_eq!(held.query("SELECT 1", &[]).await.unwrap().len(), 1);
    assert!(
        !replacing.is_finished(),
        "the old pool waits for its connection"
    );
    drop(held);
    let report = replacing.await.unwrap();

    assert!(report.is_complete(), "{report}");
    assert!(old.is_closed());
    assert_eq!(old_faults.open(), 0);
    drop(fresh);
}
