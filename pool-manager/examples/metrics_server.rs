//! The status service with load running against SQLite: `/metrics`, `/health`, `/stats` and
//! `/dashboard` over real HTTP.
//!
//! ```sh
//! cargo run -p pool-manager --example metrics_server              # 127.0.0.1:9187, until Ctrl-C
//! cargo run -p pool-manager --example metrics_server -- 127.0.0.1:0 30   # any port, 30 s
//! ```
//!
//! Three pools on one SQLite file: `orders` (the single writer) with a read replica (a
//! read-only pool of the same file, as `adapter-sqlite` recommends), and `cache` (in memory).
//! Writers, readers and an occasional slow holder keep them busy, so the dashboard shows
//! connections moving, waits and, now and then, a timeout on the deliberately small `cache`.

use std::time::Duration;

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Pool, Value};
use pool_manager::PoolManager;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9187".to_owned());
    let run_for = args
        .next()
        .map(|s| s.parse::<u64>().map(Duration::from_secs))
        .transpose()?;

    let dir = tempfile_dir()?;
    let manager = sqlite_manager(&dir).await?;
    let server = pool_manager::http::serve(manager.clone(), addr.as_str()).await?;
    let base = format!("http://{}", server.local_addr());
    println!("dashboard: {base}/dashboard");
    println!("metrics:   {base}/metrics");
    println!("health:    {base}/health");
    println!("stats:     {base}/stats");

    let load = tokio::spawn(run_load(manager.clone()));
    match run_for {
        Some(limit) => tokio::time::sleep(limit).await,
        None => tokio::signal::ctrl_c().await?,
    }
    load.abort();
    server.shutdown().await?;
    let report = manager.close_all(Duration::from_secs(5)).await;
    println!("{report}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("pool-manager-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn sqlite_manager(dir: &std::path::Path) -> Result<PoolManager, Box<dyn std::error::Error>> {
    let writer = SqliteConnector::from_url(&format!("sqlite://{}/orders.db", dir.display()))?;
    let readers = writer.read_only();
    let orders = Pool::builder(writer)
        .name("orders")
        .min_size(1)
        .max_size(1)
        .acquire_timeout(Duration::from_secs(2))
        .build()
        .await?;
    let mut conn = orders.get().await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, amount INTEGER)",
        &[],
    )
    .await?;
    drop(conn);
    let replica = Pool::builder(readers)
        .name("orders.replica1")
        .min_size(2)
        .max_size(6)
        .build()
        .await?;
    let cache = Pool::builder(SqliteConnector::from_url("sqlite::memory:")?)
        .name("cache")
        .min_size(1)
        .max_size(2)
        .acquire_timeout(Duration::from_millis(200))
        .build()
        .await?;
    let manager = PoolManager::new();
    manager.register_replicated("orders", orders, [replica])?;
    manager.register("cache", cache)?;
    Ok(manager)
}

/// Writers, readers and slow cache holders, until aborted.
async fn run_load(manager: PoolManager) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..2 {
        let m = manager.clone();
        tasks.spawn(async move {
            for i in 0i64.. {
                if let Ok(mut conn) = m.get_write("orders").await {
                    let _ = conn
                        .execute(
                            "INSERT INTO orders (amount) VALUES (?)",
                            &[Value::I64(i + worker)],
                        )
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    for _ in 0..4 {
        let m = manager.clone();
        tasks.spawn(async move {
            loop {
                if let Ok(mut conn) = m.get_read("orders").await {
                    let _ = conn
                        .query("SELECT count(*), sum(amount) FROM orders", &[])
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    for worker in 0..3u64 {
        let m = manager.clone();
        tasks.spawn(async move {
            loop {
                if let Ok(conn) = m.get("cache").await {
                    // Hold it a while: three holders on a pool of two make callers wait and,
                    // now and then, time out.
                    tokio::time::sleep(Duration::from_millis(60 + worker * 40)).await;
                    drop(conn);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
