//! Property checks for the parsers that read configuration from outside the program: the
//! adapters' connection URLs and pool-manager's TOML file. The cargo-fuzz targets in `fuzz/`
//! are one line each, calling these functions (`cargo xtask fuzz --seconds N` runs them), and
//! `tests/fuzz_regressions.rs` replays every committed seed and every input a fuzzer ever
//! crashed on through the same functions, so the checks are compiled, run and kept up to date
//! by the ordinary test suite.
//!
//! Each function takes any bytes (input that is not UTF-8 cannot reach a `&str` parser and is
//! skipped) and panics, naming the input and the property, when one of these fails:
//!
//! * **No panic, whatever the input.** A parser that panics is a bug: it must return an error.
//! * **Errors are typed and name the problem.** A rejected URL is [`pool_core::Error::Config`]
//!   with a non-empty field and reason; a rejected file is [`ManagerError::Config`] (non-empty
//!   reason), [`ManagerError::Syntax`] or [`ManagerError::NoPools`].
//! * **Passwords are never printed.** A password in the input (a URL's userinfo, read as the
//!   adapter's parser reads it: up to the first `@` for tokio-postgres, up to the last `@` of the
//!   authority for the URL standard; a `password=` parameter of a PostgreSQL URL or key/value
//!   string) must not appear in the `Display` or `Debug` of any error, options value, connector
//!   or pool specification made from it. Only a distinctive password is looked for: four
//!   characters or more, found neither in the rest of the input nor in what the parser prints
//!   for the same input with the password removed or replaced by as many `x` (so a password
//!   `host` or `prefer` is not mistaken for a leak). `Debug` must not change when only the
//!   password does. The manager's `${VAR}` substitution is given a distinctive value that no
//!   error may echo.
//! * **Round trips.** Options that parsed are written back as text (a libpq key/value string, a
//!   `mysql://` URL, an `sqlite:` URL, a TOML file) and parsed again; what comes back must be the
//!   same. TLS modes parse back from their own spelling.

use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use adapter_mysql::{MysqlConnector, MysqlOptions, TlsRoots};
use adapter_postgres::{PostgresConnector, PostgresOptions, RootCerts};
use adapter_sqlite::{
    Database, JournalMode, OpenMode, SqliteConnector, SqliteOptions, Synchronous,
};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use pool_core::{Error, PoolConfig};
use pool_manager::{ManagerConfig, ManagerError};
use toml::{Table, Value};

/// Every fuzz target with its check, by name: the name of `fuzz/fuzz_targets/<name>.rs`, of its
/// seed corpus `fuzz/corpus/<name>/` and of its crash regressions `fuzz/regressions/<name>/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("postgres_url", postgres_url),
    ("mysql_url", mysql_url),
    ("sqlite_url", sqlite_url),
    ("manager_toml", manager_toml),
];

/// A property check: takes any bytes, panics when a property fails.
pub type Check = fn(&[u8]);

/// The value [`manager_toml`] substitutes for `${VAR}` (unless `VAR` starts with `U`, which is
/// unset, or `E`, which is set but empty). No error may contain it.
pub const ENV_SECRET: &str = "Env-S3cret-Canary";

/// `PostgresOptions::from_url` and `PostgresConnector::from_url` on a `postgres://` URL or a
/// libpq key/value string, and `SslMode::from_str`.
///
/// A parsed connection string must build (`sslmode` aside: building is checked with
/// certificate checks off, so no trust store or `sslrootcert` file is read, and compared with
/// `PostgresConnector::from_url` where the TLS mode loads none anyway) or fail with a
/// configuration error, and must come back unchanged (user, password, database,
/// `application_name`, TLS mode and roots) from a key/value string written from it.
pub fn postgres_url(input: &[u8]) {
    check("postgres_url", input, postgres_printout, |text| {
        if url_scheme(text).is_some() {
            let mut spans = userinfo_password_spans(text, Reading::FirstAt);
            spans.extend(postgres_query_password_span(text));
            spans
        } else {
            key_value_password_spans(text)
        }
    });
}

