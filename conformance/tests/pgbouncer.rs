//! The throwaway PgBouncer harness, and adapter-postgres through it: each test starts its own
//! PostgreSQL and PgBouncer (see `conformance::throwaway`), on their own ports, and stops them
//! when it ends. PgBouncer comes from Debian's package (`cargo xtask services` installs it).

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
        a.execute("SET statement_timeout = '4321s'", &[])
            .await
            .expect("SET");
        assert_eq!(scalar(&mut b, READ).await, Value::Text("4321s".into()));
        b.execute("RESET statement_timeout", &[])
            .await
            .expect("RESET");
        a.close().await.expect("close");
        b.close().await.expect("close");
    });
}
