//! Bad input, table-driven: every row is something a user can get wrong, and the typed error
//! (variant and the words of its message) it must produce, through the adapters' parsers, the
//! pool's configuration check and real connection attempts. Connection rows use the shared
//! servers (nothing is changed on them), a throwaway PostgreSQL with password authentication
//! and no TLS, a closed port and a blackholing fault proxy. Certificates for the wrong host are
//! covered by the adapters' own TLS tests (`adapter-postgres/tests/tls.rs`,
//! `adapter-mysql/tests/tls_server.rs`), which start TLS servers of their own.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use adapter_mysql::MysqlConnector;
use adapter_postgres::PostgresConnector;
use adapter_sqlite::SqliteConnector;
use conformance::fault_proxy::{Fault, FaultProxy};
use conformance::throwaway::ThrowawayPostgres;
use pool_core::{Connector, Error, Pool, PoolConfig};

/// What a row must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `Error::Config` whose field is this and whose message contains these words.
    Config(&'static str, &'static [&'static str]),
    /// `Error::Connect` whose message contains these words (case-insensitive).
    Connect(&'static [&'static str]),
    /// `Error::ConnectTimeout`.
    ConnectTimeout,
}

type Attempt = Pin<Box<dyn Future<Output = Result<(), Error>>>>;

fn check(row: &str, result: Result<(), Error>, expect: Expect, took: Duration) -> Option<String> {
    let Err(error) = result else {
        return Some(format!("{row}: succeeded, expected {expect:?}"));
    };
    let message = error.to_string();
    let lower = message.to_lowercase();
    let ok = match (&error, expect) {
        (Error::Config { field, .. }, Expect::Config(want, words)) => {
            field == want && words.iter().all(|w| lower.contains(&w.to_lowercase()))
        }
        (Error::Connect(_), Expect::Connect(words)) => {
            words.iter().all(|w| lower.contains(&w.to_lowercase()))
        }
        (Error::ConnectTimeout(_), Expect::ConnectTimeout) => true,
        _ => false,
    };
    let ok = ok && took < Duration::from_secs(5);
    (!ok).then(|| format!("{row}: expected {expect:?}, got {error:?} ({message}) after {took:?}"))
}

fn parse<T>(result: pool_core::Result<T>) -> Attempt {
    let result = result.map(drop);
    Box::pin(async move { result })
}

fn connect<C: Connector>(connector: pool_core::Result<C>) -> Attempt {
    Box::pin(async move {
        let connector = connector?;
        let mut conn = connector.connect().await?;
        let _ = pool_core::ConnectionProtocol::close(&mut conn).await;
        Ok(())
    })
}

