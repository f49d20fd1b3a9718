//! Concurrency: many tasks share few connections without errors, mix-ups or leaks.

use std::sync::Arc;

use pool_core::{ConnectionProtocol, Value};
use tokio::task::JoinSet;

use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseResult, Context, ensure, ensure_eq};
use crate::target::ConformanceTarget;

const TASKS: i64 = 50;
const POOL_SIZE: usize = 5;
const QUERIES_PER_TASK: i64 = 100;

/// 50 tasks over a pool of 5 run 5,000 queries (each task reads its own row, so a connection
/// mixed up between holders would show), with no error; afterwards no connection is checked
/// out, the accounting holds, no connection was replaced and the server shows at most 5
/// sessions of the pool.
pub(crate) async fn fifty_tasks_share_five_connections_for_5000_queries_without_leaks<
    T: ConformanceTarget,
>(
    cx: Arc<CaseContext<T>>,
) -> CaseResult {
    let pool = cx
        .build(cx.pool()?.min_size(POOL_SIZE).max_size(POOL_SIZE))
        .await?;
    let table = {
        let mut conn = pool.get().await.context("get() to set up")?;
        let t = cx.target().column_types();
        let columns = format!("id {} PRIMARY KEY, v {}", t.bigint, t.bigint);
        let table = cx.create_table(&mut conn, "tasks", &columns).await?;
        let rows: Vec<String> = (0..TASKS).map(|i| format!("({i}, {})", i * 1000)).collect();
        let insert = format!("INSERT INTO {table} (id, v) VALUES {}", rows.join(", "));
        let inserted = conn
            .execute(&insert, &[])
            .await
            .context("inserting one row per task")?;
        ensure_eq!(inserted, TASKS as u64, "rows inserted");
        table
    };

    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let pool = pool.clone();
        let table = table.clone();
        tasks.spawn(async move {
            for query in 0..QUERIES_PER_TASK {
                let mut conn = pool.get().await.map_err(|e| format!("get(): {e}"))?;
                let sql = format!(
                    "SELECT v FROM {table} WHERE id = {}",
                    conn.parameter_style().placeholder(1)
                );
                let rows = conn
                    .query(&sql, &[Value::I64(task)])
                    .await
                    .map_err(|e| format!("query {query}: {e}"))?;
                let got = rows.first().and_then(|r| r.get(0)).and_then(Value::as_i64);
                if got != Some(task * 1000) {
                    return Err(format!(
                        "query {query} read {got:?}, expected {}",
                        task * 1000
                    ));
                }
            }
            Ok::<(), String>(())
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("a task panicked: {e}")),
        }
    }
    if !failures.is_empty() {
        return Err(CaseError::Failed(format!(
            "{} of {TASKS} tasks failed; first: {}",
            failures.len(),
            failures[0]
        )));
    }

    cx.settle(&pool).await?;
    pool.check_invariants()
        .map_err(|e| CaseError::Failed(format!("pool invariant violated: {e}")))?;
    let stats = pool.stats();
    ensure_eq!(
        stats.active,
        0,
        "connections checked out after every task finished"
    );
    ensure!(
        stats.checkouts_total >= (TASKS * QUERIES_PER_TASK) as u64,
        "checkouts counted: {} for {} queries",
        stats.checkouts_total,
        TASKS * QUERIES_PER_TASK
    );
    ensure!(
        stats.total <= POOL_SIZE,
        "connections open: {} > {POOL_SIZE}",
        stats.total
    );
    ensure_eq!(
        stats.broken_on_return_total,
        0,
        "connections discarded as broken"
    );
    ensure_eq!(stats.timeouts_total, 0, "acquires that timed out");
    let sessions = cx.count_sessions().await?;
    ensure!(
        sessions <= POOL_SIZE && sessions == stats.total,
        "the server shows {sessions} sessions of the pool; the pool has {} open",
        stats.total
    );
    cx.close(pool).await
}
