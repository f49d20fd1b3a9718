//! `soak`: mixed load with random cancellation against PostgreSQL, MySQL and SQLite at once,
//! with faults injected at random through a fault proxy (PostgreSQL, MySQL), checking the
//! pools' invariants all along.
//!
//! ```text
//! cargo run -p conformance --bin soak -- --minutes 10
//! ```
//!
//! Prints a summary (operations, errors by kind, faults injected, invariant checks passed, peak
//! RSS) and exits non-zero on any invariant violation, on a pool that does not settle to the
//! server's own session count at the end, or when the resident set grew by more than
//! `--rss-growth-mib` (default 64 MiB) between the end of the first tenth of the run and the
//! end.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use conformance::Marker;
use conformance::chaos::{ChaosDb, MysqlChaos, OutcomeKind, PostgresChaos, SqliteChaos, settle};
use conformance::fault_proxy::{Fault, FaultProxy};
use pool_core::{ConnectionProtocol, Pool, PoolConfig};
use tokio::time::{Instant, sleep};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Soak the pool against all three databases with random faults")]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 1.0)]
    minutes: f64,
    /// Tasks per database.
    #[arg(long, default_value_t = 16)]
    tasks: usize,
    /// Allowed growth of the resident set after warm-up, in MiB.
    #[arg(long, default_value_t = 64)]
    rss_growth_mib: u64,
}

