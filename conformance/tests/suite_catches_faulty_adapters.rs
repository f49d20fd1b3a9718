//! The suite fails adapters that break its guarantees: adapter-sqlite wrapped with one injected
//! fault at a time must fail the case that states the broken guarantee (and still pass an
//! unrelated one), so a green matrix means something.

use std::sync::Arc;

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use conformance::targets::SqliteTarget;
use conformance::{
    ColumnTypes, ConformanceTarget, KnownFailure, Marker, Outcome, SessionVariable, cases, run_case,
};
use pool_core::{
    BackendError, ConnectionProtocol, Connector, Error, ParameterStyle, ResetStart, Result, Row,
    Value, async_trait,
};

/// One way an adapter can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// `reset` does nothing: session state reaches the next holder.
    NoReset,
    /// `begin_reset` claims every returned session is clean, and nothing resets it.
    ClaimsClean,
    /// `is_broken` is never true: a dead session looks healthy.
    NeverBroken,
    /// Every statement error is classified as breaking the connection.
    EveryErrorBreaks,
    /// A query timeout comes back as an ordinary query error.
    TimeoutAsQueryError,
    /// Text longer than 64 KiB comes back truncated.
    TruncatesLongText,
}

struct FaultyConnection {
    inner: SqliteConnection,
    fault: Fault,
}

impl FaultyConnection {
    fn distort(&self, error: Error) -> Error {
        match (self.fault, error) {
            (Fault::EveryErrorBreaks, Error::Backend(e)) => {
                Error::Backend(BackendError::connection(e.to_string()))
            }
            (Fault::TimeoutAsQueryError, Error::QueryTimeout(_)) => {
                Error::Backend(BackendError::query("interrupted"))
            }
            (_, other) => other,
        }
    }
}

#[async_trait]
impl ConnectionProtocol for FaultyConnection {
    async fn ping(&mut self) -> Result<()> {
        self.inner.ping().await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let result = self.inner.execute(sql, params).await;
        result.map_err(|e| self.distort(e))
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let result = self.inner.query(sql, params).await;
        let rows = result.map_err(|e| self.distort(e))?;
        if self.fault != Fault::TruncatesLongText {
            return Ok(rows);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let columns: Arc<[String]> = row.columns().into();
                let values = row
                    .into_values()
                    .into_iter()
                    .map(|v| match v {
                        Value::Text(mut s) if s.len() > 65_536 => {
                            let cut = (0..=65_536).rev().find(|&i| s.is_char_boundary(i));
                            s.truncate(cut.unwrap_or(0));
                            Value::Text(s)
                        }
                        other => other,
                    })
                    .collect();
                Row::new(columns, values)
            })
            .collect())
    }

    async fn reset(&mut self) -> Result<()> {
        if self.fault == Fault::NoReset {
            return Ok(());
        }
        self.inner.reset().await
    }

    fn begin_reset(&mut self) -> ResetStart {
        match self.fault {
            Fault::ClaimsClean => ResetStart::Done,
            // A wrapper that does not know better waits for `reset()`.
            _ => ResetStart::Await,
        }
    }

    fn is_broken(&self) -> bool {
        self.fault != Fault::NeverBroken && self.inner.is_broken()
    }

    async fn close(&mut self) -> Result<()> {
        self.inner.close().await
    }

    fn parameter_style(&self) -> ParameterStyle {
        self.inner.parameter_style()
    }

    fn set_query_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.inner.set_query_timeout(timeout);
    }
}

struct FaultyConnector {
    inner: SqliteConnector,
    fault: Fault,
}

#[async_trait]
impl Connector for FaultyConnector {
    type Connection = FaultyConnection;

    async fn connect(&self) -> Result<FaultyConnection> {
        Ok(FaultyConnection {
            inner: self.inner.connect().await?,
            fault: self.fault,
        })
    }
}

/// The SQLite target with `fault` injected into every connection.
struct FaultyTarget {
    sqlite: SqliteTarget,
    fault: Fault,
    known: Vec<KnownFailure>,
    not_applicable: Vec<(&'static str, String)>,
}

#[async_trait]
impl ConformanceTarget for FaultyTarget {
    type Connector = FaultyConnector;

    fn name(&self) -> &str {
        "faulty-sqlite"
    }

    fn location(&self) -> String {
        self.sqlite.location()
    }

    fn connector(&self, marker: &Marker) -> Result<FaultyConnector> {
        Ok(FaultyConnector {
            inner: self.sqlite.connector(marker)?,
            fault: self.fault,
        })
    }

    fn column_types(&self) -> ColumnTypes {
        self.sqlite.column_types()
    }

    fn long_query(&self) -> String {
        self.sqlite.long_query()
    }

    async fn kill_session(&self, conn: &mut FaultyConnection) -> std::result::Result<(), String> {
        self.sqlite.kill_session(&mut conn.inner).await
    }

    fn session_variable(&self) -> std::result::Result<SessionVariable, String> {
        self.sqlite.session_variable()
    }

    async fn count_sessions(&self, marker: &Marker) -> std::result::Result<Option<usize>, String> {
        self.sqlite.count_sessions(marker).await
    }

    fn known_failures(&self) -> Vec<KnownFailure> {
        self.known.clone()
    }

    fn not_applicable(&self) -> Vec<(&'static str, String)> {
        self.not_applicable.clone()
    }

