//! One application, three databases: SQLite, PostgreSQL and MySQL pools in one manager,
//! routed by name, built from a configuration file through an adapter registry.
//!
//! ```sh
//! cargo run -p pool-manager --example multi_db
//! PG_URL=postgres://app:secret@db/shop MYSQL_URL=mysql://app:secret@db/shop cargo run -p pool-manager --example multi_db
//! ```
//!
//! A server that cannot be reached is reported by name (with the password hidden) and the
//! application goes on with the others.

use std::time::Duration;

use adapter_mysql::{MysqlConnection, MysqlConnector};
use adapter_postgres::{PostgresConnection, PostgresConnector};
use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_manager::{AdapterRegistry, ManagedConnection, ManagerConfig, PoolManager};

/// The configuration, as it would live in a file; URLs come from the environment.
const CONFIG: &str = r#"
[defaults]
min_size = 1
max_size = 4
acquire_timeout = "3s"
connect_timeout = "3s"

[pools.orders]   # PostgreSQL
url = "${PG_URL:-postgres://root@127.0.0.1:5432/test}"

[pools.users]    # MySQL / MariaDB
url = "${MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"

[pools.cache]    # SQLite, in memory
url = "sqlite::memory:"
max_size = 2
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ManagerConfig::from_toml_str(CONFIG)?;
    let registry = AdapterRegistry::new()
        .with_connector("postgres", PostgresConnector::from_url)
        .with_connector("postgresql", PostgresConnector::from_url)
        .with_connector("mysql", MysqlConnector::from_url)
        .with_connector("sqlite", SqliteConnector::from_url);

    // Build pool by pool, so one unreachable server does not stop the others.
    let manager = PoolManager::new();
    for (name, spec) in &config.pools {
        match registry.build(name, spec.url(), spec.config.clone()).await {
            Ok(pool) => {
                manager.register(name.as_str(), pool)?;
                println!("✓ {name:<7} {}", spec.redacted_url());
            }
            Err(error) => println!("✗ {name:<7} could not be reached: {error}"),
        }
    }
    if manager.names().is_empty() {
        println!("no database could be reached");
        return Ok(());
    }

    // Route by name: the same driver-neutral code runs on each database...
    for name in manager.names() {
        let mut conn = manager.get(&name).await?;
        let rows = conn.query("SELECT 1 + 1", &[]).await?;
        println!("{name:<7} SELECT 1 + 1 = {:?}", rows[0].get(0));
        println!("{name:<7} {}", native_version(&mut conn).await?);
    }

    // ... and the stats of all of them in one document.
    let stats = manager.stats();
    for (name, s) in &stats.pools {
        println!(
            "{name:<7} {:?}: {} open ({} idle), {} checkouts, wait p99 {:.2} ms",
            s.state, s.total, s.idle, s.checkouts_total, s.wait.p99_ms
        );
    }
    println!(
        "as JSON: {} bytes (serve it with pool_manager::http)",
        serde_json::to_string(&stats)?.len()
    );
    println!("{}", manager.close_all(Duration::from_secs(5)).await);
    Ok(())
}

/// Each adapter's native client, reached by downcasting the type-erased connection.
async fn native_version(
    conn: &mut ManagedConnection,
) -> Result<String, Box<dyn std::error::Error>> {
    if let Some(pg) = conn.downcast_mut::<PostgresConnection>() {
        let row = pg.client().query_one("SHOW server_version", &[]).await?;
        return Ok(format!(
            "PostgreSQL {} (tokio-postgres client)",
            row.get::<_, String>(0)
        ));
    }
    if let Some(my) = conn.downcast_mut::<MysqlConnection>() {
        let (major, minor, patch) = my.conn().server_version();
        return Ok(format!(
            "MySQL/MariaDB {major}.{minor}.{patch} (mysql_async client)"
        ));
    }
    if let Some(lite) = conn.downcast_mut::<SqliteConnection>() {
        let version: String = lite
            .with_native(|db| db.query_row("SELECT sqlite_version()", [], |r| r.get(0)))
            .await??;
        return Ok(format!("SQLite {version} (rusqlite)"));
    }
    Ok("unknown database".to_owned())
}
