//! What the manager adds to a checkout: type erasure (two boxes), the name lookup and the
//! in-use count, measured against the typed pool on the same TestConnector-like workload.
//!
//! ```sh
//! cargo run --release -p pool-manager --example checkout_overhead
//! ```

use std::time::{Duration, Instant};

use pool_core::Pool;
use pool_core::testing::TestConnector;
use pool_manager::PoolManager;

const ROUNDS: u32 = 200_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder(TestConnector::new())
        .name("orders")
        .min_size(4)
        .max_size(4)
        .configure(|c| {
            c.test_on_checkout = false;
            c.reset_on_return = false;
            c.leak_detection_threshold = None;
        })
        .build()
        .await?;
    let manager = PoolManager::new();
    manager.register("orders", pool.clone())?;
    for name in ["a", "b", "c", "d", "e", "f", "g"] {
        manager.register(
            name,
            Pool::builder(TestConnector::new())
                .min_size(0)
                .build()
                .await?,
        )?;
    }

    for _ in 0..3 {
        let typed = time(|| async {
            drop(pool.get().await.unwrap());
        })
        .await;
        let managed = time(|| async {
            drop(manager.get("orders").await.unwrap());
        })
        .await;
        let read = time(|| async {
            drop(manager.get_read("orders").await.unwrap());
        })
        .await;
        println!(
            "per checkout+return: typed pool {:>6.0} ns, manager.get {:>6.0} ns (+{:.0} ns), manager.get_read {:>6.0} ns",
            per(typed),
            per(managed),
            per(managed) - per(typed),
            per(read)
        );
    }
    Ok(())
}

async fn time<F, Fut>(mut round: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    for _ in 0..ROUNDS {
        round().await;
    }
    start.elapsed()
}

fn per(total: Duration) -> f64 {
    total.as_nanos() as f64 / f64::from(ROUNDS)
}
