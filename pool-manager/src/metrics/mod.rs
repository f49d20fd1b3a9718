//! Prometheus / OpenMetrics exposition of every pool, through the `prometheus-client` crate.
//!
//! [`PoolCollector`] reads `stats()` and `histograms()` of every pool at scrape time, so
//! nothing is recorded twice and pools registered later appear on the next scrape. Metric
//! names follow OpenTelemetry's semantic conventions for database connection pools as a
//! Prometheus exporter renders them (`db.client.connection.count` →
//! `db_client_connection_count`); what the convention lacks is added in the same style.
//! `docs/metrics.md` lists every metric with its type, unit and meaning.
//!
//! ```
//! use pool_core::Pool;
//! use pool_core::testing::TestConnector;
//! use pool_manager::PoolManager;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = PoolManager::new();
//! manager.register("orders", Pool::builder(TestConnector::new()).min_size(2).build().await?)?;
//! let text = pool_manager::metrics::encode(&manager);
//! assert!(text.contains(r#"db_client_connection_count{pool_name="orders",state="idle"} 2"#));
//! # Ok(()) }
//! ```

mod collector;
mod format;

pub use collector::{LATENCY_BUCKETS, PoolCollector};
pub use format::{Format, PROMETHEUS_TEXT_CONTENT_TYPE, to_prometheus_text};

use prometheus_client::registry::Registry;

use crate::manager::PoolManager;

/// A registry with a [`PoolCollector`] for `manager` in it. Add your own metrics to it, or
/// register a `PoolCollector` in the registry you already have.
pub fn registry(manager: &PoolManager) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(PoolCollector::new(manager.clone())));
    registry
}

/// The OpenMetrics text of every pool of `manager`.
pub fn encode(manager: &PoolManager) -> String {
    encode_registry(&registry(manager))
}

/// The OpenMetrics text of `registry`.
pub fn encode_registry(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// The content type of [`encode`]'s output (OpenMetrics).
pub const CONTENT_TYPE: &str = format::OPENMETRICS_CONTENT_TYPE;
