//! [`MysqlConnection`]: one session, as the pool sees it.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{ChangeUserOpts, Conn, QueryResult, Statement};
use pool_core::{
    BackendError, ConnectionProtocol, Error, ErrorClass, ParameterStyle, ResetStart, Result, Row,
    Value, async_trait,
};

use crate::cancel::{Timed, with_timeout};
use crate::connector::Shared;
use crate::error::{classify, error_class};
use crate::incarnation::Incarnation;
use crate::options::SessionReset;
use crate::session_tracker::{Cleanup, SessionTracker, last_status};
use crate::tracked::TrackedConn;
use crate::types;

/// One MySQL/MariaDB session, opened by [`MysqlConnector`](crate::MysqlConnector).
///
/// Statements without parameters use the text protocol, so any SQL works (also statements that
/// cannot be prepared); statements with parameters are prepared once and cached per connection
/// by `mysql_async` (LRU, [`MysqlOptions::with_statement_cache_capacity`](crate::MysqlOptions::with_statement_cache_capacity)).
///
/// On return to the pool the session is cleaned as [`SessionReset`] says; by default only
/// what the holder changed, so a clean return sends nothing. A `COM_RESET_CONNECTION` clears
/// the statement cache, since it closes the server's statements; a `ROLLBACK` keeps it.
///
/// For everything else use the driver itself: [`queryable`](Self::queryable) (its
/// `Queryable` API, tracked like the neutral API) or [`conn`](Self::conn) (all of it; the
/// return then resets the session).
pub struct MysqlConnection {
    /// `None` once closed.
    conn: Option<Conn>,
    id: u32,
    /// The server process that opened the session, which a side connection's `KILL` must
    /// reach (see the `incarnation` module); `None` if the server would not say.
    incarnation: Option<Incarnation>,
    broken: bool,
    /// Set while a neutral-API call is on its way; still set afterwards means the caller
    /// dropped the call halfway and its statement may still be running.
    in_flight: bool,
    /// A statement that outlived its timeout was not confirmed stopped.
    unsettled: bool,
    /// The session is gone: an I/O error, or the server ended it. Nothing to kill.
    session_lost: bool,
    /// What the holder did to the session, for the return's cleanup.
    tracker: SessionTracker,
    query_timeout: Option<Duration>,
    shared: Arc<Shared>,
}

impl MysqlConnection {
    pub(crate) fn new(conn: Conn, incarnation: Option<Incarnation>, shared: Arc<Shared>) -> Self {
        Self {
            id: conn.id(),
            tracker: SessionTracker::new(last_status(&conn)),
            conn: Some(conn),
            incarnation,
            broken: false,
            in_flight: false,
            unsettled: false,
            session_lost: false,
            query_timeout: None,
            shared,
        }
    }

    /// The `mysql_async` connection, for everything the neutral API does not cover.
    ///
    /// The adapter cannot see what is sent through it (`mysql_async` owns the socket), so with
    /// [`SessionReset::Tracked`] the return after this call sends `COM_RESET_CONNECTION`
    /// (which also clears the statement cache). [`queryable`](Self::queryable) offers
    /// `mysql_async`'s query API without that cost, and [`conn_ref`](Self::conn_ref) its
    /// read-only accessors.
    ///
    /// An error there is not seen by [`is_broken`](ConnectionProtocol::is_broken); call
    /// [`PooledConnection::mark_broken`](pool_core::PooledConnection::mark_broken) when it means
    /// the session is unusable.
    ///
    /// # Panics
    ///
    /// After [`close`](ConnectionProtocol::close), which the pool only calls on connections it
    /// has taken back.
    pub fn conn(&mut self) -> &mut Conn {
        self.tracker.handed_out_the_driver();
        self.conn
            .as_mut()
            .expect("MysqlConnection::conn called after close")
    }

