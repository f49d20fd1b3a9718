//! [`Transaction`]: a transaction on a checked-out connection, through the neutral API, that is
//! rolled back unless committed.
//!
//! `conn.begin().await?` sends `BEGIN` and returns the guard; [`Transaction::commit`] sends
//! `COMMIT`. A guard dropped without `commit` (or [`rollback`](Transaction::rollback)) cannot
//! send anything from `Drop` (no await there, and no task spawned from a drop, see STYLE.md), so
//! the connection remembers that a transaction is open and:
//!
//! * the next [`begin`](PooledConnection::begin) on the same checkout rolls it back first;
//! * when the connection returns, the session reset (`reset_on_return`, on by default) rolls it
//!   back, as it does any transaction left open; with `reset_on_return` off, the connection is
//!   closed instead. Either way the next holder never sees it.
//!
//! Statements sent through the guard directly (`conn.execute(…)` after the `Transaction` is
//! dropped) still run inside the abandoned transaction until one of the above happens: roll back
//! explicitly when you go on using the connection.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::error::Result;
use crate::guard::PooledConnection;
use crate::protocol::{ConnectionProtocol, Connector};

/// An open transaction on a [`PooledConnection`]: dereferences to the adapter's connection, so
/// statements run inside it. Rolled back unless [`commit`](Self::commit) succeeds.
///
/// ```
/// use pool_core::{ConnectionProtocol, Pool};
/// use pool_core::testing::TestConnector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pool_core::Result<()> {
/// let pool = Pool::builder(TestConnector::new()).build().await?;
/// let mut conn = pool.get().await?;
/// let mut tx = conn.begin().await?;
/// tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
/// tx.commit().await?;
/// assert!(!conn.in_transaction());
/// # Ok(())
/// # }
/// ```
#[must_use = "a transaction dropped without commit() is rolled back"]
pub struct Transaction<'c, M: Connector> {
    conn: &'c mut PooledConnection<M>,
}

impl<M: Connector> PooledConnection<M> {
    /// Starts a transaction (`BEGIN`), first rolling back one a dropped [`Transaction`] left
    /// open on this checkout.
    pub async fn begin(&mut self) -> Result<Transaction<'_, M>> {
        if self.in_transaction() {
            (**self).execute("ROLLBACK", &[]).await?;
            self.set_in_transaction(false);
        }
        // Set before sending: a BEGIN cancelled halfway may have started the transaction.
        self.set_in_transaction(true);
        (**self).execute("BEGIN", &[]).await?;
        Ok(Transaction { conn: self })
    }
}

impl<M: Connector> Transaction<'_, M> {
    /// Commits (`COMMIT`). On error the transaction counts as still open: it is rolled back as
    /// a dropped one is.
    pub async fn commit(self) -> Result<()> {
        self.finish("COMMIT").await
    }

    /// Rolls back now (`ROLLBACK`) rather than at the next `begin` or on return.
    pub async fn rollback(self) -> Result<()> {
        self.finish("ROLLBACK").await
    }

    async fn finish(self, sql: &str) -> Result<()> {
        let conn = self.conn;
        (**conn).execute(sql, &[]).await?;
        conn.set_in_transaction(false);
        Ok(())
    }
}

impl<M: Connector> Deref for Transaction<'_, M> {
    type Target = M::Connection;

    fn deref(&self) -> &Self::Target {
        self.conn
    }
}

impl<M: Connector> DerefMut for Transaction<'_, M> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn
    }
}

impl<M: Connector> fmt::Debug for Transaction<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("conn", &self.conn)
            .finish()
    }
}
