//! The dedicated OS thread that owns one `rusqlite::Connection`.
//!
//! Async callers send a [`Job`] over a std `mpsc` channel (the thread blocks in `recv`) and
//! await the answer on a tokio `oneshot`. The job carries the SQL and parameters by value, so a
//! request costs the copies of its inputs, one oneshot and the thread's wake-up; nothing is
//! boxed except `with_native` closures.
//!
//! Requests are numbered. Interrupting request n (a query timeout, a cancelled call, a dropped
//! connection) raises the connection's interrupt mark to n and calls `sqlite3_interrupt`: the
//! statement running stops, a request up to n that has not started is answered "interrupted"
//! without running, and the [busy handler](crate::busy) stops waiting for locks.
//!
//! After each request, before answering it, the thread records in [`Shared`] the request's
//! number and whether the handle is inside a transaction (`sqlite3_get_autocommit`, a field
//! read). A return reads both from the caller's thread in one atomic load, so it can tell a
//! clean session from one left in a transaction without a round trip.
//!
//! The thread exits when every sender is dropped (the connection was dropped) or after a
//! [`Job::Close`]. A job whose caller has gone away before the thread reached it is skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use pool_core::{Row, Value};
use rusqlite::{Connection, InterruptHandle};
use tokio::sync::oneshot;

use crate::busy;
use crate::error::Failure;
use crate::ops;

/// Where the worker sends one job's result.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, Failure>>;

/// A `with_native` closure, wrapped so that it answers on its own reply channel (after
/// calling [`Settle::record`], so the caller sees the transaction status with the answer).
pub(crate) type NativeJob =
    Box<dyn FnOnce(Result<&mut Connection, Failure>, Settle<'_>) + Send + 'static>;

/// A job with its request number.
pub(crate) struct Request {
    pub(crate) number: u64,
    pub(crate) job: Job,
}

/// One request for the worker thread.
pub(crate) enum Job {
    Execute {
        sql: Box<str>,
        params: Vec<Value>,
        reply: Reply<u64>,
    },
    Query {
        sql: Box<str>,
        params: Vec<Value>,
        reply: Reply<Vec<Row>>,
    },
    Ping(Reply<()>),
    Reset(Reply<()>),
    /// A reset nobody waits for (queued at a return): a failure marks the connection broken.
    QueuedReset(ResetKind),
    Native(NativeJob),
    /// Closes the handle but keeps the thread: the next request fails as on a killed session.
    Kill(Reply<()>),
    /// Closes the handle and ends the thread.
    Close(Reply<()>),
}

/// How much of the session a queued reset restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetKind {
    /// Only a transaction was left open: `ROLLBACK` is all there is to undo.
    Rollback,
    /// The holder may have left temporary objects or attached databases: [`ops::reset`].
    Full,
}

/// State shared between the connection (async side) and its worker thread.
pub(crate) struct Shared {
    broken: AtomicBool,
    /// The number of the last request the thread finished, shifted left by one, with the low
    /// bit set when the handle was inside a transaction afterwards. One atomic, so the return
    /// path reads both in one load; written before the request's answer is sent.
    settled: AtomicU64,
    /// Every request numbered up to this one is to stop.
    interrupt_mark: Arc<AtomicU64>,
    interrupt: InterruptHandle,
}

impl Shared {
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    pub(crate) fn mark_broken(&self) {
        self.broken.store(true, Ordering::Release);
    }

    /// Stops request `number` and every earlier one: the one running (`sqlite3_interrupt`), a
    /// lock wait, and those not started yet. The caller makes no later request until this
    /// returns, and SQLite clears its flag when the next statement starts with none running,
    /// so a late interrupt cannot hit a later request.
    pub(crate) fn interrupt(&self, number: u64) {
        self.interrupt_mark.fetch_max(number, Ordering::AcqRel);
        self.interrupt.interrupt();
    }

    fn is_interrupted(&self, number: u64) -> bool {
        self.interrupt_mark.load(Ordering::Acquire) >= number
    }

    /// Whether the thread has finished request `number` (and every earlier one) and left the
    /// handle outside a transaction (autocommit). Read on the caller's thread at a return.
    pub(crate) fn settled_in_autocommit(&self, number: u64) -> bool {
        // Acquire pairs with the Release in `Settle::record`, which happens before the answer
        // that the caller awaited, so the status of the caller's last request is visible.
        let settled = self.settled.load(Ordering::Acquire);
        settled >> 1 >= number && settled & 1 == 0
    }
}

/// What the worker records once a request has run, before answering it.
pub(crate) struct Settle<'a> {
    shared: &'a Shared,
    number: u64,
}

impl Settle<'_> {
    /// Records that the request is finished and whether `conn` (none when the request did not
    /// reach the handle) is now inside a transaction. A request that did not run keeps the
    /// previous status.
    pub(crate) fn record(&self, conn: Option<&Connection>) {
        let previous = self.shared.settled.load(Ordering::Relaxed) & 1;
        let in_transaction = conn.map_or(previous, |c| u64::from(!c.is_autocommit()));
        self.shared
            .settled
            .store(self.number << 1 | in_transaction, Ordering::Release);
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("broken", &self.is_broken())
            .finish_non_exhaustive()
    }
}

/// The handle through which the async side reaches a running worker.
pub(crate) struct Handle {
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) shared: Arc<Shared>,
}

