//! Bad input, table-driven: every row is something a user can get wrong, and the typed error
//! (variant and the words of its message) it must produce, through the adapters' parsers, the
//! pool's configuration check and real connection attempts. Connection rows use the shared
//! servers (nothing is changed on them), a throwaway PostgreSQL with password authentication
//! and no TLS, a closed port and a blackholing fault proxy. Certificates for the wrong host are
//! covered by the adapters' own TLS tests (`adapter-postgres/tests/tls.rs`,
//! `adapter-mysql/tests/tls_server.rs`), which start TLS servers of their own. The manager's
//! rows read configuration text and files, build pools from them, and start its status service
//! on a taken port.
//!
//! Every message must also say each cause once (no "Input/output error: Input/output error")
//! and never show the rows' passwords; every `Error::Connect` must be class `Connection`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use adapter_mysql::MysqlConnector;
use adapter_postgres::PostgresConnector;
use adapter_sqlite::SqliteConnector;
use conformance::fault_proxy::{Fault, FaultProxy};
use conformance::throwaway::ThrowawayPostgres;
use pool_core::{Connector, Error, ErrorClass, Pool, PoolConfig};
use pool_manager::{AdapterRegistry, ManagerConfig, ManagerError, PoolManager};

/// The password of rows that put one where it must not be echoed.
const SECRET: &str = "s3cret-chaos";

/// What a row must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `Error::Config` whose field is this and whose message contains these words.
    Config(&'static str, &'static [&'static str]),
    /// `Error::Connect`, class `Connection`, whose message contains these words
    /// (case-insensitive).
    Connect(&'static [&'static str]),
    /// `Error::ConnectTimeout`.
    ConnectTimeout,
    /// Another error type (a `ManagerError` variant, an `io::ErrorKind`) of this kind, whose
    /// message contains the first words and none of the second.
    Other(
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    /// Not an error: input the documentation says is accepted.
    Accepted,
}

/// How an attempt failed.
#[derive(Debug)]
enum Failed {
    Pool(Error),
    /// Any other error: its kind (variant name) and message.
    Other(String, String),
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed::Pool(error)
    }
}

impl From<ManagerError> for Failed {
    fn from(error: ManagerError) -> Self {
        let debug = format!("{error:?}");
        let kind = debug
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned();
        Failed::Other(kind, error.to_string())
    }
}

impl From<std::io::Error> for Failed {
    fn from(error: std::io::Error) -> Self {
        Failed::Other(format!("{:?}", error.kind()), error.to_string())
    }
}

type Attempt = Pin<Box<dyn Future<Output = Result<(), Failed>>>>;

/// A string for a row that lives as long as the test (rows hold `&'static str`).
fn words(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn contains_all(message: &str, words: &[&str]) -> bool {
    let lower = message.to_lowercase();
    words.iter().all(|w| lower.contains(&w.to_lowercase()))
}

/// The same cause twice in a row ("Input/output error: Input/output error: …").
fn repeats_a_cause(message: &str) -> bool {
    let parts: Vec<&str> = message.split(": ").map(str::trim).collect();
    parts.windows(2).any(|w| w[0] == w[1])
}

fn check(row: &str, result: Result<(), Failed>, expect: Expect, took: Duration) -> Option<String> {
    let error = match (result, expect) {
        (Ok(()), Expect::Accepted) => return None,
        (Ok(()), _) => return Some(format!("{row}: succeeded, expected {expect:?}")),
        (Err(error), _) => error,
    };
    let message = match &error {
        Failed::Pool(error) => error.to_string(),
        Failed::Other(_, message) => message.clone(),
    };
    let ok = match (&error, expect) {
        (Failed::Pool(Error::Config { field, .. }), Expect::Config(want, words)) => {
            field == want && contains_all(&message, words)
        }
        (Failed::Pool(Error::Connect(backend)), Expect::Connect(words)) => {
            backend.class() == ErrorClass::Connection && contains_all(&message, words)
        }
        (Failed::Pool(Error::ConnectTimeout(_)), Expect::ConnectTimeout) => true,
        (Failed::Other(kind, _), Expect::Other(want, words, absent)) => {
            kind == want
                && contains_all(&message, words)
                && !absent
                    .iter()
                    .any(|w| message.to_lowercase().contains(&w.to_lowercase()))
        }
        _ => false,
    };
    let ok = ok && took < Duration::from_secs(5) && !repeats_a_cause(&message);
    let ok = ok && !message.contains(SECRET);
    (!ok).then(|| format!("{row}: expected {expect:?}, got {error:?} ({message}) after {took:?}"))
}

fn parse<T>(result: pool_core::Result<T>) -> Attempt {
    let result = result.map(drop).map_err(Failed::from);
    Box::pin(async move { result })
}

/// Reads manager configuration text (no environment variables set).
fn manager_text(text: &str) -> Attempt {
    let result = ManagerConfig::from_toml_str_with_env(text, &|_| None)
        .map(drop)
        .map_err(Failed::from);
    Box::pin(async move { result })
}

/// Reads a manager configuration file holding `text`.
fn manager_file(dir: &std::path::Path, name: &str, text: &str) -> (String, Attempt) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let result = ManagerConfig::from_file(&path)
        .map(drop)
        .map_err(Failed::from);
    (path.display().to_string(), Box::pin(async move { result }))
}

