//! Rotating databases without restarting: a manager built from a configuration file, the file
//! rewritten, and `reload_file` applying only what changed; then a pool replaced by hand and
//! one removed.
//!
//! ```sh
//! cargo run -p pool-manager --example runtime_changes
//! ```

use std::time::Duration;

use adapter_sqlite::SqliteConnector;
use pool_manager::{AdapterRegistry, ManagerConfig, ManagerError};

/// How long old pools get to have their connections returned before they are closed anyway.
const DRAIN: Duration = Duration::from_secs(10);

const BEFORE: &str = r#"
[pools.orders]
url = "sqlite::memory:"
max_size = 2

[pools.reports]
url = "sqlite::memory:"
"#;

/// `orders` grows, `reports` goes, `audit` comes.
const AFTER: &str = r#"
[pools.orders]
url = "sqlite::memory:"
max_size = 4

[pools.audit]
url = "sqlite::memory:"
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("pools.toml");
    std::fs::write(&path, BEFORE)?;

    let registry = AdapterRegistry::new().with_connector("sqlite", SqliteConnector::from_url);
    let manager = ManagerConfig::from_file(&path)?.build(&registry).await?;
    println!("started with {:?}", manager.names());

    // A request in flight while the configuration changes keeps its connection.
    let mut in_flight = manager.get("orders").await?;

    std::fs::write(&path, AFTER)?;
    let reload = tokio::spawn({
        let manager = manager.clone();
        let path = path.clone();
        async move { manager.reload_file(&path, DRAIN).await }
    });
    tokio::task::yield_now().await;
    in_flight.query("SELECT 1", &[]).await?;
    drop(in_flight);
    let report = reload.await??;
    println!("reloaded: {report}");

    match manager.get("reports").await {
        Err(ManagerError::Removed { name }) => println!("`{name}` is gone, as the file says"),
        other => println!("unexpected: {:?}", other.map(|c| c.id())),
    }

    // The same by hand: swap `audit` for a new pool, then remove it.
    let mut config = pool_core::PoolConfig::default();
    config.name = "audit".to_owned();
    let rotated = registry.build("audit", "sqlite::memory:", config).await?;
    let replaced = manager.replace("audit", rotated, DRAIN).await?;
    println!("audit replaced: {replaced}");
    let removed = manager.remove("audit", DRAIN).await?;
    println!("audit removed: {removed}");

    println!("now: {:?}", manager.names());
    manager.close_all(DRAIN).await;
    Ok(())
}
