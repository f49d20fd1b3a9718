//! Closing: single connections (bounded by `close_timeout`, counted until done) and the whole
//! pool (waiters failed at once, idle connections closed, checked-out ones as they come back).

use std::sync::Arc;
use std::task::Waker;

use tokio::time::Instant;

use crate::conn::Conn;
use crate::error::Error;
use crate::inner::Inner;
use crate::protocol::{ConnectionProtocol, Connector};
use crate::state::State;
use crate::stats::Counters;

impl<M: Connector> Inner<M> {
    /// Closes a connection already removed from `open` (and counted in `closing`).
    pub(crate) fn close_counted(self: &Arc<Self>, conn: Conn<M::Connection>) {
        let closing = Closing {
            inner: self.clone(),
            conn: Some(conn),
        };
        self.spawn(closing.run());
    }

    /// Closes a reclaimed connection, whose slot the pool no longer counts.
    pub(crate) fn close_detached(self: &Arc<Self>, mut conn: Conn<M::Connection>) {
        let inner = self.clone();
        self.spawn(async move {
            let _ = tokio::time::timeout(inner.config.close_timeout, conn.raw.close()).await;
            drop(conn);
            Counters::bump(&inner.metrics.counters.closed);
        });
    }

    /// Stops handing out connections: waiters get `Closed`, idle connections close, background
    /// tasks end. Connections still checked out close when they come back.
    pub(crate) fn begin_close(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        st.stash.close();
        let wakers = st.fail_waiters(|| Error::Closed);
        // Parked connections come back as surplus (the pool is closed) and are closed below.
        let parked = st.absorb_stash();
        let idle = st.take_surplus_idle(0);
        drop(st);
        self.after_absorb(parked);
        self.shutdown.cancel();
        wakers.into_iter().for_each(Waker::wake);
        for conn in idle {
            self.close_counted(conn);
        }
        tracing::info!(pool = %self.name(), "pool closed");
    }

    /// Waits until every connection is closed or `deadline` passes; returns how many were still
    /// checked out then.
    pub(crate) async fn wait_drained(&self, deadline: Instant) -> usize {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock();
                if st.drained() {
                    return 0;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let st = self.state.lock();
                return st.active + st.preparing;
            }
        }
    }

    /// Wakes `close()` when a closed pool got closer to holding nothing.
    pub(crate) fn notify_if_closed(&self, st: &State<M::Connection>) {
        if st.closed {
            self.drained.notify_waiters();
        }
    }
}

/// A connection being closed; already out of `open`, counted in `closing` until this drops.
struct Closing<M: Connector> {
    inner: Arc<Inner<M>>,
    conn: Option<Conn<M::Connection>>,
}

impl<M: Connector> Closing<M> {
    async fn run(mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = tokio::time::timeout(self.inner.config.close_timeout, conn.raw.close()).await;
        }
    }
}

impl<M: Connector> Drop for Closing<M> {
    fn drop(&mut self) {
        drop(self.conn.take());
        Counters::bump(&self.inner.metrics.counters.closed);
        let mut st = self.inner.state.lock();
        st.finish_closing();
        self.inner.notify_if_closed(&st);
    }
}
