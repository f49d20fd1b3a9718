//! Errors: a failed statement leaves the connection usable; a session the server ended is
//! reported as broken and replaced without the next caller noticing.

use std::sync::Arc;

use pool_core::{ConnectionProtocol, Error, ErrorClass};

use super::support::scalar_i64;
use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

/// A syntax error is a query-class backend error: the connection is not broken, answers the
/// next statement, and goes back to the pool to be reused rather than replaced.
pub(crate) async fn syntax_error_is_a_query_error_and_the_connection_stays_usable<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get()")?;
    let id = conn.id();
    let error = match conn.query("SELEC 1 FROMM nowhere", &[]).await {
        Ok(rows) => {
            return Err(CaseError::Failed(format!(
                "a syntax error returned rows: {rows:?}"
            )));
        }
        Err(error) => error,
    };
    ensure!(
        matches!(error, Error::Backend(_)),
        "a syntax error should be Error::Backend, got {error:?}"
    );
    ensure!(
        !error.is_connection_broken(),
        "a syntax error was classified as breaking the connection: {error}"
    );
    ensure_eq!(
        error.backend().map(|b| b.class()),
        Some(ErrorClass::Query),
        "class of a syntax error ({error})"
    );
    ensure!(
        !conn.is_broken(),
        "the connection reports broken after a syntax error"
    );
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 2", &[]).await?,
        2,
        "SELECT 2 on the same connection after the syntax error"
    );
    let statement = conn.execute("NOT EVEN SQL", &[]).await;
    ensure!(
        statement.as_ref().is_err_and(|e| !e.is_connection_broken()),
        "execute of invalid SQL should fail as a query error, got {statement:?}"
    );
    drop(conn);

    let mut again = pool.get().await.context("get() after the syntax errors")?;
    ensure_eq!(
        again.id(),
        id,
        "connection reused after query errors (max_size 1)"
    );
    ensure_eq!(
        scalar_i64(&mut *again, "SELECT 3", &[]).await?,
        3,
        "SELECT 3"
    );
    ensure_eq!(
        pool.stats().broken_on_return_total,
        0,
        "connections discarded as broken"
    );
    drop(again);
    cx.close(pool).await
}

/// When the server ends the session of a held connection, the next statement fails with a
/// connection-class error and the connection reports itself broken; once returned, the pool
/// discards it and the next caller gets a working replacement.
pub(crate) async fn killed_session_fails_as_broken_and_is_replaced<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get()")?;
    let killed = conn.id();
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1 before the kill"
    );
    cx.target()
        .kill_session(&mut conn)
        .await
        .map_err(|e| CaseError::Failed(format!("killing the session from outside: {e}")))?;

    let result = conn.query("SELECT 1", &[]).await;
    match &result {
        Err(error) => ensure!(
            error.is_connection_broken(),
            "a query on a killed session should fail as connection-broken, got: {error} ({error:?})"
        ),
        Ok(rows) => {
            return Err(CaseError::Failed(format!(
                "a query on a killed session succeeded: {rows:?}"
            )));
        }
    }
    ensure!(
        conn.is_broken(),
        "is_broken() is false after the session was killed"
    );
    drop(conn);

    let mut fresh = pool.get().await.context("get() after the kill")?;
    ensure!(
        fresh.id() != killed,
        "the pool handed out the killed connection again"
    );
    fresh.ping().await.context("ping on the replacement")?;
    ensure_eq!(
        scalar_i64(&mut *fresh, "SELECT 2", &[]).await?,
        2,
        "SELECT 2 on the replacement"
    );
    ensure!(
        pool.stats().broken_on_return_total >= 1,
        "the killed connection was not counted as broken on return"
    );
    drop(fresh);
    cx.settle(&pool).await?;
    cx.expect_sessions(1, "after the replacement").await?;
    cx.close(pool).await
}

/// A session killed while its holder did not notice is never handed to the next caller: the
/// pool finds out on return (reset) or checkout (validation), and the next `get()` and its
/// query succeed on a new session.
pub(crate) async fn killed_session_is_replaced_before_the_next_caller_sees_it<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get()")?;
    let killed = conn.id();
    cx.target()
        .kill_session(&mut conn)
        .await
        .map_err(|e| CaseError::Failed(format!("killing the session from outside: {e}")))?;
    drop(conn);

    let mut next = pool
        .get()
        .await
        .context("get() by the next caller after an unnoticed kill")?;
    ensure!(
        next.id() != killed,
        "the next caller got the killed connection"
    );
    let answer = next
        .query("SELECT 5", &[])
        .await
        .context("the next caller's first query")?;
    ensure_eq!(
        answer
            .first()
            .and_then(|r| r.get(0))
            .and_then(|v| v.as_i64()),
        Some(5),
        "the next caller's SELECT 5"
    );
    drop(next);
    cx.settle(&pool).await?;
    cx.expect_sessions(1, "after the replacement").await?;
    cx.close(pool).await
}
