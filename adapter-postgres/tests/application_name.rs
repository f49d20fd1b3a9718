//! Sessions carry an application_name, so they can be found in pg_stat_activity.

mod common;

use pool_core::Value;

#[tokio::test]
async fn sessions_are_named_pool_by_default_in_pg_stat_activity() {
    let mut conn = common::connect().await;
    let pid = common::backend_pid(&mut conn).await;
    let mut observer = common::connect().await;
    let name = common::scalar(
        &mut observer,
        "SELECT application_name FROM pg_stat_activity WHERE pid = $1",
        &[Value::I64(pid)],
    )
    .await;
    assert_eq!(
        name,
        Value::Text(adapter_postgres::DEFAULT_APPLICATION_NAME.into())
    );
}

#[tokio::test]
async fn a_configured_application_name_is_what_pg_stat_activity_shows() {
    let mut conn =
        common::connect_with(common::options().with_application_name("checkout-service")).await;
    let pid = common::backend_pid(&mut conn).await;
    let mut observer = common::connect().await;
    let name = common::scalar(
        &mut observer,
        "SELECT application_name FROM pg_stat_activity WHERE pid = $1",
        &[Value::I64(pid)],
    )
    .await;
    assert_eq!(name, Value::Text("checkout-service".into()));

    let from_url = adapter_postgres::PostgresOptions::from_url(
        "postgres://root@127.0.0.1:5432/test?sslmode=disable&application_name=from-url",
    )
    .unwrap();
    let mut conn = common::connect_with(from_url).await;
    assert_eq!(
        common::scalar(&mut conn, "SELECT current_setting('application_name')", &[]).await,
        Value::Text("from-url".into())
    );
}
