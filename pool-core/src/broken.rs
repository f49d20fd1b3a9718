//! Closing a connection its holder marked broken
//! ([`PooledConnection::mark_broken`](crate::PooledConnection::mark_broken)).
//!
//! Kept apart from the ordinary return (`checkin.rs`): a marked connection skips the reset, the
//! hooks and every place a healthy connection could go, and is closed like one that reported
//! [`is_broken`](crate::ConnectionProtocol::is_broken) itself. Its slot is freed at once, so the
//! pool opens a replacement when it needs one.

use std::sync::Arc;

use crate::conn::Conn;
use crate::inner::{CountedIn, Inner};
use crate::protocol::Connector;
use crate::stats::Counters;

impl<M: Connector> Inner<M> {
    /// A holder dropped a connection it marked broken: close it instead of returning it.
    pub(crate) fn check_in_broken(self: &Arc<Self>, conn: Conn<M::Connection>) {
        if !conn.meta.check_in(self.plan.reclaim_possible) {
            // Reclaimed as a leak: its slot was freed already; just close it.
            self.close_detached(conn);
            return;
        }
        Counters::bump(&self.metrics.counters.broken_on_return);
        self.discard(conn, CountedIn::Active);
    }
}
