//! The throwaway PgBouncer harness, and adapter-postgres through it: each test starts its own
//! PostgreSQL and PgBouncer (see `conformance::throwaway`), on their own ports, and stops them
//! when it ends. PgBouncer comes from Debian's package (`cargo xtask services` installs it).

use std::time::Duration;

use adapter_postgres::{PostgresConnection, PostgresConnector, PostgresOptions};
use conformance::throwaway::{PoolMode, ThrowawayPgbouncer};
use pool_core::{ConnectionProtocol, Connector, Value};

/// Starts a PgBouncer in `mode` with `pool_size` server connections, and runs `body` against it
/// on a runtime of its own; PgBouncer and its server are stopped afterwards, pass or fail.
fn with_pgbouncer(mode: PoolMode, pool_size: u32, body: impl AsyncFnOnce(&ThrowawayPgbouncer)) {
    let bouncer = ThrowawayPgbouncer::start(mode, pool_size).expect("a throwaway PgBouncer starts");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(body(&bouncer));
}

/// A connection through PgBouncer, statement cache off (the setting every pooler mode accepts).
async fn connect(bouncer: &ThrowawayPgbouncer) -> PostgresConnection {
    connector(PostgresOptions::from_url(&bouncer.url()).expect("the URL parses"))
        .connect()
        .await
        .expect("a connection through PgBouncer")
}

fn connector(options: PostgresOptions) -> PostgresConnector {
    options
        .with_statement_cache_capacity(0)
        .build()
        .expect("the options build")
}

async fn scalar(conn: &mut PostgresConnection, sql: &str) -> Value {
    let rows = conn
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows[0].get(0).cloned().expect("one column")
}

const READ: &str = "SELECT current_setting('statement_timeout')";

/// Sets `statement_timeout` through `a`, checks that `b` sees it (they share a server
/// session), and resets it through `b`.
async fn set_by_one_is_seen_by_the_other(a: &mut PostgresConnection, b: &mut PostgresConnection) {
    a.execute("SET statement_timeout = '4321s'", &[])
        .await
        .expect("SET");
    assert_eq!(scalar(b, READ).await, Value::Text("4321s".into()));
    b.execute("RESET statement_timeout", &[])
        .await
        .expect("RESET");
}

#[test]
fn session_mode_keeps_a_clients_session_and_resets_it_for_the_next_client() {
    with_pgbouncer(PoolMode::Session, 1, async |bouncer| {
        assert_eq!(bouncer.mode(), PoolMode::Session);
        let mut a = connect(bouncer).await;
        a.execute("SET statement_timeout = '4321s'", &[])
            .await
            .expect("SET");
        assert_eq!(scalar(&mut a, READ).await, Value::Text("4321s".into()));
        a.close().await.expect("close");
        // The only server connection, now the next client's: PgBouncer ran DISCARD ALL.
        let mut b = connect(bouncer).await;
        assert_eq!(scalar(&mut b, READ).await, Value::Text("0".into()));
        b.close().await.expect("close");
    });
}

#[test]
fn transaction_mode_hands_one_server_connection_to_every_client() {
    with_pgbouncer(PoolMode::Transaction, 1, async |bouncer| {
        assert_eq!(bouncer.mode(), PoolMode::Transaction);
        let mut a = connect(bouncer).await;
        let mut b = connect(bouncer).await;
        let pid_a = scalar(&mut a, "SELECT pg_backend_pid()").await;
        let pid_b = scalar(&mut b, "SELECT pg_backend_pid()").await;
        assert_eq!(pid_a, pid_b, "two clients, one server connection");
        // Which is why session state is not the client's own in transaction mode.
        set_by_one_is_seen_by_the_other(&mut a, &mut b).await;
        a.close().await.expect("close");
        b.close().await.expect("close");
    });
}

