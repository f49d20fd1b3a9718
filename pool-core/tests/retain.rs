//! `Pool::retain`: idle connections the predicate rejects are closed, the others kept, the
//! pool refills to `min_size`, and checked-out connections are left alone.

use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::TestConnector;

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn rejected_idle_connections_close_and_the_pool_refills() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(3)
        .max_size(3)
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let held_id = held.id();
    let mut seen = Vec::new();
    let report = pool.retain(|_conn, meta| {
        seen.push(meta.id);
        meta.id % 2 == 0
    });
    assert_eq!(
        report.kept + report.removed,
        2,
        "only the two idle ones are judged"
    );
    assert!(
        !seen.contains(&held_id),
        "a checked-out connection is not judged"
    );
    assert_eq!(
        report.removed,
        seen.iter().filter(|id| *id % 2 == 1).count()
    );
    pool.check_invariants().unwrap();
    settle().await;
    assert_eq!(pool.stats().total, 3, "refilled to min_size");
    assert_eq!(faults.connects_succeeded() as usize, 3 + report.removed);
    drop(held);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_predicate_sees_age_idle_time_and_checkouts() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .reset_on_return(false)
        .build()
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    for _ in 0..3 {
        drop(pool.get().await.unwrap());
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    let mut metas = Vec::new();
    let report = pool.retain(|_conn, meta| {
        metas.push(meta);
        meta.checkouts < 3
    });
    assert_eq!(metas.len(), 1);
    let meta = metas[0];
    assert_eq!(meta.age, Duration::from_secs(15));
    assert!(meta.idle_for >= Duration::from_secs(5), "{meta:?}");
    assert_eq!(meta.checkouts, 3);
    assert_eq!((report.kept, report.removed), (0, 1));
    settle().await;
    let fresh = pool.get().await.unwrap();
    assert_ne!(fresh.id(), meta.id, "the removed connection was replaced");
}

#[tokio::test(start_paused = true)]
async fn keeping_everything_changes_nothing() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(2)
        .max_size(2)
        .build()
        .await
        .unwrap();
    let report = pool.retain(|_, _| true);
    assert_eq!((report.kept, report.removed), (2, 0));
    assert_eq!(pool.stats().idle, 2);
    pool.check_invariants().unwrap();
}
