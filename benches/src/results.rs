//! Where benches leave machine-readable results, for `bench-report` and `docs/benchmarks.md`.
//!
//! `$BENCH_RESULTS_DIR`, else `<target dir>/bench-results` (`$CARGO_TARGET_DIR` or `target`
//! beside the workspace). Each bench writes one JSON file named after itself.

use std::path::PathBuf;

use serde::Serialize;

/// The directory results go to (created on demand).
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BENCH_RESULTS_DIR") {
        return PathBuf::from(dir);
    }
    target_dir().join("bench-results")
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, else the workspace's `target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Writes `value` as pretty JSON to `<dir>/<name>.json`; returns the path.
pub fn write<T: Serialize>(name: &str, value: &T) -> std::io::Result<PathBuf> {
    let dir = dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(value)?)?;
    Ok(path)
}

/// The one-minute load average, from `/proc/loadavg` (`None` elsewhere).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
