//! # pool-manager
//!
//! Named pools of different databases behind one handle, for applications that talk to more
//! than one database (or to a primary and its read replicas).
//!
//! - [`PoolManager`]: `register("orders", pg_pool)`, then `get("orders")` returns a
//!   [`ManagedConnection`] usable through [`pool_core::ConnectionProtocol`], or through the
//!   adapter's native client by downcasting; `pool::<PostgresConnector>("orders")` returns
//!   the typed pool. Pools are isolated: one exhausted, failing or closed pool never slows
//!   another.
//! - [Read/write routing](routing): `get_read` picks a healthy replica, `get_write` the
//!   primary.
//! - [Configuration files](config_file): pool name → `url` and any `PoolConfig` override,
//!   with `${VAR}` substitution; an [`AdapterRegistry`] filled by the application maps URL
//!   schemes to adapters, so this crate depends on none.
//! - [`stats`](PoolManager::stats) of every pool as JSON, and
//!   [`close_all`](PoolManager::close_all) with a deadline.
//! - [Changes at run time](PoolManager::reload): `remove`, `replace` (waiting checkouts
//!   move to the new pool) and `reload` of the configuration file (only changed pools are
//!   rebuilt), each closing the old pools gracefully.
//! - [Prometheus metrics](metrics) named after OpenTelemetry's conventions, and (feature
//!   `http`) an [HTTP status service](http) with `/metrics`, `/health`, `/stats` and a
//!   `/dashboard`.
//!
//! ```
//! use pool_core::{ConnectionProtocol, Pool};
//! use pool_core::testing::{TestConnection, TestConnector};
//! use pool_manager::PoolManager;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = PoolManager::new();
//! manager.register("orders", Pool::builder(TestConnector::new()).name("orders").build().await?)?;
//!
//! let mut conn = manager.get("orders").await?;
//! let rows = conn.query("SELECT 1", &[]).await?;          // driver-neutral
//! let native = conn.downcast_mut::<TestConnection>();      // the adapter's own type
//! assert!(native.is_some());
//! # drop((rows, conn));
//! println!("{}", serde_json::to_string(&manager.stats())?);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

/// The Rust blocks of `docs/guide.md`, compiled (and run, unless marked `no_run`) as doctests
/// of this crate, whose dev-dependencies include every adapter the guide uses.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
pub struct GuideDoctests;

/// The Rust blocks of the workspace's `README.md`, compiled as doctests like the guide's.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

mod close;
pub mod config_file;
pub mod env_subst;
mod erased;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod manager;
pub mod metrics;
pub mod redact;
mod registry;
pub mod replica_lag;
pub mod routing;
mod runtime;
mod stats;

pub use close::{CloseAllReport, PoolCloseOutcome};
pub use config_file::{ManagerConfig, PoolSpec, ReplicaSpec};
pub use erased::{AnyPool, ManagedConnection};
pub use error::{ManagerError, Result};
pub use manager::PoolManager;
pub use registry::{AdapterRegistry, BuildFuture};
pub use routing::Role;
pub use runtime::ReloadReport;
pub use stats::{ManagerStats, RouteStats};
