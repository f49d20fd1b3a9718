//! Running one case as a `#[test]`, for [`conformance_tests!`](crate::conformance_tests).

use std::sync::Arc;

use crate::cases::cases;
use crate::outcome::Outcome;
use crate::runner::{run_case, unreachable_reason};
use crate::target::ConformanceTarget;

/// Set to `1` to let the per-case tests pass (with a note on stderr) when their database cannot
/// be reached. Unset, an unreachable database fails every test: CI must never skip a real
/// database silently.
pub const ALLOW_SKIP_ENV: &str = "CONFORMANCE_ALLOW_SKIP";

/// Runs the case named `name` against the target `make` builds, on a fresh multi-threaded
/// tokio runtime, and panics (fails the test) unless it passes.
///
/// An unreachable database panics too, unless [`ALLOW_SKIP_ENV`] is `1`. A case the target
/// declares not applicable, or lists as a known failure and which still fails, passes with the
/// reason on stderr; a listed case that passes fails, so the list is kept honest.
///
/// # Panics
///
/// On a failed case, an unknown case name, an unreachable database without
/// `CONFORMANCE_ALLOW_SKIP=1`, or when the runtime cannot start.
pub fn run_case_as_test<T: ConformanceTarget>(make: impl FnOnce() -> T, name: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance case");
    runtime.block_on(async {
        let target = Arc::new(make());
        let case = cases::<T>()
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no conformance case is named {name}"));
        if let Err(reason) = target.probe().await {
            let reason = format!(
                "{}: {}",
                target.name(),
                unreachable_reason(&*target, &reason)
            );
            if std::env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v == "1") {
                eprintln!("skipped {name}: {reason} ({ALLOW_SKIP_ENV}=1)");
                return;
            }
            panic!("{reason}; set {ALLOW_SKIP_ENV}=1 to skip instead of failing");
        }
        let report = run_case(target, &case).await;
        match report.outcome {
            Outcome::Passed => {}
            Outcome::NotApplicable(reason) => eprintln!("{name} does not apply: {reason}"),
            Outcome::KnownFailure(reason) => eprintln!("{name} is a known failure: {reason}"),
            other => panic!(
                "{name} {}: {}",
                other.label(),
                other.reason().unwrap_or_default()
            ),
        }
    });
}
