//! Session state: what one holder leaves in its session (a temporary table, a session
//! variable) is gone for the next holder of the same connection, after the pool's reset.

use std::sync::Arc;

use pool_core::{ConnectionProtocol, Error};

use super::support::{execute_native, expect_value, scalar, scalar_i64, show};
use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

/// A temporary table made by one holder cannot be read by the next holder of the same
/// connection (a pool of `max_size` 1): the read fails as a query error naming the table, and
/// the connection still works.
pub(crate) async fn temporary_table_does_not_survive_reset<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let table = cx.marker().table("tmp");
    let bigint = cx.target().column_types().bigint;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let first = conn.id();
    let create = format!("CREATE TEMPORARY TABLE {table} (x {bigint})");
    conn.execute(&create, &[]).await.context(&create)?;
    conn.execute(&format!("INSERT INTO {table} (x) VALUES (42)"), &[])
        .await
        .context("inserting into the temporary table")?;
    let read = format!("SELECT x FROM {table}");
    ensure_eq!(
        scalar_i64(&mut *conn, &read, &[]).await?,
        42,
        "the holder reads its own temporary table"
    );
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    match conn.query(&read, &[]).await {
        Ok(rows) => {
            return Err(CaseError::Failed(format!(
                "the next holder still reads the temporary table: {rows:?}"
            )));
        }
        Err(error) => {
            ensure!(
                matches!(error, Error::Backend(_)) && !error.is_connection_broken(),
                "reading a dropped temporary table should be a query error, got {error:?}"
            );
            ensure!(
                error.to_string().contains(&table),
                "the error should name the missing table {table}: {error}"
            );
        }
    }
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1 afterwards"
    );
    drop(conn);
    cx.close(pool).await
}

/// A session variable set by one holder reads differently for the next holder of the same
/// connection.
pub(crate) async fn session_variable_does_not_survive_reset<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let variable = cx
        .target()
        .session_variable()
        .map_err(CaseError::NotApplicable)?;
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let first = conn.id();
    conn.execute(&variable.set, &[])
        .await
        .context(&variable.set)?;
    let set = scalar(&mut *conn, &variable.read, &[]).await?;
    expect_value(&set, &variable.value, "the variable as its holder reads it")?;
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    let after = scalar(&mut *conn, &variable.read, &[]).await?;
    ensure!(
        after != variable.value,
        "the next holder still sees the variable: `{}` returned {}",
        variable.read,
        show(&after)
    );
    drop(conn);
    cx.close(pool).await
}

/// A temporary table made through the adapter's native client is gone for the next holder,
/// as one made through the neutral API is.
pub(crate) async fn temporary_table_made_through_the_native_client_does_not_survive_reset<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let table = cx.marker().table("ntmp");
    let bigint = cx.target().column_types().bigint;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let first = conn.id();
    let create = format!("CREATE TEMPORARY TABLE {table} (x {bigint})");
    execute_native(cx.target(), &mut conn, &create).await?;
    let insert = format!("INSERT INTO {table} (x) VALUES (42)");
    execute_native(cx.target(), &mut conn, &insert).await?;
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    let read = format!("SELECT x FROM {table}");
    if let Ok(rows) = conn.query(&read, &[]).await {
        return Err(CaseError::Failed(format!(
            "the next holder still reads the temporary table made natively: {rows:?}"
        )));
    }
    ensure_eq!(
        scalar_i64(&mut *conn, "SELECT 1", &[]).await?,
        1,
        "SELECT 1 afterwards"
    );
    drop(conn);
    cx.close(pool).await
}

/// A session variable set through the adapter's native client reads differently for the next
/// holder, as one set through the neutral API does.
pub(crate) async fn session_variable_set_through_the_native_client_does_not_survive_reset<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let variable = cx
        .target()
        .session_variable()
        .map_err(CaseError::NotApplicable)?;
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let first = conn.id();
    execute_native(cx.target(), &mut conn, &variable.set).await?;
    let set = scalar(&mut *conn, &variable.read, &[]).await?;
    expect_value(&set, &variable.value, "the variable as its holder reads it")?;
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    let after = scalar(&mut *conn, &variable.read, &[]).await?;
    ensure!(
        after != variable.value,
        "the next holder still sees the variable set natively: `{}` returned {}",
        variable.read,
        show(&after)
    );
    drop(conn);
    cx.close(pool).await
}
