//! Leak detection: connections checked out longer than the threshold are reported once, with
//! the stack trace of their checkout; past `leak_reclaim_after` their slot is reclaimed.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::inner::Inner;
use crate::protocol::Connector;
use crate::stats::Counters;

/// An eighth of the threshold: a checkout that read no clock is stamped by the first scan
/// after it (at most one interval late) and reported by the first scan past the threshold
/// (at most one more), so a leak is reported at most 25 % late.
pub(super) fn scan_interval(threshold: Duration) -> Duration {
    (threshold / 8).clamp(Duration::from_millis(10), Duration::from_secs(10))
}

impl<M: Connector> Inner<M> {
    pub(crate) fn scan_for_leaks(self: Arc<Self>) {
        let Some(threshold) = self.config.leak_detection_threshold else {
            return;
        };
        let now_nanos = self.nanos_since_epoch(Instant::now());
        let checked_out: Vec<_> = {
            let st = self.state.lock();
            st.live
                .values()
                .filter_map(|meta| Some((meta.clone(), meta.current_checkout()?)))
                .collect()
        };
        for (meta, checkout) in checked_out {
            let since = meta.checked_out_at_nanos(now_nanos);
            let held = Duration::from_nanos(now_nanos.saturating_sub(since));
            if held < threshold {
                continue;
            }
            if meta.mark_leak_reported() {
                Counters::bump(&self.metrics.counters.leaks);
                let (caller, trace) = meta.checkout_site();
                let caller = caller.unwrap_or_else(|| "(unknown)".to_owned());
                let trace = trace.unwrap_or_else(|| {
                    "(set leak_capture_backtrace = true for the whole stack)".to_owned()
                });
                tracing::warn!(
                    pool = %self.name(),
                    connection = meta.id,
                    held_for = ?held,
                    checked_out_at = %caller,
                    checkout_trace = %trace,
                    "possible connection leak: checked out longer than the leak detection threshold"
                );
            }
            let reclaim_due = self
                .config
                .leak_reclaim_after
                .is_some_and(|after| held >= after);
            // Only the checkout found overdue: if its holder returned it meanwhile and someone
            // else took it, the reclaim fails.
            if reclaim_due && meta.reclaim(checkout) {
                self.release_checked_out(meta.id);
                Counters::bump(&self.metrics.counters.leaks_reclaimed);
                tracing::warn!(
                    pool = %self.name(),
                    connection = meta.id,
                    held_for = ?held,
                    "reclaimed a leaked connection: its slot is free again and it will be closed when its holder drops it"
                );
            }
        }
    }
}
