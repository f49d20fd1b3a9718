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

/// The two calls a statement can run through; adapters often take different paths for them.
#[derive(Debug, Clone, Copy)]
enum Method {
    Query,
    Execute,
}

/// The target's long query, run with `query` and then with `execute`, fails with
/// `QueryTimeout(query_timeout)` no sooner than the timeout and within the margin after it;
/// each time the same connection then answers `SELECT 1` and is not broken, and the pool keeps
/// it for the next holder.
pub(crate) async fn long_query_is_cancelled_at_the_query_timeout<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let builder = cx.pool()?.max_size(1).query_timeout(Some(QUERY_TIMEOUT));
    let pool = cx.build(builder).await?;
    let mut conn = pool.get().await.context("get()")?;
    let id = conn.id();
    let long_query = cx.target().long_query();

    for method in [Method::Query, Method::Execute] {
        let started = Instant::now();
        let result = match method {
            Method::Query => conn.query(&long_query, &[]).await.map(|_| ()),
            Method::Execute => conn.execute(&long_query, &[]).await.map(|_| ()),
        };
        let took = started.elapsed();
        match result {
            Err(Error::QueryTimeout(limit)) => ensure_eq!(
                limit,
                QUERY_TIMEOUT,
                "the timeout QueryTimeout reports ({method:?})"
            ),
            Err(other) => {
                return Err(CaseError::Failed(format!(
                    "`{long_query}` through {method:?} should fail with Error::QueryTimeout, \
                     got {other} ({other:?}) after {took:?}"
                )));
            }
            Ok(()) => {
                return Err(CaseError::Failed(format!(
                    "`{long_query}` through {method:?} finished after {took:?} despite a \
                     {QUERY_TIMEOUT:?} timeout"
                )));
            }
        }
        ensure!(
            took >= QUERY_TIMEOUT,
            "{method:?} failed after {took:?}, before the {QUERY_TIMEOUT:?} timeout"
        );
        ensure!(
            took <= QUERY_TIMEOUT + MARGIN,
            "{method:?} was cancelled after {took:?}, later than the {QUERY_TIMEOUT:?} timeout \
             plus {MARGIN:?}"
        );
        ensure!(
            !conn.is_broken(),
            "the connection is broken after a cancelled {method:?}"
        );
        ensure_eq!(
            scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
            1,
            "SELECT 1 on the same connection after the cancelled {method:?}"
        );
    }
    drop(conn);

    let mut again = pool.get().await.context("get() after the cancels")?;
    ensure_eq!(
        again.id(),
        id,
        "connection kept by the pool after cancelled statements"
    );
    ensure_eq!(
        scalar_i64(&mut *again, "SELECT 2", &[]).await?,
        2,
        "SELECT 2 by the next holder"
    );
    drop(again);
    cx.close(pool).await
}

/// A statement cancelled at the query timeout inside a transaction leaves nothing behind: the
/// holder returns the connection with the transaction still open, and the next holder of the
/// same connection sees none of its rows and runs statements normally.
pub(crate) async fn timeout_inside_a_transaction_leaves_nothing_for_the_next_holder<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let builder = cx.pool()?.max_size(1).query_timeout(Some(QUERY_TIMEOUT));
    let pool = cx.build(builder).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let id = conn.id();
    let bigint = cx.target().column_types().bigint;
    let table = cx
        .create_table(&mut conn, "txn", &format!("id {bigint} PRIMARY KEY"))
        .await?;
    conn.execute("BEGIN", &[]).await.context("BEGIN")?;
    conn.execute(&format!("INSERT INTO {table} (id) VALUES (1)"), &[])
        .await
        .context("INSERT inside the transaction")?;
    let long_query = cx.target().long_query();
    match conn.query(&long_query, &[]).await {
        Err(Error::QueryTimeout(_)) => {}
        other => {
            return Err(CaseError::Failed(format!(
                "`{long_query}` inside a transaction should time out, got {:?}",
                other.map(|rows| rows.len())
            )));
        }
    }
    drop(conn);

    let mut next = pool.get().await.context("get() the next holder")?;
    ensure_eq!(next.id(), id, "connection the next holder got (max_size 1)");
    ensure_eq!(
        scalar_i64(&mut *next, &format!("SELECT count(*) FROM {table}"), &[]).await?,
        0,
        "rows of the abandoned transaction the next holder sees"
    );
    next.execute("BEGIN", &[])
        .await
        .context("BEGIN by the next holder")?;
    next.execute(&format!("INSERT INTO {table} (id) VALUES (2)"), &[])
        .await
        .context("INSERT by the next holder")?;
    next.execute("COMMIT", &[])
        .await
        .context("COMMIT by the next holder")?;
    ensure_eq!(
        scalar_i64(&mut *next, &format!("SELECT count(*) FROM {table}"), &[]).await?,
        1,
        "rows after the next holder's own transaction"
    );
    drop(next);
    cx.close(pool).await
}
