//! Statements: `execute` reports affected rows, and transactions commit and roll back.

use std::sync::Arc;

use pool_core::{ConnectionProtocol, Value};

use super::support::{execute_native, scalar_i64};
use crate::context::CaseContext;
use crate::outcome::{CaseResult, Context, ensure_eq};
use crate::target::{ConformanceTarget, ConnectionOf};

/// A fresh `(id, n)` table.
pub(super) async fn counter_table<T: ConformanceTarget>(
    cx: &CaseContext<T>,
    conn: &mut ConnectionOf<T>,
) -> CaseResult<String> {
    let t = cx.target().column_types();
    let columns = format!("id {} PRIMARY KEY, n {}", t.bigint, t.bigint);
    cx.create_table(conn, "rows", &columns).await
}

pub(super) async fn count_rows<C: ConnectionProtocol + ?Sized>(
    conn: &mut C,
    table: &str,
) -> CaseResult<i64> {
    scalar_i64(conn, &format!("SELECT count(*) FROM {table}"), &[]).await
}

async fn run<C: ConnectionProtocol + ?Sized>(conn: &mut C, sql: &str) -> CaseResult<u64> {
    conn.execute(sql, &[]).await.context(sql)
}

/// `execute` returns the rows a multi-row insert, an update, an update matching nothing and a
/// delete affected.
pub(crate) async fn execute_returns_affected_rows<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?).await?;
    let mut conn = pool.get().await.context("get()")?;
    let table = counter_table(&cx, &mut conn).await?;
    let c = &mut *conn;
    ensure_eq!(
        run(
            c,
            &format!("INSERT INTO {table} (id, n) VALUES (1, 0), (2, 0), (3, 0)")
        )
        .await?,
        3,
        "rows inserted by a three-row INSERT"
    );
    ensure_eq!(
        run(c, &format!("UPDATE {table} SET n = n + 1 WHERE id <= 2")).await?,
        2,
        "rows changed by an UPDATE of two rows"
    );
    let style = c.parameter_style();
    let update = format!(
        "UPDATE {table} SET n = n + 1 WHERE id > {}",
        style.placeholder(1)
    );
    ensure_eq!(
        c.execute(&update, &[Value::I64(100)])
            .await
            .context(&update)?,
        0,
        "rows changed by an UPDATE matching nothing"
    );
    ensure_eq!(
        run(c, &format!("DELETE FROM {table}")).await?,
        3,
        "rows removed by DELETE of all"
    );
    drop(conn);
    cx.close(pool).await
}

/// Rows inserted in a committed transaction are visible through another connection, and are
/// invisible to it before the commit.
pub(crate) async fn committed_transaction_is_visible_to_other_connections<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.min_size(2)).await?;
    let mut writer = pool.get().await.context("get() the writer")?;
    let mut reader = pool.get().await.context("get() the reader")?;
    let table = counter_table(&cx, &mut writer).await?;
    run(&mut *writer, "BEGIN").await?;
    run(
        &mut *writer,
        &format!("INSERT INTO {table} (id, n) VALUES (1, 1), (2, 2)"),
    )
    .await?;
    ensure_eq!(
        count_rows(&mut *reader, &table).await?,
        0,
        "rows another connection sees before COMMIT"
    );
    run(&mut *writer, "COMMIT").await?;
    ensure_eq!(
        count_rows(&mut *reader, &table).await?,
        2,
        "rows another connection sees after COMMIT"
    );
    drop((writer, reader));
    cx.close(pool).await
}

/// Rows inserted in a rolled-back transaction are gone, for the same connection too.
pub(crate) async fn rolled_back_transaction_leaves_no_rows<T: ConformanceTarget>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?).await?;
    let mut conn = pool.get().await.context("get()")?;
    let table = counter_table(&cx, &mut conn).await?;
    run(
        &mut *conn,
        &format!("INSERT INTO {table} (id, n) VALUES (1, 1)"),
    )
    .await?;
    run(&mut *conn, "BEGIN").await?;
    run(
        &mut *conn,
        &format!("INSERT INTO {table} (id, n) VALUES (2, 2)"),
    )
    .await?;
    run(&mut *conn, &format!("DELETE FROM {table} WHERE id = 1")).await?;
    ensure_eq!(
        count_rows(&mut *conn, &table).await?,
        1,
        "rows inside the transaction (one added, one deleted)"
    );
    run(&mut *conn, "ROLLBACK").await?;
    ensure_eq!(
        count_rows(&mut *conn, &table).await?,
        1,
        "rows after ROLLBACK"
    );
    ensure_eq!(
        scalar_i64(
            &mut *conn,
            &format!("SELECT count(*) FROM {table} WHERE id = 1"),
            &[]
        )
        .await?,
        1,
        "rows with the id from before BEGIN after ROLLBACK (its DELETE undone)"
    );
    drop(conn);
    cx.close(pool).await
}

/// A holder that returns its connection inside a transaction does not commit it: the next
/// holder of the same connection sees none of its rows and can start a transaction of its own.
pub(crate) async fn open_transaction_is_rolled_back_when_the_connection_returns<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let table = counter_table(&cx, &mut conn).await?;
    let first = conn.id();
    run(&mut *conn, "BEGIN").await?;
    run(
        &mut *conn,
        &format!("INSERT INTO {table} (id, n) VALUES (1, 1)"),
    )
    .await?;
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    ensure_eq!(
        count_rows(&mut *conn, &table).await?,
        0,
        "rows the next holder sees from the abandoned transaction"
    );
    run(&mut *conn, "BEGIN").await?;
    run(&mut *conn, "COMMIT").await?;
    drop(conn);
    cx.close(pool).await
}

/// A transaction a holder opened through the adapter's native client and left open is rolled
/// back before the next holder gets the connection, as one left through the neutral API is.
pub(crate) async fn transaction_left_open_through_the_native_client_is_rolled_back<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx.build(cx.pool()?.max_size(1)).await?;
    let mut conn = pool.get().await.context("get() the first holder")?;
    let table = counter_table(&cx, &mut conn).await?;
    let first = conn.id();
    execute_native(cx.target(), &mut conn, "BEGIN").await?;
    let insert = format!("INSERT INTO {table} (id, n) VALUES (1, 1)");
    execute_native(cx.target(), &mut conn, &insert).await?;
    drop(conn);

    let mut conn = pool.get().await.context("get() the next holder")?;
    ensure_eq!(
        conn.id(),
        first,
        "connection the next holder got (max_size 1)"
    );
    ensure_eq!(
        count_rows(&mut *conn, &table).await?,
        0,
        "rows the next holder sees from the transaction left open natively"
    );
    run(&mut *conn, "BEGIN").await?;
    run(&mut *conn, "COMMIT").await?;
    drop(conn);
    cx.close(pool).await
}
