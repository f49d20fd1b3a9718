//! Background health checks: idle connections that have not been used lately are pinged, and
//! the dead ones are replaced, so the pool does not hand out sessions that died while idle.

use std::sync::Arc;

use tokio::time::Instant;

use crate::checkin::Loose;
use crate::inner::{CountedIn, Inner};
use crate::protocol::{ConnectionProtocol, Connector};
use crate::stats::Counters;

impl<M: Connector> Inner<M> {
    pub(crate) async fn health_check_idle(self: Arc<Self>) {
        let now = Instant::now();
        let bypass = self.config.validation_bypass;
        let (parked, due) = {
            let mut st = self.state.lock();
            let parked = st.absorb_stash();
            st.stamp_idle(now);
            // Recently used connections are known to work; check the others, least recently
            // used first. They leave the idle set while checked, so no caller gets one mid-ping.
            let mut due = Vec::new();
            let mut index = 0;
            while index < st.idle.len() {
                if now.saturating_duration_since(st.idle[index].last_used) >= bypass {
                    let conn = st.idle.remove(index).expect("index is in bounds");
                    st.preparing += 1;
                    due.push(conn);
                } else {
                    index += 1;
                }
            }
            (parked, due)
        };
        self.after_absorb(parked);
        if due.is_empty() {
            return;
        }
        let mut checks = tokio::task::JoinSet::new();
        for conn in due {
            let mut loose = Loose::new(self.clone(), conn, CountedIn::Preparing);
            let inner = self.clone();
            checks.spawn(async move {
                let ping = inner.connector.validate(&mut loose.conn_mut().raw);
                match tokio::time::timeout(inner.config.health_check_timeout, ping).await {
                    Ok(Ok(())) if !loose.conn_mut().raw.is_broken() => loose.put_back(),
                    outcome => {
                        let reason = match outcome {
                            Ok(Err(error)) => error.to_string(),
                            Ok(Ok(())) => "the connection reports itself broken".to_owned(),
                            Err(_) => "the health check timed out".to_owned(),
                        };
                        Counters::bump(&inner.metrics.counters.health_check_failures);
                        tracing::warn!(pool = %inner.name(), %reason, "health check failed; replacing the connection");
                        loose.discard();
                    }
                }
            });
        }
        while checks.join_next().await.is_some() {}
    }
}
