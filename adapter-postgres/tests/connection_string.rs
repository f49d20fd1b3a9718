//! Connection strings parse with tokio-postgres's parser plus our TLS parameters; malformed ones
//! are configuration errors that name the parameter and never show the password.

use std::path::PathBuf;
use std::time::Duration;

use adapter_postgres::{PostgresConnector, PostgresOptions, RootCerts, SslMode};
use pool_core::Error;
use tokio_postgres::config::Host;

struct Expected {
    hosts: &'static [&'static str],
    ports: &'static [u16],
    user: Option<&'static str>,
    dbname: Option<&'static str>,
    application_name: &'static str,
    ssl_mode: SslMode,
    root_certs: RootCerts,
}

const BASE: Expected = Expected {
    hosts: &["db.internal"],
    ports: &[5432],
    user: Some("app"),
    dbname: Some("shop"),
    application_name: "pool",
    ssl_mode: SslMode::Prefer,
    root_certs: RootCerts::System,
};

fn check(input: &str, expected: Expected) {
    let options =
        PostgresOptions::from_url(input).unwrap_or_else(|e| panic!("{input} should parse: {e}"));
    let pg = options.pg_config();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    assert_eq!(hosts, expected.hosts, "hosts of {input}");
    // No port at all means tokio-postgres's default, 5432.
    let ports = if pg.get_ports().is_empty() {
        &[5432][..]
    } else {
        pg.get_ports()
    };
    assert_eq!(ports, expected.ports, "ports of {input}");
    assert_eq!(pg.get_user(), expected.user, "user of {input}");
    assert_eq!(pg.get_dbname(), expected.dbname, "dbname of {input}");
    assert_eq!(
        pg.get_application_name(),
        Some(expected.application_name),
        "application_name of {input}"
    );
    assert_eq!(options.ssl_mode(), expected.ssl_mode, "sslmode of {input}");
    assert_eq!(
        options.root_certs(),
        &expected.root_certs,
        "sslrootcert of {input}"
    );
}

#[test]
fn urls_and_key_value_strings_parse_into_the_same_options() {
    check("postgres://app@db.internal/shop", BASE);
    check("postgresql://app:s3cret@db.internal:5432/shop", BASE);
    check("host=db.internal user=app dbname=shop", BASE);
    check(
        "host=db.internal user=app password='s3 cret' dbname = shop",
        BASE,
    );
    check(
        "postgres://app@db.internal:6543/shop",
        Expected {
            ports: &[6543],
            ..BASE
        },
    );
    check(
        "postgres://app@h1:5433,h2:5434/shop",
        Expected {
            hosts: &["h1", "h2"],
            ports: &[5433, 5434],
            ..BASE
        },
    );
    check(
        "postgres://app@db.internal/shop?sslmode=require",
        Expected {
            ssl_mode: SslMode::Require,
            ..BASE
        },
    );
    check(
        "postgres://app@db.internal/shop?sslmode=verify-ca&sslrootcert=/etc/ca.pem",
        Expected {
            ssl_mode: SslMode::VerifyCa,
            root_certs: RootCerts::File(PathBuf::from("/etc/ca.pem")),
            ..BASE
        },
    );
    check(
        "host=db.internal user=app dbname=shop sslmode=verify-full sslrootcert='/etc/my ca.pem'",
        Expected {
            ssl_mode: SslMode::VerifyFull,
            root_certs: RootCerts::File(PathBuf::from("/etc/my ca.pem")),
            ..BASE
        },
    );
    // libpq: sslrootcert=system alone means verify-full.
    check(
        "postgres://app@db.internal/shop?sslrootcert=system",
        Expected {
            ssl_mode: SslMode::VerifyFull,
            ..BASE
        },
    );
    check(
        "postgres://app@db.internal/shop?sslmode=disable",
        Expected {
            ssl_mode: SslMode::Disable,
            ..BASE
        },
    );
    check(
        "postgres://app@db.internal/shop?application_name=checkout",
        Expected {
            application_name: "checkout",
            ..BASE
        },
    );
}

#[test]
fn malformed_strings_name_the_bad_parameter_and_never_the_password() {
    let table = [
        ("postgres://app:s3cret@db.internal:notaport/shop", "port"),
        (
            "postgres://app:s3cret@db.internal/shop?sslmode=sometimes",
            "sslmode",
        ),
        (
            "postgres://app:s3cret@db.internal/shop?sslmode=allow",
            "sslmode",
        ),
        (
            "postgres://app:s3cret@db.internal/shop?frobnicate=1",
            "frobnicate",
        ),
        (
            "postgres://app:s3cret@db.internal/shop?connect_timeout=soon",
            "connect_timeout",
        ),
        (
            "postgres://app:s3cret@db.internal/shop?sslrootcert=",
            "sslrootcert",
        ),
        ("postgres://app:s3cret@db.internal/shop?keepalives", "url"),
        ("host=db.internal password='s3cret", "url"),
        ("mysql://app:s3cret@db.internal/shop", "url"),
    ];
    for (input, field) in table {
        let err = PostgresOptions::from_url(input).expect_err(input);
        let Error::Config { field: got, .. } = &err else {
            panic!("{input}: expected a configuration error, got {err:?}");
        };
        assert_eq!(got, field, "{input}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("s3cret"),
            "{input} leaked the password: {shown}"
        );
    }
}

