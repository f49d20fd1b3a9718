//! The README's first command: a pool at work on embedded SQLite, no server needed.
//!
//! `cargo run --example quickstart`
//!
//! Builds a pool over a SQLite file, creates a table, lets 64 tasks share 8 connections for
//! a few thousand real queries, then prints what the pool saw and closes it.

use std::time::Duration;

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Pool, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("pool-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/orders.db?mode=rwc", dir.display());
    println!("database: {url}");

    let pool = Pool::builder(SqliteConnector::from_url(&url)?)
        .name("quickstart")
        .min_size(2)
        .max_size(8)
        .build()
        .await?;

    let mut conn = pool.get().await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total REAL NOT NULL)",
        &[],
    )
    .await?;
    conn.execute("DELETE FROM orders", &[]).await?;
    drop(conn);

    // 64 tasks over 8 connections: writes and reads interleaved, waiters served in order.
    let mut tasks = Vec::new();
    for task in 0..64i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20i64 {
                let mut conn = pool.get().await?;
                if i % 4 == 0 {
                    conn.execute(
                        "INSERT INTO orders (customer, total) VALUES (?, ?)",
                        &[
                            Value::Text(format!("customer-{task}")),
                            Value::F64(i as f64 * 1.5),
                        ],
                    )
                    .await?;
                } else {
                    conn.query(
                        "SELECT count(*) FROM orders WHERE customer = ?",
                        &[Value::Text(format!("customer-{task}"))],
                    )
                    .await?;
                }
            }
            Ok::<_, pool_core::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let mut conn = pool.get().await?;
    let rows = conn
        .query("SELECT count(*), sum(total) FROM orders", &[])
        .await?;
    let count = rows[0].get(0).and_then(Value::as_i64).unwrap_or(0);
    let sum = rows[0].get(1).and_then(Value::as_f64).unwrap_or(0.0);
    drop(conn);
    println!("orders written: {count}, total {sum:.2}");

    let stats = pool.stats();
    println!(
        "pool '{}': {} connections ({} idle), {} checkouts, wait p50 {:.3} ms / p99 {:.3} ms, {} timeouts",
        stats.name,
        stats.total,
        stats.idle,
        stats.checkouts_total,
        stats.wait.p50_ms,
        stats.wait.p99_ms,
        stats.timeouts_total
    );
    println!(
        "stats as JSON (what a dashboard polls):\n{}",
        serde_json::to_string_pretty(&stats)?
    );

    let report = pool.close(Duration::from_secs(5)).await;
    println!("closed: every connection closed = {}", report.complete);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
