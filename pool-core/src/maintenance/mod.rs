//! The pool's background tasks: health checks, retiring old and idle connections, leak
//! detection, and the sampler that drives auto-scaling.
//!
//! Each task holds only a `Weak` reference between ticks and also listens to the pool's
//! shutdown token, so closing the pool or dropping its last handle ends every task at once:
//! no task outlives its pool.

mod deadlines;
mod health;
mod leak;
mod reaper;
mod sampler;

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::inner::Inner;
use crate::protocol::Connector;

/// Starts every background task the configuration asks for.
pub(crate) fn start<M: Connector>(inner: &Arc<Inner<M>>) {
    inner.spawn(deadlines::watch(
        Arc::downgrade(inner),
        inner.deadline_watch.clone(),
        inner.shutdown.clone(),
    ));
    let config = &inner.config;
    if let Some(interval) = config.health_check_interval {
        every(inner, interval, |inner| async move {
            inner.health_check_idle().await
        });
    }
    if let Some(interval) = reaper::interval(config) {
        every(inner, interval, |inner| async move {
            inner.retire_idle_and_expired()
        });
    }
    if let Some(threshold) = config.leak_detection_threshold {
        every(inner, leak::scan_interval(threshold), |inner| async move {
            inner.scan_for_leaks()
        });
    }
    let scaler = Arc::new(parking_lot::Mutex::new(sampler::Scaler::default()));
    every(inner, config.autoscale.sample_interval, move |inner| {
        let scaler = scaler.clone();
        async move { inner.sample(&mut scaler.lock()) }
    });
}

/// Runs `tick` every `period` until the pool shuts down or is dropped.
fn every<M, F, Fut>(inner: &Arc<Inner<M>>, period: Duration, tick: F)
where
    M: Connector,
    F: Fn(Arc<Inner<M>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let weak: Weak<Inner<M>> = Arc::downgrade(inner);
    let shutdown = inner.shutdown.clone();
    inner.spawn(async move {
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let Some(inner) = weak.upgrade() else { return };
            tokio::select! {
                () = tick(inner) => {}
                () = shutdown.cancelled() => return,
            }
        }
    });
}
