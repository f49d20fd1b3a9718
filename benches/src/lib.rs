//! # benches
//!
//! Benchmarks of `pool-core` beside the pools a Rust user would pick instead (deadpool, bb8,
//! mobc, qp), and the load-test binary. Nothing here is part of the product; it exists to tell
//! us, with numbers from this machine, where the pool stands and what its features cost.
//!
//! * [`competitors`]: every pool behind one small trait, [`competitors::BenchPool`], so each
//!   benchmark is written once and runs every pool the same way.
//! * [`workload`]: the checkout loop every benchmark drives (get → touch → hold → drop) on a
//!   two-worker tokio runtime.
//! * [`alloc_count`]: a counting global allocator, to check that a checkout allocates nothing.
//! * [`latency`]: hdrhistogram helpers shared by the fairness bench and the load test.
//! * [`grid`]: the overhead grid and criterion settings shared by the criterion benches.
//! * [`load`]: the load test behind `src/bin/load.rs`.
//! * [`results`]: where benches drop their machine-readable results for `bench-report`.
//!
//! Bench targets (`benches/`): `overhead` and `features` (criterion), `fairness` and `realdb`
//! (own harness, printed tables + JSON). Binaries (`src/bin/`): `load` (the load test),
//! `allocs` (allocations per checkout), `bench-report` (tables and the SVG chart for
//! `docs/benchmarks.md`).

pub mod alloc_count;
pub mod competitors;
pub mod grid;
pub mod latency;
pub mod load;
pub mod results;
pub mod workload;
