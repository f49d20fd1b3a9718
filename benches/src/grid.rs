//! The overhead grid shared by the `overhead` and `features` criterion benches: cells, the
//! criterion settings, and the hang guard.
//!
//! A cell is (mode, pool size, concurrent tasks). One criterion *iteration* is every task
//! running one cycle, so criterion's throughput (elements = tasks) reads as checkouts per
//! second. Each pool in a cell gets a fresh runtime, built pool and warm connections, and is
//! probed under a timeout first: a pool that hangs (qp when a get must wait) is reported,
//! not benchmarked, and its runtime is dropped without waiting for the stuck tasks.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use serde::Serialize;

use crate::competitors::BenchPool;
use crate::workload::{self, Hold};

/// Pool sizes of the full grid.
pub const SIZES: [usize; 3] = [4, 16, 64];
/// Concurrent task counts of the full grid.
pub const TASKS: [usize; 4] = [1, 16, 256, 1024];
/// The two modes.
pub const MODES: [Hold; 2] = [Hold::None, Hold::Yield];

/// How long the probe may take before a pool counts as hung.
pub const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// Short measurements: the grid has 120 pool × cell combinations.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .without_plots()
        .configure_from_args()
}

/// The pools to run, from `$BENCH_POOLS` (comma-separated names); all when unset.
pub fn selected(name: &str) -> bool {
    match std::env::var("BENCH_POOLS") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|n| n.trim() == name),
        _ => true,
    }
}

/// A cell of the grid.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cell {
    /// "no-hold" or "hold".
    pub mode: &'static str,
    /// Connections in the pool.
    pub size: usize,
    /// Concurrent tasks.
    pub tasks: usize,
    #[serde(skip)]
    hold: Hold,
}

impl Cell {
    /// A cell.
    pub fn new(hold: Hold, size: usize, tasks: usize) -> Self {
        Self {
            mode: hold.label(),
            size,
            tasks,
            hold,
        }
    }

    /// The criterion group name: `<prefix>/<mode>/size=<n>/tasks=<n>`.
    pub fn group(&self, prefix: &str) -> String {
        format!(
            "{prefix}/{}/size={}/tasks={}",
            self.mode, self.size, self.tasks
        )
    }

    /// Every cell of the full grid, hold mode last.
    pub fn all() -> Vec<Cell> {
        let mut cells = Vec::new();
        for hold in MODES {
            for size in SIZES {
                for tasks in TASKS {
                    cells.push(Cell::new(hold, size, tasks));
                }
            }
        }
        cells
    }
}

/// A pool that did not finish its probe.
#[derive(Debug, Clone, Serialize)]
pub struct Hang {
    /// The pool.
    pub pool: String,
    /// Where.
    pub cell: Cell,
    /// What happened.
    pub note: String,
}

/// Benchmarks one pool in one cell: builds it (with `build`), probes it, measures it.
/// Returns a [`Hang`] instead when the probe does not finish within [`PROBE_LIMIT`].
pub fn bench_pool<P, F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    cell: Cell,
    build: F,
) -> Option<Hang>
where
    P: BenchPool,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = P>,
{
    let runtime = workload::runtime();
    let pool = Arc::new(runtime.block_on(build()));
    let probe = runtime.block_on(workload::within(
        PROBE_LIMIT,
        workload::batch(&pool, cell.tasks, 4, cell.hold),
    ));
    let hang = match probe {
        Some(Ok(_)) => {
            group.throughput(Throughput::Elements(cell.tasks as u64));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    runtime
                        .block_on(workload::batch(&pool, cell.tasks, iters, cell.hold))
                        .expect("a pool failed during the benchmark")
                })
            });
            None
        }
        Some(Err(error)) => Some(Hang {
            pool: id.to_owned(),
            cell,
            note: format!("failed: {error}"),
        }),
        None => Some(Hang {
            pool: id.to_owned(),
            cell,
            note: format!(
                "hung: 4 cycles per task did not finish within {PROBE_LIMIT:?} (not benchmarked)"
            ),
        }),
    };
    if let Some(hang) = &hang {
        eprintln!("{}/{}: {}", cell.group("overhead"), hang.pool, hang.note);
    }
    drop(pool);
    // A hung pool leaves tasks that never wake: do not wait for them.
    runtime.shutdown_background();
    hang
}