/// What one database's run saw.
#[derive(Debug, Default)]
struct Tally {
    operations: AtomicU64,
    cancelled: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    faults: Mutex<BTreeMap<String, u64>>,
    invariant_checks: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, kind: String) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind)
            .or_insert(0) += 1;
    }

    fn fault(&self, fault: Fault) {
        let name = format!("{fault:?}");
        let name = name.split('(').next().unwrap_or_default().to_owned();
        *self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name)
            .or_insert(0) += 1;
    }
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn soak<D: ChaosDb>(
    db: Arc<D>,
    run: Duration,
    tasks: usize,
    tally: Arc<Tally>,
) -> Result<(), String> {
    db.probe()
        .await
        .map_err(|e| format!("{}: {e}", db.name()))?;
    let proxy = match db.server_addr() {
        Some(addr) => Some(FaultProxy::start(addr).await.map_err(|e| e.to_string())?),
        None => None,
    };
    let marker = Marker::unique("soak");
    let connector = db
        .connector(proxy.as_ref().map(FaultProxy::addr), &marker)
        .map_err(|e| e.to_string())?;
    let mut config = PoolConfig::default();
    config.name = marker.as_str().to_owned();
    config.min_size = Some(2);
    config.max_size = 8;
    config.acquire_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_millis(500);
    config.connect_backoff_initial = Duration::from_millis(50);
    config.connect_backoff_max = Duration::from_millis(500);
    config.query_timeout = Some(Duration::from_secs(1));
    config.health_check_interval = Some(Duration::from_millis(500));
    config.health_check_timeout = Duration::from_millis(300);
    config.close_timeout = Duration::from_millis(500);
    config.circuit_breaker.open_duration = Duration::from_millis(300);
    config.leak_detection_threshold = Some(Duration::from_secs(5));
    let pool = Pool::builder(connector)
        .config(config)
        .build()
        .await
        .map_err(|e| format!("{}: {e}", db.name()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let pool = pool.clone();
        let stop = stop.clone();
        let tally = tally.clone();
        let sleepy = db.sleep_sql(fastrand::u64(5..50));
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sql = if fastrand::u8(0..4) == 0 {
                    sleepy.as_str()
                } else {
                    "SELECT 1"
                };
                let call = async {
                    let mut conn = pool.get().await?;
                    conn.query(sql, &[]).await?;
                    if fastrand::u8(0..8) == 0 {
                        sleep(Duration::from_millis(fastrand::u64(1..20))).await;
                    }
                    Ok::<_, pool_core::Error>(())
                };
                // One call in five is abandoned at a random point.
                let result = if fastrand::u8(0..5) == 0 {
                    tokio::time::timeout(Duration::from_millis(fastrand::u64(0..30)), call)
                        .await
                        .ok()
                } else {
                    Some(call.await)
                };
                tally.operations.fetch_add(1, Ordering::Relaxed);
                match result {
                    None => {
                        tally.cancelled.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Ok(())) => {}
                    Some(r) => {
                        tally.error(format!("{:?}", OutcomeKind::of(&r)));
                        sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    let mut next_fault = started + Duration::from_secs(2);
    let mut fault_until: Option<Instant> = None;
    while started.elapsed() < run {
        if let Err(v) = pool.check_invariants() {
            tally
                .violations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{}: {v}", db.name()));
        } else {
            tally.invariant_checks.fetch_add(1, Ordering::Relaxed);
        }
        let s = pool.stats();
        if s.total + s.connecting > s.max_size || s.active + s.idle > s.total {
            tally
                .violations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{}: counts {s:?}", db.name()));
        }
        if let Some(proxy) = &proxy {
            let now = Instant::now();
            if fault_until.is_some_and(|t| now >= t) {
                proxy.set(Fault::Pass);
                fault_until = None;
                next_fault = now + Duration::from_millis(fastrand::u64(1000..3000));
            } else if fault_until.is_none() && now >= next_fault {
                let fault = match fastrand::u8(0..5) {
                    0 => Fault::Latency(Duration::from_millis(fastrand::u64(10..100))),
                    1 => Fault::Reset,
                    2 => Fault::Blackhole,
                    3 => Fault::Refuse,
                    _ => Fault::Unreachable,
                };
                proxy.set(fault);
                tally.fault(fault);
                fault_until = Some(now + Duration::from_millis(fastrand::u64(200..1500)));
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    if let Some(proxy) = &proxy {
        proxy.set(Fault::Pass);
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        if tokio::time::timeout(Duration::from_secs(15), h)
            .await
            .is_err()
        {
            return Err(format!("{}: a load task hung after the run", db.name()));
        }
    }
    // Ends with the pool agreeing with the server (panics otherwise: a non-zero exit).
    settle(&*db, &pool, &marker, Duration::from_secs(15)).await;
    pool.close(Duration::from_secs(5)).await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = Duration::from_secs_f64(args.minutes * 60.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let names = ["postgres", "mysql", "sqlite"];
    let tallies: Vec<Arc<Tally>> = names.iter().map(|_| Arc::default()).collect();
    let warm_rss = Arc::new(AtomicU64::new(0));
    let outcome = runtime.block_on({
        let tallies = tallies.clone();
        let warm_rss = warm_rss.clone();
        async move {
            let sampler = tokio::spawn(async move {
                sleep(run / 10).await;
                warm_rss.store(rss_kib("VmRSS:"), Ordering::SeqCst);
            });
            let sqlite = Arc::new(SqliteChaos::new());
            let results = tokio::join!(
                soak(
                    Arc::new(PostgresChaos::from_env()),
                    run,
                    args.tasks,
                    tallies[0].clone()
                ),
                soak(
                    Arc::new(MysqlChaos::from_env()),
                    run,
                    args.tasks,
                    tallies[1].clone()
                ),
                soak(sqlite, run, args.tasks, tallies[2].clone()),
            );
            let _ = sampler.await;
            [results.0, results.1, results.2]
        }
    });
    let end_rss = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    let mut failed = false;
    println!(
        "soak: {:.1} minutes, {} tasks per database",
        args.minutes, args.tasks
    );
    for ((name, tally), result) in names.iter().zip(&tallies).zip(outcome) {
        let violations = tally.violations.lock().unwrap_or_else(|e| e.into_inner());
        println!(
            "{name}: operations {}, cancelled {}, errors {:?}, faults injected {:?}, invariant checks passed {}, violations {}",
            tally.operations.load(Ordering::Relaxed),
            tally.cancelled.load(Ordering::Relaxed),
            tally.errors.lock().unwrap_or_else(|e| e.into_inner()),
            tally.faults.lock().unwrap_or_else(|e| e.into_inner()),
            tally.invariant_checks.load(Ordering::Relaxed),
            violations.len()
        );
        for v in violations.iter().take(5) {
            println!("  violation: {v}");
        }
        if let Err(e) = result {
            println!("  failed: {e}");
            failed = true;
        }
        failed |= !violations.is_empty();
    }
    let warm = warm_rss.load(Ordering::SeqCst);
    let growth_kib = end_rss.saturating_sub(warm);
    println!(
        "RSS: after warm-up {} MiB, at the end {} MiB, peak {} MiB (allowed growth {} MiB)",
        warm / 1024,
        end_rss / 1024,
        peak / 1024,
        args.rss_growth_mib
    );
    if warm > 0 && growth_kib > args.rss_growth_mib * 1024 {
        println!("RSS grew by {} MiB", growth_kib / 1024);
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
