//! What pool-core's features cost on the checkout path: a slice of the overhead grid (pool of
//! 16; 1 and 256 tasks; no-hold and hold) with one feature switched at a time, starting from
//! the fair configuration of the overhead bench (`benches::competitors::fair_config`).
//!
//! Statistics (counters, wait and usage histograms) cannot be switched off in pool-core's
//! configuration, so they are part of every variant; `bench-report` and the docs quote their
//! share from a profile instead.
//!
//! `cargo bench -p benches --bench features` (`-- --test` for the smoke run).

use std::time::Duration;

use benches::competitors::{OursPool, fair_config};
use benches::grid::{self, Cell};
use benches::workload::Hold;
use pool_core::PoolConfig;

/// A named change to the fair configuration.
type Variant = (&'static str, fn(&mut PoolConfig));

const VARIANTS: [Variant; 8] = [
    ("fair", |_| {}),
    ("leak-tracking", |c| {
        c.leak_detection_threshold = Some(Duration::from_secs(300));
        c.leak_capture_backtrace = false;
    }),
    ("leak-tracking+backtrace", |c| {
        c.leak_detection_threshold = Some(Duration::from_secs(300));
        c.leak_capture_backtrace = true;
    }),
    ("breaker-off", |c| c.circuit_breaker.enabled = false),
    ("background-off", |c| {
        c.health_check_interval = None;
        c.autoscale.enabled = false;
    }),
    ("validation", |c| c.test_on_checkout = true),
    ("reset-on-return", |c| c.reset_on_return = true),
    ("defaults", |c| {
        let (min, max) = (c.min_size, c.max_size);
        *c = PoolConfig::default();
        c.min_size = min;
        c.max_size = max;
    }),
];

fn main() {
    let mut criterion = grid::criterion();
    let mut hangs = Vec::new();
    for hold in [Hold::None, Hold::Yield] {
        for tasks in [1, 256] {
            let cell = Cell::new(hold, 16, tasks);
            let mut group = criterion.benchmark_group(cell.group("features"));
            for (name, change) in VARIANTS {
                let mut config = fair_config(cell.size);
                change(&mut config);
                let build = move || OursPool::with_config(config);
                if let Some(hang) =
                    grid::bench_pool::<OursPool, _, _>(&mut group, name, cell, build)
                {
                    hangs.push(hang);
                }
            }
            group.finish();
        }
    }
    criterion.final_summary();
    if !hangs.is_empty() {
        eprintln!("{} variants failed or hung: {hangs:?}", hangs.len());
        std::process::exit(1);
    }
}
