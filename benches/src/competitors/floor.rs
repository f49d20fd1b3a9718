//! Not a pool: the floor under every fair pool on this runtime.
//!
//! A `get` is one permit of tokio's `Semaphore` (fair, first come first served; its waiters
//! live in an intrusive list, so waiting allocates nothing) and there are no connections
//! behind it. What a cycle costs here is what the runtime charges for one get, hold and
//! return with a FIFO hand-over: task wake-ups, polls and the semaphore's own atomics and
//! lock. A pool that hands out real objects, counts them and keeps them fair cannot be
//! cheaper than this, so in hold mode this column bounds what any pool can gain over another.

use std::hint::black_box;

use tokio::sync::{Semaphore, SemaphorePermit};

use super::BenchPool;

/// `size` permits of one `tokio::sync::Semaphore`; no objects, no statistics.
#[derive(Debug)]
pub struct SemaphoreFloor(Semaphore);

impl BenchPool for SemaphoreFloor {
    const NAME: &'static str = "floor";
    type Conn<'a> = SemaphorePermit<'a>;

    async fn build(size: usize) -> Self {
        Self(Semaphore::new(size))
    }

    async fn get(&self) -> Result<Self::Conn<'_>, String> {
        self.0.acquire().await.map_err(|e| e.to_string())
    }

    fn touch(conn: &mut Self::Conn<'_>) {
        black_box(conn.num_permits());
    }
}
