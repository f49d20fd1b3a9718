//! Measures point reads per second: 16 tasks sharing 4 connections (each connection's thread
//! serves the tasks queued on it), against rusqlite called directly on one thread.
//!
//! `cargo run --release -p adapter-sqlite --example point_reads [seconds] [tasks]` (16 tasks
//! by default).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Connector, Value};

const ROWS: i64 = 10_000;
const CONNECTIONS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3);
    let tasks_wanted: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(16);
    let run_for = Duration::from_secs(seconds);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let pooled = runtime.block_on(async {
        let connector = SqliteConnector::from_url(&format!("sqlite://{}", path.display()))?;
        let mut setup = connector.connect().await?;
        setup
            .execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)", &[])
            .await?;
        setup
            .execute(
                &format!(
                    "INSERT INTO kv WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                     WHERE x < {ROWS}) SELECT x, 'value ' || x FROM c"
                ),
                &[],
            )
            .await?;
        let mut connections = Vec::new();
        for _ in 0..CONNECTIONS {
            connections.push(Arc::new(tokio::sync::Mutex::new(
                connector.connect().await?,
            )));
        }
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for t in 0..tasks_wanted {
            let conn = Arc::clone(&connections[t % CONNECTIONS]);
            let (done, count) = (Arc::clone(&done), Arc::clone(&count));
            tasks.push(tokio::spawn(async move {
                let mut id = t as i64;
                while !done.load(Ordering::Relaxed) {
                    id = (id * 7919 + 1) % ROWS + 1;
                    let rows = conn
                        .lock()
                        .await
                        .query("SELECT v FROM kv WHERE id = ?", &[Value::I64(id)])
                        .await?;
                    assert_eq!(rows.len(), 1);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, pool_core::Error>(())
            }));
        }
        tokio::time::sleep(run_for).await;
        done.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.expect("task panicked")?;
        }
        Ok::<_, pool_core::Error>(count.load(Ordering::Relaxed))
    })?;
    let pooled_rate = pooled as f64 / run_for.as_secs_f64();

    let conn = rusqlite::Connection::open(&path)?;
    let started = Instant::now();
    let mut direct = 0u64;
    let mut id = 0i64;
    while started.elapsed() < run_for {
        id = (id * 7919 + 1) % ROWS + 1;
        let _: String = conn
            .prepare_cached("SELECT v FROM kv WHERE id = ?")?
            .query_row([id], |r| r.get(0))?;
        direct += 1;
    }
    let direct_rate = direct as f64 / run_for.as_secs_f64();

    println!(
        "{tasks_wanted} tasks over {CONNECTIONS} connections: {pooled_rate:.0} point reads/s; \
         rusqlite on one thread: {direct_rate:.0}/s; ratio {:.2}",
        pooled_rate / direct_rate
    );
    Ok(())
}
