//! A pool built with `build_lazy()` outside any runtime connects to the real server only once
//! a runtime uses it, then works like any pool.

mod common;

use pool_core::{ConnectionProtocol, Pool, Value};

#[test]
fn a_lazy_pool_built_without_a_runtime_serves_queries_inside_one() {
    let connector = common::options().build().unwrap();
    let pool = Pool::builder(connector)
        .min_size(2)
        .max_size(3)
        .build_lazy()
        .expect("a lazy build needs neither a runtime nor the server");
    assert_eq!(
        pool.stats().total,
        0,
        "nothing opened before a runtime uses it"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = pool.get().await.expect("first use connects");
        let rows = conn
            .query("SELECT $1::bigint + 1", &[Value::I64(41)])
            .await
            .unwrap();
        assert_eq!(rows[0].get(0), Some(&Value::I64(42)));
        drop(conn);
        let mut conn = pool.get().await.unwrap();
        assert_eq!(
            common::scalar(&mut conn, "SELECT 1::bigint", &[]).await,
            Value::I64(1)
        );
        drop(conn);
        let report = pool.close(std::time::Duration::from_secs(5)).await;
        assert!(report.complete, "{report:?}");
    });
}
