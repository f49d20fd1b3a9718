//! [`PostgresConnection`]: one tokio-postgres session behind pool-core's
//! [`ConnectionProtocol`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use futures_util::future::join;
use pool_core::{
    BackendError, ConnectionProtocol, Error, ParameterStyle, ResetStart, Result, Row, Value,
    async_trait,
};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, RowStream, SimpleQueryMessage, Statement};

use crate::cancel::{self, BackendIdentity, SideCancel};
use crate::connector::{Opened, PostgresConnector};
use crate::dial::Target;
use crate::error::classify;
use crate::options::{PgbouncerMode, SessionReset};
use crate::statement_cache::StatementCache;
use crate::types::{Param, Raw, decode, unspecified};
use crate::wire::SessionTracker;

/// How long `close()` waits for the cancel request of a statement that may still be running:
/// writing it takes one connection to the postmaster, milliseconds when the server is healthy.
const CLOSE_CANCEL_GRACE: Duration = Duration::from_secs(1);

/// How long `close()` waits for the I/O task to send Terminate and end before it drops the
/// socket: it sends Terminate only once every awaited answer has arrived.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// `DISCARD ALL` as its documentation spells it out, without `DEALLOCATE ALL`.
const DISCARD_ALL_KEEP_STATEMENTS: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; \
     RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; \
     DISCARD SEQUENCES";

/// One PostgreSQL session, as the pool holds it.
///
/// * **Values**: integers widen to `I64`, floats to `F64`, `bytea` is `Bytes`, text types (and
///   `numeric`, `uuid`, dates and times, JSON, enums) are `Text`; parameters convert to the
///   types the server inferred, range-checked (the crate documentation has the full mapping).
///   Bind parameters are written `$1`, `$2`, … ([`ParameterStyle::Dollar`]).
/// * **Scripts**: [`execute`](ConnectionProtocol::execute) without parameters also runs several
///   `;`-separated statements (over the simple protocol) and returns the rows they affected in
///   all. Inside a transaction, use the native client's `batch_execute` instead: the failed
///   attempt to prepare the script aborts the transaction.
/// * **Query timeout**: a statement that runs past it is cancelled on the server with
///   `pg_cancel_backend` from a short-lived side connection (one signal, sent by the time the
///   call returns; the protocol's cancel request signals twice and its second signal can hit a
///   later statement) and fails with [`Error::QueryTimeout`]. The connection waits until the
///   server has answered the cancelled statement, so it stays usable and the cancel cannot hit
///   a later statement. When the side connection cannot cancel (it cannot connect, the role
///   may not signal the backend, …), the protocol's cancel request is sent instead and the
///   connection is marked broken. The module documentation of `cancel` has the reasoning.
///   Behind PgBouncer ([`PgbouncerMode`]) the cancel is the protocol's
///   cancel request, which PgBouncer forwards to the server connection running this client's
///   statement; the connection then waits for the statement's answer as above.
/// * **Reset**: as [`SessionReset`] says. The adapter watches the session's own traffic (the
///   transaction status of every `ReadyForQuery`, the SQL of every `Query` and `Parse`,
///   `ParameterStatus` changes), neutral API and native client alike, so with the default a
///   clean session returns with no statement, no round trip and no task; a `ROLLBACK` goes
///   out only when a transaction is open or failed, pipelined with the reset query.
/// * **Statement cache**: statements are prepared once per connection and kept (bounded, least
///   recently used out). A cached statement the server can no longer run (deallocated behind
///   the cache's back, or its result type changed by `ALTER TABLE`) is prepared again and
///   retried once, transparently outside a transaction. With the cache off, statements are parsed unnamed in the
///   same round trip as their execution.
/// * **Broken**: set when an error is classified as a connection error ([`crate::classify`]),
///   when the I/O task has ended, and when a call was dropped halfway (its statement may still
///   run, or a cancel may still be on its way); checking it costs nothing.
/// * **Close**: when a statement may still be running (a call was dropped halfway, or a timed-out
///   statement was not confirmed cancelled), [`close`](ConnectionProtocol::close) sends a
///   cancel request before Terminate, so the session ends with it. Calls made through
///   [`client`](Self::client) are not tracked.
///
/// The native client is always at hand: [`client`](Self::client).
pub struct PostgresConnection {
    client: Client,
    io_task: Option<JoinHandle<()>>,
    statements: StatementCache<Statement>,
    /// Opens the side connection that cancels a timed-out statement; its TLS factory also
    /// serves the protocol cancel request.
    connector: PostgresConnector,
    /// The backend's process id and start time, read at connect; `None` if the server did not
    /// say, and then a query timeout discards the connection.
    identity: Option<BackendIdentity>,
    session_reset: SessionReset,
    /// Behind PgBouncer: a query timeout cancels with the protocol cancel request only.
    pgbouncer: bool,
    /// Behind PgBouncer in transaction mode, whether this connection already warned that a
    /// holder sent SQL that keeps session state (which another client's transaction will meet
    /// on PgBouncer's server connection): once per connection, not once per return.
    warned_session_state: Option<bool>,
    /// The transaction status and session changes, as the session's traffic shows them.
    tracker: Arc<SessionTracker>,
    /// Where the session was opened: the protocol cancel request goes there.
    target: Target,
    query_timeout: Option<Duration>,
    broken: bool,
    /// Set while a call is on its way and cleared when it finished: still set afterwards means
    /// the caller dropped the call halfway (the statement may still be running, a cancel may
    /// still be pending, a reset may be half done), so the connection must not be reused.
    in_flight: bool,
    /// A timed-out statement may still be running (its cancel was not confirmed): `close()`
    /// cancels before Terminate.
    unsettled: bool,
}

