//! [`Load`]: many tasks hammering a pool, every call timed and its outcome recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use pool_core::{ConnectionProtocol, Connector, Error, Pool, PooledConnection};
use record::Events;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What kind of result one call had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// The call succeeded.
    Ok,
    /// `Error::Timeout`.
    Timeout,
    /// `Error::CircuitOpen` with the last error.
    CircuitOpen,
    /// `Error::CircuitOpen` without it.
    CircuitOpenWithoutCause,
    /// `Error::Closed`.
    Closed,
    /// `Error::Connect` or `Error::ConnectTimeout`.
    Connect,
    /// A connection-class error from the query (`is_connection_broken()`).
    ConnectionBroken,
    /// `Error::QueryTimeout`.
    QueryTimeout,
    /// A query-class error: the statement failed, which no fault here should cause.
    QueryFailed,
    /// Anything else.
    Other,
}

impl OutcomeKind {
    /// Classifies a call's result.
    pub fn of<T>(result: &Result<T, Error>) -> Self {
        match result {
            Ok(_) => OutcomeKind::Ok,
            Err(Error::Timeout { .. }) => OutcomeKind::Timeout,
            Err(Error::CircuitOpen {
                last_error: Some(_),
                ..
            }) => OutcomeKind::CircuitOpen,
            Err(Error::CircuitOpen { .. }) => OutcomeKind::CircuitOpenWithoutCause,
            Err(Error::Closed) => OutcomeKind::Closed,
            Err(Error::Connect(_) | Error::ConnectTimeout(_)) => OutcomeKind::Connect,
            Err(Error::QueryTimeout(_)) => OutcomeKind::QueryTimeout,
            Err(e) if e.is_connection_broken() => OutcomeKind::ConnectionBroken,
            Err(Error::Backend(_)) => OutcomeKind::QueryFailed,
            Err(_) => OutcomeKind::Other,
        }
    }
}

/// Which client API a call went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Api {
    /// The pool's neutral `ConnectionProtocol` (`conn.query(...)`).
    Neutral,
    /// The driver's own client, reached through the adapter's connection (bounded by the
    /// adapter's `bounded(...)`, or not, as the call says).
    Native,
}

/// What one call does with the connection it got: a future that owns the connection (and
/// drops it, returning it to the pool, when it ends).
pub type CallFn<M> = Arc<
    dyn Fn(PooledConnection<M>) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>
        + Send
        + Sync,
>;

/// One call: when it started, how long `get()` took, how long the whole call took, and how it
/// ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the call started.
    pub started: Instant,
    /// How long `get()` took (until it returned, successfully or not).
    pub acquire: Duration,
    /// How long the whole call took.
    pub total: Duration,
    /// How it ended.
    pub kind: OutcomeKind,
    /// The error's text, if it failed.
    pub error: Option<String>,
    /// The API the call went through.
    pub api: Api,
}

impl Outcome {
    /// When the call ended.
    pub fn ended(&self) -> Instant {
        self.started + self.total
    }
}

mod record {
    use std::sync::Mutex;

    use super::Outcome;

    /// The shared record of outcomes.
    #[derive(Debug, Default)]
    pub(super) struct Events(Mutex<Vec<Outcome>>);

    impl Events {
        pub(super) fn push(&self, o: Outcome) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(o);
        }
        pub(super) fn take(&self) -> Vec<Outcome> {
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
        }
        pub(super) fn snapshot(&self) -> Vec<Outcome> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }
}

/// A running load: tasks each looping get → call → drop until stopped, every call timed and
/// recorded ([`Load::start`]: a statement through the neutral API, 10 ms pause after a
/// failure; [`Load::start_calls`]: any calls, any pause).
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    /// When each task's current call started (`None` between calls).
    current: Arc<std::sync::Mutex<Vec<Option<Instant>>>>,
    events: Arc<Events>,
    tasks: JoinSet<()>,
}

impl Load {
    /// Starts `tasks` tasks running `sql` through `pool`'s neutral API, each holding its
    /// connection `hold` longer after the statement, pausing 10 ms after a failed call.
    pub fn start<M: Connector>(pool: &Pool<M>, tasks: usize, sql: &str, hold: Duration) -> Self {
        let sql: Arc<str> = sql.into();
        let call: CallFn<M> = Arc::new(move |mut conn| {
            let sql = sql.clone();
            Box::pin(async move {
                conn.query(&sql, &[]).await?;
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                Ok(())
            })
        });
        Self::start_calls(
            pool,
            tasks,
            Duration::from_millis(10),
            vec![(Api::Neutral, call)],
        )
    }

