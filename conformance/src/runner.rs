//! Running cases: each in its own task, under a deadline, with its tables cleaned up after,
//! whatever happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cases::{Case, cases};
use crate::context::CaseContext;
use crate::outcome::{CaseError, CaseReport, Outcome, as_millis};
use crate::target::ConformanceTarget;

/// The longest one case may run before it counts as failed: every case finishes in a few
/// seconds against a healthy local server.
pub const CASE_DEADLINE: Duration = Duration::from_secs(60);

/// One target's results: whether its database answered, and every case's report.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// The target's name.
    pub adapter: String,
    /// Where its database is (no password).
    pub location: String,
    /// Why the database could not be reached, if it could not; every case is then skipped.
    pub unreachable: Option<String>,
    /// One report per case, in running order.
    pub cases: Vec<CaseReport>,
    /// Wall time of the whole suite.
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
}

impl SuiteReport {
    /// True when any case failed.
    pub fn has_failures(&self) -> bool {
        self.cases.iter().any(|c| c.outcome.is_failure())
    }

    /// The report of the case named `name`, if it ran.
    pub fn case(&self, name: &str) -> Option<&CaseReport> {
        self.cases.iter().find(|c| c.case == name)
    }
}

/// Runs every case against `target`, one after the other (so timings and the concurrency case
/// are not disturbed by the others), after probing that its database answers. An unreachable
/// database makes every case [`Outcome::Skipped`], never passed.
///
/// `only`, when given, restricts the run to the cases with those names.
pub async fn run_suite<T: ConformanceTarget>(target: T, only: Option<&[&str]>) -> SuiteReport {
    let started = Instant::now();
    let target = Arc::new(target);
    let selected: Vec<Case<T>> = cases::<T>()
        .into_iter()
        .filter(|c| only.is_none_or(|names| names.contains(&c.name())))
        .collect();
    let unreachable = target.probe().await.err();
    let not_applicable = target.not_applicable();
    let mut reports = Vec::with_capacity(selected.len());
    for (name, _) in &not_applicable {
        if !crate::case_names().contains(name) {
            reports.push(CaseReport {
                case: name,
                concern: "target",
                outcome: Outcome::Failed(format!(
                    "{} declares `{name}` not applicable, but no case has that name",
                    target.name()
                )),
                duration: Duration::ZERO,
            });
        }
    }
    for case in &selected {
        let report = match &unreachable {
            Some(reason) => CaseReport {
                case: case.name(),
                concern: case.concern(),
                outcome: Outcome::Skipped(unreachable_reason(&*target, reason)),
                duration: Duration::ZERO,
            },
            None => run_case(Arc::clone(&target), case).await,
        };
        reports.push(report);
    }
    SuiteReport {
        adapter: target.name().to_owned(),
        location: target.location(),
        unreachable,
        cases: reports,
        duration: started.elapsed(),
    }
}

/// The skip reason for a case whose database did not answer.
pub(crate) fn unreachable_reason<T: ConformanceTarget>(target: &T, reason: &str) -> String {
    format!("unreachable at {}: {reason}", target.location())
}

/// Runs one case against a target whose database answers: in its own task (a panic is a
/// failure, not a crash of the run), bounded by [`CASE_DEADLINE`], then drops its tables.
///
/// A case the target declares not applicable ([`ConformanceTarget::not_applicable`]) does not
/// run: its report says so, with the target's reason.
pub async fn run_case<T: ConformanceTarget>(target: Arc<T>, case: &Case<T>) -> CaseReport {
    if let Some((_, reason)) = target
        .not_applicable()
        .into_iter()
        .find(|(name, _)| *name == case.name())
    {
        return CaseReport {
            case: case.name(),
            concern: case.concern(),
            outcome: Outcome::NotApplicable(reason),
            duration: Duration::ZERO,
        };
    }
    let started = Instant::now();
    let cx = Arc::new(CaseContext::new(target, case.name()));
    let task = tokio::spawn((case.body())(Arc::clone(&cx)));
    let abort = task.abort_handle();
    let outcome = match tokio::time::timeout(CASE_DEADLINE, task).await {
        Ok(Ok(Ok(()))) => Outcome::Passed,
        Ok(Ok(Err(CaseError::Failed(message)))) => Outcome::Failed(message),
        Ok(Ok(Err(CaseError::NotApplicable(reason)))) => Outcome::NotApplicable(reason),
        Ok(Err(join_error)) => Outcome::Failed(panic_message(join_error)),
        Err(_) => {
            abort.abort();
            Outcome::Failed(format!("did not finish within {CASE_DEADLINE:?}"))
        }
    };
    cx.clean_up().await;
    let known = cx
        .target()
        .known_failures()
        .into_iter()
        .find(|k| k.case == case.name());
    let outcome = match (known, outcome) {
        (Some(known), Outcome::Failed(failure))
            if known.symptoms.iter().any(|s| failure.contains(s)) =>
        {
            Outcome::KnownFailure(format!("{}; it failed with: {failure}", known.reason))
        }
        (Some(known), Outcome::Passed) if !known.intermittent => Outcome::Failed(format!(
            "passed, but {} lists it as a known failure ({}): remove it from known_failures",
            cx.target().name(),
            known.reason
        )),
        (_, outcome) => outcome,
    };
    CaseReport {
        case: case.name(),
        concern: case.concern(),
        outcome,
        duration: started.elapsed(),
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return format!("the case's task was cancelled: {error}");
    }
    let payload = error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned());
    format!("panicked: {text}")
}
