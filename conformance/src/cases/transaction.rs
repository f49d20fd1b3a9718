//! The transaction guard of the neutral API
//! ([`PooledConnection::begin`](pool_core::PooledConnection::begin)): commit persists, a guard
//! dropped without commit leaves nothing behind for anyone.

use std::sync::Arc;

use super::statements::{count_rows, counter_table};
use crate::context::CaseContext;
use crate::outcome::{CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

use pool_core::{ConnectionProtocol, Value};

/// Rows inserted through `begin()` … `commit()` are visible to another connection.
pub(crate) async fn transaction_guard_commit_persists<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(2).max_size(2)).await?;
    let mut conn = pool.get().await.context("get() the writer")?;
    let table = counter_table(&cx, &mut conn).await?;
    let style = conn.parameter_style();
    let insert = format!(
        "INSERT INTO {table} (id, n) VALUES ({}, {})",
        style.placeholder(1),
        style.placeholder(2)
    );
    let mut tx = conn.begin().await.context("begin()")?;
    tx.execute(&insert, &[Value::I64(1), Value::I64(10)])
        .await
        .context("INSERT inside the transaction")?;
    tx.execute(&insert, &[Value::I64(2), Value::I64(20)])
        .await
        .context("second INSERT inside the transaction")?;
    tx.commit().await.context("commit()")?;
    ensure!(!conn.in_transaction(), "in_transaction() after commit()");

    let mut other = pool.get().await.context("get() the reader")?;
    ensure!(other.id() != conn.id(), "two holders share one connection");
    ensure_eq!(
        count_rows(&mut *other, &table).await?,
        2,
        "rows another connection sees after commit()"
    );
    drop((conn, other));
    cx.close(pool).await
}

/// A guard dropped without commit: its holder's next `begin()` starts from a rolled-back
/// session, and the next holder of the connection (max_size 1, so the same one) sees no row.
pub(crate) async fn transaction_guard_dropped_without_commit_is_rolled_back<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(1).max_size(1)).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let table = counter_table(&cx, &mut conn).await?;
    let first = conn.id();
    let insert = format!("INSERT INTO {table} (id, n) VALUES (1, 1)");

    // Dropped, then begun again on the same checkout: the abandoned insert is rolled back.
    let mut tx = conn.begin().await.context("begin()")?;
    tx.execute(&insert, &[]).await.context("INSERT")?;
    drop(tx);
    ensure!(
        conn.in_transaction(),
        "in_transaction() after a dropped guard"
    );
    let mut tx = conn.begin().await.context("begin() again")?;
    ensure_eq!(
        count_rows(&mut *tx, &table).await?,
        0,
        "rows seen after begin() rolled back the dropped transaction"
    );
    // Dropped again, then the connection returned: the next holder sees nothing.
    tx.execute(&insert, &[]).await.context("INSERT again")?;
    drop(tx);
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    ensure!(
        !conn.in_transaction(),
        "a new checkout starts outside a transaction"
    );
    ensure_eq!(
        count_rows(&mut *conn, &table).await?,
        0,
        "rows the next holder sees from the dropped transaction"
    );
    drop(conn);
    cx.close(pool).await
}
