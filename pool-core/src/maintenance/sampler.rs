//! The sampler: measures utilization, moves the warm size (auto-scaling), keeps the checkout
//! rate, and tops the pool up to its warm size after failures.

use std::sync::Arc;

use tokio::time::Instant;

use crate::inner::Inner;
use crate::protocol::Connector;
use crate::stats::Counters;

/// What the scaler remembers between samples.
#[derive(Debug, Default)]
pub(crate) struct Scaler {
    /// Since when utilization has stayed below the scale-down threshold.
    low_since: Option<Instant>,
}

impl<M: Connector> Inner<M> {
    pub(crate) fn sample(self: Arc<Self>, scaler: &mut Scaler) {
        let now = Instant::now();
        self.clock.advance(now);
        let auto = &self.config.autoscale;
        let mut decision = None;
        let (parked, checkouts, surplus) = {
            let mut st = self.state.lock();
            // Parked connections are idle, not in use.
            let parked = st.absorb_stash();
            let checkouts = st.immediate_checkouts() + st.waited_checkouts;
            let utilization = st.utilization();
            let mut surplus = Vec::new();
            if auto.enabled && !st.closed {
                let target = st.warm_target;
                let step = |t: usize| ((t as f64 * auto.step).ceil() as usize).max(1);
                // The warm size at which the connections in use make up the target share.
                let for_target = (st.active as f64 / auto.target_utilization).ceil() as usize;
                if utilization > auto.scale_up_threshold || st.waiters.waiting() > 0 {
                    scaler.low_since = None;
                    let grown = (target + step(target)).max(for_target).min(st.max_size);
                    if grown > target {
                        st.warm_target = grown;
                        decision = Some(("up", target, grown, utilization, st.waiters.waiting()));
                    }
                } else if utilization < auto.scale_down_threshold {
                    let since = *scaler.low_since.get_or_insert(now);
                    if now.saturating_duration_since(since) >= auto.scale_down_cooldown {
                        let shrunk = target
                            .saturating_sub(step(target))
                            .max(for_target)
                            .max(st.min_size);
                        if shrunk < target {
                            st.warm_target = shrunk;
                            // Parked connections are idle too: shrink from all of them.
                            surplus = st.take_surplus_idle(shrunk);
                            decision =
                                Some(("down", target, shrunk, utilization, st.waiters.waiting()));
                        }
                        // A further step needs another full cooldown of low use.
                        scaler.low_since = Some(now);
                    }
                } else {
                    scaler.low_since = None;
                }
            }
            (parked, checkouts, surplus)
        };
        self.after_absorb(parked);
        self.metrics.sample_rate(now, checkouts);
        if let Some((direction, from, to, utilization, waiting)) = decision {
            let counter = if direction == "up" {
                &self.metrics.counters.scale_ups
            } else {
                &self.metrics.counters.scale_downs
            };
            Counters::bump(counter);
            tracing::info!(
                pool = %self.name(),
                direction,
                from,
                to,
                utilization,
                waiting,
                "auto-scaler changed the warm size"
            );
        }
        for conn in surplus {
            self.close_counted(conn);
        }
        self.replenish();
    }
}
