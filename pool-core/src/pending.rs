//! [`PendingCheckout`]: a connection taken for a checkout that has not passed its checks yet.
//!
//! Being "checked out but not yet validated" is a type of its own (as deadpool's
//! `UnreadyObject` and sqlx's `Floating<Live>` are), not a flag on the guard users hold: only
//! [`PendingCheckout::ready`] makes a [`PooledConnection`], and a pending checkout that is
//! dropped (the connection failed its checks, or the caller gave up half-way through them) is
//! discarded, since its session may be in any state.

use std::sync::Arc;

use tokio::time::Instant;

use crate::conn::{Conn, LeakTracking};
use crate::guard::PooledConnection;
use crate::inner::{CountedIn, Inner};
use crate::protocol::Connector;

pub(crate) struct PendingCheckout<'a, M: Connector> {
    inner: &'a Arc<Inner<M>>,
    conn: Option<Conn<M::Connection>>,
}

impl<'a, M: Connector> PendingCheckout<'a, M> {
    /// A connection just taken for a checkout (counted as active).
    pub(crate) fn new(inner: &'a Arc<Inner<M>>, conn: Conn<M::Connection>) -> Self {
        Self {
            inner,
            conn: Some(conn),
        }
    }

    pub(crate) fn conn(&self) -> &Conn<M::Connection> {
        self.conn
            .as_ref()
            .expect("a pending checkout holds its connection until it is ready")
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Conn<M::Connection> {
        self.conn
            .as_mut()
            .expect("a pending checkout holds its connection until it is ready")
    }

    /// The checks passed: hands the connection to the caller. `checked_out_at` is when and
    /// with what weight its use time is recorded, if this checkout is timed.
    pub(crate) fn ready(
        mut self,
        checked_out_at: Option<(Instant, u64)>,
        leak_tracking: Option<LeakTracking>,
    ) -> PooledConnection<M> {
        let mut conn = self
            .conn
            .take()
            .expect("a pending checkout holds its connection until it is ready");
        conn.checkouts += 1;
        conn.meta.check_out(leak_tracking);
        PooledConnection::new(self.inner.clone(), conn, checked_out_at)
    }
}

impl<M: Connector> Drop for PendingCheckout<'_, M> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.discard(conn, CountedIn::Active);
        }
    }
}