/// `MysqlOptions::from_url` and `MysqlConnector::from_url` on a `mysql://`/`mariadb://` URL,
/// and `SslMode::from_str` (case-insensitive, `-` and `_` alike).
///
/// Parsed options must come back unchanged (everything their `Debug` shows) from a `mysql://`
/// URL written from them.
pub fn mysql_url(input: &[u8]) {
    check("mysql_url", input, mysql_printout, |text| {
        userinfo_password_spans(text, Reading::Authority)
    });
}

/// `SqliteConnector::from_url` on an `sqlite:` URL.
///
/// Parsed options must come back equal from an `sqlite://` URL written from them. SQLite URLs
/// carry no credentials (what looks like userinfo is part of a file name), so passwords are
/// looked for only in URLs of other schemes handed to this parser by mistake.
pub fn sqlite_url(input: &[u8]) {
    check("sqlite_url", input, sqlite_printout, |text| {
        if text.starts_with("sqlite:") {
            Vec::new()
        } else {
            userinfo_password_spans(text, Reading::Authority)
        }
    });
}

/// `ManagerConfig::from_toml_str_with_env` on a TOML file (every `PoolConfig` key with its
/// humane durations, defaults, replicas, `${VAR}` substitution).
///
/// No error may contain [`ENV_SECRET`] (a value read from the environment) or a URL's
/// password; no pool's `Debug` may contain its URL's password; and a configuration that loaded
/// must load again, equal, from a file written from it.
pub fn manager_toml(input: &[u8]) {
    check(
        "manager_toml",
        input,
        manager_printout,
        toml_url_password_spans,
    );
}

/// Runs `printout` (which checks every property but secrecy, and returns everything printed
/// about its input) on `input` when it is UTF-8, and checks that what it printed shows none of
/// the passwords `spans` finds in the input.
fn check(
    target: &str,
    input: &[u8],
    printout: fn(&str) -> String,
    spans: fn(&str) -> Vec<Range<usize>>,
) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let printed = printout(text);
    for secret in secrets(text, &spans(text), &printout) {
        if printed.contains(secret.as_str()) {
            fail(
                target,
                text,
                &format!("the password {secret:?} is printed:\n{printed}"),
            );
        }
    }
}

// --- PostgreSQL ----------------------------------------------------------------------------

/// Runs every PostgreSQL property on `text`; returns everything printed about it.
fn postgres_printout(text: &str) -> String {
    use adapter_postgres::SslMode;

    let fail = |what: String| -> ! { fail("postgres_url", text, &what) };
    tls_mode::<SslMode>("postgres_url", text, "sslmode", SslMode::as_str);
    let mut printed = String::new();

    let options = match PostgresOptions::from_url(text) {
        Ok(options) => options,
        Err(error) => return printed + &config_error("postgres_url", text, &error, None),
    };
    let debug = format!("{options:?}");
    let other = format!("{:?}", options.clone().with_password("0ther-Passw0rd"));
    if options.pg_config().get_password().is_some() && debug != other {
        fail(format!(
            "Debug changes with the password:\n{debug}\n{other}"
        ));
    }
    printed += &debug;

    let built = options
        .clone()
        .with_danger_accept_invalid_certs(true)
        .build();
    match &built {
        Ok(connector) => printed += &format!("{connector:?}"),
        Err(error) => printed += &config_error("postgres_url", text, error, None),
    }
    if !options.ssl_mode().requires_tls() {
        // The same path, with no trust roots to load either way: the same outcome.
        let direct = PostgresConnector::from_url(text).map(|c| format!("{c:?}"));
        let built = built.map(drop).map_err(|e| e.to_string());
        if direct.as_ref().map(drop).map_err(ToString::to_string) != built {
            fail(format!(
                "PostgresConnector::from_url gives {direct:?}, options.build() {built:?}"
            ));
        }
        if let Ok(connector) = direct {
            printed += &connector;
        }
    }

    if let Some(again) = postgres_key_value(&options) {
        let parsed = PostgresOptions::from_url(&again);
        let expected = postgres_essentials(&options);
        round_trip("postgres_url", text, &again, parsed, &expected, |o| {
            postgres_essentials(&o)
        });
    }
    printed
}