/// What one guarded call does.
enum Work<'a> {
    Ping,
    Statement(&'a str, &'a [Value]),
    /// Several statements without parameters, over the simple protocol.
    Script(&'a str),
}

impl PostgresConnection {
    pub(crate) fn new(
        opened: Opened,
        identity: Option<BackendIdentity>,
        connector: PostgresConnector,
    ) -> Self {
        let options = connector.options();
        let Opened {
            client,
            io_task,
            tracker,
            target,
        } = opened;
        Self {
            client,
            io_task: Some(io_task),
            tracker,
            target,
            statements: StatementCache::new(options.effective_statement_cache_capacity()),
            identity,
            // In transaction mode the session is PgBouncer's server connections', not ours:
            // only a transaction left open is ours to end.
            session_reset: match options.pgbouncer {
                PgbouncerMode::Transaction => SessionReset::RollbackOnly,
                PgbouncerMode::Off | PgbouncerMode::Session => options.session_reset.clone(),
            },
            pgbouncer: options.pgbouncer.is_on(),
            warned_session_state: (options.pgbouncer == PgbouncerMode::Transaction)
                .then_some(false),
            connector,
            query_timeout: None,
            broken: false,
            in_flight: false,
            unsettled: false,
        }
    }

    /// The tokio-postgres client, for everything beyond the neutral API (transactions, COPY,
    /// typed rows, LISTEN/NOTIFY).
    ///
    /// What it sends is watched like the neutral API's calls (see [`SessionReset::Tracked`]):
    /// a transaction left open is rolled back and session changes are reset on return. Calls
    /// made here directly are not bounded by the query timeout: run them through
    /// [`bounded`](Self::bounded), which is. Statements it prepares are its own: with a
    /// reset that deallocates statements (`DiscardAll`, `Query`), do not keep them across
    /// checkouts.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The tokio-postgres client, mutably (its `transaction()` needs `&mut`).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The query timeout the pool set, if any.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// How many notices and warnings (`NoticeResponse`) the server sent this session since it
    /// opened, whoever's statements drew them. The pool's own statements draw none: it never
    /// sends `ROLLBACK` outside a transaction.
    pub fn server_notices(&self) -> u64 {
        self.tracker.notices()
    }

    /// How many prepared statements the cache holds right now.
    pub fn cached_statements(&self) -> usize {
        self.statements.len()
    }

