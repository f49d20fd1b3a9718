//! [`SqliteConnection`]: the async face of one worker thread.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use pool_core::{
    ConnectionProtocol, Error, ParameterStyle, ResetStart, Result, Row, Value, async_trait,
};
use tokio::sync::oneshot;

use crate::error::{self, Failure};
use crate::session_sql;
use crate::worker::{self, Handle, Job, Reply, Request, ResetKind, Shared};

/// After the query timeout fires and the request is interrupted, how long to wait for the
/// thread to confirm. SQLite checks the interrupt between VM steps and the busy handler every
/// 2 ms, so this is normally microseconds; only work outside SQLite's VM (a slow custom
/// function, stalled I/O) takes longer. Past this grace the caller gets
/// [`Error::QueryTimeout`] anyway and the statement finishes in the background, ahead of the
/// connection's next request.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// One SQLite connection, owned by a dedicated OS thread.
///
/// Every call sends a request to the thread and awaits its answer, so no SQLite call ever runs
/// on an async worker thread. Calls are cancellation-safe: a request whose future is dropped
/// before the thread reaches it is skipped, and one dropped while it runs is interrupted
/// (`sqlite3_interrupt`); the connection stays usable either way.
///
/// Dropping the connection ends the thread (after interrupting whatever statement is running),
/// which closes the handle.
///
/// What the [`ConnectionProtocol`] calls do here:
///
/// * `ping` runs `SELECT 1` on the thread: it proves the thread is alive and responsive and the
///   handle open, in a few microseconds (there is no server to reach).
/// * `execute` returns the rows the statement changed (0 for DDL and queries); several
///   statements without parameters run as a batch. `query` returns all rows. Both use the
///   prepared-statement cache and honour the query timeout.
/// * `reset` rolls back an open transaction, drops temporary tables, views and triggers, and
///   detaches attached databases; pragmas the holder changed are not restored. At a return
///   (`begin_reset`) only what the holder may have dirtied is reset, and a clean session
///   sends nothing (see the crate docs).
/// * `is_broken` is true once a connection-class error was seen, the thread has ended, or the
///   connection was closed.
/// * `parameter_style` is `?`; SQLite also takes `?NNN` and `$N`, and `$N` binds the N-th
///   value whatever order the names appear in.
pub struct SqliteConnection {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    /// The number of the last request sent.
    last_request: u64,
    /// The number of the last request that ran SQL for a holder (execute, query, native):
    /// later than `reset_at`, the session may hold state the next holder must not see.
    used_at: u64,
    /// The number of the last session reset sent.
    reset_at: u64,
    /// Whether SQL that can leave state beyond a transaction ([`session_sql`]) or a native
    /// closure was sent since the last full reset. Scanned here, when the request is sent, so
    /// that a request still queued or running at a return counts too.
    session_dirty: bool,
    /// How many session resets (awaited or queued) were sent: what tests observe.
    resets_sent: u64,
    query_timeout: Option<Duration>,
    closed: bool,
}