    /// Starts `tasks` tasks, each looping get → its call → drop until stopped, pausing
    /// `pause_after_error` after a failed call (as a client's retry loop would, so tasks that
    /// fail in microseconds do not spin the machine's two cores). Task `i` runs
    /// `calls[i % calls.len()]`, so a load can mix the neutral and the native API.
    ///
    /// # Panics
    ///
    /// When `calls` is empty.
    pub fn start_calls<M: Connector>(
        pool: &Pool<M>,
        tasks: usize,
        pause_after_error: Duration,
        calls: Vec<(Api, CallFn<M>)>,
    ) -> Self {
        assert!(!calls.is_empty(), "a load needs at least one kind of call");
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Events::default());
        let mut set = JoinSet::new();
        let current = Arc::new(std::sync::Mutex::new(vec![None; tasks]));
        for task in 0..tasks {
            let pool = pool.clone();
            let current = current.clone();
            let stop = stop.clone();
            let events = events.clone();
            let (api, call) = calls[task % calls.len()].clone();
            set.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    current.lock().unwrap_or_else(|e| e.into_inner())[task] = Some(started);
                    let mut acquire = Duration::ZERO;
                    let result = async {
                        let got = pool.get().await;
                        acquire = started.elapsed();
                        call(got?).await
                    }
                    .await;
                    current.lock().unwrap_or_else(|e| e.into_inner())[task] = None;
                    let kind = OutcomeKind::of(&result);
                    events.push(Outcome {
                        started,
                        acquire,
                        total: started.elapsed(),
                        kind,
                        error: result.err().map(|e| e.to_string()),
                        api,
                    });
                    if kind == OutcomeKind::Closed {
                        return;
                    }
                    if kind != OutcomeKind::Ok && !pause_after_error.is_zero() {
                        tokio::time::sleep(pause_after_error).await;
                    }
                }
            });
        }
        Self {
            stop,
            current,
            events,
            tasks: set,
        }
    }

    /// How many calls that started before `t` are still running.
    pub fn running_since_before(&self, t: Instant) -> usize {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.is_some_and(|s| s < t))
            .count()
    }

    /// The outcomes so far (the load keeps running).
    pub fn snapshot(&self) -> Vec<Outcome> {
        self.events.snapshot()
    }

    /// Stops the load and waits for every task to end (at most `within`).
    ///
    /// # Panics
    ///
    /// When a task panicked or did not end in time (a hang).
    pub async fn stop(mut self, within: Duration) -> LoadStats {
        self.stop.store(true, Ordering::SeqCst);
        let all = async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Err(e) = joined {
                    panic!("a load task failed: {e}");
                }
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            panic!(
                "{} load tasks still running {within:?} after being told to stop: a hang",
                self.tasks.len()
            );
        }
        LoadStats {
            outcomes: self.events.take(),
        }
    }
}

/// Everything a load recorded.
#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    /// Every call, in the order they ended.
    pub outcomes: Vec<Outcome>,
}

impl LoadStats {
    /// Calls of the given kind.
    pub fn count(&self, kind: OutcomeKind) -> usize {
        self.outcomes.iter().filter(|o| o.kind == kind).count()
    }

    /// Failed calls.
    pub fn errors(&self) -> usize {
        self.outcomes.len() - self.count(OutcomeKind::Ok)
    }

    /// Successful calls that ended in `[from, to)`, per second.
    pub fn rate(&self, from: Instant, to: Instant) -> f64 {
        let n = self
            .outcomes
            .iter()
            .filter(|o| o.kind == OutcomeKind::Ok && o.ended() >= from && o.ended() < to)
            .count();
        n as f64 / to.saturating_duration_since(from).as_secs_f64().max(1e-9)
    }

    /// Counts by kind, for messages.
    pub fn summary(&self) -> String {
        let mut counts = std::collections::BTreeMap::new();
        for o in &self.outcomes {
            *counts.entry(format!("{:?}", o.kind)).or_insert(0usize) += 1;
        }
        format!("{counts:?}")
    }

    /// The first error of `kind`, for messages.
    pub fn first_error(&self, kind: OutcomeKind) -> Option<&str> {
        self.outcomes
            .iter()
            .find(|o| o.kind == kind)
            .and_then(|o| o.error.as_deref())
    }
}
