//! The load test behind `src/bin/load.rs`: one pool, many tasks doing acquire → query →
//! release, against the no-op connector, SQLite, PostgreSQL or MySQL.
//!
//! Three scenarios ([`args::Scenario`]): `--connections N` (N tasks at once, a fixed number of
//! cycles each), `--duration S` (50 workers for S seconds in three phases, full / a fifth /
//! full, so the auto-scaler's decisions show both ways), and `--extreme N` (N tasks started in
//! batches of 500, with a database outage in the middle that must open the circuit breaker and
//! then let the pool recover).
//!
//! The run ends with a report (throughput, acquire latency percentiles, peak RSS and bytes per
//! task, pool size over time, errors by kind) and a leak check that is measured, not assumed:
//! after the load, `active` must reach 0, `total ≤ max_size`, `check_invariants()` must pass and
//! closing the pool must drain it. The process exits non-zero when any of that fails.

pub mod args;
pub mod outage;
pub mod recorder;
pub mod report;
pub mod run;

use std::sync::Arc;

use adapter_mysql::MysqlConnector;
use adapter_postgres::PostgresConnector;
use adapter_sqlite::SqliteConnector;
use clap::Parser;
use pool_core::Connector;
use pool_core::testing::TestConnector;

use self::args::{Args, Db};
use self::outage::{NoopOutage, Outage, Switch};

/// Parses the command line, runs the scenario, prints (and writes) the report; returns the
/// process exit code.
pub fn main() -> i32 {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers_threads)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let result = runtime.block_on(dispatch(&args));
    match result {
        Ok(report) => {
            report.print();
            if let Some(path) = &args.json {
                let json = serde_json::to_string_pretty(&report).expect("the report serializes");
                let written = if path == "-" {
                    println!("{json}");
                    Ok(())
                } else {
                    std::fs::write(path, json)
                };
                if let Err(e) = written {
                    eprintln!("could not write {path}: {e}");
                    return 2;
                }
            }
            if report.leak_check.passed { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("load test failed to start: {e}");
            2
        }
    }
}

async fn dispatch(args: &Args) -> Result<report::Report, String> {
    let text = |e: pool_core::Error| e.to_string();
    match args.db {
        Db::Noop => {
            let connector = TestConnector::new();
            let outage = Arc::new(NoopOutage(connector.faults()));
            let faults = connector.faults();
            let mut report = go(args, connector, outage).await?;
            // The connector counts connection objects still alive: after close, none may be.
            report.leak_check.expect(
                "no-op connections still alive after close",
                faults.open() == 0,
                format!("{} alive", faults.open()),
            );
            Ok(report)
        }
        Db::Sqlite => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let url = args
                .url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("load.db").display()));
            let up = SqliteConnector::from_url(&url).map_err(text)?;
            let down = SqliteConnector::from_url("sqlite:///nonexistent-dir/outage.db?mode=rw")
                .map_err(text)?;
            let (switch, outage) = Switch::new(up, down);
            go(args, switch, outage).await
        }
        Db::Postgres => {
            let url = args.url.clone().unwrap_or_else(|| {
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into()
            });
            let up = PostgresConnector::from_url(&url).map_err(text)?;
            let down =
                PostgresConnector::from_url("postgres://postgres@127.0.0.1:1/test?sslmode=disable")
                    .map_err(text)?;
            let (switch, outage) = Switch::new(up, down);
            go(args, switch, outage).await
        }
        Db::Mysql => {
            let url = args
                .url
                .clone()
                .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/test?ssl_mode=disabled".into());
            let up = MysqlConnector::from_url(&url).map_err(text)?;
            let down = MysqlConnector::from_url("mysql://root@127.0.0.1:1/test?ssl_mode=disabled")
                .map_err(text)?;
            let (switch, outage) = Switch::new(up, down);
            go(args, switch, outage).await
        }
    }
}

async fn go<M: Connector>(
    args: &Args,
    connector: M,
    outage: Arc<dyn Outage>,
) -> Result<report::Report, String> {
    let pool = pool_core::Pool::builder(connector)
        .config(args.pool_config())
        .build()
        .await
        .map_err(|e| format!("building the pool: {e}"))?;
    Ok(run::run(pool, outage, args).await)
}
