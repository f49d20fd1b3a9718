//! # pool-core
//!
//! A driver-agnostic async connection pool for tokio. Adapters (`adapter-postgres`,
//! `adapter-mysql`, `adapter-sqlite`) implement [`Connector`] and [`ConnectionProtocol`];
//! this crate knows nothing about any database.
//!
//! ## What the pool promises
//! - **Fair**: callers are served first come, first served; a returned connection goes
//!   straight to the oldest waiter. A caller that finds an idle connection with nobody queued
//!   ahead takes it without suspending.
//! - **Cancellation safe**: dropping a `get()` future at any point (timeout, `select!`,
//!   aborted task) never leaks a slot or a connection. Connections are opened in their own
//!   tasks, so a caller giving up never aborts a connect half-way.
//! - **Bounded**: never more than `max_size` connections, never more than
//!   `max_concurrent_creates` being opened at once; every wait, connect, ping, reset and close
//!   has a timeout, and dropping a connection never blocks.
//! - **Honest errors**: a timeout says how many connections were active, idle, being opened
//!   and waited for, and the last connect error, so an exhausted pool is told apart from a
//!   dead database. An open circuit breaker fails fast with the real cause.
//! - **Self-healing**: broken connections are closed on return, stale ones validated at
//!   checkout, idle ones pinged in the background, old ones retired with jitter; the pool
//!   refills to its warm size on its own.
//!
//! ## What it does not promise
//! - It cannot make a connection that a holder keeps forever come back: leak detection reports
//!   it (with the checkout's stack trace) and can reclaim its slot, but the holder still has it.
//! - Session reset is the adapter's work; what it clears depends on the database.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod acquire;
mod breaker;
mod broken;
mod builder;
mod checkin;
mod clock;
mod close;
mod config;
mod conn;
mod create;
mod credentials;
mod deadline;
mod error;
mod guard;
mod histogram;
mod hooks;
mod inner;
mod mailbox;
mod maintenance;
mod metadata;
mod pending;
mod plan;
mod pool;
mod protocol;
mod retain;
mod stash;
mod state;
mod stats;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod transaction;
mod value;
mod waiters;

pub use breaker::CircuitState;
pub use builder::PoolBuilder;
pub use config::{AutoscaleConfig, CircuitBreakerConfig, DEFAULT_MIN_SIZE, PoolConfig, WarmupMode};
pub use credentials::{CredentialsProvider, Secret};
pub use error::{BackendError, Error, ErrorClass, PoolCounts, Result};
pub use guard::PooledConnection;
pub use histogram::{LatencySnapshot, LatencySummary};
pub use hooks::{BoxFuture, Hook};
pub use metadata::ConnectionMetadata;
pub use pool::{CircuitBreaker, CloseReport, Pool};
pub use protocol::{ConnectionProtocol, Connector, ResetStart};
pub use retain::RetainReport;
pub use stats::{PoolHistograms, PoolState, PoolStats};
pub use transaction::Transaction;
pub use value::{ParameterStyle, Row, Value};

/// Re-exported so adapters implement the traits with the same macro version.
pub use async_trait::async_trait;
