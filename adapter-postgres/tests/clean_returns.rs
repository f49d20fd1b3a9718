//! With the default configuration, a return costs nothing when the holder left nothing to
//! clean, and everything it left is cleaned, whether it used the neutral API or the native
//! client; the pool's own statements draw no warning from the server.

mod common;

use adapter_postgres::{PostgresConnection, PostgresConnector};
use pool_core::{ConnectionProtocol, Pool, Value};

/// A pool of one connection with every default, so each checkout gets the same session.
async fn pool_of_one() -> Pool<PostgresConnector> {
    let connector = common::options().build().unwrap();
    Pool::builder(connector).max_size(1).build().await.unwrap()
}

/// The last statement the server ran for backend `pid`, read from another session.
async fn last_statement_of(pid: i64) -> String {
    let mut observer = common::connect().await;
    let rows = observer
        .query(
            "SELECT query FROM pg_stat_activity WHERE pid = $1",
            &[Value::I64(pid)],
        )
        .await
        .unwrap();
    rows[0].get(0).unwrap().as_str().unwrap().to_owned()
}

/// Whether the session's current statement runs in a transaction of its own: every holder's
/// transaction here inserted a row, which assigned it an id.
async fn in_fresh_transaction(conn: &mut PostgresConnection) -> bool {
    common::scalar(conn, "SELECT pg_current_xact_id_if_assigned() IS NULL", &[]).await
        == Value::Bool(true)
}

#[tokio::test]
async fn a_clean_return_sends_nothing_and_keeps_the_statement_cache() {
    let pool = pool_of_one().await;
    let mut conn = pool.get().await.unwrap();
    let pid = common::backend_pid(&mut conn).await;
    let marker = "SELECT 42 AS clean_return_marker";
    common::scalar(&mut conn, marker, &[]).await;
    let cached = conn.cached_statements();
    drop(conn);

    // The same session again: a reset would have run before it is handed out.
    let conn = pool.get().await.unwrap();
    assert_eq!(
        last_statement_of(pid).await,
        marker,
        "the return sent a statement"
    );
    assert_eq!(
        conn.cached_statements(),
        cached,
        "the statement cache survived"
    );
    drop(conn);
    pool.close(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_next_holder_never_sees_an_open_or_failed_transaction() {
    let pool = pool_of_one().await;
    let table = common::unique_table("clean_returns_tx");
    {
        let mut conn = pool.get().await.unwrap();
        conn.execute(&format!("CREATE TABLE {table} (x int)"), &[])
            .await
            .unwrap();
    }
    let ways: [(&str, &str); 4] = [
        ("neutral, open", "BEGIN; INSERT INTO {t} VALUES (1)"),
        ("native, open", "BEGIN; INSERT INTO {t} VALUES (2)"),
        (
            "neutral, failed",
            "BEGIN; INSERT INTO {t} VALUES (3); SELECT 1/0",
        ),
        (
            "native, failed",
            "BEGIN; INSERT INTO {t} VALUES (4); SELECT 1/0",
        ),
    ];
    for (way, script) in ways {
        let script = script.replace("{t}", &table);
        {
            let mut conn = pool.get().await.unwrap();
            if way.starts_with("native") {
                let _ = conn.client().batch_execute(&script).await;
            } else {
                for statement in script.split("; ") {
                    let _ = conn.execute(statement, &[]).await;
                }
            }
        }
        let mut conn = pool.get().await.unwrap();
        assert!(
            in_fresh_transaction(&mut conn).await,
            "{way}: a transaction was left open"
        );
        let rows = common::scalar(&mut conn, &format!("SELECT count(*) FROM {table}"), &[]).await;
        assert_eq!(
            rows,
            Value::I64(0),
            "{way}: the holder's insert was not rolled back"
        );
    }
    let mut conn = pool.get().await.unwrap();
    conn.execute(&format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
    drop(conn);
    pool.close(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn session_state_left_through_either_api_is_gone_for_the_next_holder() {
    for native in [false, true] {
        let pool = pool_of_one().await;
        {
            let mut conn = pool.get().await.unwrap();
            let script = [
                "SET work_mem = '77MB'",
                "CREATE TEMP TABLE holder_scratch (x int)",
                "LISTEN holder_channel",
                "SELECT pg_advisory_lock(4242)",
            ];
            for statement in script {
                if native {
                    conn.client().batch_execute(statement).await.unwrap();
                } else {
                    conn.execute(statement, &[]).await.unwrap();
                }
            }
            common::scalar(&mut conn, "SELECT 1", &[]).await;
        }
        let mut conn = pool.get().await.unwrap();
        let how = if native { "native" } else { "neutral" };
        assert_eq!(
            common::scalar(&mut conn, "SELECT current_setting('work_mem')", &[]).await,
            common::scalar(
                &mut common::connect().await,
                "SELECT current_setting('work_mem')",
                &[]
            )
            .await,
            "{how}: the setting carried over"
        );
        let leftovers = "SELECT (to_regclass('pg_temp.holder_scratch') IS NOT NULL)::int \
             + (SELECT count(*) FROM pg_listening_channels()) \
             + (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())";
        assert_eq!(
            common::scalar(&mut conn, leftovers, &[]).await,
            Value::I64(0),
            "{how}: a temp table, LISTEN or advisory lock carried over"
        );
        assert!(
            conn.cached_statements() > 0,
            "{how}: the statement cache survives the reset"
        );
        drop(conn);
        pool.close(std::time::Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn the_pools_own_statements_draw_no_server_warning() {
    // The counter counts: a ROLLBACK outside a transaction draws one warning.
    let direct = common::connect().await;
    direct.client().batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(direct.server_notices(), 1);

    let pool = pool_of_one().await;
    let table = common::unique_table("clean_returns_notices");
    let setup = format!("CREATE TEMP TABLE {table} (x int)");
    for round in 0..50 {
        let mut conn = pool.get().await.unwrap();
        match round % 5 {
            0 => drop(conn.query("SELECT 1", &[]).await.unwrap()),
            1 => {
                conn.client()
                    .batch_execute("BEGIN; SELECT 1; COMMIT")
                    .await
                    .unwrap();
            }
            2 => drop(conn.execute("BEGIN", &[]).await.unwrap()),
            3 => {
                let _ = conn.client().batch_execute("BEGIN; SELECT 1/0").await;
            }
            _ => drop(conn.execute(&setup, &[]).await.unwrap()),
        }
    }
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.server_notices(), 0, "the server sent warnings");
    drop(conn);
    pool.close(std::time::Duration::from_secs(5)).await;
}
