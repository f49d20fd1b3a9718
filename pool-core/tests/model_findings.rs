//! Regression tests for what the model test (`model.rs`) found.
//!
//! `try_get` on a pool whose pings hang must give up after one validation timeout: every
//! discarded connection's replacement lay idle at once, and `try_get` validated replacements
//! forever.
//!
//! A waiter whose connection fails checkout validation must keep its place in line: the
//! replacement connection goes to it, not to someone who queued after it. Two ways it lost
//! its place, both seen by the model as a later waiter served while an earlier one still
//! waited on a full pool:
//! - after a *fresh* connection failed validation, the waiter paused (the connect backoff)
//!   outside the line, so whatever came back or was opened meanwhile went to the next waiter;
//! - the failed connection was discarded before the waiter was back in line, and the discard
//!   starts the replacement connect: on a multi-thread runtime that connect could finish and
//!   hand the replacement to the next waiter before the first one re-entered the line.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use pool_core::Pool;
use pool_core::testing::{TestConnection, TestConnector};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A pool of one connection that validates every checkout.
async fn validating_pool_of_one() -> Pool<TestConnector> {
    Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            c.test_on_checkout = true;
            c.validation_bypass = Duration::ZERO;
            c.reset_on_return = false;
            c.health_check_interval = None;
            c.leak_detection_threshold = None;
            c.circuit_breaker.enabled = false;
            c.acquire_timeout = Duration::from_secs(30);
        })
        .build()
        .await
        .unwrap()
}

/// A caller in line: it reports the connection it gets and holds it until aborted.
struct Waiter {
    served: oneshot::Receiver<u64>,
    task: JoinHandle<()>,
}

/// Spawns a `get()` and waits until it is in line behind the `ahead` callers already there.
async fn queue(pool: &Pool<TestConnector>, ahead: usize) -> Waiter {
    let (tell, served) = oneshot::channel();
    let task = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let conn = pool.get().await.expect("served");
            let _ = tell.send(conn.id());
            std::future::pending::<()>().await;
        })
    };
    while pool.counts().waiting < ahead + 1 {
        tokio::task::yield_now().await;
    }
    Waiter { served, task }
}

#[tokio::test(start_paused = true)]
async fn a_waiter_whose_fresh_connection_fails_validation_keeps_its_place() {
    let pool = validating_pool_of_one().await;
    let faults = pool.connector().faults();
    let mut holder = pool.get().await.unwrap();
    let first = queue(&pool, 0).await;
    let mut second = queue(&pool, 1).await;

    // The holder's connection dies: the pool opens a new one for the first waiter, whose
    // validation fails once; after its pause the first waiter must get the replacement.
    let pings = faults.pings();
    faults.fail_next_pings(1);
    holder.break_it();
    drop(holder);

    let served = tokio::time::timeout(Duration::from_secs(10), first.served).await;
    assert!(
        matches!(served, Ok(Ok(_))),
        "the first waiter was not served: the second, queued after it, got the replacement"
    );
    assert!(
        second.served.try_recv().is_err(),
        "the second waiter was served too"
    );
    assert_eq!(pool.counts().waiting, 1, "the second waiter still waits");
    assert_eq!(
        faults.pings() - pings,
        2,
        "one failed validation, one that passed"
    );
    first.task.abort();
    second.task.abort();
}

/// One round on a full pool of one with two callers in line: the connection handed to the
/// first fails validation. Returns whether the first caller got the replacement.
///
/// The first caller is this test's own future, driven by the runtime's `block_on` thread:
/// work it spawns there (the replacement connect) goes to the shared queue, where an idle
/// worker takes it at once, racing this thread on its way back into line.
async fn first_waiter_gets_the_replacement(pool: &Pool<TestConnector>) -> bool {
    let mut holder = pool.get().await.unwrap();
    let mut first = pin!(pool.get());
    assert!(
        poll_once(first.as_mut()).await.is_pending(),
        "the pool is full"
    );
    let mut second = queue(pool, 1).await;
    TestConnection::fail_next_ping(&mut holder);
    drop(holder);
    // Whoever is served holds the only slot; the other keeps waiting.
    let first_won = tokio::select! {
        conn = first.as_mut() => {
            drop(conn.expect("served"));
            true
        }
        id = &mut second.served => {
            id.expect("served");
            false
        }
    };
    second.task.abort();
    first_won
}

async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_multi_thread_runtime_the_replacement_goes_to_the_waiter_that_failed_validation() {
    let rounds = 200;
    let mut lost = 0;
    for _ in 0..rounds {
        let pool = validating_pool_of_one().await;
        if !first_waiter_gets_the_replacement(&pool).await {
            lost += 1;
        }
        pool.close(Duration::ZERO).await;
    }
    assert_eq!(
        lost, 0,
        "in {lost} of {rounds} rounds the caller queued second got the replacement"
    );
}

#[tokio::test(start_paused = true)]
async fn try_get_gives_up_when_every_ping_hangs_instead_of_validating_replacements_forever() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(2)
        .configure(|c| {
            c.test_on_checkout = true;
            c.validation_bypass = Duration::ZERO;
            c.health_check_interval = None;
            c.health_check_timeout = Duration::from_millis(50);
            c.leak_detection_threshold = None;
            c.circuit_breaker.enabled = false;
        })
        .build()
        .await
        .unwrap();
    faults.set_ping(pool_core::testing::Behavior::Hang);
    let outcome = tokio::time::timeout(Duration::from_secs(5), pool.try_get()).await;
    let got = outcome.expect("try_get returned within a few validation timeouts");
    assert!(
        got.unwrap().is_none(),
        "no connection passes a hanging ping"
    );
}
