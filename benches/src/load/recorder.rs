//! What the load tasks record: acquire latencies (sharded histograms, so 10,000 tasks do not
//! queue on one lock, and no task carries a histogram of its own) and errors by kind.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::latency::Histogram;

const SHARDS: usize = 16;

/// Shared by every task of a run.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Mutex<Histogram>>,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Completed cycles (acquire and query both succeeded).
    pub ok: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Histogram::new())).collect(),
            errors: Mutex::new(BTreeMap::new()),
            ok: AtomicU64::new(0),
        }
    }
}

impl Recorder {
    /// Records a successful acquire of task `task`.
    pub fn acquired(&self, task: usize, waited: Duration) {
        let mut shard = self.shards[task % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shard.record(waited);
    }

    /// Counts an error under `stage:kind` (stage is `acquire` or `query`).
    pub fn error(&self, stage: &str, error: &pool_core::Error) {
        let key = format!("{stage}:{}", kind(error));
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(key).or_default() += 1;
    }

    /// All acquire latencies so far.
    pub fn latencies(&self) -> Histogram {
        let mut all = Histogram::new();
        for shard in &self.shards {
            all.merge(&shard.lock().unwrap_or_else(|e| e.into_inner()));
        }
        all
    }

    /// Errors by kind so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Completed cycles so far.
    pub fn completed(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }
}

/// A short name for each kind of pool error.
pub fn kind(error: &pool_core::Error) -> &'static str {
    use pool_core::Error;
    match error {
        Error::Timeout { .. } => "timeout",
        Error::CircuitOpen { .. } => "circuit_open",
        Error::Closed => "closed",
        Error::Connect(_) => "connect",
        Error::ConnectTimeout(_) => "connect_timeout",
        Error::Config { .. } => "config",
        Error::Backend(_) => "backend",
        Error::QueryTimeout(_) => "query_timeout",
        _ => "other",
    }
}