/// What the key/value round trip must keep.
#[derive(Debug, PartialEq)]
struct PostgresEssentials {
    user: Option<String>,
    password: Option<Vec<u8>>,
    dbname: Option<String>,
    application_name: Option<String>,
    ssl_mode: adapter_postgres::SslMode,
    root_certs: RootCerts,
    pgbouncer: adapter_postgres::PgbouncerMode,
}

fn postgres_essentials(options: &PostgresOptions) -> PostgresEssentials {
    let pg = options.pg_config();
    PostgresEssentials {
        user: pg.get_user().map(str::to_owned),
        password: pg.get_password().map(<[u8]>::to_vec),
        dbname: pg.get_dbname().map(str::to_owned),
        application_name: pg.get_application_name().map(str::to_owned),
        ssl_mode: options.ssl_mode(),
        root_certs: options.root_certs().clone(),
        pgbouncer: options.pgbouncer(),
    }
}

/// The options as a libpq key/value string (on `localhost`), or `None` when a value cannot be
/// written in one (a password that is not UTF-8, roots held in memory).
fn postgres_key_value(options: &PostgresOptions) -> Option<String> {
    let pg = options.pg_config();
    let quote = |value: &str| format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = vec!["host=localhost".to_owned()];
    if let Some(user) = pg.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(password) = pg.get_password() {
        parts.push(format!(
            "password={}",
            quote(std::str::from_utf8(password).ok()?)
        ));
    }
    if let Some(dbname) = pg.get_dbname() {
        parts.push(format!("dbname={}", quote(dbname)));
    }
    if let Some(name) = pg.get_application_name() {
        parts.push(format!("application_name={}", quote(name)));
    }
    parts.push(format!("sslmode={}", options.ssl_mode().as_str()));
    match options.root_certs() {
        RootCerts::System => parts.push("sslrootcert=system".to_owned()),
        RootCerts::File(path) => parts.push(format!("sslrootcert={}", quote(path.to_str()?))),
        _ => return None,
    }
    parts.push(format!("pgbouncer={}", options.pgbouncer().as_str()));
    Some(parts.join(" "))
}

// --- MySQL ---------------------------------------------------------------------------------

/// Runs every MySQL property on `text`; returns everything printed about it.
fn mysql_printout(text: &str) -> String {
    use adapter_mysql::SslMode;

    let fail = |what: String| -> ! { fail("mysql_url", text, &what) };
    tls_mode::<SslMode>("mysql_url", text, "ssl_mode", SslMode::as_str);
    // Case-insensitive, `-` and `_` alike.
    let mode = SslMode::from_str(text).ok();
    for variant in [text.to_ascii_uppercase(), text.replace('-', "_")] {
        if SslMode::from_str(&variant).ok() != mode {
            fail(format!("SslMode parses `{variant}` unlike `{text}`"));
        }
    }
    let mut printed = String::new();

    let connector = MysqlConnector::from_url(text);
    let options = match MysqlOptions::from_url(text) {
        Ok(options) => options,
        Err(error) => {
            if let Ok(connector) = connector {
                fail(format!(
                    "MysqlConnector::from_url accepts it: {connector:?}"
                ));
            }
            return config_error("mysql_url", text, &error, None);
        }
    };
    match connector {
        Ok(connector) => printed += &format!("{connector:?}"),
        Err(error) => fail(format!("MysqlConnector::from_url refuses it: {error}")),
    }
    let debug = format!("{options:?}");
    let (one, other) = (
        format!("{:?}", options.clone().with_password("0ne-Passw0rd")),
        format!("{:?}", options.clone().with_password("0ther-Passw0rd")),
    );
    if one != other {
        fail(format!("Debug changes with the password:\n{one}\n{other}"));
    }
    printed += &debug;

    let again = mysql_url_of(&options);
    round_trip(
        "mysql_url",
        text,
        &again,
        MysqlOptions::from_url(&again),
        &one,
        |o| format!("{:?}", o.with_password("0ne-Passw0rd")),
    );
    printed
}

