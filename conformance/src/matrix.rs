//! [`Matrix`]: the suite's results, case × adapter, as a text table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::outcome::Outcome;
use crate::runner::SuiteReport;

/// The results of several targets side by side, and which of them had to run.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// One suite report per target, in the order they ran.
    pub suites: Vec<SuiteReport>,
    /// Targets that must have run: a skip of one of them is a failure.
    pub required: Vec<String>,
}

impl Matrix {
    /// A matrix of `suites`; `required` names the targets whose skips count as failures.
    pub fn new(suites: Vec<SuiteReport>, required: Vec<String>) -> Self {
        Self { suites, required }
    }

    fn is_required(&self, adapter: &str) -> bool {
        self.required.iter().any(|r| r == adapter)
    }

    /// Why the run as a whole fails: every failed case, and every skip of a required target.
    /// Empty means success. Not-applicable cases and known failures never fail a run.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for suite in &self.suites {
            for case in &suite.cases {
                match &case.outcome {
                    Outcome::Failed(reason) => {
                        failures.push(format!("{} / {}: {reason}", suite.adapter, case.case));
                    }
                    Outcome::Skipped(reason) if self.is_required(&suite.adapter) => {
                        failures.push(format!(
                            "{} / {}: required, but {reason}",
                            suite.adapter, case.case
                        ));
                    }
                    _ => {}
                }
            }
        }
        for required in &self.required {
            if !self.suites.iter().any(|s| &s.adapter == required) {
                failures.push(format!("{required}: required but not run"));
            }
        }
        failures
    }

    /// The table: one row per case, one column per target (`pass 12ms`, `FAIL [1]`,
    /// `skipped [2]`, `n/a [3]`, `known bug [4]`), reasons numbered below, then totals and
    /// timings.
    pub fn render(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for suite in &self.suites {
            for case in &suite.cases {
                if !names.contains(&case.case) {
                    names.push(case.case);
                }
            }
        }
        let mut notes: Vec<String> = Vec::new();
        let mut note = |text: String| -> usize {
            match notes.iter().position(|n| *n == text) {
                Some(i) => i + 1,
                None => {
                    notes.push(text);
                    notes.len()
                }
            }
        };
        let mut grid: Vec<Vec<String>> = Vec::new();
        for name in &names {
            let mut row = vec![(*name).to_owned()];
            for suite in &self.suites {
                let cell = match suite.case(name) {
                    None => "-".to_owned(),
                    Some(case) => match &case.outcome {
                        Outcome::Passed => format!("pass {}ms", case.duration.as_millis()),
                        Outcome::Skipped(reason) if self.is_required(&suite.adapter) => {
                            format!(
                                "FAIL [{}]",
                                note(format!("{}: required, but {reason}", suite.adapter))
                            )
                        }
                        other => format!(
                            "{} [{}]",
                            other.label(),
                            note(format!(
                                "{}: {}",
                                suite.adapter,
                                other.reason().unwrap_or_default()
                            ))
                        ),
                    },
                };
                row.push(cell);
            }
            grid.push(row);
        }
        let mut totals = vec!["passed / total, time".to_owned()];
        for suite in &self.suites {
            let passed = suite
                .cases
                .iter()
                .filter(|c| c.outcome == Outcome::Passed)
                .count();
            totals.push(format!(
                "{passed}/{} in {:.1}s",
                suite.cases.len(),
                suite.duration.as_secs_f64()
            ));
        }
        let mut header = vec!["case".to_owned()];
        header.extend(self.suites.iter().map(|s| s.adapter.clone()));
        let widths: Vec<usize> = (0..header.len())
            .map(|col| {
                grid.iter()
                    .chain([&header, &totals])
                    .map(|row| row[col].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, row: &[String]| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        };
        line(&mut out, &header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &rule);
        for row in &grid {
            line(&mut out, row);
        }
        line(&mut out, &rule);
        line(&mut out, &totals);
        if !notes.is_empty() {
            out.push('\n');
            for (i, text) in notes.iter().enumerate() {
                let _ = writeln!(out, "[{}] {text}", i + 1);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::outcome::CaseReport;

    fn suite(adapter: &str, outcomes: &[Outcome]) -> SuiteReport {
        SuiteReport {
            adapter: adapter.to_owned(),
            location: "somewhere".to_owned(),
            unreachable: None,
            cases: outcomes
                .iter()
                .zip(["first_case", "second_case"])
                .map(|(outcome, case)| CaseReport {
                    case,
                    concern: "test",
                    outcome: outcome.clone(),
                    duration: Duration::from_millis(3),
                })
                .collect(),
            duration: Duration::from_millis(6),
        }
    }

    #[test]
    fn a_skip_is_shown_with_its_reason_and_fails_only_when_required() {
        let skipped = Outcome::Skipped("db is unreachable".to_owned());
        let suites = vec![
            suite("a", &[Outcome::Passed, Outcome::Passed]),
            suite("b", &[skipped.clone(), skipped]),
        ];
        let lenient = Matrix::new(suites.clone(), vec![]);
        assert!(lenient.failures().is_empty());
        let text = lenient.render();
        assert!(text.contains("skipped [1]"), "{text}");
        assert!(text.contains("[1] b: db is unreachable"), "{text}");
        assert!(!text.contains("FAIL"), "{text}");

        let strict = Matrix::new(suites, vec!["b".to_owned()]);
        assert_eq!(strict.failures().len(), 2);
        assert!(strict.render().contains("FAIL [1]"));
    }

    #[test]
    fn failures_and_missing_required_targets_fail_the_run_but_not_applicable_does_not() {
        let suites = vec![suite(
            "a",
            &[
                Outcome::Failed("boom".to_owned()),
                Outcome::NotApplicable("no such thing".to_owned()),
            ],
        )];
        let matrix = Matrix::new(suites, vec!["c".to_owned()]);
        let failures = matrix.failures();
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].contains("boom"));
        assert!(failures[1].contains("c: required but not run"));
        let text = matrix.render();
        assert!(
            text.contains("FAIL [1]") && text.contains("n/a [2]"),
            "{text}"
        );
    }
}