    /// A prepared statement for `sql` from this connection's statement cache (prepared and
    /// cached on first use), for running through [`client`](Self::client) with typed
    /// parameters and rows: the same cache the neutral API uses, like deadpool-postgres's
    /// `prepare_cached`. With the cache off (`statement_cache_capacity = 0`) it prepares
    /// every time.
    ///
    /// The statement belongs to this session: use it during this checkout only (a session
    /// reset on return may deallocate it, and the next checkout may be another session).
    /// Behind PgBouncer in transaction mode it belongs to one server connection for one
    /// transaction: prepare and use it inside the same transaction.
    ///
    /// # Errors
    /// The server's error when `sql` cannot be prepared, or a connection-class error (which
    /// also marks the connection broken).
    pub async fn prepare_cached(&mut self, sql: &str) -> Result<Statement> {
        // A hit sends nothing: no timeout to arm (arming one reads the clock and clones the
        // runtime's timer handle, a measurable share of a cached `SELECT 1`).
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement);
        }
        self.within_query_timeout(async |client, statements| {
            prepared(client, statements, sql).await
        })
        .await
    }

    /// Runs a call through the native client under the pool's query timeout, as the neutral
    /// API's calls run: past the timeout the statement is cancelled on the server and the
    /// call fails with [`Error::QueryTimeout`]; a connection-class error marks the connection
    /// broken, and so does dropping the call halfway. This is the way to use the native client
    /// in a service: a call made on [`client`](Self::client) directly waits as long as the
    /// server does (a blackholed server: until TCP gives up).
    ///
    /// ```no_run
    /// # async fn demo(pool: &pool_core::Pool<adapter_postgres::PostgresConnector>) -> pool_core::Result<()> {
    /// let mut conn = pool.get().await?;
    /// let statement = conn.prepare_cached("SELECT name FROM users WHERE id = $1").await?;
    /// let name: String = conn
    ///     .bounded(async |client| {
    ///         let row = client.query_one(&statement, &[&7_i64]).await?;
    ///         row.try_get(0)
    ///     })
    ///     .await?;
    /// // A transaction: everything inside one bound.
    /// conn.bounded(async |client| {
    ///     let tx = client.transaction().await?;
    ///     tx.execute("UPDATE users SET seen = now() WHERE id = $1", &[&7_i64]).await?;
    ///     tx.commit().await
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::QueryTimeout`] past the timeout; otherwise the driver's error, classified as
    /// the neutral API's are ([`crate::classify`]).
    pub async fn bounded<T>(
        &mut self,
        call: impl AsyncFnOnce(&mut Client) -> std::result::Result<T, tokio_postgres::Error>,
    ) -> Result<T> {
        self.within_query_timeout(async |client, _| call(client).await.map_err(backend))
            .await
    }

    /// Runs `work` under the query timeout and records a connection-class failure.
    async fn guarded(&mut self, work: Work<'_>) -> Result<(Vec<Row>, u64)> {
        self.within_query_timeout(async |client, statements| {
            perform(client, statements, work).await
        })
        .await
    }

    /// Runs `call` on the client and the statement cache under the query timeout: past it,
    /// the statement is cancelled on the server (see
    /// [`cancel_timed_out_query`](Self::cancel_timed_out_query)) and the call fails with
    /// [`Error::QueryTimeout`]. A connection-class failure marks the connection broken, and so
    /// does a caller that drops the call halfway (`in_flight` stays set).
    async fn within_query_timeout<T>(
        &mut self,
        call: impl AsyncFnOnce(&mut Client, &mut StatementCache<Statement>) -> Result<T>,
    ) -> Result<T> {
        self.in_flight = true;
        let outcome = {
            let call = call(&mut self.client, &mut self.statements);
            match self.query_timeout {
                Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| limit),
                None => Ok(call.await),
            }
        };
        let result = match outcome {
            Ok(result) => self.note(result),
            Err(limit) => {
                self.cancel_timed_out_query().await;
                Err(Error::QueryTimeout(limit))
            }
        };
        self.in_flight = false;
        result
    }

    /// Marks the connection broken when `result` failed with a connection-class error.
    fn note<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result
            && e.is_connection_broken()
        {
            self.broken = true;
        }
        result
    }

    /// Cancels the statement still running on the server, then waits until the server has
    /// answered it: the timed-out call's future is gone, but its responses still arrive first.
    ///
    /// The cancel is `pg_cancel_backend` on a side connection, which has posted its single
    /// signal by the time it returns; only then does the probe go out, so the signal either
    /// cancelled the statement or found the backend idle and was ignored (see the `cancel`
    /// module). Anything else falls back to the protocol cancel request and discards the
    /// connection, whose second signal could otherwise hit a later statement.
    async fn cancel_timed_out_query(&mut self) {
        // One budget for all of it, so a caller gets its QueryTimeout at most this long after
        // the timeout, even when the server went silent (a blackholed network).
        let budget = self.connector.options().cancel_timeout();
        let deadline = tokio::time::Instant::now() + budget;
        if self.pgbouncer {
            self.cancel_through_pgbouncer(deadline).await;
            return;
        }
        let side = match self.identity {
            Some(target) => {
                let cancel = cancel::from_side_connection(&self.connector, target);
                match tokio::time::timeout_at(deadline, cancel).await {
                    Ok(outcome) => outcome,
                    Err(_) => SideCancel::NotDone(format!(
                        "the side connection's cancel took longer than {budget:?}"
                    )),
                }
            }
            None => SideCancel::NotDone("the backend's identity is unknown".to_owned()),
        };
        match side {
            SideCancel::Signalled => self.await_cancelled_statement(deadline).await,
            SideCancel::NotDone(why) => {
                tracing::warn!(
                    "cancelling a timed-out query from a side connection failed ({why}); \
                     sending a cancel request in the background and discarding the connection"
                );
                self.cancel_by_protocol_in_background(budget);
                self.broken = true;
                self.unsettled = true;
            }
        }
    }

    /// Behind PgBouncer: sends the protocol cancel request, which PgBouncer forwards to the
    /// server connection running this client's statement (or drops, when none does), then
    /// waits for the statement's answer. A `pg_cancel_backend` by process id could signal a
    /// server connection that now serves another client. The server signals its backend twice
    /// (see the `cancel` module); the second signal lands within microseconds, long before
    /// anything sent after the answer can reach the server, and a signal that finds the
    /// backend idle is ignored. When the request cannot be sent, or the answer does not come
    /// by `deadline`, the connection is discarded.
    async fn cancel_through_pgbouncer(&mut self, deadline: tokio::time::Instant) {
        let cancel = cancel::by_protocol(&self.client, &self.connector, &self.target);
        match tokio::time::timeout_at(deadline, cancel).await {
            Ok(Ok(())) => self.await_cancelled_statement(deadline).await,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sending a cancel request through PgBouncer failed; discarding the connection");
                self.broken = true;
                self.unsettled = true;
            }
            Err(_) => {
                tracing::warn!(
                    "sending a cancel request through PgBouncer took too long; discarding the \
                     connection"
                );
                self.broken = true;
                self.unsettled = true;
            }
        }
    }

    /// Waits (until `deadline`) for the answer to the cancelled statement, behind which an
    /// empty query goes out. The signal was posted before the empty query was sent, so it
    /// cannot fail it; if it does anyway, or the server does not answer in time, the
    /// connection is discarded.
    async fn await_cancelled_statement(&mut self, deadline: tokio::time::Instant) {
        match tokio::time::timeout_at(deadline, self.client.simple_query("")).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::error::render(&e), "the connection failed after cancelling a timed-out query; discarding it");
                self.broken = true;
            }
            Err(_) => {
                tracing::warn!(
                    "the server did not answer a cancelled query in time; discarding the connection"
                );
                self.broken = true;
                self.unsettled = true;
            }
        }
    }

    /// Sends the protocol's cancel request from a task of its own, bounded by `grace`: the
    /// caller is not kept waiting on a server that may not answer, and the connection is
    /// discarded anyway.
    fn cancel_by_protocol_in_background(&self, grace: Duration) {
        let token = self.client.cancel_token();
        let connector = self.connector.clone();
        let target = self.target.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(grace, cancel::by_token(token, &connector, &target)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "sending a cancel request failed"),
                Err(_) => tracing::warn!("sending a cancel request took longer than {grace:?}"),
            }
        });
    }

    /// Sends the protocol's cancel request, bounded by `grace`; a failure is only logged (the
    /// callers discard the connection anyway).
    async fn cancel_by_protocol(&self, grace: Duration) {
        let cancel = cancel::by_protocol(&self.client, &self.connector, &self.target);
        match tokio::time::timeout(grace, cancel).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "sending a cancel request failed"),
            Err(_) => tracing::warn!("sending a cancel request took longer than {grace:?}"),
        }
    }
}

/// The body of every guarded call: it borrows the client and the cache, never `self`, so the
/// caller can still cancel after a timeout.
async fn perform(
    client: &Client,
    statements: &mut StatementCache<Statement>,
    work: Work<'_>,
) -> Result<(Vec<Row>, u64)> {
    let (sql, params) = match work {
        Work::Ping => {
            client.simple_query("").await.map_err(backend)?;
            return Ok((Vec::new(), 0));
        }
        Work::Script(sql) => {
            let messages = client.simple_query(sql).await.map_err(backend)?;
            let affected = messages
                .iter()
                .map(|m| match m {
                    SimpleQueryMessage::CommandComplete(n) => *n,
                    _ => 0,
                })
                .sum();
            return Ok((Vec::new(), affected));
        }
        Work::Statement(sql, params) => (sql, params),
    };
    let binds: Vec<Param<'_>> = params.iter().map(Param).collect();
    let stream = if statements.is_enabled() {
        let statement = prepared(client, statements, sql).await?;
        match client.query_raw(&statement, binds.iter()).await {
            Err(e) if is_stale(&e) => {
                // The bind failed, so nothing ran: forget the stale statement(s) and try once
                // more. Inside a transaction the failed bind aborted it and the retry cannot
                // succeed; then the original error is the useful one.
                if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) {
                    statements.clear();
                } else {
                    statements.remove(sql);
                }
                let statement = match prepared(client, statements, sql).await {
                    Ok(statement) => statement,
                    Err(retry) if in_failed_transaction(&retry) => return Err(backend(e)),
                    Err(retry) => return Err(retry),
                };
                match client.query_raw(&statement, binds.iter()).await {
                    Err(retry) if retry.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {
                        Err(e)
                    }
                    retried => retried,
                }
            }
            other => other,
        }
    } else {
        let typed = binds.iter().map(|p| (p, unspecified()));
        client.query_typed_raw(sql, typed).await
    };
    collect(stream.map_err(backend)?).await
}

/// A cached statement the server can no longer run as prepared: deallocated behind the cache's
/// back (`DEALLOCATE ALL`, `DISCARD ALL` through the native client), or its result type changed
/// with the schema ("cached plan must not change result type").
fn is_stale(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) if *code == SqlState::INVALID_SQL_STATEMENT_NAME => true,
        Some(code) if *code == SqlState::FEATURE_NOT_SUPPORTED => {
            e.as_db_error().is_some_and(|db| {
                db.message()
                    .contains("cached plan must not change result type")
            })
        }
        _ => false,
    }
}

async fn prepared(
    client: &Client,
    statements: &mut StatementCache<Statement>,
    sql: &str,
) -> Result<Statement> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement);
    }
    let statement = client.prepare(sql).await.map_err(backend)?;
    statements.insert(sql, statement.clone());
    Ok(statement)
}

/// Reads every row, converting values, and the affected-row count.
async fn collect(stream: RowStream) -> Result<(Vec<Row>, u64)> {
    let mut stream = std::pin::pin!(stream);
    let mut columns: Option<Arc<[String]>> = None;
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await.map_err(backend)? {
        let names = columns
            .get_or_insert_with(|| row.columns().iter().map(|c| c.name().to_owned()).collect())
            .clone();
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let Raw(raw) = row.try_get(i).map_err(backend)?;
            let value = decode(column.type_(), raw).map_err(|reason| {
                Error::Backend(BackendError::query(format!(
                    "column `{name}` {reason}; cast it in SQL (e.g. `{name}::text`) or use the \
                     native client",
                    name = column.name()
                )))
            })?;
            values.push(value);
        }
        rows.push(Row::new(names, values));
    }
    Ok((rows, stream.rows_affected().unwrap_or(0)))
}

/// The server refused a statement because the transaction had failed already (`25P02`).
fn in_failed_transaction(e: &Error) -> bool {
    e.backend().and_then(BackendError::code) == Some(SqlState::IN_FAILED_SQL_TRANSACTION.code())
}

fn is_multi_statement(e: &Error) -> bool {
    e.backend().and_then(BackendError::code) == Some(SqlState::SYNTAX_ERROR.code())
        && e.to_string().contains("cannot insert multiple commands")
}

fn backend(e: tokio_postgres::Error) -> Error {
    Error::Backend(classify(e))
}

#[async_trait]
impl ConnectionProtocol for PostgresConnection {
    async fn ping(&mut self) -> Result<()> {
        self.guarded(Work::Ping).await.map(|_| ())
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match self.guarded(Work::Statement(sql, params)).await {
            // A script ("CREATE …; INSERT …") cannot be prepared; without parameters it can run
            // over the simple protocol. Only this error pays the extra round trip.
            Err(e) if params.is_empty() && is_multi_statement(&e) => {
                self.guarded(Work::Script(sql)).await
            }
            other => other,
        }
        .map(|(_, affected)| affected)
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.guarded(Work::Statement(sql, params))
            .await
            .map(|(rows, _)| rows)
    }

    fn begin_reset(&mut self) -> ResetStart {
        // Outside a transaction: a `SET` inside one that is still open is rolled back below.
        if self.warned_session_state == Some(false)
            && self.tracker.is_dirty()
            && !self.tracker.in_transaction()
        {
            self.warned_session_state = Some(true);
            tracing::warn!(
                "a holder sent SQL that keeps session state (SET, a temporary table, LISTEN, \
                 PREPARE, a session advisory lock, ...) through PgBouncer in transaction mode: \
                 it stays on PgBouncer's server connection for whichever client runs there next; \
                 use SET LOCAL inside a transaction, or pgbouncer=session"
            );
        }
        // A clean session (idle, every request answered, nothing sent that keeps session
        // state) goes back as it is: no statement, no round trip, no task.
        let nothing_to_do = match self.session_reset {
            SessionReset::Tracked => self.tracker.is_clean(),
            SessionReset::RollbackOnly => {
                !self.tracker.in_transaction() && !self.tracker.has_unanswered()
            }
            _ => false,
        };
        if nothing_to_do && !self.is_broken() {
            ResetStart::Done
        } else {
            ResetStart::Await
        }
    }

    async fn reset(&mut self) -> Result<()> {
        self.in_flight = true;
        let result = self.reset_session().await;
        self.in_flight = false;
        self.note(result)
    }

    /// Also true while a statement sent through the native client is unanswered (a call
    /// dropped halfway): resetting the session would wait for it to finish, so the pool
    /// discards the connection at once and [`close`](Self::close) cancels the statement in
    /// the background.
    fn is_broken(&self) -> bool {
        self.broken
            || self.in_flight
            || self.client.is_closed()
            || self.tracker.has_running_statement()
    }

    async fn close(&mut self) -> Result<()> {
        self.broken = true;
        // A statement still running would keep the session alive past close(): the backend
        // reads nothing, Terminate included, until it ends, and the I/O task sends Terminate
        // only after the last awaited answer. Cancel it first; the protocol cancel's second
        // signal is harmless here, nothing follows but Terminate.
        if (self.in_flight || self.unsettled || self.tracker.has_running_statement())
            && !self.client.is_closed()
        {
            self.cancel_by_protocol(CLOSE_CANCEL_GRACE).await;
        }
        // Ends the request channel: the I/O task sends Terminate, closes the socket and ends.
        // (The documented alternative, dropping the client, is impossible through `&mut self`.)
        self.client.__private_api_close();
        if let Some(mut io_task) = self.io_task.take()
            && tokio::time::timeout(CLOSE_GRACE, &mut io_task)
                .await
                .is_err()
        {
            tracing::warn!(
                "a closing connection's I/O task did not finish within {CLOSE_GRACE:?}; dropping \
                 its socket"
            );
            io_task.abort();
        }
        Ok(())
    }

    fn parameter_style(&self) -> ParameterStyle {
        ParameterStyle::Dollar
    }

    fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout;
    }

    /// On a standby: zero when everything received is replayed, else the time since the last
    /// replayed transaction's commit (PostgreSQL's usual measure; on a primary that writes
    /// nothing it would grow without meaning, hence the first case). `None` on a primary.
    async fn replication_lag(&mut self) -> Result<Option<Duration>> {
        let rows = self.query(REPLICATION_LAG_SQL, &[]).await?;
        let seconds = rows
            .first()
            .and_then(|row| row.get(0))
            .and_then(Value::as_f64);
        Ok(seconds.and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok()))
    }
}

/// One round trip; NULL on a primary (see `replication_lag`).
const REPLICATION_LAG_SQL: &str = "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL \
     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
     ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END::float8";

impl PostgresConnection {
    /// What [`reset`](ConnectionProtocol::reset) does: `ROLLBACK` only when the last
    /// `ReadyForQuery` said a transaction is open or failed (so the server never logs "there
    /// is no transaction in progress"), and the session query as [`SessionReset`] says, both
    /// sent before either answer is awaited.
    async fn reset_session(&mut self) -> Result<()> {
        if self.tracker.has_unanswered() {
            // A native call dropped halfway left a request unanswered: its answer comes first,
            // and with the empty query's the transaction status is current.
            self.client.simple_query("").await.map_err(backend)?;
            self.tracker.answered_all();
        }
        let rollback = self.tracker.in_transaction();
        let session_query = match &self.session_reset {
            SessionReset::Tracked => self
                .tracker
                .is_dirty()
                .then_some(DISCARD_ALL_KEEP_STATEMENTS),
            SessionReset::DiscardAll => Some("DISCARD ALL"),
            SessionReset::DiscardAllKeepStatements => Some(DISCARD_ALL_KEEP_STATEMENTS),
            SessionReset::Query(query) => Some(query.as_str()),
            SessionReset::RollbackOnly => None,
        };
        let result = match (rollback, session_query) {
            (true, Some(query)) => {
                // DISCARD ALL cannot run inside a transaction: the ROLLBACK ends it first.
                let (rollback, reset) = join(
                    self.client.simple_query("ROLLBACK"),
                    self.client.simple_query(query),
                )
                .await;
                rollback.and(reset).map(drop)
            }
            (true, None) => self.client.simple_query("ROLLBACK").await.map(drop),
            (false, Some(query)) => self.client.simple_query(query).await.map(drop),
            (false, None) => Ok(()),
        };
        result.map_err(backend)?;
        self.tracker.answered_all();
        if session_query.is_some() {
            let statements_gone = matches!(
                self.session_reset,
                SessionReset::DiscardAll | SessionReset::Query(_)
            );
            if statements_gone {
                // The server no longer has them; dropping ours sends a harmless Close.
                self.statements.clear();
            }
            self.tracker.session_reset(statements_gone);
        }
        Ok(())
    }
}

impl std::fmt::Debug for PostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConnection")
            .field("broken", &self.is_broken())
            .field("cached_statements", &self.statements.len())
            .field("session_reset", &self.session_reset)
            .field("query_timeout", &self.query_timeout)
            .finish_non_exhaustive()
    }
}