fn config(change: impl FnOnce(&mut PoolConfig)) -> Attempt {
    let mut config = PoolConfig::default();
    change(&mut config);
    Box::pin(async move {
        let connector = SqliteConnector::from_url("sqlite::memory:")?;
        let pool = Pool::builder(connector).config(config).build().await?;
        pool.close(Duration::from_secs(1)).await;
        Ok(())
    })
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn bad_input_gives_a_typed_error_that_names_the_problem() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pg_with_password = ThrowawayPostgres::start_with(Some("right-password"))
            .expect("a throwaway PostgreSQL with password authentication");
        let blackhole = FaultProxy::start("127.0.0.1:5432".parse().unwrap())
            .await
            .unwrap();
        blackhole.set(Fault::Blackhole);
        let closed = closed_port();
        let pg_port = pg_with_password.port();

        let rows: Vec<(&str, Attempt, Expect)> = vec![
            // URLs
            (
                "postgres: unknown scheme",
                parse(PostgresConnector::from_url("postgrez://u@127.0.0.1/db")),
                Expect::Config("url", &["postgrez"]),
            ),
            (
                "postgres: malformed port",
                parse(PostgresConnector::from_url("postgres://u@127.0.0.1:notaport/db")),
                Expect::Config("port", &["port"]),
            ),
            (
                "postgres: unknown option",
                parse(PostgresConnector::from_url("postgres://u@127.0.0.1/db?frobnicate=1")),
                Expect::Config("frobnicate", &["frobnicate"]),
            ),
            (
                "postgres: bad sslmode",
                parse(PostgresConnector::from_url("postgres://u@127.0.0.1/db?sslmode=sometimes")),
                Expect::Config("sslmode", &["sometimes"]),
            ),
            (
                "mysql: unknown scheme",
                parse(MysqlConnector::from_url("mysqlx://root@127.0.0.1/test")),
                Expect::Config("url", &["mysqlx"]),
            ),
            (
                "mysql: malformed port",
                parse(MysqlConnector::from_url("mysql://root@127.0.0.1:99999/test")),
                Expect::Config("url", &["port"]),
            ),
            (
                "mysql: unknown option",
                parse(MysqlConnector::from_url("mysql://root@127.0.0.1/test?frobnicate=1")),
                Expect::Config("frobnicate", &["frobnicate"]),
            ),
            (
                "sqlite: unknown scheme",
                parse(SqliteConnector::from_url("sqlight://x.db")),
                Expect::Config("url", &["sqlight"]),
            ),
            (
                "sqlite: unknown option",
                parse(SqliteConnector::from_url("sqlite://x.db?frobnicate=1")),
                Expect::Config("frobnicate", &["frobnicate"]),
            ),
            (
                "sqlite: bad mode",
                parse(SqliteConnector::from_url("sqlite://x.db?mode=rwx")),
                Expect::Config("mode", &["rwx"]),
            ),
            // Pool configuration
            (
                "min_size > max_size",
                config(|c| {
                    c.min_size = Some(9);
                    c.max_size = 3;
                }),
                Expect::Config("min_size", &["9", "3"]),
            ),
            (
                "max_size = 0",
                config(|c| {
                    c.min_size = Some(0);
                    c.max_size = 0;
                }),
                Expect::Config("max_size", &["at least 1"]),
            ),
            (
                "acquire_timeout = 0",
                config(|c| c.acquire_timeout = Duration::ZERO),
                Expect::Config("acquire_timeout", &["longer than zero"]),
            ),
            (
                "connect_timeout = 0",
                config(|c| c.connect_timeout = Duration::ZERO),
                Expect::Config("connect_timeout", &["longer than zero"]),
            ),
            (
                "query_timeout = Some(0)",
                config(|c| c.query_timeout = Some(Duration::ZERO)),
                Expect::Config("query_timeout", &["longer than zero"]),
            ),
            (
                "circuit_breaker.open_duration = 0",
                config(|c| c.circuit_breaker.open_duration = Duration::ZERO),
                Expect::Config("circuit_breaker.open_duration", &["longer than zero"]),
            ),
            // Connecting
            (
                "postgres: wrong password",
                connect(PostgresConnector::from_url(&format!(
                    "postgres://postgres:wrong-password@127.0.0.1:{pg_port}/postgres"
                ))),
                Expect::Connect(&["password authentication failed"]),
            ),
            (
                "postgres: role that does not exist",
                connect(PostgresConnector::from_url(
                    "postgres://no_such_role_chaos@127.0.0.1:5432/test",
                )),
                Expect::Connect(&["no_such_role_chaos", "does not exist"]),
            ),
            (
                "postgres: TLS required, server has none",
                connect(PostgresConnector::from_url(&format!(
                    "postgres://postgres:right-password@127.0.0.1:{pg_port}/postgres?sslmode=require"
                ))),
                Expect::Connect(&["tls"]),
            ),
            (
                "postgres: closed port",
                connect(PostgresConnector::from_url(&format!(
                    "postgres://postgres@127.0.0.1:{closed}/test"
                ))),
                Expect::Connect(&["refused"]),
            ),
            (
                "mysql: wrong password",
                connect(MysqlConnector::from_url(
                    "mysql://root:wrong-password@127.0.0.1:3306/test",
                )),
                Expect::Connect(&["access denied"]),
            ),
            (
                "mysql: TLS required, server has none",
                connect(MysqlConnector::from_url(
                    "mysql://root@127.0.0.1:3306/test?ssl_mode=required",
                )),
                Expect::Connect(&["ssl"]),
            ),
            (
                "mysql: closed port",
                connect(MysqlConnector::from_url(&format!(
                    "mysql://root@127.0.0.1:{closed}/test"
                ))),
                Expect::Connect(&["refused"]),
            ),
            (
                "sqlite: directory that does not exist",
                connect(SqliteConnector::from_url(
                    "sqlite:///nonexistent-chaos-dir/sub/x.db",
                )),
                Expect::Connect(&["/nonexistent-chaos-dir/sub/x.db"]),
            ),
            (
                // The tests may run as root, which ignores permission bits: /proc refuses
                // new files to everyone.
                "sqlite: read-only location",
                connect(SqliteConnector::from_url("sqlite:///proc/chaos-x.db")),
                Expect::Connect(&["/proc/chaos-x.db"]),
            ),
        ];

        let mut failures = Vec::new();
        for (row, attempt, expect) in rows {
            let t = tokio::time::Instant::now();
            let result = attempt.await;
            if let Some(f) = check(row, result, expect, t.elapsed()) {
                failures.push(f);
            }
        }

        // An unreachable host is a connect timeout at the pool's bound, never a hang.
        for (name, url) in [
            (
                "postgres",
                format!("postgres://postgres@127.0.0.1:{}/test", blackhole.port()),
            ),
            (
                "mysql",
                format!("mysql://root@127.0.0.1:{}/test", blackhole.port()),
            ),
        ] {
            let t = tokio::time::Instant::now();
            let result = if name == "postgres" {
                build_pool(PostgresConnector::from_url(&url).unwrap()).await
            } else {
                build_pool(MysqlConnector::from_url(&url).unwrap()).await
            };
            let took = t.elapsed();
            if let Some(f) = check(
                &format!("{name}: blackholed host"),
                result,
                Expect::ConnectTimeout,
                took,
            ) {
                failures.push(f);
            } else if took > Duration::from_millis(300) + Duration::from_millis(700) {
                failures.push(format!("{name}: blackholed host took {took:?} (timeout 300 ms)"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

async fn build_pool<C: Connector>(connector: C) -> Result<(), Error> {
    let pool = Pool::builder(connector)
        .min_size(1)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await?;
    pool.close(Duration::from_secs(1)).await;
    Ok(())
}
