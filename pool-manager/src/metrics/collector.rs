//! [`PoolCollector`]: a `prometheus_client` collector that reads every pool at scrape time.

use std::fmt;

use pool_core::{LatencySnapshot, PoolHistograms, PoolStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::manager::PoolManager;

/// Upper bounds (seconds) of the latency histograms' buckets: 100 µs to 1 minute, dense where
/// connection pools usually live (sub-millisecond checkouts, tens of milliseconds connects).
/// They are pool-core's [`LatencySnapshot::BUCKET_BOUNDS`], where each pool counts its values
/// exactly, since it started.
pub const LATENCY_BUCKETS: [f64; BUCKETS] = {
    let mut seconds = [0.0; BUCKETS];
    let mut i = 0;
    while i < BUCKETS {
        seconds[i] = LatencySnapshot::BUCKET_BOUNDS[i].as_secs_f64();
        i += 1;
    }
    seconds
};

const BUCKETS: usize = LatencySnapshot::BUCKET_BOUNDS.len();

/// Exposes every pool of a [`PoolManager`] to Prometheus; see [the module](crate::metrics)
/// and `docs/metrics.md`. Each scrape reads each pool's `stats()` and `histograms()` once.
#[derive(Clone)]
pub struct PoolCollector {
    manager: PoolManager,
}

impl fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolCollector")
            .field("pools", &self.manager.names())
            .finish()
    }
}

impl PoolCollector {
    /// A collector for every pool `manager` has now or gets later.
    pub fn new(manager: PoolManager) -> Self {
        Self { manager }
    }
}

/// One pool's numbers, read once per scrape.
struct Sample {
    name: String,
    stats: PoolStats,
    histograms: PoolHistograms,
    /// A read replica's last sampled lag (see [`crate::replica_lag`]).
    replica_lag: Option<std::time::Duration>,
}

