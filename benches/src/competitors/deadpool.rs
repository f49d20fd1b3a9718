//! deadpool's managed pool with a no-op manager.

use std::convert::Infallible;
use std::hint::black_box;

use deadpool::managed::{self, Metrics, Object, RecycleResult};

use super::{BenchPool, NoopConn, warm};

/// A manager whose create and recycle do nothing.
#[derive(Debug)]
pub struct NoopManager;

impl managed::Manager for NoopManager {
    type Type = NoopConn;
    type Error = Infallible;

    async fn create(&self) -> Result<NoopConn, Infallible> {
        Ok(NoopConn::default())
    }

    async fn recycle(&self, _: &mut NoopConn, _: &Metrics) -> RecycleResult<Infallible> {
        Ok(())
    }
}

/// deadpool (managed), default queue mode (FIFO), no timeouts.
#[derive(Debug, Clone)]
pub struct DeadpoolPool(managed::Pool<NoopManager>);

impl BenchPool for DeadpoolPool {
    const NAME: &'static str = "deadpool";
    type Conn<'a> = Object<NoopManager>;

    async fn build(size: usize) -> Self {
        let pool = managed::Pool::builder(NoopManager)
            .max_size(size)
            .build()
            .expect("building deadpool");
        let pool = Self(pool);
        warm(&pool, size).await;
        pool
    }

    async fn get(&self) -> Result<Self::Conn<'_>, String> {
        self.0.get().await.map_err(|e| e.to_string())
    }

    fn touch(conn: &mut Self::Conn<'_>) {
        conn.uses += 1;
        black_box(conn.uses);
    }
}
