//! With the default `SessionReset::Tracked`, a return sends only what the session needs:
//! nothing after plain work, `ROLLBACK` for a transaction left open, `COM_RESET_CONNECTION`
//! after session state changed. A relay between the pool and the server records every command
//! (`common::wire_log`), so each test states exactly what a return put on the wire. The pools
//! have one connection, so the next holder gets the same session.

mod common;

use std::time::Duration;

use adapter_mysql::mysql_async::consts::StatusFlags;
use adapter_mysql::mysql_async::prelude::Queryable;
use adapter_mysql::{MysqlConnection, MysqlConnector, SessionReset};
use common::wire_log::{
    self, COM_QUERY, COM_RESET_CONNECTION, COM_STMT_EXECUTE, COM_STMT_PREPARE, Command, WireLog,
};
use pool_core::{ConnectionProtocol, Pool, PooledConnection, Value};

type Held = PooledConnection<MysqlConnector>;

async fn pool(reset: SessionReset) -> (Pool<MysqlConnector>, WireLog) {
    let (options, log) = wire_log::relay(common::options().with_session_reset(reset)).await;
    let pool = Pool::builder(MysqlConnector::new(options))
        .min_size(1)
        .max_size(1)
        .build()
        .await
        .expect("pool builds");
    (pool, log)
}

