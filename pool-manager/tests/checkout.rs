//! Checkouts through the manager: type-erased connections that still reach the native client,
//! typed pools, and errors that name the pools.

mod common;

use adapter_mysql::{MysqlConnection, MysqlConnector};
use adapter_postgres::{PostgresConnection, PostgresConnector};
use adapter_sqlite::{SqliteConnection, SqliteConnector};
use common::{MYSQL_URL, PG_URL, test_pool};
use pool_core::testing::{TestConnection, TestConnector};
use pool_core::{ConnectionProtocol, Pool, Value};
use pool_manager::{ManagerError, PoolManager};

async fn sqlite_pool(name: &str) -> Pool<SqliteConnector> {
    Pool::builder(SqliteConnector::from_url("sqlite::memory:").unwrap())
        .name(name)
        .min_size(1)
        .max_size(2)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn get_returns_a_connection_usable_through_connection_protocol() {
    let manager = PoolManager::new();
    manager
        .register("cache", sqlite_pool("cache").await)
        .unwrap();
    let mut conn = manager.get("cache").await.unwrap();
    conn.execute("CREATE TABLE kv (k TEXT, v INTEGER)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO kv VALUES (?, ?)", &["a".into(), Value::I64(7)])
        .await
        .unwrap();
    let rows = conn
        .query("SELECT v FROM kv WHERE k = ?", &["a".into()])
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(7)));
    assert_eq!(conn.pool_name(), "cache");
    let protocol: &mut dyn ConnectionProtocol = &mut *conn;
    protocol.ping().await.unwrap();
}

#[tokio::test]
async fn downcast_mut_reaches_the_native_sqlite_client() {
    let manager = PoolManager::new();
    manager
        .register("cache", sqlite_pool("cache").await)
        .unwrap();
    let mut conn = manager.get("cache").await.unwrap();
    assert!(conn.is::<SqliteConnection>());
    assert!(
        conn.downcast_mut::<TestConnection>().is_none(),
        "wrong type gives None"
    );
    let native: &mut SqliteConnection = conn.downcast_mut().unwrap();
    let version: String = native
        .with_native(|db| {
            db.query_row("SELECT sqlite_version()", [], |r| r.get(0))
                .unwrap()
        })
        .await
        .unwrap();
    assert!(version.starts_with('3'), "{version}");
}

#[tokio::test]
async fn typed_pool_is_returned_for_its_connector_and_refused_for_another() {
    let manager = PoolManager::new();
    manager
        .register("cache", sqlite_pool("cache").await)
        .unwrap();
    let typed: Pool<SqliteConnector> = manager.pool("cache").unwrap();
    let mut conn = typed.get().await.unwrap();
    conn.ping().await.unwrap();
    let err = manager.pool::<TestConnector>("cache").unwrap_err();
    assert!(matches!(err, ManagerError::WrongType { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("SqliteConnector") && text.contains("TestConnector"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_name_error_lists_the_registered_names() {
    let manager = PoolManager::new();
    manager
        .register("orders", test_pool("orders", 0, 1).await.0)
        .unwrap();
    manager
        .register("cache", test_pool("cache", 0, 1).await.0)
        .unwrap();
    let err = manager.get("ordres").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no pool named `ordres`; the registered pools are: cache, orders"
    );
    let ManagerError::UnknownPool { known, .. } = err else {
        panic!("not UnknownPool")
    };
    assert_eq!(known, ["cache", "orders"]);
    let empty = PoolManager::new().get("x").await.unwrap_err();
    assert!(empty.to_string().ends_with("(none)"), "{empty}");
}

#[tokio::test]
async fn registering_a_taken_name_fails_and_keeps_the_first_pool() {
    let manager = PoolManager::new();
    manager
        .register("orders", test_pool("orders", 0, 1).await.0)
        .unwrap();
    let err = manager
        .register("orders", sqlite_pool("orders").await)
        .unwrap_err();
    assert!(matches!(err, ManagerError::DuplicatePool { .. }), "{err:?}");
    assert!(manager.pool::<TestConnector>("orders").is_ok());
}

#[tokio::test]
async fn pool_errors_name_the_pool_and_keep_the_pool_error() {
    let manager = PoolManager::new();
    let (pool, _) = test_pool("orders", 0, 1).await;
    manager.register("orders", pool.clone()).unwrap();
    pool.close(std::time::Duration::from_secs(1)).await;
    let err = manager.get("orders").await.unwrap_err();
    assert_eq!(err.to_string(), "pool `orders`: the pool is closed");
    assert!(matches!(err.pool_error(), Some(pool_core::Error::Closed)));
    assert_eq!(err.pool_name(), Some("orders"));
}

#[tokio::test]
async fn returned_connections_go_back_to_their_pool() {
    let manager = PoolManager::new();
    let (pool, faults) = test_pool("orders", 1, 1).await;
    manager.register("orders", pool.clone()).unwrap();
    for _ in 0..5 {
        let mut conn = manager.get("orders").await.unwrap();
        conn.query("SELECT 1", &[]).await.unwrap();
    }
    assert_eq!(faults.connects_succeeded(), 1, "one connection reused");
    assert_eq!(manager.any_pool("orders").unwrap().in_use(), 0);
    pool.check_invariants().unwrap();
}

#[tokio::test]
async fn postgres_mysql_and_sqlite_pools_serve_side_by_side_with_native_access() {
    let manager = PoolManager::new();
    let pg = Pool::builder(PostgresConnector::from_url(PG_URL).unwrap())
        .name("orders")
        .min_size(1)
        .max_size(2)
        .build()
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 (user root, db test)");
    let my = Pool::builder(MysqlConnector::from_url(MYSQL_URL).unwrap())
        .name("users")
        .min_size(1)
        .max_size(2)
        .build()
        .await
        .expect("MariaDB at 127.0.0.1:3306 (user root, db test)");
    manager.register("orders", pg).unwrap();
    manager.register("users", my).unwrap();
    manager
        .register("cache", sqlite_pool("cache").await)
        .unwrap();

    for name in ["orders", "users", "cache"] {
        let mut conn = manager.get(name).await.unwrap();
        let rows = conn.query("SELECT 1 + 1", &[]).await.unwrap();
        assert_eq!(rows[0].get(0).and_then(Value::as_i64), Some(2), "{name}");
    }

    let mut conn = manager.get("orders").await.unwrap();
    let pg: &mut PostgresConnection = conn.downcast_mut().expect("a PostgresConnection");
    let row = pg
        .client()
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "test");
    drop(conn);

    let mut conn = manager.get("users").await.unwrap();
    let my: &mut MysqlConnection = conn.downcast_mut().expect("a MysqlConnection");
    let version = my.conn().server_version();
    assert!(version.0 >= 5, "{version:?}");
    drop(conn);

    let typed: Pool<PostgresConnector> = manager.pool("orders").unwrap();
    assert_eq!(typed.stats().max_size, 2);
    let report = manager.close_all(std::time::Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report}");
}
