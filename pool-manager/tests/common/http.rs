//! A status service with SQLite pools under load, for the HTTP and browser tests.

use std::time::Duration;

use adapter_sqlite::SqliteConnector;
use pool_core::{Pool, Value};
use pool_manager::PoolManager;
use pool_manager::http::Server;

/// A manager with two SQLite pools (`cache`, `reports`) that saw `checkouts` checkouts each
/// on `cache` and one acquire timeout on `reports`, served on a free port.
pub async fn service_with_activity(checkouts: usize) -> (PoolManager, Server) {
    let manager = PoolManager::new();
    for (name, max) in [("cache", 4), ("reports", 1)] {
        let pool = Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
            .name(name)
            .min_size(1)
            .max_size(max)
            .acquire_timeout(Duration::from_millis(50))
            .build()
            .await
            .unwrap();
        manager.register(name, pool).unwrap();
    }
    let mut conn = manager.get("cache").await.unwrap();
    conn.execute("CREATE TABLE t (x INTEGER)", &[])
        .await
        .unwrap();
    drop(conn);
    for i in 0..checkouts {
        let mut conn = manager.get("cache").await.unwrap();
        conn.execute("INSERT INTO t VALUES (?)", &[Value::I64(i as i64)])
            .await
            .unwrap();
    }
    let held = manager.get("reports").await.unwrap();
    let err = manager.get("reports").await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    drop(held);
    let server = pool_manager::http::serve(manager.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    (manager, server)
}

/// GET `path` from the server; returns status and body.
pub async fn get(server: &Server, path: &str) -> (u16, String) {
    let url = format!("http://{}{path}", server.local_addr());
    let response = reqwest::get(&url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}
