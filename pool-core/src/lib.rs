//! # pool-core
//!
//! A driver-agnostic async connection pool for tokio. Adapters (`adapter-postgres`,
//! `adapter-mysql`, `adapter-sqlite`) implement [`Connector`] and [`ConnectionProtocol`];
//! this crate knows nothing about any database.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod config;
mod error;
mod protocol;
mod value;

pub use config::{AutoscaleConfig, CircuitBreakerConfig, PoolConfig, WarmupMode};
pub use error::{BackendError, Error, ErrorClass, PoolCounts, Result};
pub use protocol::{ConnectionProtocol, Connector};
pub use value::{ParameterStyle, Row, Value};

/// Re-exported so adapters implement the traits with the same macro version.
pub use async_trait::async_trait;