type Labelled<T> = Vec<(&'static str, T)>;

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let samples: Vec<Sample> = self
            .manager
            .pools_with_lag()
            .into_iter()
            .map(|(name, pool, replica_lag)| Sample {
                name,
                stats: pool.stats(),
                histograms: pool.histograms(),
                replica_lag,
            })
            .collect();
        let e = &mut encoder;
        let s = &samples[..];

        // --- OpenTelemetry semantic conventions (db.client.connection.*) --------------------
        gauge_by(
            e,
            "db_client_connection_count",
            "Connections in each state: used (checked out by callers), idle, or preparing (the pool's own work: a health check, the reset after a return).",
            "state",
            s,
            |p| {
                vec![
                    ("idle", p.stats.idle as i64),
                    ("used", p.stats.active as i64),
                    ("preparing", p.stats.preparing as i64),
                ]
            },
        )?;
        gauge(
            e,
            "db_client_connection_max",
            "The most connections the pool may open.",
            s,
            |p| p.stats.max_size as i64,
        )?;
        gauge(
            e,
            "db_client_connection_idle_max",
            "The most idle connections the pool keeps (its maximum size: idle connections are only closed by idle_timeout or the auto-scaler).",
            s,
            |p| p.stats.max_size as i64,
        )?;
        gauge(
            e,
            "db_client_connection_idle_min",
            "The connections the pool keeps open even when idle (min_size).",
            s,
            |p| p.stats.min_size as i64,
        )?;
        let replicas: Vec<&Sample> = s.iter().filter(|p| p.replica_lag.is_some()).collect();
        if !replicas.is_empty() {
            let mut metric = e.encode_descriptor(
                "db_client_replica_lag_seconds",
                "How far a read replica's data is behind its primary, sampled every 5 s through an idle connection; absent when the adapter cannot tell, replication is stopped, or no sample is newer than 15 s.",
                None,
                MetricType::Gauge,
            )?;
            for p in replicas {
                let lag = p.replica_lag.unwrap_or_default().as_secs_f64();
                let labels = [("pool_name", p.name.as_str())];
                ConstGauge::new(lag).encode(metric.encode_family(&labels)?)?;
            }
        }
        gauge(
            e,
            "db_client_connection_pending_requests",
            "Callers waiting for a connection.",
            s,
            |p| p.stats.waiting as i64,
        )?;
        counter(
            e,
            "db_client_connection_timeouts",
            "Acquires that gave up at their timeout.",
            s,
            |p| p.stats.timeouts_total,
        )?;
        histogram(
            e,
            "db_client_connection_create_time",
            "Time to open a connection (connect and after-connect hook).",
            s,
            |h| &h.create,
        )?;
        histogram(
            e,
            "db_client_connection_wait_time",
            "Time callers waited for a connection (zero when one was free).",
            s,
            |h| &h.wait,
        )?;
        histogram(
            e,
            "db_client_connection_use_time",
            "Time between checking a connection out and returning it.",
            s,
            |h| &h.usage,
        )?;

        // --- Our own, for what the convention lacks ---------------------------------------
        gauge(
            e,
            "db_client_connection_pending_creates",
            "Connections being opened right now.",
            s,
            |p| p.stats.connecting as i64,
        )?;
        gauge(
            e,
            "db_client_connection_warm_target",
            "Connections the auto-scaler keeps open and ready.",
            s,
            |p| p.stats.warm_target as i64,
        )?;
        gauge_f(
            e,
            "db_client_connection_utilization_ratio",
            "Used connections / open connections (0 when none is open).",
            s,
            |p| p.stats.utilization,
        )?;
        gauge_by(
            e,
            "db_client_connection_pool_state",
            "1 for the pool's current condition, 0 for the others.",
            "state",
            s,
            |p| {
                one_hot(
                    &["healthy", "degraded", "critical", "closed"],
                    &snake(&p.stats.state),
                )
            },
        )?;
        counter(
            e,
            "db_client_connection_checkouts",
            "Connections handed to callers.",
            s,
            |p| p.stats.checkouts_total,
        )?;
        counter(
            e,
            "db_client_connection_created",
            "Connections opened.",
            s,
            |p| p.stats.created_total,
        )?;
        counter(
            e,
            "db_client_connection_closed",
            "Connections closed.",
            s,
            |p| p.stats.closed_total,
        )?;
        counter(
            e,
            "db_client_connection_connect_failures",
            "Failed connection attempts.",
            s,
            |p| p.stats.connect_failures_total,
        )?;
        counter(
            e,
            "db_client_connection_circuit_rejections",
            "Acquires refused at once because the circuit breaker was open.",
            s,
            |p| p.stats.circuit_rejections_total,
        )?;
        counter(
            e,
            "db_client_connection_validation_failures",
            "Checkout validations that failed (the connection was replaced).",
            s,
            |p| p.stats.validation_failures_total,
        )?;
        counter(
            e,
            "db_client_connection_health_check_failures",
            "Background health checks that failed (the connection was replaced).",
            s,
            |p| p.stats.health_check_failures_total,
        )?;
        counter(
            e,
            "db_client_connection_broken_on_return",
            "Connections closed because they came back broken.",
            s,
            |p| p.stats.broken_on_return_total,
        )?;
        counter(
            e,
            "db_client_connection_expired",
            "Connections retired at their maximum lifetime.",
            s,
            |p| p.stats.expired_total,
        )?;
        counter(
            e,
            "db_client_connection_idle_timeouts",
            "Connections closed after sitting idle too long.",
            s,
            |p| p.stats.idle_timeouts_total,
        )?;
        counter(
            e,
            "db_client_connection_leaks",
            "Suspected leaks reported (checked out longer than leak_detection_threshold).",
            s,
            |p| p.stats.leaks_total,
        )?;
        counter(
            e,
            "db_client_connection_leaks_reclaimed",
            "Leaked connections whose slot was reclaimed (leak_reclaim_after).",
            s,
            |p| p.stats.leaks_reclaimed_total,
        )?;
        gauge_by(
            e,
            "db_client_connection_circuit_state",
            "1 for the circuit breaker's current state, 0 for the others.",
            "state",
            s,
            |p| one_hot(&["closed", "open", "half_open"], &snake(&p.stats.circuit)),
        )?;
        gauge(
            e,
            "db_client_connection_circuit_consecutive_failures",
            "Consecutive connection failures the circuit breaker has seen.",
            s,
            |p| i64::from(p.stats.circuit_consecutive_failures),
        )?;
        counter_by(
            e,
            "db_client_connection_circuit_transitions",
            "Circuit breaker transitions, by the state entered.",
            "to",
            s,
            |p| {
                vec![
                    ("open", p.stats.circuit_opened_total),
                    ("half_open", p.stats.circuit_half_opened_total),
                    ("closed", p.stats.circuit_closed_total),
                ]
            },
        )?;
        counter_by(
            e,
            "db_client_connection_scaling_decisions",
            "Auto-scaler decisions, by direction.",
            "direction",
            s,
            |p| {
                vec![
                    ("up", p.stats.scale_ups_total),
                    ("down", p.stats.scale_downs_total),
                ]
            },
        )?;
        Ok(())
    }
}