/// Returns `conn` and waits until the pool has it back idle (any reset finished); returns the
/// commands the return sent.
async fn give_back(pool: &Pool<MysqlConnector>, log: &WireLog, conn: Held) -> Vec<Command> {
    let mark = log.mark();
    drop(conn);
    for _ in 0..200 {
        if pool.stats().idle == 1 {
            return log.since(mark);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the connection did not come back: {:?}", pool.stats());
}

fn rollback() -> Command {
    Command {
        code: COM_QUERY,
        body: b"ROLLBACK".to_vec(),
    }
}

fn reset_connection() -> Command {
    Command {
        code: COM_RESET_CONNECTION,
        body: Vec::new(),
    }
}

fn in_transaction(conn: &MysqlConnection) -> bool {
    conn.conn_ref()
        .last_ok_packet()
        .expect("an OK packet")
        .status_flags()
        .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
}

/// The signal the tracking relies on, read through the driver on the real server.
#[tokio::test]
async fn the_last_ok_packet_says_whether_a_transaction_is_open() {
    let mut conn = common::connect().await;
    assert!(!in_transaction(&conn), "after connect");

    conn.execute("BEGIN", &[]).await.unwrap();
    assert!(in_transaction(&conn), "after BEGIN");
    conn.query("SELECT 1", &[]).await.unwrap();
    assert!(in_transaction(&conn), "after a result set (text protocol)");
    conn.query("SELECT ?", &[1.into()]).await.unwrap();
    assert!(
        in_transaction(&conn),
        "after a prepared statement's result set"
    );
    conn.execute("DO ?", &[1.into()]).await.unwrap();
    assert!(
        in_transaction(&conn),
        "after a prepared statement without result"
    );

    // After an error the driver keeps no OK packet: the tracker then assumes a transaction.
    assert!(
        conn.query("SELECT * FROM no_such_table", &[])
            .await
            .is_err()
    );
    assert!(conn.conn_ref().last_ok_packet().is_none());
    conn.ping().await.unwrap();
    assert!(in_transaction(&conn), "a failed statement left it open");

    conn.execute("COMMIT", &[]).await.unwrap();
    assert!(!in_transaction(&conn), "after COMMIT");
    conn.execute("BEGIN; SELECT 1", &[]).await.unwrap();
    assert!(in_transaction(&conn), "after BEGIN; SELECT 1");
    conn.execute("ROLLBACK", &[]).await.unwrap();
    assert!(!in_transaction(&conn), "after ROLLBACK");

    // The same through the driver itself.
    let native = conn.conn();
    native.query_drop("START TRANSACTION").await.unwrap();
    let _: Option<i64> = native.exec_first("SELECT ?", (1,)).await.unwrap();
    let open = native.last_ok_packet().unwrap().status_flags();
    assert!(
        open.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
        "{open:?}"
    );
    native.query_drop("ROLLBACK").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_return_sends_nothing() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let mut conn = pool.get().await.unwrap();
    conn.query("SELECT 1", &[]).await.unwrap();
    conn.query("SELECT ? + 1", &[1.into()]).await.unwrap();
    conn.execute("BEGIN", &[]).await.unwrap();
    conn.execute("DO ?", &[1.into()]).await.unwrap();
    conn.execute("COMMIT", &[]).await.unwrap();
    assert!(
        conn.query("SELECT * FROM no_such_table", &[])
            .await
            .is_err()
    );
    conn.query("SELECT 2", &[]).await.unwrap();
    {
        let mut native = conn.queryable();
        let one: Option<i64> = native.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
        let stmt = native.prep("SELECT ? * 2").await.unwrap();
        let four: Option<i64> = native.exec_first(&stmt, (2,)).await.unwrap();
        assert_eq!(four, Some(4));
        native.query_drop("START TRANSACTION").await.unwrap();
        native.query_drop("COMMIT").await.unwrap();
    }
    let version = conn.conn_ref().server_version();
    assert!(version.0 >= 5);
    assert_eq!(give_back(&pool, &log, conn).await, []);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_resets_on_every_return() {
    let (pool, log) = pool(SessionReset::ResetConnection).await;
    let mut conn = pool.get().await.unwrap();
    conn.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(give_back(&pool, &log, conn).await, [reset_connection()]);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_cache_survives_a_clean_return() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let mut conn = pool.get().await.unwrap();
    let id = conn.connection_id();
    conn.query("SELECT ? * 3", &[1.into()]).await.unwrap();
    assert_eq!(give_back(&pool, &log, conn).await, []);

    let mut conn = pool.get().await.unwrap();
    assert_eq!(conn.connection_id(), id);
    let mark = log.mark();
    let rows = conn.query("SELECT ? * 3", &[2.into()]).await.unwrap();
    assert_eq!(rows[0].get(0).and_then(Value::as_i64), Some(6));
    let sent: Vec<u8> = log.since(mark).iter().map(|c| c.code).collect();
    assert!(
        !sent.contains(&COM_STMT_PREPARE),
        "prepared again: {sent:x?}"
    );
    assert!(sent.contains(&COM_STMT_EXECUTE), "{sent:x?}");
    drop(conn);
    pool.close(Duration::from_secs(5)).await;
}

/// How a holder reaches the server.
#[derive(Debug, Clone, Copy)]
enum Path {
    /// `ConnectionProtocol::execute`.
    Neutral,
    /// `MysqlConnection::queryable()`: `Queryable::query_drop`.
    Tracked,
    /// `MysqlConnection::conn()`: the driver, unseen.
    Raw,
}

async fn run(conn: &mut MysqlConnection, path: Path, sql: &str) {
    match path {
        Path::Neutral => drop(conn.execute(sql, &[]).await.expect(sql)),
        Path::Tracked => conn.queryable().query_drop(sql).await.expect(sql),
        Path::Raw => conn.conn().query_drop(sql).await.expect(sql),
    }
}

const PATHS: [Path; 3] = [Path::Neutral, Path::Tracked, Path::Raw];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_is_rolled_back_for_the_next_holder() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let table = "tracked_rollback_probe";
    let mut conn = pool.get().await.unwrap();
    let id = conn.connection_id();
    conn.execute(
        &format!("CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY) ENGINE=InnoDB"),
        &[],
    )
    .await
    .unwrap();
    conn.execute(&format!("DELETE FROM {table}"), &[])
        .await
        .unwrap();
    drop(conn);

    for path in PATHS {
        let mut conn = pool.get().await.unwrap();
        run(&mut conn, path, "START TRANSACTION").await;
        run(&mut conn, path, &format!("INSERT INTO {table} VALUES (1)")).await;
        let sent = give_back(&pool, &log, conn).await;
        let expected = match path {
            // Only the transaction to end: the statement cache stays.
            Path::Neutral | Path::Tracked => rollback(),
            // The driver was handed out: anything may have changed.
            Path::Raw => reset_connection(),
        };
        assert_eq!(sent, [expected], "{path:?}");

        let mut conn = pool.get().await.unwrap();
        assert_eq!(conn.connection_id(), id, "{path:?}");
        let count = common::scalar(&mut conn, &format!("SELECT COUNT(*) FROM {table}"), &[]).await;
        assert_eq!(
            count.as_i64(),
            Some(0),
            "{path:?}: the insert was rolled back"
        );
        let open = common::scalar(&mut conn, "SELECT @@in_transaction", &[]).await;
        assert_eq!(open.as_i64(), Some(0), "{path:?}");
    }
    let mut conn = pool.get().await.unwrap();
    conn.execute(&format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
    drop(conn);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_is_gone_for_the_next_holder() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let mut conn = pool.get().await.unwrap();
    let id = conn.connection_id();
    let global_mode = common::scalar(&mut conn, "SELECT @@GLOBAL.sql_mode", &[]).await;
    drop(conn);

    for path in PATHS {
        for change in [
            "SET @tracked_secret = 'from the previous holder'",
            "SET SESSION sql_mode = 'ANSI_QUOTES'",
            "CREATE TEMPORARY TABLE tracked_leftover (x INT)",
        ] {
            let mut conn = pool.get().await.unwrap();
            run(&mut conn, path, change).await;
            let sent = give_back(&pool, &log, conn).await;
            assert_eq!(sent, [reset_connection()], "{path:?}: {change}");

            let mut conn = pool.get().await.unwrap();
            assert_eq!(conn.connection_id(), id, "{path:?}: {change}");
            assert_eq!(
                common::scalar(&mut conn, "SELECT @tracked_secret", &[]).await,
                Value::Null,
                "{path:?}: {change}"
            );
            assert_eq!(
                common::scalar(&mut conn, "SELECT @@SESSION.sql_mode", &[]).await,
                global_mode,
                "{path:?}: {change}"
            );
            let gone = conn.query("SELECT * FROM tracked_leftover", &[]).await;
            assert!(gone.is_err(), "{path:?}: {change}: {gone:?}");
            // Reading a user variable counts as changing one (the scan does not tell them
            // apart), so this return resets too.
            assert_eq!(give_back(&pool, &log, conn).await, [reset_connection()]);
        }
    }
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_of_sql_text_through_queryable_cannot_be_read_and_resets() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let mut conn = pool.get().await.unwrap();
    let two: Option<i64> = conn
        .queryable()
        .exec_first("SELECT ? + 1", (1,))
        .await
        .unwrap();
    assert_eq!(two, Some(2));
    assert_eq!(give_back(&pool, &log, conn).await, [reset_connection()]);

    // Prepared first, the same statement costs nothing.
    let mut conn = pool.get().await.unwrap();
    let mut native = conn.queryable();
    let stmt = native.prep("SELECT ? + 1").await.unwrap();
    native.exec_drop(&stmt, (1,)).await.unwrap();
    let three: Vec<i64> = native.exec(stmt, (2,)).await.unwrap();
    assert_eq!(three, [3]);
    assert_eq!(give_back(&pool, &log, conn).await, []);

    // A statement that changes the session is counted when prepared.
    let mut conn = pool.get().await.unwrap();
    let mut native = conn.queryable();
    let stmt = native.prep("SET @tracked_by_prep = ?").await.unwrap();
    native.exec_drop(stmt, (7,)).await.unwrap();
    assert_eq!(give_back(&pool, &log, conn).await, [reset_connection()]);
    let mut conn = pool.get().await.unwrap();
    assert_eq!(
        common::scalar(&mut conn, "SELECT @tracked_by_prep", &[]).await,
        Value::Null
    );
    drop(conn);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_left_unread_costs_a_rollback_that_also_ends_what_it_hid() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let mut conn = pool.get().await.unwrap();
    {
        let mut native = conn.queryable();
        // The second statement opens a transaction whose OK packet is never read here.
        let result = native.query_iter("SELECT 1; BEGIN").await.unwrap();
        drop(result);
    }
    assert_eq!(give_back(&pool, &log, conn).await, [rollback()]);
    let mut conn = pool.get().await.unwrap();
    let open = common::scalar(&mut conn, "SELECT @@in_transaction", &[]).await;
    assert_eq!(open.as_i64(), Some(0));
    assert_eq!(give_back(&pool, &log, conn).await, []);

    // Read to the end by a later call, the same result costs nothing.
    let mut conn = pool.get().await.unwrap();
    let mut native = conn.queryable();
    let result = native.query_iter("SELECT 1").await.unwrap();
    drop(result);
    native.ping().await.unwrap();
    assert_eq!(give_back(&pool, &log, conn).await, []);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_only_ends_transactions_and_keeps_session_state() {
    let (pool, log) = pool(SessionReset::RollbackOnly).await;
    let mut conn = pool.get().await.unwrap();
    conn.execute("SET @kept = 'yes'", &[]).await.unwrap();
    assert_eq!(give_back(&pool, &log, conn).await, []);
    let mut conn = pool.get().await.unwrap();
    assert_eq!(
        common::scalar(&mut conn, "SELECT @kept", &[]).await,
        Value::Text("yes".to_owned())
    );
    conn.execute("BEGIN", &[]).await.unwrap();
    assert_eq!(give_back(&pool, &log, conn).await, [rollback()]);
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reset_discards_the_connection() {
    let (pool, log) = pool(SessionReset::Tracked).await;
    let mut conn = pool.get().await.unwrap();
    let id = conn.connection_id();
    conn.execute("SET @doomed = 1", &[]).await.unwrap();
    let mut admin = common::connect().await;
    admin
        .execute(&format!("KILL CONNECTION {id}"), &[])
        .await
        .unwrap();
    let mark = log.mark();
    drop(conn);
    let mut conn = pool.get().await.unwrap();
    assert_ne!(conn.connection_id(), id, "the session whose reset failed");
    assert_eq!(
        common::scalar(&mut conn, "SELECT @doomed", &[]).await,
        Value::Null
    );
    let tried: Vec<u8> = log.since(mark).iter().map(|c| c.code).collect();
    assert!(tried.contains(&COM_RESET_CONNECTION), "{tried:x?}");
    drop(conn);
    pool.close(Duration::from_secs(5)).await;
}
