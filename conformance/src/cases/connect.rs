//! Connecting: warm-up opens `min_size` sessions on the server, and a pooled connection pings.

use std::sync::Arc;

use pool_core::ConnectionProtocol;

use super::support::scalar_i64;
use crate::context::CaseContext;
use crate::outcome::{CaseResult, Context, ensure_eq};
use crate::target::ConformanceTarget;

/// `build()` returns with `min_size` connections open and idle, the server shows exactly that
/// many sessions of the pool, and a checked-out connection pings and answers `SELECT 1`.
pub(crate) async fn pool_warms_up_to_min_size_and_pings<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(3).max_size(5)).await?;
    let stats = pool.stats();
    ensure_eq!(stats.total, 3, "connections open after build()");
    ensure_eq!(stats.idle, 3, "idle connections after build()");
    ensure_eq!(stats.created_total, 3, "connections created by warm-up");
    cx.expect_sessions(3, "after warm-up").await?;

    let mut conn = pool.get().await.context("get() from a warm pool")?;
    conn.ping().await.context("ping on a pooled connection")?;
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1"
    );
    ensure_eq!(
        pool.stats().active,
        1,
        "active connections while one is held"
    );
    drop(conn);
    cx.settle(&pool).await?;
    ensure_eq!(
        pool.stats().created_total,
        3,
        "connections created (none replaced)"
    );
    cx.close(pool).await
}
