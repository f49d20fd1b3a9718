//! A fake connector with fault injection, for this crate's tests, the conformance suite, the
//! benchmarks and anyone testing code that uses a pool. Enabled by the `testing` feature.
//!
//! Every knob is shared between the connector and the connections it opened, so a test can
//! change behaviour mid-run: make connects slow, fail or hang; make pings fail or hang; let
//! connections die after a number of uses. It also counts what happened, so tests can assert
//! that no connection leaked and none was ever held twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::error::{BackendError, Error, Result};
use crate::protocol::{ConnectionProtocol, Connector, ResetStart};
use crate::value::{Row, Value};

/// How a step (connect, ping, reset, hook) behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Behavior {
    /// Works at once.
    #[default]
    Ok,
    /// Works after this delay.
    Slow(Duration),
    /// Fails at once.
    Fail,
    /// Never finishes.
    Hang,
    /// Fails after this delay (a server that takes its time to refuse).
    SlowFail(Duration),
}

impl Behavior {
    async fn run(self, what: &str) -> Result<()> {
        match self {
            Behavior::Ok => Ok(()),
            Behavior::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Behavior::Fail => Err(Error::Backend(BackendError::connection(format!(
                "injected {what} failure"
            )))),
            Behavior::Hang => std::future::pending().await,
            Behavior::SlowFail(delay) => {
                tokio::time::sleep(delay).await;
                Err(Error::Backend(BackendError::connection(format!(
                    "injected {what} failure after {delay:?}"
                ))))
            }
        }
    }
}

/// The shared knobs and counters of a [`TestConnector`] and its connections.
#[derive(Debug, Default)]
pub struct Faults {
    connect: Mutex<Behavior>,
    ping: Mutex<Behavior>,
    reset: Mutex<Behavior>,
    /// Connections die (report broken, fail every call) after this many uses; 0 = never.
    die_after_uses: AtomicU64,
    /// New connections report themselves broken from the start.
    born_broken: AtomicBool,
    /// The next this many pings (of any connection) fail, whatever `ping` says.
    ping_failures_pending: AtomicU64,
    connects_attempted: AtomicU64,
    connects_succeeded: AtomicU64,
    pings: AtomicU64,
    resets: AtomicU64,
    open: AtomicUsize,
    max_open: AtomicUsize,
    closed_politely: AtomicU64,
    /// Set when a connection was used by two holders at once: must never happen.
    double_use: AtomicBool,
}

impl Faults {
    /// Sets how connects behave.
    pub fn set_connect(&self, behavior: Behavior) {
        *self.connect.lock() = behavior;
    }
    /// Sets how pings (validation, health checks) behave.
    pub fn set_ping(&self, behavior: Behavior) {
        *self.ping.lock() = behavior;
    }
    /// Sets how session resets behave.
    pub fn set_reset(&self, behavior: Behavior) {
        *self.reset.lock() = behavior;
    }
    /// Connections opened from now on... and those already open die after `uses` queries
    /// in all (0 = never).
    pub fn set_die_after_uses(&self, uses: u64) {
        self.die_after_uses.store(uses, Ordering::SeqCst);
    }
    /// Connections opened from now on report themselves broken at once (a driver that hands
    /// out a session the server already dropped).
    pub fn set_born_broken(&self, broken: bool) {
        self.born_broken.store(broken, Ordering::SeqCst);
    }
    /// The next `n` pings, of whichever connections run them, fail (then `ping` applies again):
    /// a validation failure at an exact point without racing a later `set_ping`.
    pub fn fail_next_pings(&self, n: u64) {
        self.ping_failures_pending.store(n, Ordering::SeqCst);
    }
    /// Connection attempts made.
    pub fn connects_attempted(&self) -> u64 {
        self.connects_attempted.load(Ordering::SeqCst)
    }
    /// Connections opened.
    pub fn connects_succeeded(&self) -> u64 {
        self.connects_succeeded.load(Ordering::SeqCst)
    }
    /// Pings run.
    pub fn pings(&self) -> u64 {
        self.pings.load(Ordering::SeqCst)
    }
    /// Session resets run.
    pub fn resets(&self) -> u64 {
        self.resets.load(Ordering::SeqCst)
    }
    /// Connections that exist right now (opened and not yet dropped).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
    /// The most connections that ever existed at once.
    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }
    /// Connections closed through `close()` (not merely dropped).
    pub fn closed_politely(&self) -> u64 {
        self.closed_politely.load(Ordering::SeqCst)
    }
    /// True if any connection was ever used by two holders at the same time.
    pub fn double_use_seen(&self) -> bool {
        self.double_use.load(Ordering::SeqCst)
    }
}

/// A connector whose connections talk to nothing; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct TestConnector {
    faults: Arc<Faults>,
}

impl TestConnector {
    /// A connector whose every step works at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// The knobs and counters, shared with every connection this connector opens.
    pub fn faults(&self) -> Arc<Faults> {
        self.faults.clone()
    }
}

#[async_trait]
impl Connector for TestConnector {
    type Connection = TestConnection;

