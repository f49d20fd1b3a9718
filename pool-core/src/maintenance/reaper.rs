//! Retires idle connections past their lifetime, and idle connections above the warm size
//! that have not been used for `idle_timeout`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::inner::Inner;
use crate::protocol::Connector;
use crate::stats::Counters;

/// How often to look: a quarter of the shorter limit keeps a connection at most 25 % past it,
/// bounded so that short test limits are honoured and long ones still get a look twice a minute.
pub(super) fn interval(config: &PoolConfig) -> Option<Duration> {
    let shortest = match (config.idle_timeout, config.max_lifetime) {
        (None, None) => return None,
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
    };
    Some((shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(30)))
}

impl<M: Connector> Inner<M> {
    pub(crate) fn retire_idle_and_expired(self: Arc<Self>) {
        let now = Instant::now();
        let (parked, retirees) = {
            let mut st = self.state.lock();
            // A connection parked by a thread that stopped using the pool ages like any other.
            let parked = st.absorb_stash();
            st.stamp_idle(now);
            // Idle ones are retired below; the others close when they come back.
            st.flag_expired_in_use(now);
            (parked, st.take_retirees(now, self.config.idle_timeout))
        };
        self.after_absorb(parked);
        if retirees.is_empty() {
            return;
        }
        for conn in retirees {
            if conn.is_expired(now) {
                Counters::bump(&self.metrics.counters.expired);
            } else {
                Counters::bump(&self.metrics.counters.idle_timeouts);
            }
            self.close_counted(conn);
        }
        // Expired connections below the warm size are replaced right away.
        self.replenish();
    }
}
