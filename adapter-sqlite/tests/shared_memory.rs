//! `sqlite::memory:` is one database per connector, shared by all its connections, and it
//! lives as long as the connector even when every connection has closed.

use adapter_sqlite::SqliteConnector;
use pool_core::{ConnectionProtocol, Connector, Value};

#[tokio::test]
async fn a_table_created_through_one_connection_is_visible_through_another() {
    let connector = SqliteConnector::from_url("sqlite::memory:").unwrap();
    let mut a = connector.connect().await.unwrap();
    let mut b = connector.connect().await.unwrap();
    a.execute("CREATE TABLE shared (x)", &[]).await.unwrap();
    a.execute("INSERT INTO shared VALUES (7)", &[])
        .await
        .unwrap();
    let rows = b.query("SELECT x FROM shared", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(7)));
}

#[tokio::test]
async fn the_database_outlives_its_connections_while_the_connector_lives() {
    let connector = SqliteConnector::from_url("sqlite://:memory:").unwrap();
    let mut first = connector.connect().await.unwrap();
    first.execute("CREATE TABLE kept (x)", &[]).await.unwrap();
    first.close().await.unwrap();
    drop(first);
    let mut second = connector.connect().await.unwrap();
    let rows = second
        .query("SELECT count(*) FROM kept", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
}

#[tokio::test]
async fn two_connectors_have_separate_databases() {
    let one = SqliteConnector::from_url("sqlite::memory:").unwrap();
    let two = SqliteConnector::from_url("sqlite::memory:").unwrap();
    let mut a = one.connect().await.unwrap();
    let mut b = two.connect().await.unwrap();
    a.execute("CREATE TABLE mine (x)", &[]).await.unwrap();
    let err = b.query("SELECT * FROM mine", &[]).await.unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
}

#[tokio::test]
async fn a_named_memory_database_is_shared_between_connectors() {
    let url = "sqlite://adapter-sqlite-named-test?mode=memory";
    let one = SqliteConnector::from_url(url).unwrap();
    let two = SqliteConnector::from_url(url).unwrap();
    let mut a = one.connect().await.unwrap();
    let mut b = two.connect().await.unwrap();
    a.execute("CREATE TABLE named (x)", &[]).await.unwrap();
    let rows = b.query("SELECT count(*) FROM named", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_a_writer_share_a_memory_database_under_the_busy_timeout() {
    let writer_connector = SqliteConnector::from_url("sqlite::memory:").unwrap();
    let reader_connector = writer_connector.read_only();
    let mut writer = writer_connector.connect().await.unwrap();
    writer.execute("CREATE TABLE w (x)", &[]).await.unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(reader_connector.connect().await.unwrap());
    }
    let writes = tokio::spawn(async move {
        for i in 0..200 {
            writer
                .execute("INSERT INTO w VALUES (?)", &[Value::I64(i)])
                .await
                .unwrap();
        }
        writer
    });
    let mut reads = Vec::new();
    for mut reader in readers {
        reads.push(tokio::spawn(async move {
            for _ in 0..200 {
                reader.query("SELECT count(*) FROM w", &[]).await.unwrap();
            }
            let err = reader
                .execute("INSERT INTO w VALUES (0)", &[])
                .await
                .unwrap_err();
            assert!(!err.is_connection_broken(), "{err:?}");
        }));
    }
    let mut writer = writes.await.unwrap();
    for r in reads {
        r.await.unwrap();
    }
    let rows = writer.query("SELECT count(*) FROM w", &[]).await.unwrap();
    assert_eq!(rows[0].get(0), Some(&Value::I64(200)));
}