/// Three clients through two server connections make a cached statement reach a server
/// session it was not prepared on, inside a transaction (where the adapter cannot retry).
async fn statement_on_another_server_session(
    options: impl Fn() -> PostgresOptions,
) -> pool_core::Result<Vec<pool_core::Row>> {
    let connect = async || {
        options()
            .build()
            .expect("the options build")
            .connect()
            .await
            .expect("a connection through PgBouncer")
    };
    let (mut a, mut b, mut c) = (connect().await, connect().await, connect().await);
    let sql = "SELECT $1::bigint + 1";
    a.execute("BEGIN", &[]).await.expect("A pins server X");
    // X is pinned: B prepares and runs on Y.
    b.query(sql, &[Value::I64(1)]).await.expect("B on Y");
    c.execute("BEGIN", &[]).await.expect("C pins Y");
    a.execute("COMMIT", &[]).await.expect("A frees X");
    b.execute("BEGIN", &[]).await.expect("B pins X");
    let outcome = b.query(sql, &[Value::I64(41)]).await;
    // B and C hold both server connections: end their transactions first.
    for conn in [&mut b, &mut c] {
        conn.execute("ROLLBACK", &[]).await.expect("ROLLBACK");
    }
    for conn in [&mut a, &mut b, &mut c] {
        conn.close().await.expect("close");
    }
    outcome
}

#[test]
fn in_transaction_mode_the_setting_prepares_nothing_by_name() {
    with_pgbouncer(PoolMode::Transaction, 2, async |bouncer| {
        let url = format!("{}&pgbouncer=transaction", bouncer.url());
        // Even with a statement cache asked for: transaction mode turns it off.
        let options = || {
            PostgresOptions::from_url(&url)
                .expect("the URL parses")
                .with_statement_cache_capacity(100)
        };
        let rows = statement_on_another_server_session(options)
            .await
            .expect("an unnamed statement runs on any server session");
        assert_eq!(rows[0].get(0), Some(&Value::I64(42)));
        let mut conn = options().build().unwrap().connect().await.unwrap();
        assert_eq!(conn.cached_statements(), 0);
        assert_eq!(
            scalar(&mut conn, "SELECT count(*) FROM pg_prepared_statements").await,
            Value::I64(0)
        );
        conn.close().await.expect("close");
    });
}

#[test]
fn in_transaction_mode_a_statement_cache_error_names_the_pgbouncer_setting() {
    with_pgbouncer(PoolMode::Transaction, 2, async |bouncer| {
        // The default: the statement cache on, no pgbouncer setting.
        let options = || PostgresOptions::from_url(&bouncer.url()).expect("the URL parses");
        let err = statement_on_another_server_session(options)
            .await
            .expect_err("a named statement is not on the other server session");
        let message = err.to_string();
        assert!(message.contains("prepared statement"), "{message}");
        assert!(message.contains("pgbouncer=transaction"), "{message}");
    });
}

#[test]
fn in_transaction_mode_the_adapter_resets_nothing_but_an_open_transaction() {
    with_pgbouncer(PoolMode::Transaction, 1, async |bouncer| {
        let url = format!("{}&pgbouncer=transaction", bouncer.url());
        let options = PostgresOptions::from_url(&url).expect("the URL parses");
        let connector = options.build().expect("the options build");
        let mut a = connector.connect().await.expect("A");
        let mut b = connector.connect().await.expect("B");
        a.execute("BEGIN", &[]).await.expect("BEGIN");
        a.execute("SET statement_timeout = '4321s'", &[])
            .await
            .expect("SET");
        assert!(matches!(a.begin_reset(), pool_core::ResetStart::Await));
        a.reset().await.expect("the ROLLBACK");
        // The transaction (and its SET) is gone; B gets the only server session.
        assert_eq!(scalar(&mut b, READ).await, Value::Text("0".into()));
        // A SET outside a transaction stays on the server session: PgBouncer's to reset, not
        // the adapter's (a DISCARD ALL would run on whichever server session is free).
        let log = conformance::chaos::log_capture();
        set_by_one_is_seen_by_the_other(&mut a, &mut b).await;
        assert!(matches!(a.begin_reset(), pool_core::ResetStart::Done));
        // ... but the operator is told, once per connection.
        assert!(matches!(a.begin_reset(), pool_core::ResetStart::Done));
        let warnings = log.text().matches("keeps session state").count();
        assert_eq!(warnings, 1, "{}", log.text());
        a.close().await.expect("close");
        b.close().await.expect("close");
    });
}

