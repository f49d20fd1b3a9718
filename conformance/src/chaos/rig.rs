//! [`Rig`]: one scenario's own pool, behind a fault proxy or straight to the server, and the
//! helpers every scenario shares.
//!
//! Two configurations: the suite's tuned one ([`Rig::new`], [`Rig::direct`]: a 300 ms breaker
//! interval, 50–200 ms connect backoff, 1–2 s timeouts, a 500 ms cancel budget in the
//! adapter) and the one a new user gets ([`Rig::defaults`]: `PoolConfig::default()` and the
//! adapter's default options, apart from what [`Rig::defaults`] lists).

use std::sync::Arc;
use std::time::Duration;

use pool_core::{Pool, PoolConfig};
use tokio::time::Instant;

use super::load::{LoadStats, OutcomeKind};
use super::{ChaosDb, Measured, close_and_check, settle};
use crate::fault_proxy::{Fault, FaultProxy};
use crate::marker::Marker;

/// Slack for a loaded two-core machine on top of any configured timeout.
pub(super) const MARGIN: Duration = Duration::from_millis(750);

/// How long a pool may take to settle after a scenario.
pub(super) const SETTLE: Duration = Duration::from_secs(8);

/// A pool of the scenario's own behind a fault proxy (for server databases).
pub(super) struct Rig<D: ChaosDb> {
    pub(super) db: Arc<D>,
    pub(super) proxy: Option<FaultProxy>,
    pub(super) marker: Marker,
    pub(super) pool: Pool<D::Connector>,
}

impl<D: ChaosDb> Rig<D> {
    /// The tuned configuration, behind a fresh fault proxy (when the database has a server).
    pub(super) async fn new(
        db: &Arc<D>,
        purpose: &str,
        configure: impl FnOnce(&mut PoolConfig),
    ) -> Self {
        let proxy = start_proxy(&**db).await;
        Self::with_proxy(db, purpose, proxy, configure).await
    }

    /// The tuned configuration, straight to the server, no proxy.
    pub(super) async fn direct(
        db: &Arc<D>,
        purpose: &str,
        configure: impl FnOnce(&mut PoolConfig),
    ) -> Self {
        Self::with_proxy(db, purpose, None, configure).await
    }

    /// The tuned configuration: short timeouts, a 300 ms breaker interval and a fast connect
    /// backoff, so the scenarios finish quickly; the connector's own cancel budget is 500 ms
    /// ([`ChaosDb::connector`]).
    async fn with_proxy(
        db: &Arc<D>,
        purpose: &str,
        proxy: Option<FaultProxy>,
        configure: impl FnOnce(&mut PoolConfig),
    ) -> Self {
        let marker = Marker::unique(purpose);
        let connector = db
            .connector(proxy.as_ref().map(FaultProxy::addr), &marker)
            .expect("the connector builds");
        let mut config = PoolConfig::default();
        config.name = marker.as_str().to_owned();
        config.min_size = Some(2);
        config.max_size = 8;
        config.acquire_timeout = Duration::from_secs(2);
        config.connect_timeout = Duration::from_secs(1);
        config.connect_backoff_initial = Duration::from_millis(50);
        config.connect_backoff_max = Duration::from_millis(200);
        config.query_timeout = Some(Duration::from_secs(2));
        config.close_timeout = Duration::from_secs(1);
        config.health_check_timeout = Duration::from_millis(500);
        config.circuit_breaker.open_duration = Duration::from_millis(300);
        configure(&mut config);
        Self::build(db, proxy, marker, connector, config).await
    }

    /// The configuration a new user gets: `PoolConfig::default()` with a 2 s acquire timeout
    /// and `max_size` 8 (as issue 12 tried it), then `configure` for what a scenario
    /// structurally needs (each scenario says what), and the adapter's default options
    /// ([`ChaosDb::connector_with_adapter_defaults`]: only the marker that names the pool's
    /// sessions is set). Behind a fresh fault proxy when `behind_proxy` and the database has a
    /// server.
    pub(super) async fn defaults(
        db: &Arc<D>,
        purpose: &str,
        behind_proxy: bool,
        configure: impl FnOnce(&mut PoolConfig),
    ) -> Self {
        let proxy = if behind_proxy {
            start_proxy(&**db).await
        } else {
            None
        };
        let marker = Marker::unique(purpose);
        let connector = db
            .connector_with_adapter_defaults(proxy.as_ref().map(FaultProxy::addr), &marker)
            .expect("the connector builds");
        let mut config = defaults_config();
        config.name = marker.as_str().to_owned();
        configure(&mut config);
        Self::build(db, proxy, marker, connector, config).await
    }

    async fn build(
        db: &Arc<D>,
        proxy: Option<FaultProxy>,
        marker: Marker,
        connector: D::Connector,
        config: PoolConfig,
    ) -> Self {
        let pool = Pool::builder(connector)
            .config(config)
            .build()
            .await
            .expect("the pool builds");
        Self {
            db: db.clone(),
            proxy,
            marker,
            pool,
        }
    }

    /// The fault proxy.
    ///
    /// # Panics
    ///
    /// When the rig was built without one.
    pub(super) fn proxy(&self) -> &FaultProxy {
        self.proxy
            .as_ref()
            .expect("this scenario needs a server behind a proxy")
    }

    /// Lifts any fault, waits until the pool agrees with the server, closes the pool and checks
    /// that the server lists none of its sessions.
    pub(super) async fn finish(self, m: &mut Measured) {
        if let Some(p) = &self.proxy {
            p.set(Fault::Pass);
        }
        let t = Instant::now();
        let total = settle(&*self.db, &self.pool, &self.marker, SETTLE).await;
        m.note("settled", (t.elapsed(), total));
        close_and_check(&*self.db, &self.pool, &self.marker, Duration::from_secs(5)).await;
    }
}

/// `PoolConfig::default()` with the two changes issue 12 made to try it: a 2 s acquire
/// timeout (instead of 30 s) and `max_size` 8.
pub fn defaults_config() -> PoolConfig {
    let mut config = PoolConfig::default();
    config.max_size = 8;
    config.acquire_timeout = Duration::from_secs(2);
    config
}

async fn start_proxy<D: ChaosDb>(db: &D) -> Option<FaultProxy> {
    match db.server_addr() {
        Some(addr) => Some(
            FaultProxy::start(addr)
                .await
                .expect("the fault proxy starts"),
        ),
        None => None,
    }
}

/// The `p` quantile (0 to 1) of `v`; zero when empty.
pub(super) fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

/// No error kind that a network or server fault should never produce.
pub(super) fn assert_only_typed_fault_errors(db: &str, stats: &LoadStats) {
    for kind in [
        OutcomeKind::QueryFailed,
        OutcomeKind::Other,
        OutcomeKind::CircuitOpenWithoutCause,
    ] {
        assert_eq!(
            stats.count(kind),
            0,
            "{db}: {kind:?} errors, e.g. {:?} (all: {})",
            stats.first_error(kind),
            stats.summary()
        );
    }
}
