//! [`Pool::retain`]: drop idle connections by predicate, as deadpool's `Pool::retain` does.
//!
//! The idle connections leave the idle set while the predicate looks at them (as during a
//! health check), so the predicate runs without the pool's lock held: it may call back into the
//! pool (`stats()`, even `get()` on another task) without deadlocking. Connections checked out
//! at the time are not looked at. Those removed are closed and the pool refills to `min_size`
//! in the background, as after any discard.

use tokio::time::Instant;

use crate::checkin::Loose;
use crate::inner::CountedIn;
use crate::metadata::ConnectionMetadata;
use crate::pool::Pool;
use crate::protocol::Connector;

/// What [`Pool::retain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetainReport {
    /// Idle connections the predicate kept.
    pub kept: usize,
    /// Idle connections the predicate rejected, now closing.
    pub removed: usize,
}

impl<M: Connector> Pool<M> {
    /// Keeps the idle connections for which `keep` returns true and closes the others; the pool
    /// then refills to `min_size` in the background. Must be called within a tokio runtime
    /// (closing and refilling run as tasks).
    ///
    /// ```
    /// use std::time::Duration;
    /// use pool_core::Pool;
    /// use pool_core::testing::TestConnector;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pool_core::Result<()> {
    /// let pool = Pool::builder(TestConnector::new()).min_size(2).build().await?;
    /// // Close every connection older than ten minutes.
    /// let report = pool.retain(|_conn, meta| meta.age < Duration::from_secs(600));
    /// assert_eq!((report.kept, report.removed), (2, 0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn retain(
        &self,
        mut keep: impl FnMut(&M::Connection, ConnectionMetadata) -> bool,
    ) -> RetainReport {
        let inner = self.inner();
        let now = Instant::now();
        let (parked, idle) = {
            let mut st = inner.state.lock();
            let parked = st.absorb_stash();
            st.stamp_idle(now);
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.preparing += idle.len();
            (parked, idle)
        };
        // Taken back from the fast lane: placed like any return (to a waiter or the idle set);
        // the ones that reached the idle set wait for the next retain.
        inner.after_absorb(parked);
        // Each one owned by a `Loose` before the predicate runs: should it panic, those not yet
        // judged are discarded with their counts corrected, not leaked.
        let idle: Vec<_> = idle
            .into_iter()
            .map(|conn| Loose::new(inner.clone(), conn, CountedIn::Preparing))
            .collect();
        let mut report = RetainReport::default();
        for mut loose in idle {
            let conn = loose.conn_mut();
            let meta = ConnectionMetadata::of(conn, now, false);
            if keep(&conn.raw, meta) {
                report.kept += 1;
                loose.put_back();
            } else {
                report.removed += 1;
                loose.discard();
            }
        }
        report
    }
}