    async fn clean_up(&self, marker: &Marker) {
        self.sqlite.clean_up(marker).await;
    }
}

/// Runs the named case against SQLite with `fault` injected.
async fn outcome_with(fault: Fault, case: &str) -> Outcome {
    outcome_declaring(fault, case, Vec::new()).await
}

/// [`outcome_with`], for a target that lists `known` failures.
async fn outcome_declaring(fault: Fault, case: &str, known: Vec<KnownFailure>) -> Outcome {
    let target = Arc::new(FaultyTarget {
        sqlite: SqliteTarget::from_env(),
        fault,
        known,
        not_applicable: Vec::new(),
    });
    let case = cases::<FaultyTarget>()
        .into_iter()
        .find(|c| c.name() == case)
        .unwrap_or_else(|| panic!("no case named {case}"));
    run_case(target, &case).await.outcome
}

async fn assert_caught(fault: Fault, case: &str, reason_mentions: &str) {
    match outcome_with(fault, case).await {
        Outcome::Failed(reason) => assert!(
            reason.contains(reason_mentions),
            "{case} failed under {fault:?}, but for another reason: {reason}"
        ),
        other => panic!("{case} should fail under {fault:?}, got {other:?}"),
    }
    let control = "i64_extremes_round_trip";
    assert_eq!(
        outcome_with(fault, control).await,
        Outcome::Passed,
        "{fault:?} should not affect {control}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_does_not_reset_fails_the_session_cases() {
    assert_caught(
        Fault::NoReset,
        "temporary_table_does_not_survive_reset",
        "still reads the temporary table",
    )
    .await;
    assert_caught(
        Fault::NoReset,
        "open_transaction_is_rolled_back_when_the_connection_returns",
        "abandoned transaction",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_claims_dirty_sessions_are_clean_fails_the_session_cases() {
    assert_caught(
        Fault::ClaimsClean,
        "open_transaction_is_rolled_back_when_the_connection_returns",
        "abandoned transaction",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_never_reports_broken_fails_the_kill_case() {
    assert_caught(
        Fault::NeverBroken,
        "killed_session_fails_as_broken_and_is_replaced",
        "is_broken() is false",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_breaks_on_syntax_errors_fails_the_error_class_case() {
    assert_caught(
        Fault::EveryErrorBreaks,
        "syntax_error_is_a_query_error_and_the_connection_stays_usable",
        "classified as breaking the connection",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_hides_the_timeout_fails_the_timeout_case() {
    assert_caught(
        Fault::TimeoutAsQueryError,
        "long_query_is_cancelled_at_the_query_timeout",
        "should fail with Error::QueryTimeout",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_truncates_text_fails_the_text_case() {
    assert_caught(
        Fault::TruncatesLongText,
        "text_round_trips_empty_unicode_and_1_mib",
        "got back Text(655",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_known_failure_is_reported_as_such_and_fails_once_it_passes() {
    let known = |case: &'static str| {
        vec![KnownFailure {
            case,
            reason: "the adapter skips its reset (tracked in a bug report)".to_owned(),
            symptoms: &["still reads the temporary table"],
            intermittent: false,
        }]
    };
    let still_broken = "temporary_table_does_not_survive_reset";
    match outcome_declaring(Fault::NoReset, still_broken, known(still_broken)).await {
        Outcome::KnownFailure(reason) => assert!(
            reason.contains("tracked in a bug report") && reason.contains("still reads"),
            "{reason}"
        ),
        other => panic!("a listed case that fails should be a known failure, got {other:?}"),
    }
    let fixed = "i64_extremes_round_trip";
    match outcome_declaring(Fault::NoReset, fixed, known(fixed)).await {
        Outcome::Failed(reason) => assert!(reason.contains("remove it"), "{reason}"),
        other => panic!("a listed case that passes should fail, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_failure_covers_only_its_symptom_and_an_intermittent_one_may_pass() {
    let other_symptom = vec![KnownFailure {
        case: "temporary_table_does_not_survive_reset",
        reason: "a different bug".to_owned(),
        symptoms: &["57014"],
        intermittent: false,
    }];
    let outcome = outcome_declaring(
        Fault::NoReset,
        "temporary_table_does_not_survive_reset",
        other_symptom,
    )
    .await;
    assert!(
        outcome.is_failure(),
        "a failure without the listed symptom must stay a failure: {outcome:?}"
    );
    let intermittent = vec![KnownFailure {
        case: "i64_extremes_round_trip",
        reason: "a race".to_owned(),
        symptoms: &["never"],
        intermittent: true,
    }];
    assert_eq!(
        outcome_declaring(Fault::NoReset, "i64_extremes_round_trip", intermittent).await,
        Outcome::Passed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_declared_not_applicable_does_not_run_and_says_why() {
    let case = "temporary_table_does_not_survive_reset";
    let reason = "no session outlives a transaction here";
    let target = FaultyTarget {
        sqlite: SqliteTarget::from_env(),
        // It would fail this case if it ran.
        fault: Fault::NoReset,
        known: Vec::new(),
        not_applicable: vec![
            (case, reason.to_owned()),
            ("no_such_case", reason.to_owned()),
        ],
    };
    let suite = conformance::run_suite(target, Some(&[case, "i64_extremes_round_trip"])).await;
    assert_eq!(
        suite.case(case).map(|c| &c.outcome),
        Some(&Outcome::NotApplicable(reason.to_owned()))
    );
    assert_eq!(
        suite.case("i64_extremes_round_trip").map(|c| &c.outcome),
        Some(&Outcome::Passed)
    );
    match suite.case("no_such_case").map(|c| &c.outcome) {
        Some(Outcome::Failed(why)) => assert!(why.contains("no case has that name"), "{why}"),
        other => panic!("an unknown name declared not applicable should fail, got {other:?}"),
    }
}