    /// The `mysql_async` connection, read-only: server version, last insert id, warnings,
    /// options. Nothing can be sent through it, so it costs the return nothing.
    ///
    /// # Panics
    ///
    /// After [`close`](ConnectionProtocol::close).
    pub fn conn_ref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("MysqlConnection::conn_ref called after close")
    }

    /// `mysql_async`'s [`Queryable`] API on this connection, tracked: what it sends is read
    /// like the neutral API's statements, so a clean return still sends nothing. See
    /// [`TrackedConn`] for what it can and cannot read.
    ///
    /// # Panics
    ///
    /// After [`close`](ConnectionProtocol::close).
    pub fn queryable(&mut self) -> TrackedConn<'_> {
        let conn = self
            .conn
            .as_mut()
            .expect("MysqlConnection::queryable called after close");
        TrackedConn::new(conn, &mut self.tracker)
    }

    /// Runs a call through `mysql_async`'s [`Queryable`] API (tracked, as
    /// [`queryable`](Self::queryable) is) under the pool's query timeout, as the neutral API's
    /// calls run: past the timeout the statement is stopped with `KILL QUERY` from a side
    /// connection (checked to reach the server process that opened this session) and the call
    /// fails with [`Error::QueryTimeout`]; a connection-class error marks the connection
    /// broken, and so does dropping the call halfway. This is the way to use the native client
    /// in a service: a call made on [`queryable`](Self::queryable) or [`conn`](Self::conn)
    /// directly waits as long as the server does.
    ///
    /// ```no_run
    /// use adapter_mysql::mysql_async::prelude::Queryable;
    /// # async fn demo(pool: &pool_core::Pool<adapter_mysql::MysqlConnector>) -> pool_core::Result<()> {
    /// let mut conn = pool.get().await?;
    /// let name: Option<String> = conn
    ///     .bounded(async |db| {
    ///         // Prepared first: `exec` of SQL text cannot be read and costs a reset (see
    ///         // `TrackedConn`); `prep` is served from the statement cache once known.
    ///         let statement = db.prep("SELECT name FROM users WHERE id = ?").await?;
    ///         db.exec_first(&statement, (7,)).await
    ///     })
    ///     .await?;
    /// # let _ = name;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::QueryTimeout`] past the timeout; otherwise the driver's error, classified as
    /// the neutral API's are ([`crate::error_class`]).
    pub async fn bounded<T>(
        &mut self,
        call: impl AsyncFnOnce(&mut TrackedConn<'_>) -> mysql_async::Result<T>,
    ) -> Result<T> {
        let (limit, cancel_timeout, id, at) = (
            self.query_timeout,
            self.shared.options.cancel_timeout(),
            self.id,
            self.incarnation,
        );
        let shared = Arc::clone(&self.shared);
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Backend(BackendError::connection(
                "this MySQL connection was already closed",
            )));
        };
        self.in_flight = true;
        let mut tracked = TrackedConn::new(conn, &mut self.tracker);
        let run = async { call(&mut tracked).await.map_err(Failure::Driver) };
        let outcome = with_timeout(
            run,
            limit,
            || async move { shared.kill_query(id, at).await },
            cancel_timeout,
        )
        .await;
        self.settle(outcome, ReadToEnd::NotKnown)
    }

    /// The server's id for this session (`CONNECTION_ID()`, the process list's `ID`).
    pub fn connection_id(&self) -> u32 {
        self.id
    }

    /// Makes the connection believe another server process opened its session, as after a
    /// restart: a `KILL` on its behalf is then refused. For tests of that guard.
    #[doc(hidden)]
    pub fn pretend_the_server_restarted_for_testing(&mut self) {
        self.incarnation = Some(Incarnation::elsewhere());
    }

    /// The query timeout in force, if any.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    fn open_conn(&mut self) -> Result<&mut Conn> {
        self.conn.as_mut().ok_or_else(|| {
            Error::Backend(BackendError::connection(
                "this MySQL connection was already closed",
            ))
        })
    }

    /// Maps a driver error, marking the connection broken when the error says so.
    fn fail(&mut self, error: mysql_async::Error) -> Error {
        let error = classify(error);
        if error.class() == ErrorClass::Connection {
            self.broken = true;
            self.session_lost = true;
        }
        Error::Backend(error)
    }

    /// Settles a statement run under the query timeout.
    fn settle<T>(
        &mut self,
        outcome: Timed<std::result::Result<T, Failure>>,
        read: ReadToEnd,
    ) -> Result<T> {
        self.in_flight = false;
        match outcome {
            Timed::Finished(Ok(value)) => {
                if read == ReadToEnd::Yes {
                    self.tracker.caught_up();
                }
                Ok(value)
            }
            Timed::Finished(Err(Failure::Driver(e))) => Err(self.fail(e)),
            Timed::Finished(Err(Failure::ParamCount { required, supplied })) => {
                Err(Error::Backend(BackendError::query(format!(
                    "the statement takes {required} parameters but {supplied} were given"
                ))))
            }
            Timed::TimedOut { result } => {
                let in_sync = match &result {
                    None => false,
                    Some(Ok(_) | Err(Failure::ParamCount { .. })) => true,
                    Some(Err(Failure::Driver(e))) => error_class(e).0 != ErrorClass::Connection,
                };
                if !in_sync {
                    self.broken = true;
                    self.unsettled = result.is_none();
                }
                Err(Error::QueryTimeout(
                    self.query_timeout.unwrap_or(Duration::ZERO),
                ))
            }
        }
    }
}

/// Did the call read every result to its end? The neutral API always does; a native call
/// may leave one unread, and its own `TrackedConn` calls tell the tracker what they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadToEnd {
    Yes,
    NotKnown,
}

