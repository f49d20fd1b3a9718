//! Marked broken: a connection its holder marks with
//! [`PooledConnection::mark_broken`](pool_core::PooledConnection::mark_broken) is closed on drop,
//! never handed to the next caller, on every adapter alike.

use std::sync::Arc;

use super::support::scalar_i64;
use crate::context::CaseContext;
use crate::outcome::{CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

/// A connection marked broken is closed when dropped: the next holder gets a new connection
/// (max_size 1, so it cannot be another idle one), which works, and the pool counts the close.
pub(crate) async fn marked_broken_connection_is_closed_and_replaced<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(1).max_size(1)).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let first = conn.id();
    ensure!(!conn.is_marked_broken(), "a fresh checkout is not marked");
    conn.mark_broken();
    ensure!(
        conn.is_marked_broken(),
        "mark_broken() is seen by is_marked_broken()"
    );
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure!(
        conn.id() != first,
        "the next holder got connection {} again after it was marked broken",
        first
    );
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1 on the replacement"
    );
    ensure_eq!(
        pool.stats().broken_on_return_total,
        1,
        "connections closed as broken on return"
    );
    drop(conn);
    cx.close(pool).await
}
