//! Read/write routing: a logical pool with a primary and read replicas.
//!
//! - Writes ([`PoolManager::get_write`](crate::PoolManager::get_write)) always go to the
//!   primary.
//! - Reads ([`PoolManager::get_read`](crate::PoolManager::get_read)) go to the replica with
//!   the fewest connections handed out through the manager, skipping replicas that are closed
//!   or whose circuit breaker is open or half-open. With no healthy replica, they go to the
//!   primary.
//! - If the chosen replica fails the checkout with anything but a timeout (closed or breaker
//!   opened meanwhile, connect error), the read falls back to the primary once. A timeout is
//!   returned as is: waiting a second full acquire timeout on the primary would double the
//!   caller's latency, and a saturated replica usually means a saturated replica set.
//!
//! Choosing costs one atomic load and two short pool locks per replica; no histogram is
//! touched on this path.

use std::future::Future;
use std::sync::Arc;

use pool_core::CircuitState;
use serde::Serialize;

use crate::erased::{AnyPool, ManagedConnection};
use crate::error::{ManagerError, Result};
use crate::replica_lag::LagCell;

/// The part a pool plays in its logical pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Takes writes (and reads when no replica is healthy).
    Primary,
    /// Takes reads.
    Replica,
}

/// One pool of a logical pool, with the name it appears under.
pub(crate) struct Member {
    pub(crate) name: Arc<str>,
    pub(crate) pool: AnyPool,
    pub(crate) role: Role,
    /// The last replication lag sampled (replicas only; see [`crate::replica_lag`]).
    pub(crate) lag: LagCell,
}

impl Member {
    pub(crate) fn new(name: String, pool: AnyPool, role: Role) -> Self {
        Self {
            name: Arc::from(name),
            pool,
            role,
            lag: LagCell::default(),
        }
    }

    /// The checkout future, made now so that `#[track_caller]` reaches pool-core.
    #[track_caller]
    pub(crate) fn checkout(&self) -> impl Future<Output = Result<ManagedConnection>> + Send + '_ {
        let get = self.pool.checkout(None, self.name.clone());
        async move { get.await.map_err(|e| ManagerError::pool(&self.name, e)) }
    }

    /// Usable for reads: open and with a closed breaker.
    fn healthy(&self) -> bool {
        !self.pool.is_closed() && self.pool.circuit_state() == CircuitState::Closed
    }
}

/// A logical pool: the primary and its replicas.
pub(crate) struct Route {
    pub(crate) primary: Member,
    pub(crate) replicas: Vec<Member>,
}

impl Route {
    pub(crate) fn members(&self) -> impl Iterator<Item = &Member> {
        std::iter::once(&self.primary).chain(&self.replicas)
    }

    pub(crate) fn member_names(&self) -> Vec<&str> {
        self.members().map(|m| &*m.name).collect()
    }

    /// The replica a read should go to, if any is healthy: the fewest in use, the first on
    /// ties.
    pub(crate) fn pick_replica(&self) -> Option<&Member> {
        self.replicas
            .iter()
            .filter(|m| m.healthy())
            .min_by_key(|m| m.pool.in_use())
    }

    /// Both futures are made now (they do nothing until polled), so the caller's location
    /// reaches pool-core whichever pool serves the read.
    #[track_caller]
    pub(crate) fn get_read(&self) -> impl Future<Output = Result<ManagedConnection>> + Send + '_ {
        // No closure here: a closure would end the `#[track_caller]` chain.
        #[allow(
            clippy::manual_map,
            reason = "a closure would hide the caller's location"
        )]
        let replica = match self.pick_replica() {
            Some(member) => Some((member, member.checkout())),
            None => None,
        };
        let primary = self.primary.checkout();
        async move {
            let Some((replica, from_replica)) = replica else {
                return primary.await;
            };
            match from_replica.await {
                Ok(conn) => Ok(conn),
                Err(error) if error.is_timeout() => Err(error),
                Err(error) => {
                    tracing::warn!(
                        pool = %replica.name,
                        %error,
                        "read replica failed the checkout; falling back to the primary"
                    );
                    primary.await
                }
            }
        }
    }
}
