//! [`ManagerStats`]: every pool's [`PoolStats`] in one JSON document.

use std::collections::BTreeMap;

use pool_core::{PoolState, PoolStats};
use serde::Serialize;

/// Every pool's numbers, keyed by the name the pool appears under (replicas as
/// `{name}.replicaN`), and the logical pools with their members.
///
/// ```json
/// {"pools": {"orders": {"name": "orders", "state": "healthy", "active": 1, ...}},
///  "routes": {"orders": {"primary": "orders", "replicas": ["orders.replica1"]}}}
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ManagerStats {
    /// One [`PoolStats`] per pool.
    pub pools: BTreeMap<String, PoolStats>,
    /// Logical pools: which pool is the primary and which are replicas.
    pub routes: BTreeMap<String, RouteStats>,
}

/// The members of one logical pool.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct RouteStats {
    /// The primary's name.
    pub primary: String,
    /// The replicas' names.
    pub replicas: Vec<String>,
}

impl ManagerStats {
    /// True when any pool is [`PoolState::Critical`] (its circuit breaker is not closed).
    pub fn any_critical(&self) -> bool {
        self.pools.values().any(|s| s.state == PoolState::Critical)
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
