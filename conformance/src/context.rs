//! [`CaseContext`]: what one running case gets — its target, its marker, pools built the same
//! way every time, tables that are dropped afterwards, and the server's session count.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_core::{ConnectionProtocol, Connector, Pool, PoolBuilder};

use crate::marker::Marker;
use crate::outcome::{CaseError, CaseResult, Context, ensure};
use crate::target::{ConformanceTarget, ConnectionOf};

/// How long a case waits for the server to reflect something it was told (a killed or closed
/// session disappearing, a reset finishing): far above what a healthy local server needs, so a
/// pass is never luck, and a hang still ends the case quickly.
pub(crate) const SERVER_SETTLE: Duration = Duration::from_secs(10);

/// How often such a wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// One case's view of its target.
pub(crate) struct CaseContext<T: ConformanceTarget> {
    target: Arc<T>,
    marker: Marker,
    tables: Mutex<Vec<String>>,
}

impl<T: ConformanceTarget> CaseContext<T> {
    pub(crate) fn new(target: Arc<T>, case: &str) -> Self {
        Self {
            target,
            marker: Marker::unique(case),
            tables: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn target(&self) -> &T {
        &self.target
    }

    pub(crate) fn marker(&self) -> &Marker {
        &self.marker
    }

    /// A connector whose sessions carry this case's marker.
    pub(crate) fn connector(&self) -> CaseResult<T::Connector> {
        self.target
            .connector(&self.marker)
            .context("building the target's connector")
    }

    /// A pool builder with the suite's settings: named after the marker, one connection warm,
    /// two at most, timeouts short enough that a hang fails the case instead of the run, and
    /// the auto-scaler off so the number of sessions is the pool's `min_size` and what the case
    /// checks out, never a scaler's decision. Cases change what they test.
    pub(crate) fn pool(&self) -> CaseResult<PoolBuilder<T::Connector>> {
        Ok(Pool::builder(self.connector()?)
            .name(self.marker.as_str())
            .min_size(1)
            .max_size(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .configure(|c| c.autoscale.enabled = false))
    }

    /// Builds `builder`, failing the case with the pool's error.
    pub(crate) async fn build(
        &self,
        builder: PoolBuilder<T::Connector>,
    ) -> CaseResult<Pool<T::Connector>> {
        builder.build().await.context("building the pool")
    }

    /// Creates `<marker>_<suffix>` with `columns` (a column list in the target's dialect) and
    /// remembers it, so it is dropped after the case whatever the outcome.
    pub(crate) async fn create_table(
        &self,
        conn: &mut ConnectionOf<T>,
        suffix: &str,
        columns: &str,
    ) -> CaseResult<String> {
        let name = self.marker.table(suffix);
        let options = self.target.column_types().table_options;
        let sql = format!("CREATE TABLE {name} ({columns}){options}");
        conn.execute(&sql, &[]).await.context(&sql)?;
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        Ok(name)
    }

    /// The server's count of sessions carrying this case's marker (every pool of the case);
    /// not applicable where the target cannot count.
    pub(crate) async fn count_sessions(&self) -> CaseResult<usize> {
        match self.target.count_sessions(&self.marker).await {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(CaseError::NotApplicable(format!(
                "{} cannot count its sessions on this platform",
                self.target.name()
            ))),
            Err(e) => Err(CaseError::Failed(format!(
                "counting this pool's sessions on the server: {e}"
            ))),
        }
    }

    /// Waits until the server shows exactly `expected` sessions of this case's pools; fails
    /// with the last count after [`SERVER_SETTLE`].
    pub(crate) async fn expect_sessions(&self, expected: usize, when: &str) -> CaseResult<()> {
        let deadline = tokio::time::Instant::now() + SERVER_SETTLE;
        loop {
            let seen = self.count_sessions().await?;
            if seen == expected {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "{when}: the server still shows {seen} session(s) of this pool after {SERVER_SETTLE:?}, expected {expected}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until no connection is checked out: a returned connection counts as active until
    /// its session reset (a round trip to the server) has finished.
    pub(crate) async fn settle(&self, pool: &Pool<T::Connector>) -> CaseResult<()> {
        let deadline = tokio::time::Instant::now() + SERVER_SETTLE;
        loop {
            let stats = pool.stats();
            if stats.active == 0 && stats.connecting == 0 {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "connections never came back: active {}, connecting {} after {SERVER_SETTLE:?}",
                stats.active,
                stats.connecting
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Closes the pool, requiring that every connection closed within the deadline and that
    /// the accounting held throughout.
    pub(crate) async fn close(&self, pool: Pool<T::Connector>) -> CaseResult<()> {
        pool.check_invariants()
            .map_err(|e| CaseError::Failed(format!("pool invariant violated: {e}")))?;
        let report = pool.close(SERVER_SETTLE).await;
        ensure!(
            report.complete,
            "close did not finish within {SERVER_SETTLE:?}: {report:?}"
        );
        Ok(())
    }

    /// Drops the case's tables through a fresh connection (the case's pool may be closed or
    /// broken by now), then lets the target remove files.
    pub(crate) async fn clean_up(&self) {
        let tables = std::mem::take(&mut *self.tables.lock().unwrap_or_else(|e| e.into_inner()));
        if !tables.is_empty()
            && let Ok(connector) = self.target.connector(&self.marker)
        {
            let drop_all = async {
                let mut conn = connector.connect().await?;
                for table in &tables {
                    let _ = conn
                        .execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
                        .await;
                }
                conn.close().await
            };
            let _ = tokio::time::timeout(SERVER_SETTLE, drop_all).await;
        }
        self.target.clean_up(&self.marker).await;
    }
}
