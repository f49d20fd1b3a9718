//! [`ConnectionMetadata`]: what the pool knows of one connection, handed to hooks and to
//! [`Pool::retain`](crate::Pool::retain), as sqlx passes `PoolConnectionMetadata`.

use std::time::Duration;

use tokio::time::Instant;

use crate::conn::Conn;

/// Facts about a connection at one moment: how old it is, how long it sat unused, how often it
/// was handed out. Copied out (no lock, no reference into the pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionMetadata {
    /// The pool-wide id of the connection (as in logs and [`PooledConnection::id`](crate::PooledConnection::id)).
    pub id: u64,
    /// Time since the connection opened.
    pub age: Duration,
    /// Time since it was last returned to the pool (or opened, if never checked out); zero
    /// while a holder has it. A return on the fast path is stamped by the next background sweep,
    /// so this can read up to one sweep interval long, never short.
    pub idle_for: Duration,
    /// How many times it was handed to a caller so far (in `before_checkout`, not counting the
    /// checkout under way; zero in `after_connect`).
    pub checkouts: u64,
}

impl ConnectionMetadata {
    /// The metadata of a connection that just opened (for `after_connect`).
    pub(crate) fn opened(id: u64) -> Self {
        Self {
            id,
            age: Duration::ZERO,
            idle_for: Duration::ZERO,
            checkouts: 0,
        }
    }

    /// The metadata of `conn` at `now`; `checked_out` says a holder has it (idle time zero).
    pub(crate) fn of<C>(conn: &Conn<C>, now: Instant, checked_out: bool) -> Self {
        Self {
            id: conn.meta.id,
            age: now.saturating_duration_since(conn.meta.created_at),
            idle_for: if checked_out {
                Duration::ZERO
            } else {
                now.saturating_duration_since(conn.last_used)
            },
            checkouts: conn.checkouts,
        }
    }
}