/// The options as a `mysql://` URL (without the password, which `Debug` does not show).
fn mysql_url_of(options: &MysqlOptions) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut url = "mysql://".to_owned();
    if let Some(user) = options.user() {
        url += &format!("{}@", enc(user));
    }
    url += &format!("{}:{}/", options.host(), options.port());
    if let Some(database) = options.database() {
        url += &enc(database);
    }
    let mut params = vec![
        ("ssl_mode", options.ssl_mode().as_str().to_owned()),
        (
            "ssl_accept_invalid_certs",
            options.accepts_invalid_certs().to_string(),
        ),
        ("prefer_socket", options.prefer_socket().to_string()),
        (
            "cancel_timeout_ms",
            options.cancel_timeout().as_millis().to_string(),
        ),
        ("program_name", options.program_name().to_owned()),
        (
            "stmt_cache_size",
            options.statement_cache_size().to_string(),
        ),
    ];
    match options.tls_roots() {
        TlsRoots::System => params.push(("ssl_roots", "system".to_owned())),
        TlsRoots::WebPki => params.push(("ssl_roots", "webpki".to_owned())),
        TlsRoots::CaFile(path) => params.push(("ssl_ca", path.to_string_lossy().into_owned())),
        _ => {}
    }
    if let Some(timeout) = options.connect_timeout() {
        params.push(("connect_timeout_ms", timeout.as_millis().to_string()));
    }
    if let Some(keepalive) = options.tcp_keepalive() {
        params.push(("tcp_keepalive", keepalive.as_millis().to_string()));
    }
    if let Some(socket) = options.socket() {
        params.push(("socket", socket.to_owned()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(key, value)| format!("{key}={}", enc(value)))
        .collect();
    url + "?" + &query.join("&")
}

// --- SQLite --------------------------------------------------------------------------------

/// Runs every SQLite property on `text`; returns everything printed about it.
fn sqlite_printout(text: &str) -> String {
    let connector = match SqliteConnector::from_url(text) {
        Ok(connector) => connector,
        Err(error) => return config_error("sqlite_url", text, &error, None),
    };
    let options = connector.options();
    let again = sqlite_url_of(options);
    let parsed = SqliteConnector::from_url(&again);
    round_trip("sqlite_url", text, &again, parsed, options, |c| {
        c.options().clone()
    });
    format!("{connector:?}")
}

/// The options as an `sqlite:` URL with every option spelled out.
fn sqlite_url_of(options: &SqliteOptions) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut params = Vec::new();
    let mut url = match &options.database {
        Database::File(path) => {
            params.push(format!(
                "mode={}",
                match options.mode {
                    OpenMode::ReadOnly => "ro",
                    OpenMode::ReadWrite => "rw",
                    _ => "rwc",
                }
            ));
            format!("sqlite://{}", enc(&path.to_string_lossy()))
        }
        Database::Memory(None) => "sqlite::memory:".to_owned(),
        Database::Memory(Some(name)) => {
            params.push("mode=memory".to_owned());
            format!("sqlite://{name}")
        }
        other => format!("{other:?}"),
    };
    params.push(format!(
        "cache={}",
        if options.shared_cache {
            "shared"
        } else {
            "private"
        }
    ));
    params.push(format!(
        "busy_timeout={}",
        duration_param(options.busy_timeout)
    ));
    if let Some(mode) = options.journal_mode {
        params.push(format!("journal_mode={}", JournalMode::as_str(mode)));
    }
    if let Some(sync) = options.synchronous {
        params.push(format!("synchronous={}", Synchronous::as_str(sync)));
    }
    params.push(format!("foreign_keys={}", options.foreign_keys));
    params.push(format!(
        "statement_cache_capacity={}",
        options.statement_cache_capacity
    ));
    params.push(format!("query_only={}", options.query_only));
    url += "?";
    url += &params.join("&");
    url
}

/// A duration in the adapter's `busy_timeout` spelling: milliseconds when they fit, else
/// seconds (the parser can produce `u64::MAX` seconds).
fn duration_param(duration: Duration) -> String {
    match u64::try_from(duration.as_millis()) {
        Ok(ms) if Duration::from_millis(ms) == duration => format!("{ms}ms"),
        _ => format!("{}s", duration.as_secs()),
    }
}

// --- pool-manager --------------------------------------------------------------------------

