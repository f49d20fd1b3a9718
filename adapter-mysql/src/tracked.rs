//! [`TrackedConn`]: the driver's own query API, with the adapter reading what it sends.
//!
//! `mysql_async` owns its socket, so the adapter cannot read what goes through the raw `Conn`;
//! this wrapper sees each call before handing it to the `Conn`. Telling a prepared `Statement`
//! from SQL text relies on [`std::any::type_name`]: `mysql_async`'s `StatementLike` is sealed
//! and exposes neither. Should a compiler ever print the name differently, every `exec*` counts
//! as text: a reset too many, never one too few (a unit test would notice).

use std::future::Future;
use std::pin::Pin;

use mysql_async::prelude::{AsQuery, FromRow, Queryable, StatementLike};
use mysql_async::{
    BinaryProtocol, Conn, Params, QueryResult, ResultSetStream, Statement, TextProtocol,
};

use crate::session_tracker::SessionTracker;

/// `mysql_async`'s boxed future type (its own alias is private).
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = mysql_async::Result<T>> + Send + 'a>>;

/// `mysql_async`'s [`Queryable`] on a [`MysqlConnection`](crate::MysqlConnection)'s driver
/// connection, with what it sends read like the neutral API's statements, so code written
/// against `Queryable` runs unchanged and a clean return still sends nothing.
///
/// From [`MysqlConnection::queryable`](crate::MysqlConnection::queryable). What it reads:
///
/// * text queries (`query`, `query_first`, `query_drop`, `query_iter`, …) and `prep`: the SQL,
///   scanned for statements that keep session state (see the crate documentation, "Returning a
///   connection");
/// * `exec*` of a [`Statement`]: it was prepared on this session since its last reset (a reset
///   closes every statement), through `prep` here or the neutral API (both read), or through
///   [`MysqlConnection::conn`](crate::MysqlConnection::conn) (which marks the session anyway),
///   so executing it changes nothing the adapter has not already counted.
///
/// What it cannot read: `exec*` of SQL text (`exec_first("SELECT … ?", params)`), because
/// `mysql_async`'s `StatementLike` exposes neither the text nor whether it is text. Such a call
/// marks the session for a `COM_RESET_CONNECTION` at return. Prepare first instead, as below:
/// `prep` answers from the statement cache without a round trip once the statement is known.
///
/// Results handed out unread (`query_iter`, `exec_iter`, `query_stream`, `exec_stream`) leave
/// the transaction status uncertain until a later call here or through the neutral API has read
/// them: a return right after one sends `ROLLBACK`. Calls here are not bounded by the pool's
/// query timeout.
///
/// ```no_run
/// use adapter_mysql::mysql_async::prelude::Queryable;
/// use adapter_mysql::MysqlConnector;
/// use pool_core::Pool;
///
/// async fn name_of(db: &mut impl Queryable, id: u64) -> adapter_mysql::mysql_async::Result<Option<String>> {
///     let stmt = db.prep("SELECT name FROM users WHERE id = ?").await?;
///     db.exec_first(&stmt, (id,)).await
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder(MysqlConnector::from_url("mysql://root@127.0.0.1/test")?)
///     .build()
///     .await?;
/// let mut conn = pool.get().await?;
/// let name = name_of(&mut conn.queryable(), 7).await?;
/// # let _ = name;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TrackedConn<'c> {
    conn: &'c mut Conn,
    tracker: &'c mut SessionTracker,
}

impl<'c> TrackedConn<'c> {
    pub(crate) fn new(conn: &'c mut Conn, tracker: &'c mut SessionTracker) -> Self {
        Self { conn, tracker }
    }

    /// The `mysql_async` connection, read-only (nothing can be sent through it).
    pub fn conn(&self) -> &Conn {
        self.conn
    }

    /// Notes an `exec*` of `S` before it runs.
    fn will_execute<S>(&mut self) {
        if !is_statement::<S>() {
            self.tracker.will_send_unseen();
        }
    }
}

