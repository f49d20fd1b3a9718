//! Project automation, run as `cargo xtask <task>` (matklad's cargo-xtask convention).
//!
//! `ci` mirrors CI exactly: `.ci/run` calls nothing else, so a green `cargo xtask ci` on this
//! machine is a green CI.

mod bench;
mod conformance;
mod fuzz;
mod loom;
mod release;
mod services;

use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Project automation for the connection-pool workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Everything CI checks: services up, rustfmt, clippy -D warnings, the whole test suite, the
    /// documentation with warnings denied and the packaging of every published crate.
    Ci,
    /// Start the local PostgreSQL and MariaDB servers if they are not answering, and wait for them;
    /// install Chromium, Prometheus and PgBouncer if missing (the dashboard, PromQL and
    /// PgBouncer tests need them).
    Services,
    /// Run the shared conformance suite against every adapter and print the case × adapter
    /// matrix; fails on any failed case, and on an unreachable database named by `--require`.
    Conformance(conformance::ConformanceArgs),
    /// Run the criterion benchmarks side by side with deadpool, bb8, mobc, qp and the floor
    /// (`-- --quick`, `-- 'hold/size=4/'`, `-- --test` for a smoke run).
    Bench(bench::BenchArgs),
    /// Run the load test: `cargo xtask load --db noop --connections 1000`,
    /// `--db sqlite --duration 30`, `--db noop --extreme 10000`.
    Load(bench::LoadArgs),
    /// Run the soak test against all three databases (`--minutes N`, default 10; not in CI).
    Soak(bench::SoakArgs),
    /// Fuzz the URL parsers and the manager's TOML loading with cargo-fuzz (installed if
    /// missing): `--seconds N` per target, `--target NAME` for one; fails on any crash and
    /// names the input (part of the release check, not of CI).
    Fuzz(fuzz::FuzzArgs),
    /// Check pool-core's fast lane with loom over every interleaving of a returner, a waiter
    /// and a closer (`--preemptions N` bounds it; CI runs `--preemptions 3 --debug`).
    Loom(loom::LoomArgs),
    /// Build the documentation with rustdoc warnings denied, as docs.rs would
    /// (`cargo doc --no-deps --all-features --workspace`).
    Doc,
    /// `cargo package` every published crate together, verified by building each from its
    /// `.crate` file (`--no-verify` skips that build).
    Package(release::PackageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci(),
        Task::Services => services::ensure_running()
            .and_then(|()| services::ensure_chromium())
            .and_then(|()| services::ensure_prometheus())
            .and_then(|()| services::ensure_pgbouncer()),
        Task::Conformance(args) => conformance::run(&args),
        Task::Bench(args) => bench::bench(&args),
        Task::Load(args) => bench::load(&args),
        Task::Soak(args) => bench::soak(&args),
        Task::Fuzz(args) => fuzz::fuzz(&args),
        Task::Loom(args) => loom::run(&args),
        Task::Doc => release::docs(),
        Task::Package(args) => release::package(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    services::ensure_running()?;
    services::ensure_chromium()?;
    services::ensure_prometheus()?;
    services::ensure_pgbouncer()?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])?;
    // Every test, example and benchmark target: benches run once each in criterion's test mode
    // (the smoke run; full runs are `cargo xtask bench`).
    cargo(&["test", "--workspace", "--all-features", "--all-targets"])?;
    cargo(&["test", "--workspace", "--all-features", "--doc"])?;
    // Ready to publish: docs.rs-clean documentation, and crates cargo packages and builds.
    release::docs()?;
    release::package(&release::PackageArgs::manifests_only())?;
    // The conformance matrix, with every database required: a skip is a failure in CI.
    conformance::run(&conformance::ConformanceArgs::require_all())?;
    // The fast lane's model check, bounded (the exhaustive run is `cargo xtask loom`).
    loom::run(&loom::LoomArgs::bounded_for_ci())?;
    Ok(())
}

/// Runs cargo through `$CARGO`, so the toolchain that runs xtask runs the task too.
fn cargo(args: &[&str]) -> Result<(), String> {
    run(Command::new(cargo_path()).args(args))
}

/// `$CARGO`, set by cargo for the xtask it runs; plain `cargo` otherwise.
fn cargo_path() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs `command`, showing it first; an error names it and how it ended.
fn run(command: &mut Command) -> Result<(), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("xtask: {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}
