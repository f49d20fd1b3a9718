//! The pool's background tasks: the deadline watcher, health checks, retiring old and idle
//! connections, leak detection, and the sampler that drives auto-scaling.
//!
//! Each task holds only a `Weak` reference between ticks and listens to a stop token, so
//! closing the pool or dropping its last handle ends every task at once: no task outlives its
//! pool.
//!
//! The tasks run on a runtime, and a runtime can end before the pool does: one static pool
//! shared by many `#[tokio::test]` runtimes is a common pattern. Each task carries a
//! [`Lifeline`]; when the runtime drops the task, the lifeline marks the tasks lost and wakes
//! every waiter, and the next caller that waits (on a runtime that runs) starts them again on
//! its own runtime. So a caller's `acquire_timeout` holds whichever runtime built the pool.

mod deadlines;
mod health;
mod leak;
mod reaper;
mod sampler;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::deadline;
use crate::inner::Inner;
use crate::protocol::Connector;

/// Whether the background tasks run, and the token that stops the current set.
pub(crate) struct Background {
    alive: AtomicBool,
    current: Mutex<Generation>,
}

struct Generation {
    id: u64,
    stop: CancellationToken,
}

impl Background {
    pub(crate) fn new() -> Self {
        Self {
            alive: AtomicBool::new(false),
            current: Mutex::new(Generation {
                id: 0,
                stop: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

/// Carried by every background task: dropped with its task, it reports whether the set of
/// tasks it belongs to is gone while the pool still needs it.
struct Lifeline<M: Connector> {
    pool: Weak<Inner<M>>,
    generation: u64,
}

impl<M: Connector> Drop for Lifeline<M> {
    fn drop(&mut self) {
        if let Some(inner) = self.pool.upgrade() {
            inner.background_lost(self.generation);
        }
    }
}

impl<M: Connector> Inner<M> {
    /// Restarts the background tasks on the current runtime if they died with another one.
    /// A relaxed-cost check: one atomic load while they run.
    pub(crate) fn ensure_background(self: &Arc<Self>) {
        if !self.background.is_alive() {
            start(self);
        }
    }

    /// A background task of set `generation` was dropped.
    fn background_lost(&self, generation: u64) {
        {
            let current = self.background.current.lock();
            if current.id != generation || !self.background.alive.swap(false, Ordering::AcqRel) {
                return;
            }
        }
        // Waiters rely on the deadline watcher: wake them so that one restarts it.
        let wakers = self.state.lock().waiters.wakers();
        wakers.into_iter().for_each(std::task::Waker::wake);
    }
}

/// Starts (or restarts, on the current runtime) every background task the configuration asks
/// for. Does nothing outside a runtime or once the pool is shutting down.
pub(crate) fn start<M: Connector>(inner: &Arc<Inner<M>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let (generation, stop) = {
        let mut current = inner.background.current.lock();
        if inner.shutdown.is_cancelled() || inner.background.is_alive() {
            return;
        }
        current.stop.cancel();
        current.id += 1;
        current.stop = inner.shutdown.child_token();
        inner.background.alive.store(true, Ordering::Release);
        (current.id, current.stop.clone())
    };
    inner.set_runtime(runtime);
    // Spawned with the lock released: a runtime that is shutting down drops a task at once,
    // and its lifeline takes the lock.
    let lifeline = || Lifeline {
        pool: Arc::downgrade(inner),
        generation,
    };
    let watcher = deadlines::watch(
        Arc::downgrade(inner),
        inner.deadline_watch.clone(),
        stop.clone(),
    );
    let watch_line = lifeline();
    inner.spawn(async move {
        let _lifeline = watch_line;
        watcher.await;
    });
    let config = &inner.config;
    if let Some(interval) = config.health_check_interval {
        every(inner, &stop, lifeline(), interval, |inner| async move {
            inner.health_check_idle().await
        });
    }
    if let Some(interval) = reaper::interval(config) {
        every(inner, &stop, lifeline(), interval, |inner| async move {
            inner.retire_idle_and_expired()
        });
    }
    if let Some(threshold) = config.leak_detection_threshold {
        every(
            inner,
            &stop,
            lifeline(),
            leak::scan_interval(threshold),
            |inner| async move { inner.scan_for_leaks() },
        );
    }
    let scaler = Arc::new(Mutex::new(sampler::Scaler::default()));
    every(
        inner,
        &stop,
        lifeline(),
        config.autoscale.sample_interval,
        move |inner| {
            let scaler = scaler.clone();
            async move { inner.sample(&mut scaler.lock()) }
        },
    );
}

/// Runs `tick` every `period` until `stop` is cancelled or the pool is dropped.
fn every<M, F, Fut>(
    inner: &Arc<Inner<M>>,
    stop: &CancellationToken,
    lifeline: Lifeline<M>,
    period: Duration,
    tick: F,
) where
    M: Connector,
    F: Fn(Arc<Inner<M>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let weak: Weak<Inner<M>> = Arc::downgrade(inner);
    let stop = stop.clone();
    inner.spawn(async move {
        let _lifeline = lifeline;
        let first = deadline::after(Instant::now(), period);
        let mut interval = tokio::time::interval_at(first, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = stop.cancelled() => return,
            }
            let Some(inner) = weak.upgrade() else { return };
            tokio::select! {
                () = tick(inner) => {}
                () = stop.cancelled() => return,
            }
        }
    });
}