/// `${VAR}`: unset when `VAR` starts with `U`, empty when it starts with `E`, else
/// [`ENV_SECRET`].
fn environment(name: &str) -> Option<String> {
    match name.chars().next() {
        Some('U') => None,
        Some('E') => Some(String::new()),
        _ => Some(ENV_SECRET.to_owned()),
    }
}

/// Runs every manager property on `text`; returns everything printed about it.
fn manager_printout(text: &str) -> String {
    let fail = |what: String| -> ! { fail("manager_toml", text, &what) };
    let config = match ManagerConfig::from_toml_str_with_env(text, &environment) {
        Ok(config) => config,
        Err(error) => {
            match &error {
                ManagerError::Config { reason, .. } if !reason.trim().is_empty() => {}
                ManagerError::Syntax { reason, .. } if !reason.trim().is_empty() => {}
                ManagerError::NoPools { .. } => {}
                other => fail(format!(
                    "a rejected file must be ManagerError::Config, Syntax with a reason or \
                     NoPools, got {other:?}"
                )),
            }
            let printed = format!("{error}\n{error:?}");
            if printed.contains(ENV_SECRET) && !text.contains(ENV_SECRET) {
                fail(format!(
                    "the error shows a value read from the environment: {printed}"
                ));
            }
            return printed;
        }
    };
    let mut printed = String::new();
    for (name, spec) in &config.pools {
        let debug = format!("{spec:?}");
        let mut vocabulary = format!(
            "{name} PoolSpec ReplicaSpec url config replicas {:?}",
            spec.config
        );
        let mut urls = vec![spec.url()];
        for replica in &spec.replicas {
            vocabulary += &format!("{:?}", replica.config);
            urls.push(replica.url());
        }
        let spans = url_password_spans;
        for url in &urls {
            for span in spans(url) {
                vocabulary += &url[..span.start];
                vocabulary += " ";
                vocabulary += &url[span.end..];
            }
        }
        for url in urls {
            for span in spans(url) {
                for form in forms(&url[span]) {
                    if distinctive(&form, &vocabulary) && debug.contains(&form) {
                        fail(format!(
                            "pool `{name}`'s Debug shows the password {form:?} of its URL: {debug}"
                        ));
                    }
                }
            }
        }
        printed += &debug;
    }

    let again = manager_toml_of(&config);
    let parsed = ManagerConfig::from_toml_str_with_env(&again, &environment);
    round_trip(
        "manager_toml",
        text,
        &again,
        parsed,
        &loaded(&config),
        |c| loaded(&c),
    );
    printed
}

/// A loaded pool as the round trip compares it: name, URL, configuration and replicas.
type LoadedPool = (String, String, PoolConfig, Vec<(String, PoolConfig)>);

fn loaded(config: &ManagerConfig) -> Vec<LoadedPool> {
    config
        .pools
        .iter()
        .map(|(name, spec)| {
            let replicas = spec
                .replicas
                .iter()
                .map(|r| (r.url().to_owned(), r.config.clone()))
                .collect();
            (
                name.clone(),
                spec.url().to_owned(),
                spec.config.clone(),
                replicas,
            )
        })
        .collect()
}

/// The configuration as a TOML file with every option spelled out.
fn manager_toml_of(config: &ManagerConfig) -> String {
    // `$` is written `$$`, so substitution gives back the URL as it was loaded.
    let url = |url: &str| Value::String(url.replace('$', "$$"));
    let mut pools = Table::new();
    for (name, spec) in &config.pools {
        let mut table = pool_config_table(&spec.config);
        table.insert("url".into(), url(spec.url()));
        let replicas: Vec<Value> = spec
            .replicas
            .iter()
            .map(|replica| {
                let mut table = pool_config_table(&replica.config);
                table.insert("url".into(), url(replica.url()));
                Value::Table(table)
            })
            .collect();
        if !replicas.is_empty() {
            table.insert("replicas".into(), Value::Array(replicas));
        }
        pools.insert(name.clone(), Value::Table(table));
    }
    let mut root = Table::new();
    root.insert("pools".into(), Value::Table(pools));
    root.to_string()
}