/// Builds a manager from configuration text, with the three adapters registered.
fn manager_build(text: &'static str) -> Attempt {
    Box::pin(async move {
        let registry = AdapterRegistry::new()
            .with_connector("postgres", PostgresConnector::from_url)
            .with_connector("postgresql", PostgresConnector::from_url)
            .with_connector("mysql", MysqlConnector::from_url)
            .with_connector("sqlite", SqliteConnector::from_url);
        let config = ManagerConfig::from_toml_str_with_env(text, &|_| None)?;
        let manager = config.build(&registry).await?;
        manager.close_all(Duration::from_secs(1)).await;
        Ok(())
    })
}

/// Starts the manager's status service on `addr`.
fn status_service(addr: String) -> Attempt {
    Box::pin(async move {
        let server = pool_manager::http::serve(PoolManager::new(), addr.as_str()).await?;
        server.shutdown().await?;
        Ok(())
    })
}

fn connect<C: Connector>(connector: pool_core::Result<C>) -> Attempt {
    let connector = connector.map_err(Failed::from);
    Box::pin(async move {
        let connector = connector?;
        let mut conn = connector.connect().await.map_err(Failed::from)?;
        let _ = pool_core::ConnectionProtocol::close(&mut conn).await;
        Ok(())
    })
}

fn config(change: impl FnOnce(&mut PoolConfig)) -> Attempt {
    let mut config = PoolConfig::default();
    change(&mut config);
    Box::pin(async move {
        let connector = SqliteConnector::from_url("sqlite::memory:")?;
        let pool = Pool::builder(connector)
            .config(config)
            .build()
            .await
            .map_err(Failed::from)?;
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
        let files = tempfile::tempdir().unwrap();
        let (syntax_file, syntax_attempt) =
            manager_file(files.path(), "syntax.toml", "[pools.orders\nurl = \"sqlite::memory:\"\n");
        let (empty_file, empty_attempt) = manager_file(files.path(), "empty.toml", "");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_addr = taken.local_addr().unwrap().to_string();
        let missing_ro = files.path().join("missing.db");

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
                Expect::Config("port", &["`notaport`", "port number"]),
            ),
            (
                "postgres: no :// after the scheme",
                parse(PostgresConnector::from_url(&format!(
                    "postgresql//u:{SECRET}@127.0.0.1/db"
                ))),
                Expect::Config("url", &["`postgresql` is followed by `//`", "`postgresql://`"]),
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
                Expect::Connect(Box::leak(Box::new([
                    "refused",
                    words(format!("127.0.0.1:{closed}")),
                    "`postgres`",
                    "sslmode=",
                ]))),
            ),
            (
                // 1045, at connect: a connection error (it was classed as a query error).
                "mysql: wrong password",
                connect(MysqlConnector::from_url(&format!(
                    "mysql://root:{SECRET}@127.0.0.1:3306/test"
                ))),
                Expect::Connect(&["access denied", "1045", "127.0.0.1:3306", "`root`"]),
            ),
            (
                "mysql: user that does not exist",
                connect(MysqlConnector::from_url(&format!(
                    "mysql://no_such_user_chaos:{SECRET}@127.0.0.1:3306/test"
                ))),
                Expect::Connect(&["access denied", "no_such_user_chaos"]),
            ),
            (
                // 1049: a query error from `USE`, a connection error at connect.
                "mysql: database that does not exist",
                connect(MysqlConnector::from_url(
                    "mysql://root@127.0.0.1:3306/no_such_db_chaos",
                )),
                Expect::Connect(&["no_such_db_chaos", "1049"]),
            ),
            (
                "mysql: TLS required, server has none",
                connect(MysqlConnector::from_url(
                    "mysql://root@127.0.0.1:3306/test?ssl_mode=required",
                )),
                Expect::Connect(&["ssl"]),
            ),
            (
                // Was "Input/output error: Input/output error: Connection refused".
                "mysql: closed port",
                connect(MysqlConnector::from_url(&format!(
                    "mysql://root@127.0.0.1:{closed}/test"
                ))),
                Expect::Connect(Box::leak(Box::new([
                    "refused",
                    words(format!("127.0.0.1:{closed}")),
                    "user `root`",
                    "database `test`",
                    "ssl_mode=preferred",
                ]))),
            ),
            (
                "sqlite: directory that does not exist",
                connect(SqliteConnector::from_url(
                    "sqlite:///nonexistent-chaos-dir/sub/x.db",
                )),
                Expect::Connect(&["/nonexistent-chaos-dir/sub/x.db", "mode=rwc"]),
            ),
            (
                // The tests may run as root, which ignores permission bits: /proc refuses
                // new files to everyone.
                "sqlite: read-only location",
                connect(SqliteConnector::from_url("sqlite:///proc/chaos-x.db")),
                Expect::Connect(&["/proc/chaos-x.db", "mode=rwc"]),
            ),
            (
                "sqlite: read-only mode, file missing",
                connect(SqliteConnector::from_url(&format!(
                    "sqlite://{}?mode=ro",
                    missing_ro.display()
                ))),
                Expect::Connect(Box::leak(Box::new([
                    words(missing_ro.display().to_string()),
                    "mode=ro (read-only)",
                ]))),
            ),
            // The manager's configuration file and status service
            (
                // A number cannot come from `${VAR}`: the problem is the quotes, not the
                // environment (MAX is unset, so the fallback 4 is used).
                "manager: a number written as a string with ${VAR}",
                manager_text(
                    "[pools.a]\nurl = \"sqlite::memory:\"\nmax_size = \"${MAX:-4}\"",
                ),
                Expect::Other(
                    "Config",
                    &["pool `a`", "`max_size`", "is a string", "whole number", "without quotes"],
                    &["(not shown here) is invalid"],
                ),
            ),
            (
                "manager: a literal number written as a string",
                manager_text("[pools.a]\nurl = \"sqlite::memory:\"\nmax_size = \"4\""),
                Expect::Other("Config", &["`max_size`", "is the string `\"4\"`", "whole number"], &[]),
            ),
            (
                "manager: [default] instead of [defaults]",
                manager_text(
                    "[default]\nmax_size = 4\n[pools.a]\nurl = \"sqlite::memory:\"",
                ),
                Expect::Other(
                    "Config",
                    &["configuration file", "`default`", "`[default]`", "did you mean `[defaults]`"],
                    &["pool ``"],
                ),
            ),
            (
                "manager: TOML syntax error in a file",
                syntax_attempt,
                Expect::Other(
                    "Syntax",
                    Box::leak(Box::new([words(syntax_file), "line 1", "column"])),
                    &[],
                ),
            ),
            (
                "manager: empty file",
                empty_attempt,
                Expect::Other(
                    "NoPools",
                    Box::leak(Box::new([words(empty_file), "[pools.NAME]"])),
                    &[],
                ),
            ),
            (
                "manager: only [defaults], no pool",
                manager_text("[defaults]\nmax_size = 4"),
                Expect::Other("NoPools", &["defines no pool"], &[]),
            ),
            (
                // README: PostgreSQL takes libpq key/value strings; so does the manager's file.
                "manager: a libpq key/value string",
                manager_build(
                    "[pools.pg]\nurl = \"host=127.0.0.1 port=5432 dbname=test user=root \
                     sslmode=disable\"\nmin_size = 1",
                ),
                Expect::Accepted,
            ),
            (
                "manager: status service on a taken port",
                status_service(taken_addr.clone()),
                Expect::Other(
                    "AddrInUse",
                    Box::leak(Box::new([words(taken_addr.clone())])),
                    &[],
                ),
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
            }
            .map_err(Failed::from);
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
        drop(taken);
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