fn snake<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn one_hot(states: &[&'static str], current: &str) -> Labelled<i64> {
    states
        .iter()
        .map(|&s| (s, i64::from(s == current)))
        .collect()
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[Sample],
    value: impl Fn(&Sample) -> i64,
) -> Result<(), fmt::Error> {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for p in samples {
        let labels = [("pool_name", p.name.as_str())];
        ConstGauge::new(value(p)).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge_f(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[Sample],
    value: impl Fn(&Sample) -> f64,
) -> Result<(), fmt::Error> {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for p in samples {
        let labels = [("pool_name", p.name.as_str())];
        ConstGauge::new(value(p)).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge_by(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    key: &'static str,
    samples: &[Sample],
    values: impl Fn(&Sample) -> Labelled<i64>,
) -> Result<(), fmt::Error> {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for p in samples {
        for (label, v) in values(p) {
            let labels = [("pool_name", p.name.as_str()), (key, label)];
            ConstGauge::new(v).encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[Sample],
    value: impl Fn(&Sample) -> u64,
) -> Result<(), fmt::Error> {
    // The encoder appends `_total`.
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for p in samples {
        let labels = [("pool_name", p.name.as_str())];
        ConstCounter::new(value(p)).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter_by(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    key: &'static str,
    samples: &[Sample],
    values: impl Fn(&Sample) -> Labelled<u64>,
) -> Result<(), fmt::Error> {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for p in samples {
        for (label, v) in values(p) {
            let labels = [("pool_name", p.name.as_str()), (key, label)];
            ConstCounter::new(v).encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn histogram(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[Sample],
    pick: impl Fn(&PoolHistograms) -> &LatencySnapshot,
) -> Result<(), fmt::Error> {
    // The encoder appends the unit: `<name>_seconds_bucket`, `_sum`, `_count`.
    let mut metric =
        e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for p in samples {
        let snapshot = pick(&p.histograms);
        let buckets = buckets(snapshot);
        let labels = [("pool_name", p.name.as_str())];
        metric
            .encode_family(&labels)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                snapshot.sum().as_secs_f64(),
                snapshot.count(),
                &buckets,
                None,
            )?;
    }
    Ok(())
}

/// Per-bucket (not cumulative) counts, as the encoder wants them; the encoder accumulates.
/// The last bucket (`f64::MAX`) is `+Inf` and brings the total to `count()`.
fn buckets(snapshot: &LatencySnapshot) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(BUCKETS + 1);
    let mut below = 0u64;
    for (bound, seconds) in LatencySnapshot::BUCKET_BOUNDS
        .into_iter()
        .zip(LATENCY_BUCKETS)
    {
        let cumulative = snapshot.count_at_most(bound).max(below);
        out.push((seconds, cumulative - below));
        below = cumulative;
    }
    out.push((f64::MAX, snapshot.count().saturating_sub(below)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_the_documented_ones() {
        // docs/metrics.md lists these; dashboards and recording rules name them as `le` labels.
        assert_eq!(
            LATENCY_BUCKETS,
            [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]
        );
    }
}