impl std::fmt::Debug for SqliteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnection")
            .field("broken", &self.shared.is_broken())
            .field("query_timeout", &self.query_timeout)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl SqliteConnection {
    pub(crate) fn new(handle: Handle) -> Self {
        Self {
            requests: handle.requests,
            shared: handle.shared,
            last_request: 0,
            used_at: 0,
            reset_at: 0,
            session_dirty: false,
            resets_sent: 0,
            query_timeout: None,
            closed: false,
        }
    }

    /// Runs `f` with the native `rusqlite::Connection` on the connection's thread and returns
    /// its result: the way to use anything rusqlite offers (transactions, blobs, custom
    /// functions, backups).
    ///
    /// The query timeout does not apply (the adapter cannot see inside `f`), and errors inside
    /// `f` are `f`'s to handle: they do not mark the connection broken. If `f` panics, the panic
    /// resumes in the caller; the connection stays usable. Leave the connection as you found it
    /// anyway: since the adapter cannot see what `f` did, the return after any native call
    /// queues the full session reset (roll back, drop temporary objects, detach databases),
    /// which a return after plain SQL skips; pragmas are not restored.
    ///
    /// ```
    /// # async fn demo(conn: &mut adapter_sqlite::SqliteConnection) -> pool_core::Result<()> {
    /// let total: rusqlite::Result<i64> = conn
    ///     .with_native(|c| {
    ///         let tx = c.transaction()?;
    ///         tx.execute("CREATE TABLE IF NOT EXISTS n (x INTEGER)", [])?;
    ///         tx.execute("INSERT INTO n VALUES (1), (2)", [])?;
    ///         let sum = tx.query_row("SELECT sum(x) FROM n", [], |r| r.get(0))?;
    ///         tx.commit()?;
    ///         Ok(sum)
    ///     })
    ///     .await?;
    /// # let _ = total;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_native<F, R>(&mut self, f: F) -> Result<R>
    where
        F: FnOnce(&mut rusqlite::Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.call(|reply| Job::Native(worker::native_job(f, reply)), None)
            .await
    }

    /// Closes the SQLite handle underneath the connection, as if the database had ended the
    /// session: the worker thread marks the connection broken at once (as a network
    /// connection's reader learns of a server-side kill from the socket), so
    /// [`is_broken`](ConnectionProtocol::is_broken) is true from then on, and a call fails
    /// with a connection-class error (`SQLITE_MISUSE` code, "handle is closed"). For tests
    /// (the conformance suite simulates a server-side kill with it).
    pub async fn kill_for_testing(&mut self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Job::Kill(reply)).is_some() {
            let _ = rx.await;
        }
    }

    /// How many session resets this connection has sent to its thread, awaited
    /// ([`reset`](ConnectionProtocol::reset)) or queued at a return. For tests: a return of a
    /// clean session must not add one.
    #[doc(hidden)]
    pub fn resets_sent_for_testing(&self) -> u64 {
        self.resets_sent
    }

    /// The query timeout this connection enforces, if any.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// Numbers `job` and sends it to the thread; `None` if the thread is gone.
    fn send(&mut self, job: Job) -> Option<u64> {
        self.last_request += 1;
        let number = self.last_request;
        match &job {
            Job::Execute { sql, .. } | Job::Query { sql, .. } => {
                self.used_at = number;
                // Once dirty, only a full reset cleans the session: no need to scan further.
                if !self.session_dirty && session_sql::changes_session(sql) {
                    self.session_dirty = true;
                }
            }
            // The adapter cannot see what a closure does with the handle.
            Job::Native(_) => {
                self.used_at = number;
                self.session_dirty = true;
            }
            Job::Reset(_) | Job::QueuedReset(_) => {
                self.reset_at = number;
                self.resets_sent += 1;
            }
            Job::Ping(_) | Job::Kill(_) | Job::Close(_) => {}
        }
        self.requests.send(Request { number, job }).ok()?;
        Some(number)
    }

    /// Sends one request and awaits its answer, enforcing `timeout` with `sqlite3_interrupt`.
    async fn call<T>(
        &mut self,
        make: impl FnOnce(Reply<T>) -> Job,
        timeout: Option<Duration>,
    ) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        let Some(number) = self.send(make(reply)) else {
            self.shared.mark_broken();
            return Err(error::worker_gone());
        };
        let guard = InterruptOnDrop(Some((&self.shared, number)));
        let outcome = wait(rx, timeout, &self.shared, number).await;
        guard.disarm();
        let result = match outcome {
            Outcome::Done(result) => result.map_err(error::into_error),
            Outcome::TimedOut(limit) => Err(Error::QueryTimeout(limit)),
            Outcome::Gone => Err(error::worker_gone()),
        };
        if let Err(e) = &result
            && e.is_connection_broken()
        {
            self.shared.mark_broken();
        }
        result
    }
}

enum Outcome<T> {
    Done(std::result::Result<T, Failure>),
    TimedOut(Duration),
    Gone,
}

async fn wait<T>(
    mut rx: oneshot::Receiver<std::result::Result<T, Failure>>,
    timeout: Option<Duration>,
    shared: &Shared,
    number: u64,
) -> Outcome<T> {
    let Some(limit) = timeout else {
        return rx.await.map_or(Outcome::Gone, Outcome::Done);
    };
    match tokio::time::timeout(limit, &mut rx).await {
        Ok(answer) => answer.map_or(Outcome::Gone, Outcome::Done),
        Err(_) => {
            shared.interrupt(number);
            match tokio::time::timeout(INTERRUPT_GRACE, rx).await {
                Ok(Ok(Err(Failure::Sqlite(e)))) if error::stopped_by_interrupt(&e) => {
                    Outcome::TimedOut(limit)
                }
                // It finished just before the interrupt landed: its real result stands.
                Ok(Ok(result)) => Outcome::Done(result),
                Ok(Err(_)) => Outcome::Gone,
                Err(_) => Outcome::TimedOut(limit),
            }
        }
    }
}

