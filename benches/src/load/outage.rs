//! Making the database fail on purpose, mid-run.
//!
//! For the no-op connector, [`NoopOutage`] uses `TestConnector`'s fault injection: connects
//! fail and every open connection dies at its next use. For real databases, [`Switch`] wraps
//! the connector: during an outage it connects to a closed port (or a missing directory for
//! SQLite) instead, and every connection opened before the outage reports itself broken, as
//! after a server restart. Either way the pool must discard the dead connections, fail its
//! reconnects, open the circuit breaker, and recover once the outage ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pool_core::testing::{Behavior, Faults};
use pool_core::{
    BackendError, ConnectionProtocol, Connector, Error, ParameterStyle, ResetStart, Result, Row,
    Value, async_trait,
};

/// Starts and ends an outage.
pub trait Outage: Send + Sync {
    /// The database goes away.
    fn begin(&self);
    /// The database is back.
    fn end(&self);
}

/// An outage of the no-op connector, through its fault injection.
#[derive(Debug)]
pub struct NoopOutage(pub Arc<Faults>);

impl Outage for NoopOutage {
    fn begin(&self) {
        self.0.set_connect(Behavior::Fail);
        // Every connection with more than one use so far dies at its next query.
        self.0.set_die_after_uses(1);
    }

    fn end(&self) {
        self.0.set_connect(Behavior::Ok);
        self.0.set_die_after_uses(0);
    }
}

#[derive(Debug, Default)]
struct SwitchState {
    failing: AtomicBool,
    /// Bumped when an outage begins: connections of an older epoch are dead.
    epoch: AtomicU64,
}

/// A connector that can be switched to a dead address; see the [module docs](self).
#[derive(Debug)]
pub struct Switch<M> {
    up: M,
    down: M,
    state: Arc<SwitchState>,
}

impl<M: Connector> Switch<M> {
    /// `up` is the real database, `down` an address where nothing listens.
    pub fn new(up: M, down: M) -> (Self, Arc<dyn Outage>) {
        let state = Arc::new(SwitchState::default());
        let outage = Arc::new(SwitchOutage(state.clone()));
        (Self { up, down, state }, outage)
    }
}

struct SwitchOutage(Arc<SwitchState>);

impl Outage for SwitchOutage {
    fn begin(&self) {
        self.0.epoch.fetch_add(1, Ordering::SeqCst);
        self.0.failing.store(true, Ordering::SeqCst);
    }

    fn end(&self) {
        self.0.failing.store(false, Ordering::SeqCst);
    }
}

#[async_trait]
impl<M: Connector> Connector for Switch<M> {
    type Connection = Switched<M::Connection>;

    async fn connect(&self) -> Result<Self::Connection> {
        if self.state.failing.load(Ordering::SeqCst) {
            // The real error of connecting to a dead address; should something answer there
            // after all, the outage still holds.
            let mut conn = self.down.connect().await?;
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
            return Err(Error::Connect(BackendError::connection(
                "simulated outage: the database is down",
            )));
        }
        let inner = self.up.connect().await?;
        Ok(Switched {
            inner,
            epoch: self.state.epoch.load(Ordering::SeqCst),
            state: self.state.clone(),
        })
    }

    async fn validate(&self, conn: &mut Self::Connection) -> Result<()> {
        conn.alive()?;
        self.up.validate(&mut conn.inner).await
    }
}

/// A connection of [`Switch`]: the real one, dead once an outage began after it opened.
#[derive(Debug)]
pub struct Switched<C> {
    inner: C,
    epoch: u64,
    state: Arc<SwitchState>,
}

impl<C> Switched<C> {
    fn dead(&self) -> bool {
        self.state.epoch.load(Ordering::Relaxed) != self.epoch
    }

    fn alive(&self) -> Result<()> {
        if self.dead() {
            Err(Error::Backend(BackendError::connection(
                "simulated outage: the server closed the connection",
            )))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl<C: ConnectionProtocol> ConnectionProtocol for Switched<C> {
    async fn ping(&mut self) -> Result<()> {
        self.alive()?;
        self.inner.ping().await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.alive()?;
        self.inner.execute(sql, params).await
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.alive()?;
        self.inner.query(sql, params).await
    }

    async fn reset(&mut self) -> Result<()> {
        self.alive()?;
        self.inner.reset().await
    }

    fn begin_reset(&mut self) -> ResetStart {
        self.inner.begin_reset()
    }

    fn is_broken(&self) -> bool {
        self.dead() || self.inner.is_broken()
    }

    async fn close(&mut self) -> Result<()> {
        self.inner.close().await
    }

    fn parameter_style(&self) -> ParameterStyle {
        self.inner.parameter_style()
    }

    fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_query_timeout(timeout);
    }
}
