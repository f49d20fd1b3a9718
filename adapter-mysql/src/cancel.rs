//! Query timeouts, enforced on the server.
//!
//! When a query outlives its timeout, the adapter opens a side connection with the same
//! options (and a fresh password from the provider), sends `KILL QUERY <connection id>` and
//! closes it again. Meanwhile it keeps reading the original connection, so the interrupted
//! query's answer (error 1317 "Query execution was interrupted", or a normal result: MariaDB's
//! `SLEEP()` returns 1 when killed) is consumed and the connection stays in sync and usable.
//! The caller gets [`pool_core::Error::QueryTimeout`] either way: the timeout fired, and the
//! statement may or may not have taken effect, as with any timeout.
//!
//! The cancel is bounded by the cancel timeout, and so is the wait for the query to stop after
//! it. If either runs out (the side connection could not be opened, the server does not stop
//! the query), the query future is dropped mid-protocol and the connection is reported broken.
//!
//! The side connection logs in as the same user, and a user may always kill its own
//! statements; no extra privilege is needed. Behind a proxy (ProxySQL, MaxScale) the id the
//! client sees may not be the backend's, so check that the proxy forwards `KILL QUERY`.
//!
//! A `KILL QUERY` can arrive after the query finished on its own. The adapter waits for the
//! `KILL` to complete before it returns, so it never overlaps the connection's next statement,
//! and a kill that reaches an idle session does not interrupt that session's next statement
//! (`tests/query_timeout.rs` checks this against the server).

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use pool_core::Result;

/// How a query under a timeout ended.
#[derive(Debug)]
pub(crate) enum Timed<T> {
    /// It finished before the timeout.
    Finished(T),
    /// The timeout fired and the query was cancelled; `result` is what the connection answered
    /// in the end, `None` if it never did and the query future had to be abandoned.
    TimedOut { result: Option<T> },
}

/// Runs `query`; past `limit`, runs `cancel` while still driving `query` to its end, both
/// within one `cancel_timeout` budget: a call that timed out returns at most `cancel_timeout`
/// after its limit, whether the side connection hangs (a blackholed server) or the cancelled
/// query takes its time to stop.
pub(crate) async fn with_timeout<T, Q, C, CF>(
    query: Q,
    limit: Option<Duration>,
    cancel: C,
    cancel_timeout: Duration,
) -> Timed<T>
where
    Q: Future<Output = T>,
    C: FnOnce() -> CF,
    CF: Future<Output = Result<()>>,
{
    let Some(limit) = limit else {
        return Timed::Finished(query.await);
    };
    let mut query = pin!(query);
    tokio::select! {
        biased;
        result = &mut query => return Timed::Finished(result),
        () = tokio::time::sleep(limit) => {}
    }

    let budget_ends = tokio::time::Instant::now() + cancel_timeout;
    let mut kill = pin!(tokio::time::timeout_at(budget_ends, cancel()));
    let mut result = None;
    let killed = loop {
        tokio::select! {
            done = &mut query, if result.is_none() => result = Some(done),
            outcome = &mut kill => {
                break match outcome {
                    Ok(Ok(())) => true,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cancelling a query past its timeout failed");
                        false
                    }
                    Err(_) => {
                        tracing::warn!(?cancel_timeout, "cancelling a query took longer than the cancel timeout");
                        false
                    }
                };
            }
        }
    };
    if result.is_none() && killed {
        result = tokio::time::timeout_at(budget_ends, &mut query).await.ok();
    }
    Timed::TimedOut { result }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_fast_query_is_not_cancelled() {
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancelled);
        let outcome = with_timeout(
            async { 7 },
            Some(Duration::from_millis(100)),
            move || async move {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            },
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(outcome, Timed::Finished(7)));
        assert!(!cancelled.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_query_is_read_to_its_end() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let query = async move {
            let _ = rx.await;
            1
        };
        let outcome = with_timeout(
            query,
            Some(Duration::from_millis(100)),
            move || async move {
                let _ = tx.send(()); // the server stops the query
                Ok(())
            },
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(outcome, Timed::TimedOut { result: Some(1) }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_cancel_abandons_the_query() {
        let outcome = with_timeout(
            std::future::pending::<()>(),
            Some(Duration::from_millis(100)),
            || async { Err(pool_core::Error::Closed) },
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(outcome, Timed::TimedOut { result: None }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_cancel_and_a_slow_stop_share_one_cancel_budget() {
        let started = tokio::time::Instant::now();
        let outcome = with_timeout(
            std::future::pending::<()>(),
            Some(Duration::from_millis(100)),
            || async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                Ok(())
            },
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(outcome, Timed::TimedOut { result: None }));
        assert_eq!(started.elapsed(), Duration::from_millis(1100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_query_that_ignores_the_cancel_is_abandoned_after_the_cancel_timeout() {
        let started = tokio::time::Instant::now();
        let outcome = with_timeout(
            std::future::pending::<()>(),
            Some(Duration::from_millis(100)),
            || async { Ok(()) },
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(outcome, Timed::TimedOut { result: None }));
        assert_eq!(started.elapsed(), Duration::from_millis(1100));
    }
}