/// Interrupts the call's request if its future is dropped before the answer came.
struct InterruptOnDrop<'a>(Option<(&'a Shared, u64)>);

impl InterruptOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for InterruptOnDrop<'_> {
    fn drop(&mut self) {
        if let Some((shared, number)) = self.0 {
            shared.interrupt(number);
        }
    }
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        // Stop a statement still running for a cancelled call, so the thread ends promptly.
        self.shared.interrupt(u64::MAX);
    }
}

#[async_trait]
impl ConnectionProtocol for SqliteConnection {
    /// Runs `SELECT 1` on the worker thread: proves the thread is alive and responsive and the
    /// handle open (a few microseconds; there is no server to reach).
    async fn ping(&mut self) -> Result<()> {
        self.call(Job::Ping, None).await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let (sql, params) = (Box::from(sql), params.to_vec());
        let timeout = self.query_timeout;
        self.call(|reply| Job::Execute { sql, params, reply }, timeout)
            .await
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let (sql, params) = (Box::from(sql), params.to_vec());
        let timeout = self.query_timeout;
        self.call(|reply| Job::Query { sql, params, reply }, timeout)
            .await
    }

    /// Rolls back an open transaction, drops temporary tables, views and triggers, and detaches
    /// attached databases. Pragmas changed by the holder are not restored.
    async fn reset(&mut self) -> Result<()> {
        self.call(Job::Reset, None).await?;
        // Only a reset that ran cleans the session; a failed or cancelled one leaves it dirty.
        self.session_dirty = false;
        Ok(())
    }

    /// Sends nothing when the session is clean: no statement since the last reset, or only
    /// statements that cannot leave state beyond a transaction, all finished, and the handle
    /// in autocommit (which the thread records after each request, before answering it).
    /// Otherwise the reset is queued on the connection's thread, which runs requests in order:
    /// `ROLLBACK` when a transaction may be open and nothing else was dirtied, the full reset
    /// after flagged SQL or native access. It runs before anything the next holder sends, and
    /// if it fails it marks the connection broken, so the next checkout discards it. Nobody
    /// waits for it: the return costs a channel send at most, no task and no round trip.
    fn begin_reset(&mut self) -> ResetStart {
        if self.used_at <= self.reset_at {
            return ResetStart::Done;
        }
        let kind = if self.session_dirty {
            ResetKind::Full
        } else if self.shared.settled_in_autocommit(self.last_request) {
            return ResetStart::Done;
        } else {
            // In a transaction, or a cancelled request has not finished: a request still to
            // run was scanned when sent, so at most it opens a transaction, which the queued
            // `ROLLBACK` (running after it) ends.
            ResetKind::Rollback
        };
        if kind == ResetKind::Full {
            self.session_dirty = false;
        }
        if self.send(Job::QueuedReset(kind)).is_none() {
            self.shared.mark_broken();
        }
        ResetStart::Done
    }

    fn is_broken(&self) -> bool {
        self.closed || self.shared.is_broken()
    }

    /// Interrupts any statement still running for a cancelled call, closes the handle on the
    /// worker thread and ends the thread.
    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.shared.interrupt(self.last_request);
        let (reply, rx) = oneshot::channel();
        let sent = self.send(Job::Close(reply)).is_some();
        let result = match rx.await {
            Ok(result) if sent => result.map_err(error::into_error),
            // The thread is already gone, and the handle with it: nothing is left to close.
            _ => Ok(()),
        };
        self.shared.mark_broken();
        result
    }

    fn parameter_style(&self) -> ParameterStyle {
        ParameterStyle::QuestionMark
    }

    /// Enforced on `execute` and `query` with `sqlite3_interrupt`; the call then returns
    /// [`Error::QueryTimeout`] and the connection stays usable. Needs tokio's time driver.
    fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout;
    }
}
