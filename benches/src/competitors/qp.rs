//! qp with a no-op manager.
//!
//! qp 0.2.1 hangs as soon as a get has to wait for a connection (measured: 1,024 tasks over
//! 4 connections in hold mode never finish). The benchmarks therefore run every cell under a
//! timeout and report a hang instead of a number.

use std::convert::Infallible;
use std::hint::black_box;

use qp::Pooled;
use qp::async_trait;
use qp::resource::Manage;

use super::BenchPool;

/// A manager whose create does nothing and whose validation always passes.
#[derive(Debug)]
pub struct NoopManager;

/// qp's resources must be `Sync`; our counter is touched through `&mut`, so a plain integer.
#[derive(Debug, Default)]
pub struct QpConn {
    /// Bumped on every touch.
    pub uses: u64,
}

#[async_trait]
impl Manage for NoopManager {
    type Output = QpConn;
    type Error = Infallible;

    async fn try_create(&self) -> Result<QpConn, Infallible> {
        Ok(QpConn::default())
    }
}

/// qp, fully reserved up front; gets use `acquire_unchecked` (no validation call).
#[derive(Clone)]
pub struct QpPool(qp::Pool<NoopManager>);

impl std::fmt::Debug for QpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QpPool")
    }
}

impl BenchPool for QpPool {
    const NAME: &'static str = "qp";
    type Conn<'a> = Pooled<'a, NoopManager>;

    async fn build(size: usize) -> Self {
        let pool = qp::Pool::new(NoopManager, size);
        pool.reserve(size).await.expect("reserving qp resources");
        Self(pool)
    }

    async fn get(&self) -> Result<Self::Conn<'_>, String> {
        match self.0.acquire_unchecked().await {
            Ok(conn) => Ok(conn),
            Err(never) => match never {},
        }
    }

    fn touch(conn: &mut Self::Conn<'_>) {
        conn.uses += 1;
        black_box(conn.uses);
    }
}
