//! bb8 with a no-op connection manager.

use std::convert::Infallible;
use std::hint::black_box;

use bb8::{ManageConnection, PooledConnection};

use super::{BenchPool, NoopConn};

/// A manager whose connect and validation do nothing.
#[derive(Debug)]
pub struct NoopManager;

impl ManageConnection for NoopManager {
    type Connection = NoopConn;
    type Error = Infallible;

    async fn connect(&self) -> Result<NoopConn, Infallible> {
        Ok(NoopConn::default())
    }

    async fn is_valid(&self, _: &mut NoopConn) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut NoopConn) -> bool {
        false
    }
}

/// bb8 with `test_on_check_out(false)` (its default would call `is_valid` on every get) and
/// `min_idle = max_size`, so every connection is open before measuring.
#[derive(Debug, Clone)]
pub struct Bb8Pool(bb8::Pool<NoopManager>);

impl BenchPool for Bb8Pool {
    const NAME: &'static str = "bb8";
    type Conn<'a> = PooledConnection<'a, NoopManager>;

    async fn build(size: usize) -> Self {
        let size = u32::try_from(size).expect("pool size fits u32");
        let pool = bb8::Pool::builder()
            .max_size(size)
            .min_idle(Some(size))
            .test_on_check_out(false)
            .connection_timeout(std::time::Duration::from_secs(60))
            .build(NoopManager)
            .await
            .expect("building bb8");
        // min_idle fills in the background: wait until it has.
        while pool.state().connections < size {
            tokio::task::yield_now().await;
        }
        Self(pool)
    }

    async fn get(&self) -> Result<Self::Conn<'_>, String> {
        self.0.get().await.map_err(|e| e.to_string())
    }

    fn touch(conn: &mut Self::Conn<'_>) {
        conn.uses += 1;
        black_box(conn.uses);
    }
}
