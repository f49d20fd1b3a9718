//! The two traits an adapter implements: [`Connector`] opens connections, [`ConnectionProtocol`]
//! is what the pool (and the neutral API) needs from each one.

use async_trait::async_trait;

use crate::error::Result;
use crate::value::{ParameterStyle, Row, Value};

/// One open database connection, as the pool and driver-neutral code see it.
///
/// Object safe, so the pool manager can hold connections of different databases as
/// `dyn ConnectionProtocol`. Every adapter also exposes its driver's native client on its own
/// connection type: this trait is the common floor, not a ceiling.
#[async_trait]
pub trait ConnectionProtocol: Send + 'static {
    /// A round trip that proves the connection works (the health check and checkout validation).
    async fn ping(&mut self) -> Result<()>;

    /// Runs a statement and returns the number of rows it affected.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs a query and returns all its rows.
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// Returns the session to a clean state before the next holder gets it: rolls back an open
    /// transaction and drops session state (temporary tables, variables), as far as the
    /// database allows. An error here makes the pool discard the connection.
    async fn reset(&mut self) -> Result<()>;

    /// Called on every return while `reset_on_return` is on (synchronously, before anything
    /// else happens to the connection): can the return skip waiting for [`reset`](Self::reset)?
    ///
    /// Return [`ResetStart::Done`] when the session is known to be clean (the adapter saw
    /// nothing that dirtied it), or when this call has already queued the reset where it runs
    /// before anything the next holder sends and a failure marks the connection broken (so the
    /// next checkout discards it). Then the return costs no task and no round trip, and the
    /// connection goes straight back into service. The default, [`ResetStart::Await`], makes
    /// the pool run `reset()` in a background task and wait for it before reuse: always
    /// correct, and what an adapter that cannot tell should answer.
    fn begin_reset(&mut self) -> ResetStart {
        ResetStart::Await
    }

    /// True once the connection is known to be unusable (an I/O or protocol error happened, or
    /// the server ended the session). Cheap and synchronous: it is called on every return.
    fn is_broken(&self) -> bool;

    /// Closes the connection politely (a terminate message where the protocol has one). The
    /// pool bounds this with a timeout, so an implementation may simply drop its socket.
    async fn close(&mut self) -> Result<()>;

    /// How this database writes bind parameters in SQL.
    fn parameter_style(&self) -> ParameterStyle {
        ParameterStyle::QuestionMark
    }

    /// Sets the longest time one query may run (the pool passes its `query_timeout` to every
    /// connection it opens). Adapters enforce it with a server-side cancel and then return
    /// [`Error::QueryTimeout`](crate::Error::QueryTimeout); the default ignores it.
    fn set_query_timeout(&mut self, timeout: Option<std::time::Duration>) {
        let _ = timeout;
    }

    /// How far behind its primary this server's data is, when it is a replica that can tell
    /// (one round trip): `None` on a primary, or where the adapter cannot say (the default).
    /// The pool manager samples it on read replicas for the `db_client_replica_lag_seconds`
    /// gauge.
    async fn replication_lag(&mut self) -> Result<Option<std::time::Duration>> {
        Ok(None)
    }
}

/// What a return must still do about the session, as [`ConnectionProtocol::begin_reset`]
/// answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetStart {
    /// Nothing is left to wait for: the session is clean, or its reset is queued ahead of
    /// the next holder's first request.
    Done,
    /// The pool must run [`ConnectionProtocol::reset`] and wait for it before the next holder.
    Await,
}

/// Opens connections for a pool; the pool owns exactly one.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// The connection type this connector opens.
    type Connection: ConnectionProtocol;

    /// Opens one new connection. The pool applies its connect timeout around this call and
    /// retries failures with backoff, so implementations should just try once.
    async fn connect(&self) -> Result<Self::Connection>;

    /// The health check used for checkout validation and background pings. Defaults to
    /// [`ConnectionProtocol::ping`]; override it to run a different query.
    async fn validate(&self, connection: &mut Self::Connection) -> Result<()> {
        connection.ping().await
    }
}

#[async_trait]
impl<T: ConnectionProtocol + ?Sized> ConnectionProtocol for Box<T> {
    async fn ping(&mut self) -> Result<()> {
        (**self).ping().await
    }
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        (**self).execute(sql, params).await
    }
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        (**self).query(sql, params).await
    }
    async fn reset(&mut self) -> Result<()> {
        (**self).reset().await
    }
    fn is_broken(&self) -> bool {
        (**self).is_broken()
    }
    async fn close(&mut self) -> Result<()> {
        (**self).close().await
    }
    fn parameter_style(&self) -> ParameterStyle {
        (**self).parameter_style()
    }
    fn set_query_timeout(&mut self, timeout: Option<std::time::Duration>) {
        (**self).set_query_timeout(timeout)
    }
}
