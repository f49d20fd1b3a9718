//! The pool at work on the in-memory test connector: no database needed.
//!
//! `cargo run -p pool-core --features testing --example test_connector`

use std::time::Duration;

use pool_core::testing::TestConnector;
use pool_core::{ConnectionProtocol, Pool, Value};

#[tokio::main]
async fn main() -> pool_core::Result<()> {
    let pool = Pool::builder(TestConnector::new())
        .name("quickstart")
        .min_size(2)
        .max_size(8)
        .build()
        .await?;

    let mut tasks = Vec::new();
    for task in 0..32i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get().await?;
            let rows = conn.query("SELECT ?", &[Value::I64(task)]).await?;
            Ok::<_, pool_core::Error>(rows[0].get(0).and_then(Value::as_i64))
        }));
    }
    let mut sum = 0;
    for task in tasks {
        sum += task.await.expect("task panicked")?.unwrap_or(0);
    }
    println!("32 tasks over a pool of 8 computed {sum}");
    println!("{}", serde_json_like(&pool.stats()));
    let report = pool.close(Duration::from_secs(5)).await;
    println!("closed: {report:?}");
    Ok(())
}

fn serde_json_like(stats: &pool_core::PoolStats) -> String {
    format!(
        "active {} idle {} total {} created {} checkouts {} wait p99 {:.3} ms",
        stats.active,
        stats.idle,
        stats.total,
        stats.created_total,
        stats.checkouts_total,
        stats.wait.p99_ms
    )
}
