//! Replays every committed fuzz input through the same property checks the fuzz targets run
//! (`conformance::fuzz_checks`): the seeds of `fuzz/corpus/<target>/` and every input a fuzzer
//! crashed on, kept in `fuzz/regressions/<target>/`. So a bug found by fuzzing stays fixed
//! without anyone running the fuzzer, and the checks cannot rot.

use std::path::{Path, PathBuf};

use conformance::fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none when the folder does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs each target's check on every input of `kind`; returns how many inputs there were and
/// the failures (file and panic message), so one run reports them all.
fn replay(kind: &str) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        for path in inputs(kind, target) {
            let bytes = std::fs::read(&path).expect("a readable fuzz input");
            if let Err(panic) = std::panic::catch_unwind(|| check(&bytes)) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", path.display()));
            }
            count += 1;
        }
    }
    (count, failures)
}

#[test]
fn every_seed_input_passes_its_fuzz_check() {
    let (count, failures) = replay("corpus");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Each target has seeds; an empty corpus means the folder moved, not that all is well.
    assert!(count >= TARGETS.len() * 4, "only {count} seed inputs found");
}

#[test]
fn every_input_a_fuzzer_crashed_on_passes_its_fuzz_check_now() {
    let (_, failures) = replay("regressions");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fuzz_folder_is_named_after_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    TARGETS.iter().any(|(target, _)| *target == name),
                    "{} is no fuzz target's folder",
                    path.display()
                );
            }
        }
    }
}
