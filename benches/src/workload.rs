//! The checkout loop every benchmark drives, and the runtime it runs on.
//!
//! One *cycle* is get → touch → hold → drop. A batch spawns `tasks` tasks that each run the
//! same number of cycles and measures the wall time until the last one finishes. The runtime
//! is tokio's multi-threaded one with two workers, the size of this machine; spawning is part
//! of the measured time, so batches are long enough (thousands of cycles per task in criterion's
//! samples) for it not to matter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::competitors::BenchPool;
use crate::latency::Histogram;

/// Worker threads of every benchmark runtime.
pub const WORKERS: usize = 2;

/// A multi-threaded runtime with [`WORKERS`] workers and timers enabled.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

/// What a task does while it holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Nothing: drop at once (no-hold mode). With two workers at most two connections are out.
    None,
    /// One `yield_now()`: every other runnable task runs first, so connections stay out and
    /// gets must wait once tasks outnumber connections (hold mode).
    Yield,
    /// A fixed sleep: a short query.
    Sleep(Duration),
}

impl Hold {
    /// The name used in benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Hold::None => "no-hold",
            Hold::Yield => "hold",
            Hold::Sleep(_) => "sleep",
        }
    }

    async fn apply(self) {
        match self {
            Hold::None => {}
            Hold::Yield => tokio::task::yield_now().await,
            Hold::Sleep(d) => tokio::time::sleep(d).await,
        }
    }
}

/// One cycle: get, touch, hold, drop.
pub async fn cycle<P: BenchPool>(pool: &P, hold: Hold) -> Result<(), String> {
    let mut conn = pool.get().await?;
    P::touch(&mut conn);
    hold.apply().await;
    drop(conn);
    Ok(())
}

/// Runs `tasks` tasks of `cycles` cycles each; returns the wall time, or the first error.
pub async fn batch<P: BenchPool>(
    pool: &Arc<P>,
    tasks: usize,
    cycles: u64,
    hold: Hold,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..cycles {
                cycle(&*pool, hold).await?;
            }
            Ok::<_, String>(())
        }));
    }
    for handle in handles {
        handle.await.map_err(|e| e.to_string())??;
    }
    Ok(start.elapsed())
}

/// Like [`batch`], but records how long each get waited (before the hold). Each task keeps
/// its waits in a small preallocated vector (a histogram per task would cost hundreds of KiB
/// each); they are merged into one histogram at the end.
pub async fn timed_batch<P: BenchPool>(
    pool: &Arc<P>,
    tasks: usize,
    cycles: u64,
    hold: Hold,
) -> Result<(Duration, Histogram), String> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let mut waits = Vec::with_capacity(usize::try_from(cycles).unwrap_or(0));
            for _ in 0..cycles {
                let asked = Instant::now();
                let mut conn = pool.get().await?;
                waits.push(asked.elapsed());
                P::touch(&mut conn);
                hold.apply().await;
                drop(conn);
            }
            Ok::<_, String>(waits)
        }));
    }
    let mut all = Histogram::new();
    for handle in handles {
        for wait in handle.await.map_err(|e| e.to_string())?? {
            all.record(wait);
        }
    }
    Ok((start.elapsed(), all))
}

/// Runs `future` with a deadline: `None` when it did not finish (a hung pool).
pub async fn within<F: std::future::Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}
