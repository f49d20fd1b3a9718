//! Fairness and tail latency: how long gets wait when tasks far outnumber connections.
//!
//! Two scenarios, every pool in the same run, each pool on a fresh two-worker runtime:
//! * 1,024 tasks over 4 connections in hold mode (one `yield_now` while holding);
//! * 1,000 tasks over 50 connections, each holding its connection for 1 ms (a short query).
//!
//! The wait of every get (from calling `get()` to holding the connection) goes into an
//! HdrHistogram; the table shows p50 / p99 / p99.9 / max and p99 / p50. A FIFO pool keeps
//! p99 close to p50: everyone waits about one "round" of the queue. A pool that lets late
//! callers overtake shows a long tail instead. A pool that hangs is reported as hung.
//!
//! `cargo bench -p benches --bench fairness` (`-- --test` runs a few cycles per task only).
//! Results also go to `bench-results/fairness.json`.

use std::sync::Arc;
use std::time::Duration;

use benches::competitors::{BenchPool, Visitor, for_each_pool};
use benches::grid;
use benches::latency::{Summary, fmt_us};
use benches::workload::{self, Hold};
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
struct Scenario {
    name: &'static str,
    tasks: usize,
    size: usize,
    cycles: u64,
    #[serde(skip)]
    hold: Hold,
}

#[derive(Debug, Serialize)]
struct Outcome {
    scenario: &'static str,
    pool: &'static str,
    /// `None` when the pool hung or failed (see `note`).
    wait: Option<Summary>,
    gets_per_sec: Option<f64>,
    note: Option<String>,
}

struct Run<'a> {
    scenario: Scenario,
    /// How long a pool may take before it counts as hung.
    limit: Duration,
    outcomes: &'a mut Vec<Outcome>,
}

impl Visitor for Run<'_> {
    fn visit<P: BenchPool>(&mut self) {
        if !grid::selected(P::NAME) {
            return;
        }
        let s = self.scenario;
        let runtime = workload::runtime();
        let pool = Arc::new(runtime.block_on(P::build(s.size)));
        // Warm the queues once, untimed.
        let limit = self.limit;
        let warm = runtime.block_on(workload::within(
            limit,
            workload::batch(&pool, s.tasks, 2, s.hold),
        ));
        let measured = match warm {
            Some(Ok(_)) => runtime.block_on(workload::within(
                limit,
                workload::timed_batch(&pool, s.tasks, s.cycles, s.hold),
            )),
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        let outcome = match measured {
            Some(Ok((elapsed, waits))) => Outcome {
                scenario: s.name,
                pool: P::NAME,
                wait: Some(waits.summary()),
                gets_per_sec: Some(waits.len() as f64 / elapsed.as_secs_f64()),
                note: None,
            },
            Some(Err(error)) => Outcome {
                scenario: s.name,
                pool: P::NAME,
                wait: None,
                gets_per_sec: None,
                note: Some(format!("failed: {error}")),
            },
            None => Outcome {
                scenario: s.name,
                pool: P::NAME,
                wait: None,
                gets_per_sec: None,
                note: Some(format!("hung: did not finish within {limit:?}")),
            },
        };
        self.outcomes.push(outcome);
        drop(pool);
        runtime.shutdown_background();
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let cycles = |full: u64| if smoke { 2 } else { full };
    let scenarios = [
        Scenario {
            name: "1024 tasks / 4 conns, hold = yield",
            tasks: 1024,
            size: 4,
            cycles: cycles(50),
            hold: Hold::Yield,
        },
        Scenario {
            name: "1000 tasks / 50 conns, hold = 1 ms",
            tasks: 1000,
            size: 50,
            cycles: cycles(20),
            hold: Hold::Sleep(Duration::from_millis(1)),
        },
    ];
    let mut outcomes = Vec::new();
    for scenario in scenarios {
        for_each_pool(&mut Run {
            scenario,
            // A hung pool costs the whole limit: keep the smoke run short.
            limit: Duration::from_secs(if smoke { 3 } else { 30 }),
            outcomes: &mut outcomes,
        });
    }
    print_table(&outcomes);
    if !smoke {
        match benches::results::write("fairness", &outcomes) {
            Ok(path) => eprintln!("written: {}", path.display()),
            Err(e) => eprintln!("could not write results: {e}"),
        }
    }
}

fn print_table(outcomes: &[Outcome]) {
    println!("| scenario | pool | gets/s | p50 | p99 | p99.9 | max | p99/p50 |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        match (&o.wait, o.gets_per_sec) {
            (Some(w), Some(rate)) => println!(
                "| {} | {} | {:.0} | {} | {} | {} | {} | {:.2} |",
                o.scenario,
                o.pool,
                rate,
                fmt_us(w.p50_us),
                fmt_us(w.p99_us),
                fmt_us(w.p999_us),
                fmt_us(w.max_us),
                w.p99_us / w.p50_us.max(1e-3),
            ),
            _ => println!(
                "| {} | {} | — | — | — | — | — | {} |",
                o.scenario,
                o.pool,
                o.note.as_deref().unwrap_or("no result")
            ),
        }
    }
}
