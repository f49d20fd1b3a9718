//! Allocations per checkout in the steady state, for every pool.
//!
//! Runs each cell twice with `c` and `2c` cycles per task on warm pools and divides the
//! difference in allocations by the difference in cycles, so fixed costs (spawning the tasks,
//! the runtime's own bookkeeping) cancel out. Our target is zero for pool-core.
//!
//! `cargo run --release -p benches --bin allocs [-- --json]`

use std::sync::Arc;
use std::time::Duration;

use benches::alloc_count::{self, CountingAlloc};
use benches::competitors::{BenchPool, Visitor, for_each_pool};
use benches::workload::{self, Hold};
use serde::Serialize;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const CYCLES: u64 = 2_000;

#[derive(Debug, Serialize)]
struct Row {
    pool: &'static str,
    mode: &'static str,
    size: usize,
    tasks: usize,
    /// `None` when the pool hung.
    allocs_per_get: Option<f64>,
    bytes_per_get: Option<f64>,
}

struct Count<'a> {
    hold: Hold,
    size: usize,
    tasks: usize,
    rows: &'a mut Vec<Row>,
}

impl Visitor for Count<'_> {
    fn visit<P: BenchPool>(&mut self) {
        let runtime = workload::runtime();
        let pool = Arc::new(runtime.block_on(P::build(self.size)));
        let run = |cycles: u64| {
            let before = (alloc_count::allocations(), alloc_count::bytes());
            let done = runtime.block_on(workload::within(
                Duration::from_secs(5),
                workload::batch(&pool, self.tasks, cycles, self.hold),
            ));
            done.and_then(Result::ok).map(|_| {
                (
                    alloc_count::allocations() - before.0,
                    alloc_count::bytes() - before.1,
                )
            })
        };
        // Warm-up: grows every queue and cache to its steady size.
        let measured = run(CYCLES)
            .and_then(|_| run(CYCLES))
            .and_then(|once| run(2 * CYCLES).map(|twice| (once, twice)));
        let per_get = measured.map(|((a1, b1), (a2, b2))| {
            let gets = (self.tasks as u64 * CYCLES) as f64;
            (
                (a2.saturating_sub(a1)) as f64 / gets,
                (b2.saturating_sub(b1)) as f64 / gets,
            )
        });
        self.rows.push(Row {
            pool: P::NAME,
            mode: self.hold.label(),
            size: self.size,
            tasks: self.tasks,
            allocs_per_get: per_get.map(|p| p.0),
            bytes_per_get: per_get.map(|p| p.1),
        });
        drop(pool);
        runtime.shutdown_background();
    }
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mut rows = Vec::new();
    for (hold, size, tasks) in [
        (Hold::None, 16, 1),
        (Hold::None, 16, 16),
        (Hold::Yield, 16, 16),
        (Hold::Yield, 4, 16),
        (Hold::Yield, 16, 256),
    ] {
        for_each_pool(&mut Count {
            hold,
            size,
            tasks,
            rows: &mut rows,
        });
    }
    println!("| pool | mode | size | tasks | allocations / get | bytes / get |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in &rows {
        let (a, b) = match (r.allocs_per_get, r.bytes_per_get) {
            (Some(a), Some(b)) => (format!("{a:.3}"), format!("{b:.1}")),
            _ => ("hung".to_owned(), "—".to_owned()),
        };
        println!(
            "| {} | {} | {} | {} | {a} | {b} |",
            r.pool, r.mode, r.size, r.tasks
        );
    }
    if json {
        match benches::results::write("allocs", &rows) {
            Ok(path) => eprintln!("written: {}", path.display()),
            Err(e) => eprintln!("could not write results: {e}"),
        }
    }
}
