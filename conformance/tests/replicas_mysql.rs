//! Read/write routing against a real MariaDB pair: a throwaway primary writing a GTID binary
//! log and a throwaway replica following it (own data directories, own ports; the machine's
//! shared server is never touched).
//!
//! The manager's `get_write` reaches the primary and `get_read` the replica (told apart by
//! `@@server_id`), a row written through `get_write` becomes readable through `get_read`, and
//! the replica's lag is sampled into `db_client_replica_lag_seconds`.

mod common;

use std::time::Duration;

use adapter_mysql::{MysqlConnector, MysqlOptions};
use conformance::throwaway::ThrowawayMariadb;
use pool_core::{ConnectionProtocol, Pool, Value};
use pool_manager::PoolManager;
use tokio::time::Instant;

async fn pool(url: &str) -> Pool<MysqlConnector> {
    let options = MysqlOptions::from_url(url).expect("a valid URL");
    Pool::builder(MysqlConnector::new(options))
        .min_size(0)
        .max_size(2)
        .build()
        .await
        .expect("the pool builds")
}

async fn server_id(conn: &mut (impl ConnectionProtocol + ?Sized)) -> i64 {
    let rows = conn.query("SELECT @@server_id", &[]).await.unwrap();
    let value = rows[0].get(0).expect("one column");
    value
        .as_i64()
        .or_else(|| value.as_str()?.parse().ok())
        .expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_writes_to_the_primary_and_reads_from_the_replica() {
    let (primary, replica) = tokio::task::spawn_blocking(|| {
        let primary = ThrowawayMariadb::start_primary().expect("the primary starts");
        let replica = ThrowawayMariadb::start_replica_of(&primary).expect("the replica starts");
        (primary, replica)
    })
    .await
    .expect("start task");
    let manager = PoolManager::new();
    manager
        .register_replicated(
            "db",
            pool(&primary.url()).await,
            [pool(&replica.url()).await],
        )
        .expect("registered");

    let mut write = manager.get_write("db").await.expect("a write connection");
    assert_eq!(
        server_id(&mut *write).await,
        1,
        "get_write reaches the primary"
    );
    write
        .execute("CREATE TABLE routed (id INT PRIMARY KEY)", &[])
        .await
        .unwrap();
    write
        .execute("INSERT INTO routed VALUES (?)", &[Value::I64(7)])
        .await
        .unwrap();
    drop(write);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut read = manager.get_read("db").await.expect("a read connection");
        assert_eq!(
            server_id(&mut *read).await,
            2,
            "get_read reaches the replica"
        );
        let rows = read
            .query("SELECT id FROM routed WHERE id = ?", &[Value::I64(7)])
            .await;
        if matches!(&rows, Ok(rows) if rows.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the row never reached the replica: {rows:?}"
        );
        drop(read);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let lags = common::sampled_lags(&manager, "db").await;
    let lag = lags[0]
        .1
        .expect("the replica reports Seconds_Behind_Master");
    assert!(lag < Duration::from_secs(60), "{lag:?}");
    let exposition = pool_manager::metrics::encode(&manager);
    assert!(
        exposition.contains("db_client_replica_lag_seconds{pool_name=\"db.replica1\"}"),
        "{exposition}"
    );
    manager.close_all(Duration::from_secs(5)).await;
}
