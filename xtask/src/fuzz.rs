//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` (the adapters' URL parsers and
//! the manager's TOML loading; the properties are `conformance::fuzz_checks`) for a given time
//! each, and fails when one finds an input that breaks its check.
//!
//! cargo-fuzz needs nightly compiler flags (`-Zsanitizer=address`, sanitizer coverage). The
//! workspace builds on stable, so the fuzz build runs with `RUSTC_BOOTSTRAP=1`, which lets the
//! stable compiler accept them; AddressSanitizer works that way too (its runtime ships with
//! the standard library). `cargo-fuzz` itself is installed with `cargo install --locked` when
//! `cargo fuzz` is missing.
//!
//! Each target reads its committed seeds (`fuzz/corpus/<target>/`, left untouched) and keeps
//! what it learns in `fuzz/generated/<target>/` (ignored by git), so later runs go on from
//! there. Crash inputs land in `fuzz/artifacts/<target>/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{Args, ValueEnum};

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Args)]
pub(crate) struct FuzzArgs {
    /// How long each target runs, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only these targets (comma-separated or repeated): postgres_url, mysql_url, sqlite_url,
    /// manager_toml. Default: every target in fuzz/fuzz_targets.
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    /// The sanitizer the targets are built with: `none` runs faster but catches only panics,
    /// aborts, timeouts and memory limits, not memory errors in unsafe code.
    #[arg(long, value_enum, default_value_t = Sanitizer::Address)]
    sanitizer: Sanitizer,
}

/// cargo-fuzz's `--sanitizer` values that work on this toolchain.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Sanitizer {
    /// AddressSanitizer (cargo-fuzz's default).
    Address,
    /// No sanitizer.
    None,
}

/// What one target's run reported.
struct Run {
    target: String,
    /// libFuzzer's last status line (`#N ... cov: C ft: F corp: ...`).
    last_status: Option<String>,
    /// libFuzzer's `Done N runs in S second(s)`, when it finished without a crash.
    done: Option<String>,
    /// libFuzzer's final `stat::` lines (executions, executions per second, peak memory).
    stats: Vec<String>,
    /// Files libFuzzer wrote a failing input to.
    artifacts: Vec<String>,
    success: bool,
}

/// Installs cargo-fuzz if needed, runs every chosen target for `--seconds`, prints a summary
/// and fails when any target found a failing input.
pub(crate) fn fuzz(args: &FuzzArgs) -> Result<(), String> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let fuzz_dir = fuzz_dir
        .canonicalize()
        .map_err(|e| format!("no fuzz directory at {}: {e}", fuzz_dir.display()))?;
    let known = targets(&fuzz_dir)?;
    let chosen: Vec<String> = if args.target.is_empty() {
        known.clone()
    } else {
        for target in &args.target {
            if !known.contains(target) {
                return Err(format!(
                    "no fuzz target `{target}`; the targets are {}",
                    known.join(", ")
                ));
            }
        }
        args.target.clone()
    };
    ensure_cargo_fuzz()?;

    let mut runs = Vec::new();
    for target in &chosen {
        runs.push(run_target(&fuzz_dir, target, args)?);
    }

    eprintln!("\nxtask: fuzzing summary ({} s per target):", args.seconds);
    for run in &runs {
        let outcome = if run.success { "ok" } else { "FAILED" };
        eprintln!("  {:<14} {outcome}", run.target);
        for line in [&run.done, &run.last_status].into_iter().flatten() {
            eprintln!("      {line}");
        }
        if !run.stats.is_empty() {
            eprintln!("      {}", run.stats.join("  "));
        }
        if run.last_status.is_none() {
            eprintln!("      (no fuzzing output: did the build fail?)");
        }
        for artifact in &run.artifacts {
            eprintln!("      failing input: {artifact}");
        }
    }
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.success).collect();
    if failed.is_empty() {
        return Ok(());
    }
    eprintln!(
        "\nxtask: to keep a failing input as a regression test, fix the bug, then copy the file \
         into fuzz/regressions/<target>/ under a name that says what it found; \
         `cargo test -p conformance --all-features --test fuzz_regressions` replays it."
    );
    Err(format!(
        "{} of {} fuzz targets failed: {}",
        failed.len(),
        runs.len(),
        failed
            .iter()
            .map(|r| r.target.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The targets: the files of `fuzz/fuzz_targets/`, by name.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            (path.extension()? == "rs").then_some(stem)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) unless `cargo fuzz` runs.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new(cargo())
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: `cargo fuzz` is missing; installing cargo-fuzz");
    crate::cargo(&["install", "cargo-fuzz", "--locked"])
}

/// Runs one target, passing its output through and noting libFuzzer's figures and artifacts.
fn run_target(fuzz_dir: &Path, target: &str, args: &FuzzArgs) -> Result<Run, String> {
    let generated = fuzz_dir.join("generated").join(target);
    std::fs::create_dir_all(&generated)
        .map_err(|e| format!("could not create {}: {e}", generated.display()))?;
    let seeds: PathBuf = fuzz_dir.join("corpus").join(target);
    let sanitizer = match args.sanitizer {
        Sanitizer::Address => "address",
        Sanitizer::None => "none",
    };
    let mut command = Command::new(cargo());
    command
        .current_dir(fuzz_dir)
        // cargo-fuzz passes nightly-only flags (-Zsanitizer, sanitizer coverage); this lets the
        // stable compiler accept them, for the fuzz build only.
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--sanitizer", sanitizer, target])
        // New inputs go to the first folder; the committed seeds are only read.
        .arg(&generated)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        // An input that takes 10 s, or one allocation of 256 MiB, is a bug in a parser of
        // small inputs: report it as a failure.
        .arg("-timeout=10")
        .arg("-malloc_limit_mb=256")
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped());
    eprintln!(
        "xtask: cargo fuzz run --sanitizer {sanitizer} {target} (for {} s)",
        args.seconds
    );
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not run cargo fuzz: {e}"))?;
    let mut run = Run {
        target: target.to_owned(),
        last_status: None,
        done: None,
        stats: Vec::new(),
        artifacts: Vec::new(),
        success: false,
    };
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).split(b'\n') {
            let line = line.map_err(|e| format!("reading cargo fuzz's output: {e}"))?;
            let line = String::from_utf8_lossy(&line).into_owned();
            eprintln!("{line}");
            if line.starts_with('#') && line.contains(" cov: ") {
                run.last_status = Some(line.trim().to_owned());
            } else if line.starts_with("stat::") {
                run.stats.push(line.trim().to_owned());
            } else if line.starts_with("Done ") {
                run.done = Some(line.trim().to_owned());
            } else if let Some((_, path)) = line.split_once("Test unit written to ") {
                run.artifacts.push(path.trim().to_owned());
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo fuzz: {e}"))?;
    run.success = status.success() && run.artifacts.is_empty();
    Ok(run)
}