/// Why a statement failed before the adapter mapped the error.
enum Failure {
    Driver(mysql_async::Error),
    /// Caught before `mysql_async` sees it, because `mysql_async` closes the connection on it.
    ParamCount {
        required: u16,
        supplied: usize,
    },
}

impl From<mysql_async::Error> for Failure {
    fn from(error: mysql_async::Error) -> Self {
        Failure::Driver(error)
    }
}

/// The statement for `sql`, from the connection's cache or prepared now, if it takes
/// `supplied` parameters.
async fn prepare(
    conn: &mut Conn,
    sql: &str,
    supplied: usize,
) -> std::result::Result<Statement, Failure> {
    let statement = conn.prep(sql).await?;
    let required = statement.num_params();
    if usize::from(required) == supplied {
        Ok(statement)
    } else {
        release(conn, statement).await?;
        Err(Failure::ParamCount { required, supplied })
    }
}

/// Closes `statement` on the server when the cache is off: `mysql_async` keeps uncached
/// statements open on the server (until reset or disconnect), which with `stmt_cache_size=0`
/// would pile up towards the server's `max_prepared_stmt_count`. Cached statements are closed
/// when the cache evicts them.
async fn release(conn: &mut Conn, statement: Statement) -> mysql_async::Result<()> {
    if conn.opts().stmt_cache_size() == 0 {
        conn.close(statement).await?;
    }
    Ok(())
}

/// Reads every row of the first result set, then discards any further result sets.
async fn collect<P: Protocol>(mut result: QueryResult<'_, '_, P>) -> mysql_async::Result<Vec<Row>> {
    let names = types::column_names(result.columns_ref());
    let mut rows = Vec::new();
    while let Some(row) = result.next().await? {
        rows.push(types::row(&names, row));
    }
    result.drop_result().await?;
    Ok(rows)
}