/// Every option of `config` but its name, as the file spells it.
fn pool_config_table(config: &PoolConfig) -> Table {
    let int = |n: usize| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let duration = |d: Duration| Value::String(humantime::format_duration(d).to_string());
    let optional = |d: Option<Duration>| d.map_or_else(|| Value::String("off".into()), duration);
    let table = |entries: Vec<(&str, Value)>| -> Table {
        entries
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect()
    };
    let scale = &config.autoscale;
    let breaker = &config.circuit_breaker;
    // An unset min_size follows max_size, so it is written only when the file set it.
    let min_size = config.min_size.map(|n| ("min_size", int(n)));
    let mut entries = Vec::from_iter(min_size);
    entries.extend([
        ("max_size", int(config.max_size)),
        ("max_concurrent_creates", int(config.max_concurrent_creates)),
        (
            "warmup",
            Value::String(snake_case(&format!("{:?}", config.warmup))),
        ),
        ("acquire_timeout", duration(config.acquire_timeout)),
        ("connect_timeout", duration(config.connect_timeout)),
        (
            "connect_backoff_initial",
            duration(config.connect_backoff_initial),
        ),
        ("connect_backoff_max", duration(config.connect_backoff_max)),
        ("test_on_checkout", Value::Boolean(config.test_on_checkout)),
        ("validation_bypass", duration(config.validation_bypass)),
        (
            "health_check_interval",
            optional(config.health_check_interval),
        ),
        (
            "health_check_timeout",
            duration(config.health_check_timeout),
        ),
        (
            "leak_detection_threshold",
            optional(config.leak_detection_threshold),
        ),
        (
            "leak_capture_backtrace",
            Value::Boolean(config.leak_capture_backtrace),
        ),
        ("leak_reclaim_after", optional(config.leak_reclaim_after)),
        ("idle_timeout", optional(config.idle_timeout)),
        ("max_lifetime", optional(config.max_lifetime)),
        (
            "max_lifetime_jitter",
            Value::Float(config.max_lifetime_jitter),
        ),
        ("query_timeout", optional(config.query_timeout)),
        ("reset_on_return", Value::Boolean(config.reset_on_return)),
        ("close_timeout", duration(config.close_timeout)),
        (
            "autoscale",
            Value::Table(table(vec![
                ("enabled", Value::Boolean(scale.enabled)),
                ("sample_interval", duration(scale.sample_interval)),
                ("target_utilization", Value::Float(scale.target_utilization)),
                ("scale_up_threshold", Value::Float(scale.scale_up_threshold)),
                (
                    "scale_down_threshold",
                    Value::Float(scale.scale_down_threshold),
                ),
                ("step", Value::Float(scale.step)),
                ("scale_down_cooldown", duration(scale.scale_down_cooldown)),
            ])),
        ),
        (
            "circuit_breaker",
            Value::Table(table(vec![
                ("enabled", Value::Boolean(breaker.enabled)),
                (
                    "failure_threshold",
                    Value::Integer(i64::from(breaker.failure_threshold)),
                ),
                ("open_duration", duration(breaker.open_duration)),
                ("max_open_duration", duration(breaker.max_open_duration)),
            ])),
        ),
    ]);
    table(entries)
}

/// `StartDegraded` → `start_degraded`: serde's `rename_all = "snake_case"` of an enum variant.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

// --- shared --------------------------------------------------------------------------------

/// The round trip: `again`, what `text` parsed to written back as text, must parse (`parsed`),
/// and to the same thing as far as `view` shows (`expected`).
fn round_trip<T, V, E>(
    target: &str,
    text: &str,
    again: &str,
    parsed: Result<T, E>,
    expected: &V,
    view: impl FnOnce(T) -> V,
) where
    V: PartialEq + std::fmt::Debug,
    E: std::fmt::Display,
{
    match parsed.map(view) {
        Ok(got) if &got == expected => {}
        Ok(got) => fail(
            target,
            text,
            &format!(
                "written back as {again:?}, it parses to something else:\n{expected:?}\n{got:?}"
            ),
        ),
        Err(error) => fail(
            target,
            text,
            &format!("written back as {again:?}, it does not parse: {error}"),
        ),
    }
}