/// Whether `S` is a [`Statement`] (or a reference to one) rather than SQL text.
fn is_statement<S>() -> bool {
    let name = std::any::type_name::<S>().trim_start_matches('&');
    name == std::any::type_name::<Statement>()
}

/// Runs `$call` on the driver connection (bound to `$conn`); once it succeeded, the tracker
/// knows every earlier result was read (the driver reads what is pending before it sends a
/// command). A macro rather than a function: the call is made inside the future, which then
/// captures only the arguments, as `mysql_async`'s own default methods do.
macro_rules! caught_up {
    ($self:ident, $conn:ident => $call:expr) => {{
        let tracker = &mut *$self.tracker;
        let $conn = &mut *$self.conn;
        Box::pin(async move {
            let outcome = $call.await;
            if outcome.is_ok() {
                tracker.caught_up();
            }
            outcome
        })
    }};
}

impl Queryable for TrackedConn<'_> {
    fn ping(&mut self) -> BoxFuture<'_, ()> {
        caught_up!(self, conn => conn.ping())
    }

    fn query_iter<'a, Q>(
        &'a mut self,
        query: Q,
    ) -> BoxFuture<'a, QueryResult<'a, 'static, TextProtocol>>
    where
        Q: AsQuery + 'a,
    {
        self.tracker.will_send(&query.as_query());
        self.tracker.may_leave_results();
        self.conn.query_iter(query)
    }

    fn prep<'a, Q>(&'a mut self, query: Q) -> BoxFuture<'a, Statement>
    where
        Q: AsQuery + 'a,
    {
        // Counted when prepared, so executing the statement later needs no reading.
        self.tracker.will_send(&query.as_query());
        self.conn.prep(query)
    }

    fn close(&mut self, stmt: Statement) -> BoxFuture<'_, ()> {
        caught_up!(self, conn => conn.close(stmt))
    }

    fn exec_iter<'a: 's, 's, Q, P>(
        &'a mut self,
        stmt: Q,
        params: P,
    ) -> BoxFuture<'s, QueryResult<'a, 'static, BinaryProtocol>>
    where
        Q: StatementLike + 's,
        P: Into<Params>,
    {
        self.will_execute::<Q>();
        self.tracker.may_leave_results();
        self.conn.exec_iter(stmt, params)
    }

    fn exec_batch<'a: 'b, 'b, S, P, I>(&'a mut self, stmt: S, params_iter: I) -> BoxFuture<'b, ()>
    where
        S: StatementLike + 'b,
        I: IntoIterator<Item = P> + Send + 'b,
        I::IntoIter: Send,
        P: Into<Params> + Send,
    {
        self.will_execute::<S>();
        caught_up!(self, conn => conn.exec_batch(stmt, params_iter))
    }

    // The methods below have default bodies built on `query_iter`/`exec_iter`, which would
    // count their results as possibly unread; these read everything, so they go to the
    // driver's own versions instead.

    fn query<'a, T, Q>(&'a mut self, query: Q) -> BoxFuture<'a, Vec<T>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
    {
        self.tracker.will_send(&query.as_query());
        caught_up!(self, conn => conn.query(query))
    }

    fn query_first<'a, T, Q>(&'a mut self, query: Q) -> BoxFuture<'a, Option<T>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
    {
        self.tracker.will_send(&query.as_query());
        caught_up!(self, conn => conn.query_first(query))
    }

    fn query_map<'a, T, F, Q, U>(&'a mut self, query: Q, f: F) -> BoxFuture<'a, Vec<U>>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
        F: FnMut(T) -> U + Send + 'a,
        U: Send,
    {
        self.tracker.will_send(&query.as_query());
        caught_up!(self, conn => conn.query_map(query, f))
    }

    fn query_fold<'a, T, F, Q, U>(&'a mut self, query: Q, init: U, f: F) -> BoxFuture<'a, U>
    where
        Q: AsQuery + 'a,
        T: FromRow + Send + 'static,
        F: FnMut(U, T) -> U + Send + 'a,
        U: Send + 'a,
    {
        self.tracker.will_send(&query.as_query());
        caught_up!(self, conn => conn.query_fold(query, init, f))
    }

    fn query_drop<'a, Q>(&'a mut self, query: Q) -> BoxFuture<'a, ()>
    where
        Q: AsQuery + 'a,
    {
        self.tracker.will_send(&query.as_query());
        caught_up!(self, conn => conn.query_drop(query))
    }

    fn exec<'a: 'b, 'b, T, S, P>(&'a mut self, stmt: S, params: P) -> BoxFuture<'b, Vec<T>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
    {
        self.will_execute::<S>();
        caught_up!(self, conn => conn.exec(stmt, params))
    }

    fn exec_first<'a: 'b, 'b, T, S, P>(&'a mut self, stmt: S, params: P) -> BoxFuture<'b, Option<T>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
    {
        self.will_execute::<S>();
        caught_up!(self, conn => conn.exec_first(stmt, params))
    }

    fn exec_map<'a: 'b, 'b, T, S, P, U, F>(
        &'a mut self,
        stmt: S,
        params: P,
        f: F,
    ) -> BoxFuture<'b, Vec<U>>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
        F: FnMut(T) -> U + Send + 'a,
        U: Send + 'a,
    {
        self.will_execute::<S>();
        caught_up!(self, conn => conn.exec_map(stmt, params, f))
    }

    fn exec_fold<'a: 'b, 'b, T, S, P, U, F>(
        &'a mut self,
        stmt: S,
        params: P,
        init: U,
        f: F,
    ) -> BoxFuture<'b, U>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
        T: FromRow + Send + 'static,
        F: FnMut(U, T) -> U + Send + 'a,
        U: Send + 'a,
    {
        self.will_execute::<S>();
        caught_up!(self, conn => conn.exec_fold(stmt, params, init, f))
    }

    fn exec_drop<'a: 'b, 'b, S, P>(&'a mut self, stmt: S, params: P) -> BoxFuture<'b, ()>
    where
        S: StatementLike + 'b,
        P: Into<Params> + Send + 'b,
    {
        self.will_execute::<S>();
        caught_up!(self, conn => conn.exec_drop(stmt, params))
    }

    fn query_stream<'a, T, Q>(
        &'a mut self,
        query: Q,
    ) -> BoxFuture<'a, ResultSetStream<'a, 'a, 'static, T, TextProtocol>>
    where
        T: Unpin + FromRow + Send + 'static,
        Q: AsQuery + 'a,
    {
        self.tracker.will_send(&query.as_query());
        self.tracker.may_leave_results();
        self.conn.query_stream(query)
    }

    fn exec_stream<'a: 's, 's, T, Q, P>(
        &'a mut self,
        stmt: Q,
        params: P,
    ) -> BoxFuture<'s, ResultSetStream<'a, 'a, 'static, T, BinaryProtocol>>
    where
        T: Unpin + FromRow + Send + 'static,
        Q: StatementLike + 's,
        P: Into<Params> + Send + 's,
    {
        self.will_execute::<Q>();
        self.tracker.may_leave_results();
        self.conn.exec_stream(stmt, params)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn statements_are_told_from_sql_text() {
        assert!(is_statement::<Statement>());
        assert!(is_statement::<&Statement>());
        assert!(is_statement::<&&Statement>());
        assert!(!is_statement::<&str>());
        assert!(!is_statement::<String>());
        assert!(!is_statement::<&String>());
        assert!(!is_statement::<Cow<'static, str>>());
        assert!(!is_statement::<Arc<str>>());
        assert!(!is_statement::<Vec<u8>>());
        assert!(!is_statement::<&[u8]>());
    }
}