#[test]
fn a_missing_host_or_user_is_refused_at_build() {
    let err = PostgresConnector::from_url("dbname=shop user=app").unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "host"),
        "{err}"
    );
    let err = PostgresConnector::from_url("postgres://db.internal/shop").unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "user"),
        "{err}"
    );
}

#[test]
fn an_unreadable_ca_file_is_refused_at_build() {
    let err = PostgresConnector::from_url(
        "postgres://app@db.internal/shop?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, reason } if field == "sslrootcert" && reason.contains("/nonexistent/ca.pem")),
        "{err}"
    );
}

#[test]
fn debug_output_redacts_the_password() {
    let options = PostgresOptions::from_url("postgres://app:s3cret@db.internal/shop").unwrap();
    let shown = format!("{options:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    let connector = options.build().unwrap();
    let shown = format!("{connector:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    let with_provider = PostgresOptions::from_url("postgres://app@db.internal/shop")
        .unwrap()
        .with_password_provider(pool_core::CredentialsProvider::new(|| async {
            Ok(pool_core::Secret::new("t0ken"))
        }));
    assert!(!format!("{with_provider:?}").contains("t0ken"));
    let with_password = PostgresOptions::new()
        .with_host("db.internal")
        .with_password("s3cret-pw");
    let debug = format!("{with_password:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[test]
fn network_defaults_apply_unless_the_string_sets_them() {
    let defaults = PostgresOptions::from_url("postgres://app@db.internal/shop").unwrap();
    let pg = defaults.pg_config();
    assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(10)));
    assert_eq!(pg.get_tcp_user_timeout(), Some(&Duration::from_secs(30)));
    assert!(pg.get_keepalives());
    assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(60));
    assert_eq!(pg.get_keepalives_interval(), Some(Duration::from_secs(10)));
    assert_eq!(pg.get_keepalives_retries(), Some(3));

    let explicit = PostgresOptions::from_url(
        "postgres://app@db.internal/shop?connect_timeout=3&tcp_user_timeout=7&keepalives_idle=120",
    )
    .unwrap();
    let pg = explicit.pg_config();
    assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(3)));
    assert_eq!(pg.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
    assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(120));
}

#[test]
fn builder_methods_override_the_string() {
    let options = PostgresOptions::from_url("postgres://app@db.internal:6000/shop")
        .unwrap()
        .with_host("other.internal")
        .with_port(7000)
        .with_user("svc")
        .with_database("orders")
        .with_application_name("billing")
        .with_ssl_mode(SslMode::VerifyCa)
        .with_ca_file("/etc/ca.pem")
        .with_statement_cache_capacity(0);
    let pg = options.pg_config();
    assert_eq!(pg.get_hosts(), [Host::Tcp("other.internal".to_owned())]);
    assert_eq!(pg.get_ports(), [7000]);
    assert_eq!(pg.get_user(), Some("svc"));
    assert_eq!(pg.get_dbname(), Some("orders"));
    assert_eq!(pg.get_application_name(), Some("billing"));
    assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(10)));
    assert_eq!(options.ssl_mode(), SslMode::VerifyCa);
    assert_eq!(
        options.root_certs(),
        &RootCerts::File(PathBuf::from("/etc/ca.pem"))
    );
    assert_eq!(options.statement_cache_capacity(), 0);
}

#[test]
fn the_pgbouncer_setting_parses_from_urls_key_value_strings_and_code() {
    use adapter_postgres::PgbouncerMode;
    for (input, mode) in [
        ("postgres://app@db/shop", PgbouncerMode::Off),
        (
            "postgres://app@db/shop?pgbouncer=transaction",
            PgbouncerMode::Transaction,
        ),
        (
            "postgres://app@db/shop?application_name=x&pgbouncer=session",
            PgbouncerMode::Session,
        ),
        (
            "host=db user=app pgbouncer=transaction",
            PgbouncerMode::Transaction,
        ),
        ("host=db user=app pgbouncer=off", PgbouncerMode::Off),
    ] {
        let options = PostgresOptions::from_url(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(options.pgbouncer(), mode, "{input}");
        assert!(format!("{options:?}").contains(&format!("pgbouncer: {mode:?}")));
    }
    // Transaction mode turns the statement cache off, whatever its capacity says.
    let options = PostgresOptions::from_url("postgres://app@db/shop?pgbouncer=transaction")
        .unwrap()
        .with_statement_cache_capacity(50);
    assert_eq!(options.statement_cache_capacity(), 50);
    assert_eq!(options.effective_statement_cache_capacity(), 0);
    let session = options.with_pgbouncer(PgbouncerMode::Session);
    assert_eq!(session.effective_statement_cache_capacity(), 50);

    for (input, says) in [
        (
            "postgres://app:pw@db/shop?pgbouncer=yes",
            "expected one of off, session, transaction",
        ),
        (
            "postgres://app:pw@db/shop?pgbouncer=statement",
            "use `transaction`",
        ),
    ] {
        let err = PostgresOptions::from_url(input).unwrap_err().to_string();
        assert!(err.contains("pgbouncer") && err.contains(says), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }
}
