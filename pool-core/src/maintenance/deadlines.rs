//! The deadline watcher: one task per pool fails waiters whose acquire timeout has passed.
//!
//! Waiters carry their deadline in the queue instead of each arming a tokio timer: a timer
//! registered and cancelled per wait costs more than the rest of the wait path. The watcher
//! sleeps until the earliest deadline in the queue; a waiter that arrives with an earlier one
//! wakes it (rare: with one timeout for all, newcomers' deadlines are always later).

use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::inner::Inner;
use crate::protocol::Connector;

/// Runs until `stop` is cancelled or the pool is dropped.
pub(super) async fn watch<M: Connector>(
    pool: Weak<Inner<M>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let next = {
            let Some(inner) = pool.upgrade() else { return };
            inner.expire_waiters()
        };
        match next {
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = wake.notified() => {}
                () = stop.cancelled() => return,
            },
            None => tokio::select! {
                () = wake.notified() => {}
                () = stop.cancelled() => return,
            },
        }
    }
}

impl<M: Connector> Inner<M> {
    /// Fails every waiter past its deadline with a timeout that says why; returns the next
    /// deadline to wake up for.
    fn expire_waiters(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let counts = st.counts();
        let last_connect_error = st.last_connect_error.clone();
        let expired = st.waiters.expire(now, |waited| {
            Err(Error::Timeout {
                waited,
                counts,
                last_connect_error: last_connect_error.clone(),
            })
        });
        st.watch_armed = st.waiters.earliest_deadline();
        let next = st.watch_armed;
        drop(st);
        self.metrics.record_timeouts(expired.len() as u64);
        expired.into_iter().for_each(std::task::Waker::wake);
        next
    }
}