/// The cross-client case: two clients share PgBouncer's one server connection; A's
/// statement runs past A's query timeout and is cancelled, B's statement queued behind it (and
/// B's next one) is not, and both connections stay usable.
#[test]
fn a_timed_out_statement_is_cancelled_through_pgbouncer_and_the_next_clients_is_not() {
    with_pgbouncer(PoolMode::Transaction, 1, async |bouncer| {
        let url = format!("{}&pgbouncer=transaction", bouncer.url());
        let connector = PostgresOptions::from_url(&url)
            .expect("the URL parses")
            .build()
            .expect("the options build");
        let mut a = connector.connect().await.expect("A");
        let mut b = connector.connect().await.expect("B");
        a.set_query_timeout(Some(Duration::from_secs(1)));
        let long = "SELECT pg_sleep(5)";
        let timed_out = tokio::spawn(async move {
            let outcome = a.query(long, &[]).await;
            (a, outcome)
        });
        // B goes only once A's statement runs on the server, so B queues behind it in PgBouncer.
        let mut direct = PostgresConnector::from_url(&bouncer.postgres().url())
            .expect("the server's URL")
            .connect()
            .await
            .expect("a session on the server itself");
        let running = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '{long}'"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while scalar(&mut direct, &running).await != Value::I64(1) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "A's statement never ran"
            );
            tokio::task::yield_now().await;
        }
        direct.close().await.expect("close");
        let queued = b.query("SELECT pg_sleep(0.5), 1", &[]).await;
        let (mut a, outcome) = timed_out.await.expect("A's task");
        assert!(
            matches!(outcome, Err(pool_core::Error::QueryTimeout(_))),
            "A times out: {outcome:?}"
        );
        let queued = queued.expect("B's statement queued behind A's is not cancelled");
        assert_eq!(queued[0].get(1), Some(&Value::I64(1)));
        let following = b
            .query("SELECT pg_sleep(0.5), 2", &[])
            .await
            .expect("B's next statement is not cancelled");
        assert_eq!(following[0].get(1), Some(&Value::I64(2)));
        let log = bouncer.log();
        assert!(
            log.contains("successfully sent cancel request"),
            "PgBouncer forwarded A's cancel: {log}"
        );
        assert!(
            !a.is_broken(),
            "A stays usable after its cancelled statement"
        );
        assert_eq!(scalar(&mut a, "SELECT 3").await, Value::I64(3));
        a.close().await.expect("close");
        b.close().await.expect("close");
    });
}

/// In session mode the setting keeps the statement cache and cancels through PgBouncer too: a
/// timed-out statement is cancelled (PgBouncer forwards the request even with its only server
/// connection busy) and the connection stays usable, its cached statements with it.
#[test]
fn in_session_mode_a_timed_out_statement_is_cancelled_through_pgbouncer() {
    with_pgbouncer(PoolMode::Session, 1, async |bouncer| {
        let url = format!("{}&pgbouncer=session", bouncer.url());
        let mut conn = PostgresOptions::from_url(&url)
            .expect("the URL parses")
            .build()
            .expect("the options build")
            .connect()
            .await
            .expect("a connection through PgBouncer");
        assert_eq!(scalar(&mut conn, "SELECT 1").await, Value::I64(1));
        assert_eq!(conn.cached_statements(), 1, "session mode keeps the cache");
        conn.set_query_timeout(Some(Duration::from_secs(1)));
        let outcome = conn.query("SELECT pg_sleep(5)", &[]).await;
        assert!(
            matches!(outcome, Err(pool_core::Error::QueryTimeout(_))),
            "{outcome:?}"
        );
        let log = bouncer.log();
        assert!(log.contains("successfully sent cancel request"), "{log}");
        assert!(!conn.is_broken());
        assert_eq!(scalar(&mut conn, "SELECT 1").await, Value::I64(1));
        conn.close().await.expect("close");
    });
}
