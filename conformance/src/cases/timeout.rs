//! The query timeout: a long query is cancelled on the server at the pool's `query_timeout`,
//! the caller gets [`Error::QueryTimeout`] promptly, and the connection stays usable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, Error};

use super::support::scalar_i64;
use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

/// The timeout the case sets: long enough that a healthy round trip never hits it.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

/// How late the error may arrive after the timeout: one cancel round trip (PostgreSQL opens a
/// connection for it, MySQL sends `KILL QUERY` on a side session) and the server's answer, with
/// room for a loaded machine.
const MARGIN: Duration = Duration::from_millis(1500);

/// The target's long query fails with `QueryTimeout(query_timeout)` no sooner than the timeout
/// and within the margin after it; the same connection then answers `SELECT 1`, is not broken,
/// and the pool keeps it.
pub(crate) async fn long_query_is_cancelled_at_the_query_timeout<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let builder = cx.pool()?.max_size(1).query_timeout(Some(QUERY_TIMEOUT));
    let pool = cx.build(builder).await?;
    let mut conn = pool.get().await.context("get()")?;
    let id = conn.id();
    let long_query = cx.target().long_query();

    let started = Instant::now();
    let result = conn.query(&long_query, &[]).await;
    let took = started.elapsed();
    match result {
        Err(Error::QueryTimeout(limit)) => {
            ensure_eq!(limit, QUERY_TIMEOUT, "the timeout QueryTimeout reports")
        }
        Err(other) => {
            return Err(CaseError::Failed(format!(
                "`{long_query}` should fail with Error::QueryTimeout, got {other} ({other:?}) after {took:?}"
            )));
        }
        Ok(rows) => {
            return Err(CaseError::Failed(format!(
                "`{long_query}` finished after {took:?} despite a {QUERY_TIMEOUT:?} timeout: {rows:?}"
            )));
        }
    }
    ensure!(
        took >= QUERY_TIMEOUT,
        "the query failed after {took:?}, before the {QUERY_TIMEOUT:?} timeout"
    );
    ensure!(
        took <= QUERY_TIMEOUT + MARGIN,
        "the query was cancelled after {took:?}, later than the {QUERY_TIMEOUT:?} timeout plus {MARGIN:?}"
    );
    ensure!(
        !conn.is_broken(),
        "the connection is broken after a cancelled query"
    );
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1 on the same connection after the cancel"
    );
    drop(conn);

    let mut again = pool.get().await.context("get() after the cancel")?;
    ensure_eq!(
        again.id(),
        id,
        "connection kept by the pool after a cancelled query"
    );
    ensure_eq!(
        scalar_i64(&mut *again, "SELECT 2", &[]).await?,
        2,
        "SELECT 2 by the next holder"
    );
    drop(again);
    cx.close(pool).await
}