    async fn connect(&self) -> Result<TestConnection> {
        self.faults
            .connects_attempted
            .fetch_add(1, Ordering::SeqCst);
        let behavior = *self.faults.connect.lock();
        match behavior {
            Behavior::Fail => {
                return Err(Error::Connect(BackendError::connection(
                    "connection refused (injected)",
                )));
            }
            other => other.run("connect").await?,
        }
        self.faults
            .connects_succeeded
            .fetch_add(1, Ordering::SeqCst);
        let open = self.faults.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.faults.max_open.fetch_max(open, Ordering::SeqCst);
        Ok(TestConnection {
            faults: self.faults.clone(),
            uses: 0,
            dirty: false,
            broken: self.faults.born_broken.load(Ordering::SeqCst),
            in_use: Arc::new(AtomicBool::new(false)),
            query_timeout: None,
            fail_next_ping: false,
            executed: Vec::new(),
        })
    }
}

/// A connection of [`TestConnector`].
#[derive(Debug)]
pub struct TestConnection {
    faults: Arc<Faults>,
    uses: u64,
    /// A query ran since the last reset: the session may hold state, so a return must reset
    /// it (as a real adapter that tracks what its holder did would decide).
    dirty: bool,
    broken: bool,
    in_use: Arc<AtomicBool>,
    query_timeout: Option<Duration>,
    /// This connection's next ping fails.
    fail_next_ping: bool,
    /// Every statement given to `execute`, in order (a transaction test reads them back).
    executed: Vec<String>,
}

impl TestConnection {
    /// Every statement given to `execute` on this connection, oldest first.
    pub fn executed(&self) -> &[String] {
        &self.executed
    }

    /// Makes this connection's next ping fail (once), as a session the server dropped while
    /// the connection sat idle would: set it before returning the connection to make the next
    /// checkout's validation of this very connection fail.
    pub fn fail_next_ping(&mut self) {
        self.fail_next_ping = true;
    }

    /// Queries run on this connection.
    pub fn uses(&self) -> u64 {
        self.uses
    }

    /// Marks the connection broken, as an I/O error would.
    pub fn break_it(&mut self) {
        self.broken = true;
    }

    /// The query timeout the pool handed over.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// Marks the start of a use by a holder; records a violation if another holder is inside.
    /// Pair with [`end_use`](Self::end_use); tests call them around an await to catch sharing.
    pub fn begin_use(&self) {
        if self.in_use.swap(true, Ordering::SeqCst) {
            self.faults.double_use.store(true, Ordering::SeqCst);
        }
    }

    /// Marks the end of a use started by [`begin_use`](Self::begin_use).
    pub fn end_use(&self) {
        self.in_use.store(false, Ordering::SeqCst);
    }

    /// Marks the session as holding state a return must reset (as a query would).
    pub fn dirty_it(&mut self) {
        self.dirty = true;
    }

    fn use_once(&mut self) -> Result<()> {
        self.dirty = true;
        if self.broken {
            return Err(Error::Backend(BackendError::connection(
                "connection is broken (injected)",
            )));
        }
        self.uses += 1;
        let limit = self.faults.die_after_uses.load(Ordering::SeqCst);
        if limit > 0 && self.uses > limit {
            self.broken = true;
            return Err(Error::Backend(BackendError::connection(
                "server closed the connection (injected death after N uses)",
            )));
        }
        Ok(())
    }
}

impl Drop for TestConnection {
    fn drop(&mut self) {
        self.faults.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ConnectionProtocol for TestConnection {
    async fn ping(&mut self) -> Result<()> {
        self.faults.pings.fetch_add(1, Ordering::SeqCst);
        if self.broken {
            return Err(Error::Backend(BackendError::connection(
                "connection is broken (injected)",
            )));
        }
        let injected = std::mem::take(&mut self.fail_next_ping)
            || self
                .faults
                .ping_failures_pending
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if injected {
            return Behavior::Fail.run("ping").await;
        }
        let behavior = *self.faults.ping.lock();
        behavior.run("ping").await
    }

    async fn execute(&mut self, sql: &str, _params: &[Value]) -> Result<u64> {
        self.use_once()?;
        self.executed.push(sql.to_owned());
        Ok(1)
    }

    async fn query(&mut self, _sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.use_once()?;
        let columns: Arc<[String]> = Arc::from(vec!["value".to_owned()]);
        let value = params.first().cloned().unwrap_or(Value::I64(1));
        Ok(vec![Row::new(columns, vec![value])])
    }

    async fn reset(&mut self) -> Result<()> {
        self.faults.resets.fetch_add(1, Ordering::SeqCst);
        let behavior = *self.faults.reset.lock();
        behavior.run("reset").await?;
        self.dirty = false;
        Ok(())
    }

    /// A session no query touched since its last reset is clean: nothing to wait for.
    fn begin_reset(&mut self) -> ResetStart {
        if self.dirty {
            ResetStart::Await
        } else {
            ResetStart::Done
        }
    }

    fn is_broken(&self) -> bool {
        self.broken
    }

    async fn close(&mut self) -> Result<()> {
        self.faults.closed_politely.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout;
    }
}