/// Starts a worker thread that runs `open` and, if it succeeds, serves requests. `open`
/// returns the connection and an extra value handed back to the caller with the [`Handle`]
/// (the connector uses it to open a memory database's anchor on this thread too). Connections
/// opened here wait up to `busy_timeout` for locks, through [`busy::handler`].
pub(crate) fn spawn<X, E>(
    name: String,
    busy_timeout: Duration,
    open: impl FnOnce() -> Result<(Connection, X), E> + Send + 'static,
) -> std::io::Result<oneshot::Receiver<Result<(Handle, X), E>>>
where
    X: Send + 'static,
    E: Send + 'static,
{
    let (ready_tx, ready_rx) = oneshot::channel();
    std::thread::Builder::new().name(name).spawn(move || {
        let interrupt_mark = Arc::new(AtomicU64::new(0));
        busy::install(busy_timeout, Arc::clone(&interrupt_mark));
        let (conn, extra) = match open() {
            Ok(opened) => opened,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let shared = Arc::new(Shared {
            broken: AtomicBool::new(false),
            settled: AtomicU64::new(0),
            interrupt_mark,
            interrupt: conn.get_interrupt_handle(),
        });
        let (requests_tx, requests_rx) = mpsc::channel();
        let handle = Handle {
            requests: requests_tx,
            shared: Arc::clone(&shared),
        };
        if ready_tx.send(Ok((handle, extra))).is_err() {
            // The connect was cancelled (connect timeout): nobody will use this connection.
            return;
        }
        run(conn, &shared, &requests_rx);
    })?;
    Ok(ready_rx)
}

/// Marks the connection broken however the thread ends, panics included.
struct BrokenOnExit<'a>(&'a Shared);

impl Drop for BrokenOnExit<'_> {
    fn drop(&mut self) {
        self.0.mark_broken();
    }
}

fn run(conn: Connection, shared: &Shared, requests: &mpsc::Receiver<Request>) {
    let _exit = BrokenOnExit(shared);
    let mut conn = Some(conn);
    while let Ok(Request { number, job }) = requests.recv() {
        busy::set_running(number);
        let settle = Settle { shared, number };
        // A request interrupted before it started is answered without running.
        let target = || -> Result<&Connection, Failure> {
            if shared.is_interrupted(number) {
                Err(Failure::interrupted())
            } else {
                conn.as_ref().ok_or(Failure::Closed)
            }
        };
        match job {
            Job::Execute { sql, params, reply } => {
                answer(reply, target(), &settle, |c| ops::execute(c, &sql, &params));
            }
            Job::Query { sql, params, reply } => {
                answer(reply, target(), &settle, |c| ops::query(c, &sql, &params));
            }
            Job::Ping(reply) => answer(reply, target(), &settle, ops::ping),
            Job::Reset(reply) => answer(reply, target(), &settle, ops::reset),
            Job::QueuedReset(kind) => {
                let target = target();
                let conn = target.as_ref().ok().copied();
                let reset = target.and_then(|c| {
                    match kind {
                        ResetKind::Rollback => ops::rollback(c),
                        ResetKind::Full => ops::reset(c),
                    }
                    .map_err(Failure::from)
                });
                // Broken first: whoever sees this request settled also sees it failed.
                if reset.is_err() {
                    shared.mark_broken();
                }
                settle.record(conn);
            }
            Job::Native(job) => {
                let interrupted = shared.is_interrupted(number);
                job(
                    match conn.as_mut() {
                        _ if interrupted => Err(Failure::interrupted()),
                        Some(c) => Ok(c),
                        None => Err(Failure::Closed),
                    },
                    settle,
                );
            }
            Job::Kill(reply) => {
                // A failed close still drops (and so releases) the handle: it is gone either way.
                // The thread knows it at once, as a network connection's reader learns of a
                // server-side kill from the socket's end, and says so before any later call.
                let _ = close(&mut conn);
                shared.mark_broken();
                settle.record(None);
                let _ = reply.send(Ok(()));
            }
            Job::Close(reply) => {
                let result = close(&mut conn);
                let _ = reply.send(result);
                return;
            }
        }
    }
}

/// Runs `work` on `target` unless the caller has gone, records the outcome, and sends its
/// result.
fn answer<T>(
    reply: Reply<T>,
    target: Result<&Connection, Failure>,
    settle: &Settle<'_>,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) {
    let conn = target.as_ref().ok().copied();
    if reply.is_closed() {
        settle.record(None);
        return;
    }
    let result = target.and_then(|c| work(c).map_err(Failure::from));
    settle.record(conn);
    let _ = reply.send(result);
}

/// Closes the handle (flushing the statement cache first); a second close is a no-op.
fn close(conn: &mut Option<Connection>) -> Result<(), Failure> {
    match conn.take() {
        Some(c) => c.close().map_err(|(_, e)| Failure::Sqlite(e)),
        None => Ok(()),
    }
}

/// Wraps a `with_native` closure: skipped if its caller has gone, a panic is caught and sent
/// back so it resumes in the caller's task, and the thread keeps serving.
pub(crate) fn native_job<F, R>(f: F, reply: Reply<R>) -> NativeJob
where
    F: FnOnce(&mut Connection) -> R + Send + 'static,
    R: Send + 'static,
{
    Box::new(
        move |conn: Result<&mut Connection, Failure>, settle: Settle<'_>| {
            if reply.is_closed() {
                settle.record(None);
                return;
            }
            let result = match conn {
                Ok(c) => {
                    let result = catch_unwind(AssertUnwindSafe(|| f(c)));
                    settle.record(Some(c));
                    result.map_err(Failure::Panic)
                }
                Err(e) => {
                    settle.record(None);
                    Err(e)
                }
            };
            let _ = reply.send(result);
        },
    )
}