/// Checks a TLS mode parser on the whole input: a mode parses back from its own spelling, and
/// a rejected value is a configuration error naming `field`. Nothing of it counts as printed
/// about a connection string: the error quotes the value, as it should.
fn tls_mode<M>(target: &str, text: &str, field: &str, spelling: fn(M) -> &'static str)
where
    M: FromStr<Err = Error> + PartialEq + std::fmt::Debug + Copy,
{
    match M::from_str(text) {
        Ok(mode) if M::from_str(spelling(mode)).ok() != Some(mode) => fail(
            target,
            text,
            &format!("{mode:?} does not parse back from `{}`", spelling(mode)),
        ),
        Ok(_) => {}
        Err(error) => drop(config_error(target, text, &error, Some(field))),
    }
}

/// Checks that a parse error is a configuration error naming a field (`field`, when given) with
/// a reason; returns its `Display` and `Debug`.
fn config_error(target: &str, input: &str, error: &Error, field: Option<&str>) -> String {
    match error {
        Error::Config {
            field: named,
            reason,
        } => {
            // A field may be any text the input held (quoted as written), but not nothing.
            if named.is_empty() || reason.trim().is_empty() {
                fail(
                    target,
                    input,
                    &format!("the error names no field or gives no reason: {error:?}"),
                );
            }
            if let Some(field) = field
                && named != field
            {
                fail(
                    target,
                    input,
                    &format!("the error names `{named}`, not `{field}`: {error}"),
                );
            }
        }
        other => fail(
            target,
            input,
            &format!("a rejected input must be Error::Config, got {other:?}"),
        ),
    }
    format!("{error}\n{error:?}\n")
}

/// The scheme of `input` when it starts (after white space) with `scheme://`.
fn url_scheme(input: &str) -> Option<&str> {
    let trimmed = input.trim_start();
    let (scheme, _) = trimmed.split_once("://")?;
    let is_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then_some(scheme)
}

/// Where a URL's userinfo ends.
#[derive(Clone, Copy)]
enum Reading {
    /// At the first `@` anywhere (tokio-postgres).
    FirstAt,
    /// At the last `@` of the authority, which ends at the first `/`, `?` or `#` (the URL
    /// standard: the `url` crate, mysql_async, pool-manager's redaction).
    Authority,
}

/// The password of a URL's userinfo, as `reading` finds it.
fn userinfo_password_spans(url: &str, reading: Reading) -> Vec<Range<usize>> {
    let Some(scheme) = url_scheme(url) else {
        return Vec::new();
    };
    let start = url.len() - url.trim_start().len() + scheme.len() + 3;
    let rest = &url[start..];
    let at = match reading {
        Reading::FirstAt => rest.find('@'),
        Reading::Authority => rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())].rfind('@'),
    };
    at.and_then(|at| {
        let colon = rest[..at].find(':')?;
        Some(start + colon + 1..start + at)
    })
    .filter(|span| !span.is_empty())
    .into_iter()
    .collect()
}

/// The passwords of a URL of any of the workspace's databases, as its adapter reads it.
fn url_password_spans(url: &str) -> Vec<Range<usize>> {
    match url_scheme(url) {
        Some("postgres" | "postgresql") => {
            let mut spans = userinfo_password_spans(url, Reading::FirstAt);
            spans.extend(postgres_query_password_span(url));
            spans
        }
        _ => userinfo_password_spans(url, Reading::Authority),
    }
}

/// The value of a `password=` query parameter of a PostgreSQL URL, where tokio-postgres reads
/// it: the query starts at the first `?` after the first `@`.
fn postgres_query_password_span(url: &str) -> Option<Range<usize>> {
    url_scheme(url)?;
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let mut at = after_credentials + url[after_credentials..].find('?')? + 1;
    for pair in url[at..].split('&') {
        if let Some(value) = pair.strip_prefix("password=")
            && !value.is_empty()
        {
            let start = at + "password=".len();
            return Some(start..start + value.len());
        }
        at += pair.len() + 1;
    }
    None
}

