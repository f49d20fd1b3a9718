//! `cargo xtask loom`: the exhaustive model check of pool-core's fast lane
//! (`pool-core/src/stash/loom_fast_lane.rs`), built with `--cfg pool_loom` so the stash runs
//! on loom's atomics.
//!
//! The build goes to its own target directory (`target/loom`): the cfg changes every crate's
//! flags, and sharing `target/` would throw away the normal build each time.

use std::process::Command;

use clap::Args;

/// Options of `cargo xtask loom`.
#[derive(Debug, Args)]
pub(crate) struct LoomArgs {
    /// Bound the preemptions loom explores per execution (`LOOM_MAX_PREEMPTIONS`). Without it
    /// the check is exhaustive: every interleaving the memory model allows.
    #[arg(long)]
    preemptions: Option<usize>,
    /// Build without optimisations: faster to compile, slower to explore (CI's bounded run).
    #[arg(long)]
    debug: bool,
}

impl LoomArgs {
    /// The bounded run CI makes: three preemptions, a debug build.
    pub(crate) fn bounded_for_ci() -> Self {
        Self {
            preemptions: Some(3),
            debug: true,
        }
    }
}

/// Runs the fast lane's loom scenarios; fails when one finds an interleaving that breaks it.
pub(crate) fn run(args: &LoomArgs) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target_dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let mut command = Command::new(&cargo);
    command
        .args(["test", "--package", "pool-core", "--lib"])
        .args((!args.debug).then_some("--release"))
        .args([
            "stash::loom_fast_lane",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RUSTFLAGS", "--cfg pool_loom")
        .env("CARGO_TARGET_DIR", format!("{target_dir}/loom"));
    match args.preemptions {
        Some(bound) => {
            command.env("LOOM_MAX_PREEMPTIONS", bound.to_string());
            eprintln!("xtask: loom, at most {bound} preemptions per execution");
        }
        None => {
            command.env_remove("LOOM_MAX_PREEMPTIONS");
            eprintln!("xtask: loom, exhaustive (no preemption bound)");
        }
    }
    let status = command
        .status()
        .map_err(|e| format!("could not run {cargo}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the loom check of the fast lane failed ({status})"))
    }
}
