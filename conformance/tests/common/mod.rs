//! What the replica tests share.

use std::time::Duration;

use pool_manager::PoolManager;
use tokio::time::Instant;

/// The replicas' lags of `name`, sampled until every replica reports one (or 10 s pass).
/// Sampling uses idle connections only, and the test's last read connection may still be on
/// its way back to its pool when this starts.
pub async fn sampled_lags(manager: &PoolManager, name: &str) -> Vec<(String, Option<Duration>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        manager.sample_replica_lag().await;
        let lags = manager.replica_lag(name).expect("the pool is registered");
        if lags.iter().all(|(_, lag)| lag.is_some()) || Instant::now() >= deadline {
            return lags;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