/// The value of every `password` in a libpq key/value string (`key = value` pairs; values bare
/// or single-quoted, with `\` escapes), as written; none when the string is malformed.
fn key_value_password_spans(input: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let Some(key_end) = rest.find(|c: char| c.is_whitespace() || c == '=') else {
            return Vec::new();
        };
        let key = &rest[..key_end];
        let Some(after) = rest[key_end..].trim_start().strip_prefix('=') else {
            return Vec::new();
        };
        let value = after.trim_start();
        let quoted = value.starts_with('\'');
        let mut chars = value.char_indices().skip(usize::from(quoted));
        let mut end = value.len();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                chars.next();
            } else if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                end = i;
                break;
            }
        }
        let start = input.len() - value.len() + usize::from(quoted);
        let stop = input.len() - value.len() + end;
        if key == "password" && start < stop {
            spans.push(start..stop);
        }
        rest = value[(end + usize::from(quoted)).min(value.len())..].trim_start();
    }
    spans
}

/// The userinfo and query passwords of every URL that is a whole quoted string of a TOML file:
/// one of the document's string values when it parses, else a quoted run that an `=`, `[`, `,`
/// or `{` opens and that ends its line, a `,`, `]` or `}` (a quote inside another string is no
/// string of its own).
fn toml_url_password_spans(text: &str) -> Vec<Range<usize>> {
    let values = text.parse::<Table>().ok().map(|table| {
        let mut strings = Vec::new();
        collect_strings(&Value::Table(table), &mut strings);
        strings
    });
    let mut spans = Vec::new();
    for (quote_at, quote) in text.match_indices(['"', '\'']) {
        let start = quote_at + quote.len();
        let rest = &text[start..];
        let end = rest
            .find([quote.chars().next().unwrap_or('"'), '\n'])
            .unwrap_or(rest.len());
        let url = &rest[..end];
        let is_string = match &values {
            Some(values) => values.iter().any(|value| value == url),
            None => {
                let opened = text[..quote_at].trim_end().ends_with(['=', '[', ',', '{']);
                let after = rest[end..]
                    .get(1..)
                    .unwrap_or("")
                    .trim_start_matches([' ', '\t']);
                let closed = after.is_empty() || after.starts_with(['\n', ',', ']', '}', '#']);
                opened && closed
            }
        };
        if !is_string || url_scheme(url).is_none() {
            continue;
        }
        let found = url_password_spans(url).into_iter();
        spans.extend(found.map(|span| start + span.start..start + span.end));
    }
    spans
}

/// Every string value of a TOML document.
fn collect_strings(value: &Value, strings: &mut Vec<String>) {
    match value {
        Value::String(s) => strings.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, strings)),
        Value::Table(table) => table
            .values()
            .for_each(|item| collect_strings(item, strings)),
        _ => {}
    }
}

/// The spellings of a password as written: as is, percent-decoded, and with `\` escapes removed.
fn forms(raw: &str) -> Vec<String> {
    let mut forms = vec![raw.to_owned()];
    let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();
    let unescaped = raw.replace('\\', "");
    for form in [decoded, unescaped] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// A password worth looking for: four characters or more, not part of `vocabulary`, and not a
/// `${VAR}` placeholder (the manager's check looks for the substituted value itself).
fn distinctive(password: &str, vocabulary: &str) -> bool {
    password.chars().count() >= 4 && !vocabulary.contains(password) && !password.contains("${")
}

/// The distinctive passwords at `spans` of `input`; `printout` says what the parser prints
/// for an input, and is asked about `input` with each password taken out and with each
/// replaced by as many `x`: what it prints then, it prints whatever the password.
fn secrets(input: &str, spans: &[Range<usize>], printout: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut secrets = Vec::new();
    for span in spans.iter().cloned() {
        let stripped = format!("{}{}", &input[..span.start], &input[span.end..]);
        let neutral = format!(
            "{}{}{}",
            &input[..span.start],
            "x".repeat(span.len()),
            &input[span.end..]
        );
        let vocabulary = format!(
            "{stripped}\n{}\n{}",
            printout(&stripped),
            printout(&neutral)
        );
        for form in forms(&input[span]) {
            if distinctive(&form, &vocabulary) && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
    }
    secrets
}

fn fail(target: &str, input: &str, what: &str) -> ! {
    panic!("{target}: property violated for input {input:?}:\n{what}")
}
