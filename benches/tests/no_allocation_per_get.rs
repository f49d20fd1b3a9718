//! A checkout allocates nothing in the steady state, waiting or not: the `allocs` bench's
//! measurement, as a regression test for pool-core.
//!
//! It counts allocations, not bytes: the runtime now and then grows a buffer by hundreds of
//! kilobytes in one reallocation, which makes bytes per get swing by tens between runs while
//! the count stays put. Each cell runs `c` and then `2c` cycles per task on a warm pool; the difference in
//! allocations divided by the difference in checkouts cancels fixed costs (spawning tasks).

use std::sync::Arc;
use std::time::Duration;

use benches::alloc_count::{self, CountingAlloc};
use benches::competitors::{BenchPool, OursFairPool, OursPool};
use benches::workload::{self, Hold};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const CYCLES: u64 = 1_000;

/// Allocations per checkout in the steady state.
fn per_get<P: BenchPool>(hold: Hold, size: usize, tasks: usize) -> f64 {
    let runtime = workload::runtime();
    let pool = Arc::new(runtime.block_on(P::build(size)));
    let run = |cycles: u64| {
        let before = alloc_count::allocations();
        runtime
            .block_on(workload::within(
                Duration::from_secs(60),
                workload::batch(&pool, tasks, cycles, hold),
            ))
            .expect("the batch finished")
            .expect("no checkout failed");
        alloc_count::allocations() - before
    };
    run(CYCLES);
    let once = run(CYCLES);
    let twice = run(2 * CYCLES);
    let gets = (tasks as u64 * CYCLES) as f64;
    twice.saturating_sub(once) as f64 / gets
}

#[test]
fn a_checkout_allocates_nothing_with_or_without_waiting() {
    for (hold, size, tasks) in [
        (Hold::None, 16, 16),
        (Hold::Yield, 4, 16),
        (Hold::Yield, 16, 256),
    ] {
        // The defaults (session reset on return, checkout validation, leak tracking) and the
        // fair configuration alike.
        for (name, allocations) in [
            (OursPool::NAME, per_get::<OursPool>(hold, size, tasks)),
            (
                OursFairPool::NAME,
                per_get::<OursFairPool>(hold, size, tasks),
            ),
        ] {
            // Background tasks and the runtime allocate a few times in any window (under
            // 0.001 per get here); an allocation on every checkout shows as 1.0, on every
            // tenth as 0.1.
            assert!(
                allocations < 0.01,
                "{name}, {} size {size} tasks {tasks}: {allocations:.4} allocations per get",
                hold.label()
            );
        }
    }
}