#[async_trait]
impl ConnectionProtocol for MysqlConnection {
    async fn ping(&mut self) -> Result<()> {
        let result = self.open_conn()?.ping().await;
        match result {
            Ok(()) => {
                self.tracker.caught_up();
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let params = types::params(params)?;
        self.tracker.will_send(sql.as_bytes());
        let (limit, cancel_timeout, id, at) = (
            self.query_timeout,
            self.shared.options.cancel_timeout(),
            self.id,
            self.incarnation,
        );
        let shared = Arc::clone(&self.shared);
        self.in_flight = true;
        let conn = self.open_conn()?;
        let run = async {
            if params.is_empty() {
                conn.query_drop(sql).await?;
            } else {
                let statement = prepare(conn, sql, params.len()).await?;
                conn.exec_drop(&statement, params).await?;
                let affected = conn.affected_rows();
                release(conn, statement).await?;
                return Ok(affected);
            }
            Ok(conn.affected_rows())
        };
        let outcome = with_timeout(
            run,
            limit,
            || async move { shared.kill_query(id, at).await },
            cancel_timeout,
        )
        .await;
        self.settle(outcome, ReadToEnd::Yes)
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let params = types::params(params)?;
        self.tracker.will_send(sql.as_bytes());
        let (limit, cancel_timeout, id, at) = (
            self.query_timeout,
            self.shared.options.cancel_timeout(),
            self.id,
            self.incarnation,
        );
        let shared = Arc::clone(&self.shared);
        self.in_flight = true;
        let conn = self.open_conn()?;
        let run = async {
            if params.is_empty() {
                Ok(collect(conn.query_iter(sql).await?).await?)
            } else {
                let statement = prepare(conn, sql, params.len()).await?;
                let rows = collect(conn.exec_iter(&statement, params).await?).await?;
                release(conn, statement).await?;
                Ok(rows)
            }
        };
        let outcome = with_timeout(
            run,
            limit,
            || async move { shared.kill_query(id, at).await },
            cancel_timeout,
        )
        .await;
        self.settle(outcome, ReadToEnd::Yes)
    }

    /// Nothing to wait for when the session is known clean (see [`SessionReset`]): no task,
    /// no round trip.
    fn begin_reset(&mut self) -> ResetStart {
        let policy = self.shared.options.session_reset();
        match &self.conn {
            Some(conn)
                if !self.is_broken()
                    && self.tracker.cleanup(last_status(conn), policy) == Cleanup::Nothing =>
            {
                ResetStart::Done
            }
            _ => ResetStart::Await,
        }
    }

    /// The least that leaves the next holder a clean session, as [`SessionReset`] says:
    /// nothing, a `ROLLBACK` (a transaction open, nothing else changed), or
    /// `COM_RESET_CONNECTION`, which rolls back an open transaction, drops temporary tables,
    /// user variables, prepared statements (the statement cache is cleared with them) and
    /// named locks, and resets session variables. Servers older than MySQL 5.7.3 / MariaDB
    /// 10.2.4 get `COM_CHANGE_USER` with the same credentials instead, which resets the same
    /// state but authenticates again: with a password provider whose token has expired that
    /// fails, and the pool discards the connection, as it should. Any failure marks the
    /// connection broken.
    async fn reset(&mut self) -> Result<()> {
        let policy = self.shared.options.session_reset();
        let mut cleanup = self.cleanup(policy)?;
        if cleanup == Cleanup::Rollback {
            // Also reads any result left unread first, so the status flags are current again,
            // and a session-variable change hidden behind an error shows now.
            let result = self.open_conn()?.query_drop("ROLLBACK").await;
            if let Err(e) = result {
                return Err(self.reset_failed(e));
            }
            self.tracker.caught_up();
            cleanup = match self.cleanup(policy)? {
                Cleanup::Nothing => Cleanup::Nothing,
                // A session variable changed where the status flags show it, or (whatever the
                // policy) a transaction still open after ROLLBACK.
                Cleanup::Rollback | Cleanup::ResetConnection => Cleanup::ResetConnection,
            };
        }
        if cleanup == Cleanup::ResetConnection {
            let conn = self.open_conn()?;
            let result = match conn.reset().await {
                Ok(true) => Ok(()),
                Ok(false) => conn.change_user(ChangeUserOpts::default()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                return Err(self.reset_failed(e));
            }
            if let Some(conn) = &self.conn {
                self.tracker.reset_done(last_status(conn));
            }
        }
        Ok(())
    }

    /// Also true when a caller dropped a statement's future halfway: `mysql_async` then leaves
    /// the connection marked disconnected, its protocol state unknown.
    fn is_broken(&self) -> bool {
        self.broken || self.conn.as_ref().is_none_or(Conn::is_disconnected)
    }

    /// Sends `COM_QUIT` and closes the socket. When a statement may still be running on the
    /// server (a call was abandoned halfway, or one that outlived its timeout was not
    /// confirmed stopped), the session is ended with `KILL CONNECTION` from a side connection
    /// instead: `COM_QUIT` would wait behind the statement, which keeps running (MariaDB
    /// notices a vanished client only every few seconds, and not at all for a statement that
    /// never checks). The side connection kills only on the server process that opened the
    /// session (see the `incarnation` module). A session already known gone (an I/O error,
    /// or the server ended it) gets no side connection at all: there is nothing to kill, and
    /// during an outage the side connect would only wait.
    async fn close(&mut self) -> Result<()> {
        let Some(conn) = self.conn.take() else {
            return Ok(());
        };
        let may_be_running =
            !self.session_lost && (self.in_flight || self.unsettled || conn.is_disconnected());
        if may_be_running {
            drop(conn);
            if let Err(e) = self.shared.kill_connection(self.id, self.incarnation).await {
                tracing::debug!(error = %e, id = self.id, "ending an abandoned session failed");
            }
            return Ok(());
        }
        if self.session_lost {
            return Ok(());
        }
        conn.disconnect()
            .await
            .map_err(|e| Error::Backend(classify(e)))
    }

    fn parameter_style(&self) -> ParameterStyle {
        ParameterStyle::QuestionMark
    }

    fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout;
    }

    /// `SHOW REPLICA STATUS` (MariaDB 10.5+, MySQL 8.0.22+): `Seconds_Behind_Master`
    /// (MariaDB) or `Seconds_Behind_Source` (MySQL). `None` on a server that replicates from
    /// nothing, or while replication is stopped (the column is NULL then).
    async fn replication_lag(&mut self) -> Result<Option<Duration>> {
        let rows = self.query("SHOW REPLICA STATUS", &[]).await?;
        let seconds = rows.first().and_then(|row| {
            ["Seconds_Behind_Master", "Seconds_Behind_Source"]
                .iter()
                .find_map(|column| row.get_by_name(column))
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        });
        Ok(seconds.map(|s| Duration::from_secs(s.max(0).unsigned_abs())))
    }
}

impl MysqlConnection {
    /// What a return must send now under `policy`.
    fn cleanup(&self, policy: SessionReset) -> Result<Cleanup> {
        match &self.conn {
            Some(conn) => Ok(self.tracker.cleanup(last_status(conn), policy)),
            None => Err(Error::Backend(BackendError::connection(
                "this MySQL connection was already closed",
            ))),
        }
    }

    /// A failed reset leaves the session state unknown: never hand it out again.
    fn reset_failed(&mut self, error: mysql_async::Error) -> Error {
        self.broken = true;
        self.fail(error)
    }
}

impl std::fmt::Debug for MysqlConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlConnection")
            .field("connection_id", &self.id)
            .field("open", &self.conn.is_some())
            .field("broken", &self.broken)
            .field("session", &self.tracker)
            .field("query_timeout", &self.query_timeout)
            .finish()
    }
}
