//! Hooks run where they should, session reset runs on return when configured, and a
//! connection that comes back broken is closed, never reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pool_core::testing::{Behavior, TestConnection, TestConnector};
use pool_core::{BoxFuture, ConnectionMetadata, ConnectionProtocol, Error, Pool};

fn counting_hook(
    counter: Arc<AtomicUsize>,
) -> impl for<'a> Fn(&'a mut TestConnection, ConnectionMetadata) -> BoxFuture<'a, pool_core::Result<()>>
+ Send
+ Sync
+ 'static {
    move |_conn, _meta| {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn hooks_run_after_connect_before_checkout_and_after_checkin() {
    let (connected, checked_out, checked_in) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let pool = Pool::builder(TestConnector::new())
        .min_size(2)
        .max_size(2)
        .after_connect(counting_hook(connected.clone()))
        .before_checkout(counting_hook(checked_out.clone()))
        .after_checkin(counting_hook(checked_in.clone()))
        .build()
        .await
        .unwrap();
    for _ in 0..3 {
        drop(pool.get().await.unwrap());
        settle().await;
    }
    assert_eq!(connected.load(Ordering::SeqCst), 2);
    assert_eq!(checked_out.load(Ordering::SeqCst), 3);
    assert_eq!(checked_in.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failing_after_connect_hook_fails_the_attempt() {
    let result = Pool::builder(TestConnector::new())
        .min_size(1)
        .after_connect(|_conn, _meta| {
            Box::pin(async { Err(Error::config("search_path", "injected hook failure")) })
        })
        .build()
        .await;
    let error = result.unwrap_err();
    assert!(
        error.to_string().contains("injected hook failure"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_runs_on_return_only_when_configured() {
    for reset_on_return in [true, false] {
        let connector = TestConnector::new();
        let faults = connector.faults();
        let pool = Pool::builder(connector)
            .min_size(1)
            .max_size(1)
            .configure(|c| c.reset_on_return = reset_on_return)
            .build()
            .await
            .unwrap();
        let mut conn = pool.get().await.unwrap();
        conn.query("SELECT 1", &[]).await.unwrap();
        drop(conn);
        settle().await;
        assert_eq!(faults.resets(), u64::from(reset_on_return));
        assert_eq!(pool.stats().idle, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_clean_session_comes_back_without_a_reset() {
    // The adapter says nothing dirtied the session: the return waits for nothing.
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .build()
        .await
        .unwrap();
    for _ in 0..3 {
        drop(pool.get().await.unwrap());
    }
    settle().await;
    assert_eq!(faults.resets(), 0);
    // A holder that ran a query dirtied it: that return resets, the next clean one does not.
    let mut conn = pool.get().await.unwrap();
    conn.query("SELECT 1", &[]).await.unwrap();
    drop(conn);
    settle().await;
    drop(pool.get().await.unwrap());
    settle().await;
    assert_eq!(faults.resets(), 1);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_connection_whose_reset_fails_or_hangs_is_discarded() {
    for behavior in [Behavior::Fail, Behavior::Hang] {
        let connector = TestConnector::new();
        let faults = connector.faults();
        let pool = Pool::builder(connector)
            .min_size(1)
            .max_size(1)
            .configure(|c| c.close_timeout = Duration::from_secs(1))
            .build()
            .await
            .unwrap();
        let mut conn = pool.get().await.unwrap();
        let first = conn.id();
        conn.query("SELECT 1", &[]).await.unwrap();
        faults.set_reset(behavior);
        drop(conn);
        tokio::time::sleep(Duration::from_secs(2)).await;
        faults.set_reset(Behavior::Ok);
        let next = pool.get().await.unwrap();
        assert_ne!(
            next.id(),
            first,
            "{behavior:?}: a connection whose reset did not finish is never handed out"
        );
        assert_eq!(faults.connects_succeeded(), 2, "{behavior:?}");
        pool.check_invariants().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_returned_broken_is_closed_and_replaced() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(1)
        .configure(|c| c.reset_on_return = false)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let first = conn.id();
    conn.break_it();
    assert!(conn.is_broken());
    drop(conn);
    settle().await;
    let next = pool.get().await.unwrap();
    assert_ne!(next.id(), first);
    assert_eq!(pool.stats().broken_on_return_total, 1);
    assert_eq!(faults.connects_succeeded(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_query_timeout_is_handed_to_every_connection() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .query_timeout(Some(Duration::from_secs(7)))
        .build()
        .await
        .unwrap();
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.query_timeout(), Some(Duration::from_secs(7)));
}

#[tokio::test(start_paused = true)]
async fn a_detached_connection_frees_its_slot() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(0)
        .max_size(1)
        .build()
        .await
        .unwrap();
    let raw = pool.get().await.unwrap().detach();
    assert_eq!(pool.stats().total, 0);
    let _again = pool.get().await.expect("the slot is free");
    drop(raw);
    pool.check_invariants().unwrap();
}
