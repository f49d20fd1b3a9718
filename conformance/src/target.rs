//! [`ConformanceTarget`]: everything the suite needs to know about one adapter and its database
//! that the neutral API cannot say.
//!
//! The suite itself only talks to the database through a [`pool_core::Pool`] and the neutral
//! [`ConnectionProtocol`](pool_core::ConnectionProtocol). What differs between databases (column
//! type names, how to make a query run long, how an operator kills a session, where the server
//! lists its sessions) is asked of the target. SQL goes to the database as written: the neutral
//! API does not rewrite placeholders, so the cases ask each connection for its
//! [`ParameterStyle`](pool_core::ParameterStyle) and the target never has to translate SQL.

use pool_core::{Connector, PooledConnection, Value, async_trait};

use crate::marker::Marker;

/// The connection type a target's connector opens.
pub type ConnectionOf<T> = <<T as ConformanceTarget>::Connector as Connector>::Connection;

/// A connection of a target's pool, as the cases hold it.
pub type PooledOf<T> = PooledConnection<<T as ConformanceTarget>::Connector>;

/// One adapter on one real database, as the conformance suite drives it.
///
/// Implement it in the adapter's test harness and hand it to [`run_suite`](crate::run_suite) or
/// the [`conformance_tests!`](crate::conformance_tests) macro. Every method that talks to the
/// server from outside the pool (killing a session, counting sessions) should use a side
/// connection whose sessions do **not** carry the marker, so they are never counted as the
/// pool's own.
#[async_trait]
pub trait ConformanceTarget: Send + Sync + 'static {
    /// The adapter's connector.
    type Connector: Connector;

    /// A short name for reports and test output (`"postgres"`).
    fn name(&self) -> &str;

    /// Where the database is, for messages; must never include a password.
    fn location(&self) -> String;

    /// A connector whose sessions carry `marker`, so [`count_sessions`](Self::count_sessions)
    /// can find them on the server. Connectors made with the same marker reach the same
    /// database (for SQLite: the same file).
    fn connector(&self, marker: &Marker) -> pool_core::Result<Self::Connector>;

    /// Proves the database answers, within a few seconds; `Err` says why not. An unreachable
    /// database is reported as skipped by the matrix, and fails the per-case tests unless
    /// `CONFORMANCE_ALLOW_SKIP=1`.
    async fn probe(&self) -> Result<(), String> {
        let connector = self
            .connector(&Marker::unique("probe"))
            .map_err(|e| e.to_string())?;
        let attempt = async {
            let mut conn = connector.connect().await?;
            let ping = pool_core::ConnectionProtocol::ping(&mut conn).await;
            let _ = pool_core::ConnectionProtocol::close(&mut conn).await;
            ping
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("no answer within 5 s".to_owned()),
        }
    }

    /// Column type names for the round-trip tables.
    fn column_types(&self) -> ColumnTypes;

    /// A query that runs for many seconds (at least 10) unless cancelled, so the pool's query
    /// timeout is what ends it: `SELECT pg_sleep(30)`, `SELECT SLEEP(30)`, a long recursive CTE.
    fn long_query(&self) -> String;

    /// Ends `conn`'s session the way the server or an operator would, from outside, without
    /// telling the connection (`pg_terminate_backend`, `KILL CONNECTION`; for an embedded
    /// database, whatever hook the adapter offers). Returns once the session is gone.
    async fn kill_session(&self, conn: &mut ConnectionOf<Self>) -> Result<(), String>;

    /// Runs `sql` (no parameters; it may hold several statements) through the adapter's native
    /// client instead of the neutral API, as an application that reaches for the driver does,
    /// so the suite can check that the pool cleans up after such a holder just the same.
    /// [`Native::Unsupported`] when the adapter offers no native client (the cases that need
    /// one are then not applicable).
    async fn execute_native(&self, conn: &mut ConnectionOf<Self>, sql: &str) -> Result<(), Native> {
        let _ = (conn, sql);
        Err(Native::Unsupported(format!(
            "the {} target runs no SQL through a native client",
            self.name()
        )))
    }

    /// A session variable the suite sets through one holder and expects gone for the next:
    /// `Err(reason)` when the database has none (the case is then not applicable).
    fn session_variable(&self) -> Result<SessionVariable, String>;

    /// How many sessions carrying `marker` the server has open right now, whichever connector
    /// made with that marker opened them (a target that identifies sessions by connector, as
    /// adapter-mysql's recorded session ids do, keeps its connectors per marker). `Ok(None)`
    /// when this platform cannot tell: the cases that need the count are then not applicable.
    async fn count_sessions(&self, marker: &Marker) -> Result<Option<usize>, String>;

    /// Cases this adapter is known to fail today, each with the reason (the bug, where it is
    /// tracked) and the symptom that identifies it. Such a case still runs: a failure whose
    /// message shows the symptom is reported as
    /// [`Outcome::KnownFailure`](crate::Outcome::KnownFailure) and does not fail the run; any
    /// other failure of the case still fails it. A pass of a listed case fails the run (remove
    /// the entry: the bug is fixed) unless the entry is marked intermittent (a race that shows
    /// only sometimes).
    fn known_failures(&self) -> Vec<KnownFailure> {
        Vec::new()
    }

    /// Cases that do not apply to this target, each with the reason: they do not run and
    /// show as not applicable, with the reason, in the matrix (never as a pass). For a
    /// connection pooler in transaction mode, the cases that keep session state (a temporary
    /// table, a session variable) from one holder to the next. A name that is no case's
    /// fails the run.
    fn not_applicable(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Called after each case with its marker, to forget what the target kept for it and
    /// remove what the case left outside the database (files). The suite drops the tables it
    /// created itself.
    async fn clean_up(&self, marker: &Marker) {
        let _ = marker;
    }
}

/// Column type names in one database's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnTypes {
    /// A boolean column (`BOOLEAN`; MySQL stores it as `TINYINT(1)`).
    pub boolean: &'static str,
    /// A signed 64-bit integer column.
    pub bigint: &'static str,
    /// A double-precision float column.
    pub double: &'static str,
    /// A text column that holds at least 1 MiB of UTF-8, including 4-byte characters.
    pub text: &'static str,
    /// A binary column that holds at least 1 MiB.
    pub blob: &'static str,
    /// Appended to every `CREATE TABLE` (MySQL: engine and character set); may be empty.
    pub table_options: &'static str,
}

/// A session variable: how to set it and how to read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionVariable {
    /// Sets the variable (run with `execute`, no parameters).
    pub set: String,
    /// Reads it: one row, one column.
    pub read: String,
    /// What `read` returns after `set`; after a reset it must return anything else.
    pub value: Value,
}

/// A case an adapter is known to fail, why, and how to recognise that failure; see
/// [`ConformanceTarget::known_failures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFailure {
    /// The case's name.
    pub case: &'static str,
    /// Why it fails, for the report: the bug and where it is tracked.
    pub reason: String,
    /// The failure is this known one only if its message contains one of these texts; any
    /// other failure of the case is a real failure.
    pub symptoms: &'static [&'static str],
    /// The bug shows only sometimes (a race): a pass is then expected too, instead of meaning
    /// the bug is fixed.
    pub intermittent: bool,
}

/// Why [`ConformanceTarget::execute_native`] did not run its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// The adapter has no native client to run it through; why, for the report.
    Unsupported(String),
    /// The native client ran it and failed; the driver's message.
    Failed(String),
}
