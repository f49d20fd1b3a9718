//! Closing: after `close()` the server shows no session of the pool, including sessions that
//! were checked out while the pool closed.

use std::sync::Arc;
use std::time::Duration;

use pool_core::{ConnectionProtocol, Error};

use super::support::scalar_i64;
use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

/// A pool holding three sessions shows three on the server; returned and closed at once (while
/// their session resets may still be running), `close()` reports complete, the server shows
/// none, and `get()` fails with `Error::Closed`.
pub(crate) async fn close_leaves_no_session_on_the_server<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(1).max_size(3)).await?;
    let mut held = Vec::new();
    for n in 1..=3 {
        let mut conn = pool.get().await.context(format!("get() #{n}"))?;
        ensure_eq!(
            scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
            1,
            "SELECT 1 on #{n}"
        );
        held.push(conn);
    }
    cx.expect_sessions(
        3,
        "while three connections are held (the count must see them)",
    )
    .await?;
    drop(held);

    let report = pool.close(Duration::from_secs(10)).await;
    ensure!(report.complete, "close() did not complete: {report:?}");
    ensure_eq!(
        report.still_checked_out,
        0,
        "connections checked out at close"
    );
    cx.expect_sessions(0, "after close()").await?;
    match pool.get().await {
        Err(Error::Closed) => Ok(()),
        other => Err(CaseError::Failed(format!(
            "get() after close() should fail with Error::Closed, got {:?}",
            other.map(|c| c.id())
        ))),
    }
}

/// Dropping the last handle of a pool, without `close()`, ends its sessions on the server too.
pub(crate) async fn dropping_the_pool_without_close_ends_its_sessions<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(2).max_size(2)).await?;
    let mut conn = pool.get().await.context("get()")?;
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1"
    );
    drop(conn);
    cx.settle(&pool).await?;
    cx.expect_sessions(2, "before the drop").await?;
    drop(pool);
    cx.expect_sessions(0, "after the last pool handle was dropped")
        .await
}

/// A connection checked out while the pool closes is reported by `close()`, keeps working for
/// its holder, and its session ends on the server once the holder returns it.
pub(crate) async fn connection_held_during_close_is_closed_when_returned<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(1).max_size(2)).await?;
    let mut held = pool.get().await.context("get()")?;
    cx.expect_sessions(1, "before close").await?;

    let report = pool.close(Duration::from_millis(200)).await;
    ensure_eq!(
        report.still_checked_out,
        1,
        "connections close() reports still checked out"
    );
    ensure!(
        !report.complete,
        "close() reported complete while a connection was held"
    );
    ensure_eq!(
        scalar_i64(&mut *held, "SELECT 1", &[]).await?,
        1,
        "the holder's query after close()"
    );
    cx.expect_sessions(1, "while the connection is still held")
        .await?;
    drop(held);
    cx.expect_sessions(0, "after the held connection was returned")
        .await?;
    pool.check_invariants()
        .map_err(|e| CaseError::Failed(format!("pool invariant violated: {e}")))?;
    ensure_eq!(pool.stats().total, 0, "connections open after the return");
    Ok(())
}

/// A caller that gives up on a long statement (drops the call's future, as a request timeout
/// does) leaves no work behind: the next caller gets a working connection, and once the pool
/// is closed the server shows no session of it, not even one still running the abandoned
/// statement.
pub(crate) async fn abandoned_statement_leaves_no_session_running_after_close<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get()")?;
    let long_query = cx.target().long_query();
    let abandoned =
        tokio::time::timeout(Duration::from_millis(300), conn.query(&long_query, &[])).await;
    ensure!(
        abandoned.is_err(),
        "`{long_query}` finished within 300 ms; it must run for seconds"
    );
    drop(conn);

    let mut next = pool.get().await.context("get() after the abandoned call")?;
    ensure_eq!(
        scalar_i64(&mut *next, "SELECT 1", &[]).await?,
        1,
        "the next caller's SELECT 1"
    );
    drop(next);
    let report = pool.close(Duration::from_secs(10)).await;
    ensure!(report.complete, "close() did not complete: {report:?}");
    cx.expect_sessions(0, "after close(), with a statement abandoned earlier")
        .await
}
