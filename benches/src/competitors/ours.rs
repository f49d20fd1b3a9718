//! pool-core with its no-op [`TestConnector`].

use std::hint::black_box;
use std::time::Duration;

use pool_core::testing::{TestConnection, TestConnector};
use pool_core::{ConnectionProtocol, Pool, PoolConfig, PooledConnection};

use super::BenchPool;

/// pool-core as users run it: [`PoolConfig::default()`] with only the size set (see
/// [`default_config`]). The headline column: every ratio in the tables is this pool against
/// the others.
#[derive(Debug, Clone)]
pub struct OursPool(pub Pool<TestConnector>);

/// pool-core configured for a fair comparison (see [`fair_config`]): the work a no-op
/// competitor skips is off. Its column shows what the defaults cost.
#[derive(Debug, Clone)]
pub struct OursFairPool(pub OursPool);

/// The default configuration with `min_size` = `max_size` = `size` (so every connection is
/// open before the first measurement) and a name; nothing else changed: session reset on
/// return, checkout validation with its bypass, leak detection, health checks, statistics,
/// the auto-scaler and the breaker all as a user gets them.
pub fn default_config(size: usize) -> PoolConfig {
    let mut config = PoolConfig::default();
    config.name = "bench".to_owned();
    config.min_size = Some(size);
    config.max_size = size;
    config
}

/// The configuration the overhead comparison uses: everything a no-op competitor does not do
/// is off (session reset on return, checkout validation, leak detection); health checks,
/// statistics, the auto-scaler sampler and the breaker stay as they are by default. `min_size`
/// = `max_size`, so every connection is open before the first measurement.
pub fn fair_config(size: usize) -> PoolConfig {
    let mut config = PoolConfig::default();
    config.name = "bench".to_owned();
    config.min_size = Some(size);
    config.max_size = size;
    config.reset_on_return = false;
    config.test_on_checkout = false;
    config.leak_detection_threshold = None;
    config.acquire_timeout = Duration::from_secs(60);
    config
}

impl OursPool {
    /// Builds a pool with an explicit configuration (the features bench varies it).
    pub async fn with_config(config: PoolConfig) -> Self {
        let pool = Pool::builder(TestConnector::new())
            .config(config)
            .build()
            .await
            .expect("building pool-core");
        Self(pool)
    }
}

impl BenchPool for OursPool {
    const NAME: &'static str = "ours";
    type Conn<'a> = PooledConnection<TestConnector>;

    async fn build(size: usize) -> Self {
        Self::with_config(default_config(size)).await
    }

    async fn get(&self) -> Result<Self::Conn<'_>, String> {
        self.0.get().await.map_err(|e| e.to_string())
    }

    fn touch(conn: &mut Self::Conn<'_>) {
        let conn: &mut TestConnection = conn;
        black_box(conn.uses());
        black_box(conn.is_broken());
    }
}

impl BenchPool for OursFairPool {
    const NAME: &'static str = "ours-fair";
    type Conn<'a> = PooledConnection<TestConnector>;

    async fn build(size: usize) -> Self {
        Self(OursPool::with_config(fair_config(size)).await)
    }

    async fn get(&self) -> Result<Self::Conn<'_>, String> {
        self.0.get().await
    }

    fn touch(conn: &mut Self::Conn<'_>) {
        OursPool::touch(conn);
    }
}
