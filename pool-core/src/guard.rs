//! [`PooledConnection`]: a checked-out connection that goes back to the pool when dropped.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use tokio::time::Instant;

use crate::conn::Conn;
use crate::inner::Inner;
use crate::protocol::Connector;

/// A connection checked out of a [`Pool`](crate::Pool). Dereferences to the adapter's
/// connection type, so both the neutral [`ConnectionProtocol`](crate::ConnectionProtocol) and the
/// adapter's native client are at hand.
///
/// Dropping it returns the connection: never blocking, only a short lock is taken; a session
/// reset, if configured, runs in a background task bounded by `close_timeout`. A connection that
/// reports [`is_broken`](crate::ConnectionProtocol::is_broken) or outlived its lifetime is closed
/// instead of reused.
#[must_use = "dropping a pooled connection returns it to the pool at once"]
pub struct PooledConnection<M: Connector> {
    inner: Arc<Inner<M>>,
    conn: Option<Conn<M::Connection>>,
    /// When it was checked out and with what weight its use time is recorded (fast-path
    /// checkouts are timed one in several; see `USAGE_SAMPLE_EVERY`).
    checked_out_at: Option<(Instant, u64)>,
    /// Set by [`mark_broken`](Self::mark_broken): close on drop instead of returning.
    marked_broken: bool,
    /// A [`Transaction`](crate::Transaction) was begun and neither committed nor rolled back.
    in_transaction: bool,
}

impl<M: Connector> PooledConnection<M> {
    /// A connection that passed its checkout checks (made only by
    /// [`PendingCheckout::ready`](crate::pending::PendingCheckout::ready)).
    pub(crate) fn new(
        inner: Arc<Inner<M>>,
        conn: Conn<M::Connection>,
        checked_out_at: Option<(Instant, u64)>,
    ) -> Self {
        Self {
            inner,
            conn: Some(conn),
            checked_out_at,
            marked_broken: false,
            in_transaction: false,
        }
    }

    fn conn_ref(&self) -> &Conn<M::Connection> {
        self.conn
            .as_ref()
            .expect("a PooledConnection holds its connection until dropped")
    }

    fn conn_mut(&mut self) -> &mut Conn<M::Connection> {
        self.conn
            .as_mut()
            .expect("a PooledConnection holds its connection until dropped")
    }

    /// Takes the connection out of the pool for good: its slot is freed at once and the pool
    /// will open a replacement if it needs one. The caller owns (and must close) the connection.
    pub fn detach(mut self) -> M::Connection {
        let conn = self
            .conn
            .take()
            .expect("a PooledConnection holds its connection until dropped");
        // A connection the leak detector reclaimed has no slot left to free.
        if conn.meta.check_in(self.inner.plan.reclaim_possible) {
            self.inner.release_checked_out(conn.meta.id);
        }
        conn.into_raw()
    }

    /// Marks the connection unusable: when dropped it is closed instead of returned, and the
    /// pool opens a replacement if it needs one. For when the caller knows better than the
    /// driver (a protocol state it cannot trust, a session setting it cannot undo).
    ///
    /// ```
    /// # use pool_core::{Pool, testing::TestConnector};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pool_core::Result<()> {
    /// let pool = Pool::builder(TestConnector::new()).max_size(1).build().await?;
    /// let mut conn = pool.get().await?;
    /// let first = conn.id();
    /// conn.mark_broken();
    /// assert!(conn.is_marked_broken());
    /// drop(conn);
    /// assert_ne!(pool.get().await?.id(), first, "a new connection replaced it");
    /// # Ok(())
    /// # }
    /// ```
    pub fn mark_broken(&mut self) {
        self.marked_broken = true;
    }

    /// Whether [`mark_broken`](Self::mark_broken) was called on this checkout.
    pub fn is_marked_broken(&self) -> bool {
        self.marked_broken
    }

    /// Whether a [`Transaction`](crate::Transaction) begun on this checkout is still open
    /// (dropped without commit or rollback, it stays open until the next `begin` or the return).
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    pub(crate) fn set_in_transaction(&mut self, open: bool) {
        self.in_transaction = open;
    }

    /// When the connection was opened.
    pub fn created_at(&self) -> Instant {
        self.conn_ref().meta.created_at
    }

    /// The pool-wide id of this connection (also in logs and leak reports).
    pub fn id(&self) -> u64 {
        self.conn_ref().meta.id
    }
}

impl<M: Connector> Deref for PooledConnection<M> {
    type Target = M::Connection;

    fn deref(&self) -> &Self::Target {
        &self.conn_ref().raw
    }
}

impl<M: Connector> DerefMut for PooledConnection<M> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn_mut().raw
    }
}

impl<M: Connector> Drop for PooledConnection<M> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // An open transaction is rolled back by the session reset; without one, only closing
        // the connection keeps it from the next holder.
        let abandoned_transaction = self.in_transaction && !self.inner.config.reset_on_return;
        if self.marked_broken || abandoned_transaction {
            self.inner.check_in_broken(conn);
        } else {
            self.inner.check_in(conn, self.checked_out_at);
        }
    }
}

impl<M: Connector> fmt::Debug for PooledConnection<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("pool", &self.inner.name())
            .field("id", &self.conn.as_ref().map(|c| c.meta.id))
            .field("marked_broken", &self.marked_broken)
            .finish()
    }
}
