//! What one case came to: [`Outcome`], and the error type the cases return early with.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// The result of one case against one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Every assertion held.
    Passed,
    /// An assertion failed, an operation errored, the case panicked or ran out of time; the
    /// text says which and with what values.
    Failed(String),
    /// The database could not be reached, so the case did not run. Never a pass: the matrix
    /// shows it, and `--require` (or a per-case test without `CONFORMANCE_ALLOW_SKIP=1`)
    /// turns it into a failure.
    Skipped(String),
    /// The target declares that the database lacks what the case checks (SQLite has no session
    /// variables); the reason says so.
    NotApplicable(String),
    /// The case failed, and the target lists it as a known failure
    /// ([`ConformanceTarget::known_failures`](crate::ConformanceTarget::known_failures)): the
    /// reason gives the declared cause and the failure. Shown in the matrix, not failing the
    /// run.
    KnownFailure(String),
}

impl Outcome {
    /// True for [`Outcome::Failed`].
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }

    /// The reason for anything but a pass; `None` for a pass.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Passed => None,
            Outcome::Failed(r)
            | Outcome::Skipped(r)
            | Outcome::NotApplicable(r)
            | Outcome::KnownFailure(r) => Some(r),
        }
    }

    /// A short label: `pass`, `FAIL`, `skipped`, `n/a`, `known bug`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "pass",
            Outcome::Failed(_) => "FAIL",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotApplicable(_) => "n/a",
            Outcome::KnownFailure(_) => "known bug",
        }
    }
}

/// One case's report: its name, what came of it and how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    /// The case's name (also its test function's name).
    pub case: &'static str,
    /// The concern it belongs to (`values`, `errors`, …).
    pub concern: &'static str,
    /// What came of it.
    pub outcome: Outcome,
    /// Wall time, clean-up included.
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
}

pub(crate) fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why a case stopped early: a failure, or a declaration that it does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaseError {
    Failed(String),
    NotApplicable(String),
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseError::Failed(m) => write!(f, "failed: {m}"),
            CaseError::NotApplicable(m) => write!(f, "not applicable: {m}"),
        }
    }
}

/// What a case body returns.
pub(crate) type CaseResult<T = ()> = Result<T, CaseError>;

/// Turns any error into a failure that says what was being done.
pub(crate) trait Context<T> {
    /// On error, fails the case with "`what`: the error".
    fn context(self, what: impl fmt::Display) -> CaseResult<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> CaseResult<T> {
        self.map_err(|e| CaseError::Failed(format!("{what}: {e}")))
    }
}

/// Fails the case with a formatted message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::outcome::CaseError::Failed(format!($($msg)+)));
        }
    };
}

/// Fails the case unless both sides are equal, showing both and what was compared.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err($crate::outcome::CaseError::Failed(format!(
                "{}: expected {:?}, got {:?}",
                format!($($msg)+),
                right,
                left
            )));
        }
    }};
}

pub(crate) use {ensure, ensure_eq};
