//! Running a scenario against a built pool, watching it, and checking it afterwards.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use pool_core::{CircuitState, ConnectionProtocol, Connector, Pool};

use super::args::{Args, Scenario};
use super::outage::Outage;
use super::recorder::Recorder;
use super::report::{Event, LeakCheck, Memory, Report, SizeSample, proc_status_kib};

/// How long a task pauses after a failed acquire, as a real client would before retrying.
const ERROR_PAUSE: Duration = Duration::from_millis(50);
/// How long the pool gets after the load to bring every connection back.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The run's timeline: events are kept for the report and printed as they happen.
struct Timeline {
    start: Instant,
    bar: ProgressBar,
    events: Mutex<Vec<Event>>,
    samples: Mutex<Vec<SizeSample>>,
}

impl Timeline {
    fn millis(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn log(&self, what: String) {
        let t_ms = self.millis();
        self.bar
            .println(format!("[{:>7.2}s] {what}", t_ms as f64 / 1e3));
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Event { t_ms, what });
    }
}

/// One acquire → query → hold → release. Errors are counted, never fatal.
async fn cycle<M: Connector>(pool: &Pool<M>, rec: &Recorder, task: usize, args: &RunArgs) {
    let asked = Instant::now();
    match pool.get().await {
        Ok(mut conn) => {
            rec.acquired(task, asked.elapsed());
            match conn.query(&args.sql, &[]).await {
                Ok(_) => {
                    rec.ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => rec.error("query", &e),
            }
            if !args.hold.is_zero() {
                tokio::time::sleep(args.hold).await;
            }
        }
        Err(e) => {
            rec.error("acquire", &e);
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
}

/// What the tasks need from the command line, owned so tasks can share it.
struct RunArgs {
    sql: String,
    hold: Duration,
}

/// Runs the scenario, then settles, checks and closes the pool.
pub async fn run<M: Connector>(pool: Pool<M>, outage: Arc<dyn Outage>, args: &Args) -> Report {
    let scenario = args.scenario();
    let rec = Arc::new(Recorder::default());
    let run_args = Arc::new(RunArgs {
        sql: args.sql.clone(),
        hold: args.hold,
    });
    let bar = match scenario {
        Scenario::Connections(n) => ProgressBar::new(n as u64 * args.iterations),
        Scenario::Duration(s) => ProgressBar::new(s * 1000),
        Scenario::Extreme(_) => ProgressBar::new(args.extreme_secs * 1000),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let timeline = Arc::new(Timeline {
        start: Instant::now(),
        bar: bar.clone(),
        events: Mutex::new(Vec::new()),
        samples: Mutex::new(Vec::new()),
    });
    let get_future_bytes = std::mem::size_of_val(&pool.get());
    let rss_before_kib = proc_status_kib("VmRSS:");
    let watching = Arc::new(AtomicBool::new(true));
    let monitor = tokio::spawn(monitor(
        pool.clone(),
        timeline.clone(),
        rec.clone(),
        watching.clone(),
        matches!(scenario, Scenario::Connections(_)),
    ));

    let load_start = Instant::now();
    let tasks_measured = match scenario {
        Scenario::Connections(n) => {
            connections(&pool, &rec, &run_args, n, args.iterations, rss_before_kib).await
        }
        Scenario::Duration(secs) => {
            duration(&pool, &rec, &run_args, &timeline, args.workers, secs).await;
            None
        }
        Scenario::Extreme(n) => {
            extreme(
                &pool,
                &rec,
                &run_args,
                &timeline,
                &outage,
                args,
                n,
                rss_before_kib,
            )
            .await
        }
    };
    let elapsed = load_start.elapsed();

    // Settle: every connection must come back (returns with a reset finish in the background).
    let settle_start = Instant::now();
    while settle_start.elapsed() < SETTLE_LIMIT {
        let s = pool.stats();
        if s.active == 0 && s.connecting == 0 && s.waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watching.store(false, Ordering::Relaxed);
    let _ = monitor.await;
    bar.finish_and_clear();

    let final_stats = pool.stats();
    let mut leak_check = LeakCheck {
        passed: true,
        items: Vec::new(),
    };
    leak_check.expect(
        "active = 0 after the load",
        final_stats.active == 0,
        format!(
            "active {} (after waiting up to {SETTLE_LIMIT:?})",
            final_stats.active
        ),
    );
    leak_check.expect(
        "nobody left waiting",
        final_stats.waiting == 0,
        format!("waiting {}", final_stats.waiting),
    );
    leak_check.expect(
        "total ≤ max_size",
        final_stats.total <= final_stats.max_size,
        format!("total {} / max {}", final_stats.total, final_stats.max_size),
    );
    let invariants = pool.check_invariants();
    leak_check.expect(
        "pool.check_invariants()",
        invariants.is_ok(),
        invariants.err().unwrap_or_else(|| "ok".to_owned()),
    );
    let close = pool.close(Duration::from_secs(5)).await;
    leak_check.expect(
        "close() drains the pool",
        close.complete && close.still_checked_out == 0,
        format!("{close:?}"),
    );

    let peak_rss_kib = proc_status_kib("VmHWM:");
    let latencies = rec.latencies();
    let completed = rec.completed();
    let samples = std::mem::take(&mut *timeline.samples.lock().unwrap_or_else(|e| e.into_inner()));
    let events = std::mem::take(&mut *timeline.events.lock().unwrap_or_else(|e| e.into_inner()));
    let (bytes_per_task, tasks) = tasks_measured.unwrap_or((None, 0));
    Report {
        db: args.db,
        scenario,
        pool_config: describe_config(args),
        elapsed_secs: elapsed.as_secs_f64(),
        completed,
        throughput_per_sec: completed as f64 / elapsed.as_secs_f64(),
        acquire: latencies.summary(),
        errors: rec.errors(),
        memory: Memory {
            rss_before_kib,
            peak_rss_kib,
            bytes_per_task,
            tasks_measured: tasks,
            get_future_bytes,
        },
        size_over_time: samples,
        events,
        final_stats,
        leak_check,
    }
}

fn describe_config(args: &Args) -> String {
    let c = args.pool_config();
    let overrides = args.overrides();
    let which = if overrides.is_empty() {
        "the defaults".to_owned()
    } else {
        format!("defaults except {}", overrides.join(", "))
    };
    format!(
        "{which} (max_size {}, min_size {}); hold {:?} after `{}`",
        c.max_size,
        c.effective_min_size(),
        args.hold,
        args.sql
    )
}

/// Bytes of RSS growth per task, measured now.
fn bytes_per_task(rss_before_kib: u64, tasks: usize) -> (Option<f64>, usize) {
    let grown = proc_status_kib("VmRSS:").saturating_sub(rss_before_kib);
    (
        (tasks > 0).then(|| grown as f64 * 1024.0 / tasks as f64),
        tasks,
    )
}

/// `n` tasks at once, `iterations` cycles each.
async fn connections<M: Connector>(
    pool: &Pool<M>,
    rec: &Arc<Recorder>,
    args: &Arc<RunArgs>,
    n: usize,
    iterations: u64,
    rss_before_kib: u64,
) -> Option<(Option<f64>, usize)> {
    let mut handles = Vec::with_capacity(n);
    for task in 0..n {
        let (pool, rec, args) = (pool.clone(), rec.clone(), args.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..iterations {
                cycle(&pool, &rec, task, &args).await;
            }
        }));
    }
    tokio::task::yield_now().await;
    let memory = bytes_per_task(rss_before_kib, n);
    for h in handles {
        let _ = h.await;
    }
    Some(memory)
}

/// `workers` workers until `secs` pass: all of them for the first 40 %, a fifth of them until
/// 70 %, all of them again after, so the auto-scaler has reasons to grow, shrink and grow.
async fn duration<M: Connector>(
    pool: &Pool<M>,
    rec: &Arc<Recorder>,
    args: &Arc<RunArgs>,
    timeline: &Arc<Timeline>,
    workers: usize,
    secs: u64,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let active = Arc::new(AtomicUsize::new(workers));
    let mut handles = Vec::with_capacity(workers);
    for task in 0..workers {
        let (pool, rec, args) = (pool.clone(), rec.clone(), args.clone());
        let (stop, active) = (stop.clone(), active.clone());
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if task < active.load(Ordering::Relaxed) {
                    cycle(&pool, &rec, task, &args).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let total = Duration::from_secs(secs);
    timeline.log(format!("phase 1: {workers} workers"));
    tokio::time::sleep(total.mul_f64(0.4)).await;
    let few = (workers / 5).max(1);
    active.store(few, Ordering::Relaxed);
    timeline.log(format!("phase 2: {few} workers"));
    tokio::time::sleep(total.mul_f64(0.3)).await;
    active.store(workers, Ordering::Relaxed);
    timeline.log(format!("phase 3: {workers} workers"));
    tokio::time::sleep(total.mul_f64(0.3)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
}

/// `n` tasks started in batches, running until the end; the database goes down at 35 % of
/// the run for `--outage-secs`.
#[allow(clippy::too_many_arguments)]
async fn extreme<M: Connector>(
    pool: &Pool<M>,
    rec: &Arc<Recorder>,
    args: &Arc<RunArgs>,
    timeline: &Arc<Timeline>,
    outage: &Arc<dyn Outage>,
    cli: &Args,
    n: usize,
    rss_before_kib: u64,
) -> Option<(Option<f64>, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Duration::from_secs(cli.extreme_secs);
    let outage_at = total.mul_f64(0.35);
    let outage_for = cli.outage;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    let batch = cli.batch.max(1);
    while handles.len() < n {
        let upto = (handles.len() + batch).min(n);
        for task in handles.len()..upto {
            let (pool, rec, args, stop) = (pool.clone(), rec.clone(), args.clone(), stop.clone());
            handles.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    cycle(&pool, &rec, task, &args).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    timeline.log(format!("all {n} tasks started (batches of {batch})"));
    let memory = bytes_per_task(rss_before_kib, n);
    if !outage_for.is_zero() {
        tokio::time::sleep(outage_at.saturating_sub(start.elapsed())).await;
        outage.begin();
        timeline.log(format!(
            "outage begins: connects fail, open connections die (for {outage_for:?})"
        ));
        tokio::time::sleep(outage_for).await;
        outage.end();
        timeline.log("outage ends: the database is back".to_owned());
    }
    tokio::time::sleep(total.saturating_sub(start.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
    Some(memory)
}

/// Polls the pool's stats every 100 ms: progress bar, size samples every 250 ms, and an event
/// for every auto-scaler decision and breaker transition.
async fn monitor<M: Connector>(
    pool: Pool<M>,
    timeline: Arc<Timeline>,
    rec: Arc<Recorder>,
    watching: Arc<AtomicBool>,
    count_cycles: bool,
) {
    let first = pool.stats();
    let (mut ups, mut downs, mut circuit) = (
        first.scale_ups_total,
        first.scale_downs_total,
        first.circuit,
    );
    let mut warm = first.warm_target;
    let mut last_sample = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while watching.load(Ordering::Relaxed) {
        tick.tick().await;
        let s = pool.stats();
        let t_ms = timeline.millis();
        if s.scale_ups_total != ups || s.scale_downs_total != downs {
            let direction = if s.scale_ups_total != ups {
                "up"
            } else {
                "down"
            };
            timeline.log(format!(
                "auto-scaler: scale {direction}, warm target {warm} → {} (total {}, active {}, waiting {}, utilization {:.2})",
                s.warm_target, s.total, s.active, s.waiting, s.utilization
            ));
            (ups, downs) = (s.scale_ups_total, s.scale_downs_total);
        }
        warm = s.warm_target;
        if s.circuit != circuit {
            timeline.log(format!(
                "circuit breaker: {circuit:?} → {:?} (consecutive failures {}, rejections so far {})",
                s.circuit, s.circuit_consecutive_failures, s.circuit_rejections_total
            ));
            circuit = s.circuit;
        }
        if t_ms >= last_sample + 250 || last_sample == 0 {
            last_sample = t_ms.max(1);
            timeline
                .samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(SizeSample {
                    t_ms,
                    total: s.total,
                    active: s.active,
                    waiting: s.waiting,
                    warm_target: s.warm_target,
                    rss_kib: proc_status_kib("VmRSS:"),
                });
        }
        if count_cycles {
            timeline.bar.set_position(rec.completed());
        } else {
            timeline.bar.set_position(t_ms);
        }
        let breaker = if s.circuit == CircuitState::Closed {
            String::new()
        } else {
            format!(" circuit {:?}", s.circuit)
        };
        timeline.bar.set_message(format!(
            "{} ok | total {} active {} waiting {} warm {}{breaker}",
            rec.completed(),
            s.total,
            s.active,
            s.waiting,
            s.warm_target
        ));
    }
}
