//! The adapter inside a `pool_core::Pool`: concurrent work, no session state handed from one
//! holder to the next, the pool's query timeout, a killed session replaced, and no session left
//! on the server after the pool is closed.

mod common;

use std::time::Duration;

use adapter_mysql::MysqlConnector;
use pool_core::{ConnectionProtocol, Error, Pool, Value};

async fn pool(connector: MysqlConnector, max: usize) -> Pool<MysqlConnector> {
    Pool::builder(connector)
        .min_size(1)
        .max_size(max)
        .build()
        .await
        .expect("pool builds")
}

async fn wait_until_no_session_is_left(connector: &MysqlConnector) -> Vec<u32> {
    let mut live = connector.live_session_ids().await.unwrap();
    for _ in 0..100 {
        if live.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        live = connector.live_session_ids().await.unwrap();
    }
    live
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_serve_concurrent_queries() {
    let pool = pool(common::connector(), 4).await;
    let mut tasks = Vec::new();
    for i in 0..16_i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get().await.unwrap();
            let rows = conn.query("SELECT ? * 2", &[i.into()]).await.unwrap();
            rows[0].get(0).and_then(Value::as_i64)
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Some(i as i64 * 2));
    }
    assert_eq!(pool.check_invariants(), Ok(()));
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_does_not_reach_the_next_holder() {
    let pool = pool(common::connector(), 1).await;
    let first_id = {
        let mut conn = pool.get().await.unwrap();
        conn.execute("CREATE TEMPORARY TABLE leftover (x INT)", &[])
            .await
            .unwrap();
        conn.execute("SET @leftover = 'secret'", &[]).await.unwrap();
        conn.execute("START TRANSACTION", &[]).await.unwrap();
        conn.connection_id()
    };
    let mut conn = pool.get().await.unwrap();
    assert_eq!(conn.connection_id(), first_id, "the same session, reset");
    assert_eq!(
        common::scalar(&mut conn, "SELECT @leftover", &[]).await,
        Value::Null
    );
    assert_eq!(
        common::scalar(&mut conn, "SELECT @@in_transaction", &[])
            .await
            .as_i64(),
        Some(0)
    );
    assert!(conn.query("SELECT * FROM leftover", &[]).await.is_err());
    drop(conn);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pools_query_timeout_cancels_on_the_server() {
    let pool = Pool::builder(common::connector())
        .min_size(1)
        .max_size(1)
        .query_timeout(Some(Duration::from_millis(200)))
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let error = conn.query("SELECT SLEEP(5)", &[]).await.unwrap_err();
    assert!(matches!(error, Error::QueryTimeout(_)), "{error:?}");
    let id = conn.connection_id();
    drop(conn);
    let mut again = pool.get().await.unwrap();
    assert_eq!(
        again.connection_id(),
        id,
        "the cancelled connection was kept"
    );
    assert_eq!(
        common::scalar(&mut again, "SELECT 1", &[]).await.as_i64(),
        Some(1)
    );
    drop(again);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_is_replaced() {
    let pool = pool(common::connector(), 1).await;
    let mut conn = pool.get().await.unwrap();
    let killed = conn.connection_id();
    let mut admin = common::connect().await;
    admin
        .execute(&format!("KILL CONNECTION {killed}"), &[])
        .await
        .unwrap();
    assert!(conn.ping().await.unwrap_err().is_connection_broken());
    drop(conn);

    let mut fresh = pool.get().await.unwrap();
    assert_ne!(fresh.connection_id(), killed);
    fresh.ping().await.unwrap();
    drop(fresh);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_pool_leaves_no_session_on_the_server() {
    let connector = common::connector();
    let pool = pool(connector.clone(), 3).await;
    let held: Vec<_> = vec![pool.get().await.unwrap(), pool.get().await.unwrap()];
    assert!(connector.live_session_ids().await.unwrap().len() >= 2);
    drop(held);

    let report = pool.close(Duration::from_secs(5)).await;
    assert!(report.complete, "{report:?}");
    let live = wait_until_no_session_is_left(&connector).await;
    assert!(live.is_empty(), "sessions still open after close: {live:?}");
}
