//! mobc with a no-op manager.

use std::convert::Infallible;
use std::hint::black_box;

use mobc::{Connection, Manager, async_trait};

use super::{BenchPool, NoopConn, warm};

/// A manager whose connect and check do nothing.
#[derive(Debug)]
pub struct NoopManager;

#[async_trait]
impl Manager for NoopManager {
    type Connection = NoopConn;
    type Error = Infallible;

    async fn connect(&self) -> Result<NoopConn, Infallible> {
        Ok(NoopConn::default())
    }

    async fn check(&self, conn: NoopConn) -> Result<NoopConn, Infallible> {
        Ok(conn)
    }
}

/// mobc with `test_on_check_out(false)`, `max_idle = max_open` so returned connections are
/// kept, no lifetime limits.
#[derive(Clone)]
pub struct MobcPool(mobc::Pool<NoopManager>);

impl std::fmt::Debug for MobcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MobcPool")
    }
}

impl BenchPool for MobcPool {
    const NAME: &'static str = "mobc";
    type Conn<'a> = Connection<NoopManager>;

    async fn build(size: usize) -> Self {
        let pool = mobc::Pool::builder()
            .max_open(size as u64)
            .max_idle(size as u64)
            .test_on_check_out(false)
            .max_lifetime(None)
            .max_idle_lifetime(None)
            .get_timeout(None)
            .build(NoopManager);
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
