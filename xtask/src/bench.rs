//! `cargo xtask bench`, `load` and `soak`: the benchmarks and the load test of the `benches`
//! crate and the soak run of `conformance`, run through `$CARGO` so xtask never depends on them.

use clap::Args;

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Only these benchmark targets (comma-separated): overhead, fairness, realdb, features.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Arguments for criterion after `--` (a filter, `--quick`, `--test` for a smoke run).
    #[arg(last = true)]
    criterion: Vec<String>,
}

/// Options of `cargo xtask load`: everything is passed to the `load` binary (see its `--help`).
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// For example `--db noop --connections 1000`, `--db postgres --duration 30`,
    /// `--db noop --extreme 10000`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Runs the criterion benchmarks (all of them, or `--only` some), in one process each; a full
/// run then counts allocations and prints the report tables (`bench-report`).
pub(crate) fn bench(args: &BenchArgs) -> Result<(), String> {
    let targets: Vec<&str> = if args.only.is_empty() {
        vec!["overhead", "fairness", "realdb", "features"]
    } else {
        args.only.iter().map(String::as_str).collect()
    };
    for target in &targets {
        let mut command = vec!["bench", "--package", "benches", "--bench", target, "--"];
        command.extend(args.criterion.iter().map(String::as_str));
        crate::cargo(&command)?;
    }
    if args.only.is_empty() {
        // The full run: also count allocations per get, then print every table of
        // docs/benchmarks.md and redraw its chart from what was just measured.
        crate::cargo(&[
            "run",
            "--release",
            "--package",
            "benches",
            "--bin",
            "allocs",
            "--",
            "--json",
        ])?;
        crate::cargo(&[
            "run",
            "--release",
            "--package",
            "benches",
            "--bin",
            "bench-report",
            "--",
            "--svg",
            "benches/results/overhead.svg",
        ])?;
    }
    Ok(())
}

/// Runs the load test in release mode.
pub(crate) fn load(args: &LoadArgs) -> Result<(), String> {
    let mut command = vec![
        "run",
        "--release",
        "--package",
        "benches",
        "--bin",
        "load",
        "--",
    ];
    command.extend(args.args.iter().map(String::as_str));
    crate::cargo(&command)
}

/// Options of `cargo xtask soak`.
#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// How long to run.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Further arguments for the soak binary (see `cargo run -p conformance --bin soak -- --help`).
    #[arg(last = true)]
    rest: Vec<String>,
}

/// Runs the soak test (mixed load, random cancellation and faults, all three databases).
pub(crate) fn soak(args: &SoakArgs) -> Result<(), String> {
    let minutes = args.minutes.to_string();
    let mut command = vec![
        "run",
        "--release",
        "--package",
        "conformance",
        "--bin",
        "soak",
        "--",
        "--minutes",
        &minutes,
    ];
    command.extend(args.rest.iter().map(String::as_str));
    crate::cargo(&command)
}
