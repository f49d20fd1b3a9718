//! Connection options: parsed from a URL in one place ([`MysqlOptions::from_url`]), adjusted
//! with `with_*` methods, and redacted in `Debug`.
//!
//! # URL forms
//!
//! ```text
//! mysql://[user[:password]@]host[:port][/database][?param=value&...]
//! mariadb://...                                    (same thing)
//! mysql://root@localhost/test?socket=/run/mysqld/mysqld.sock
//! mysql://app@[::1]:3306/app?ssl_mode=verify_identity&ssl_ca=/etc/mysql/ca.pem
//! ```
//!
//! User, password and database are percent-decoded. Parameters this crate handles:
//!
//! | parameter | values | default |
//! |---|---|---|
//! | `ssl_mode` | `disabled`, `preferred`, `required`, `verify_ca`, `verify_identity` ([`SslMode`]) | `preferred` |
//! | `ssl_ca` | path of a PEM/DER CA file; then the only trusted root | – |
//! | `ssl_roots` | `system`, `webpki` ([`TlsRoots`]) | `system` |
//! | `ssl_accept_invalid_certs` | `true`/`false`: encrypt without authenticating the server | `false` |
//! | `connect_timeout_ms` | milliseconds for one connect (the pool has its own too) | none |
//! | `cancel_timeout_ms` | milliseconds for cancelling a query past its timeout (side connection, `KILL QUERY`, the wait for it to stop) | 1500 |
//! | `program_name` | connection attribute naming this pool's sessions | `pool-core` |
//! | `prefer_socket` | `true`: on loopback, reconnect through the server's Unix socket | `false` |
//! | `session_reset` | `tracked`, `reset_connection`, `rollback_only` ([`SessionReset`]) | `tracked` |
//!
//! All other parameters go to `mysql_async`'s own parser: `socket`, `tcp_keepalive` (ms,
//! default here 30000), `tcp_nodelay`, `stmt_cache_size` (default 32), `compression`,
//! `max_allowed_packet`, `wait_timeout`, `secure_auth`, `client_found_rows`,
//! `enable_cleartext_plugin`. Refused, with a message saying what to use instead:
//! `require_ssl`, `verify_ca`, `verify_identity`, `built_in_roots` (use `ssl_mode`/`ssl_roots`),
//! `reset_connection` (use `session_reset`) and `mysql_async`'s pool settings (`pool_min`,
//! `pool_max`, `conn_ttl`, ...: this adapter does not use `mysql_async`'s pool; size the pool in
//! `pool_core::PoolConfig`).
//! Unknown parameters are errors, so a typo never silently falls back to a default.
//!
//! Every parsing error is a [`pool_core::Error::Config`] naming the parameter; no error and no
//! `Debug` output ever contains the password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use mysql_async::{Opts, OptsBuilder, SslOpts, UrlError};
use pool_core::{CredentialsProvider, Error, Result, Secret};
use url::Url;

use crate::tls::{SslMode, TlsConfig, TlsRoots};

/// Keepalive probes start after this much silence, so a peer that vanished without a FIN
/// (a blackholed network, a crashed host) is noticed while the connection sits idle in the pool
/// instead of when it is next used. Interval and probe count are the operating system's.
const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// The budget for what a query timeout sets off (the side connection's `KILL QUERY`, the wait
/// for the killed query to stop), as PostgreSQL's adapter has: 1.5 s covers a connect and a TLS
/// handshake to a busy server on a network worth pooling over, and keeps a call that timed
/// out under twice its timeout for timeouts from 1.5 s up (issue 12: under a blackhole, 5 s
/// here made a 2 s query timeout return after 7 s).
const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_millis(1500);

/// The connection attribute value that marks this pool's sessions.
const DEFAULT_PROGRAM_NAME: &str = "pool-core";

/// `mysql_async`'s pool settings: meaningless here, refused so nobody thinks they apply.
const DRIVER_POOL_PARAMS: &[&str] = &[
    "pool_min",
    "pool_max",
    "inactive_connection_ttl",
    "ttl_check_interval",
    "conn_ttl",
    "abs_conn_ttl",
    "abs_conn_ttl_jitter",
];

/// `mysql_async`'s TLS switches, replaced by `ssl_mode` and `ssl_roots`.
const DRIVER_TLS_PARAMS: &[&str] = &[
    "require_ssl",
    "verify_ca",
    "verify_identity",
    "built_in_roots",
];

/// What a connection does about its session when it returns to the pool (with the pool's
/// `reset_on_return`, the default).
///
/// The adapter knows whether a transaction is open from the server status flags of the last
/// OK packet, which the server sends with the end of every statement and result set: an
/// idle session never gets a `ROLLBACK`. See the crate documentation, "Returning a
/// connection".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionReset {
    /// The default: clean only what the holder changed. A return after plain queries and
    /// finished transactions sends nothing and spawns no task; a transaction left open gets a
    /// `ROLLBACK`; after SQL that can keep state in the session (`SET`, user variables,
    /// `CREATE TEMPORARY`, `PREPARE`, `LOCK TABLES`, `GET_LOCK`, `USE`, `CALL`, …, sent
    /// through the neutral API or [`MysqlConnection::queryable`](crate::MysqlConnection::queryable)),
    /// or after [`MysqlConnection::conn`](crate::MysqlConnection::conn) handed out the driver,
    /// the return sends `COM_RESET_CONNECTION`. Not seen: state a stored function or trigger
    /// keeps from inside (`SELECT f()` where `f` assigns a user variable); such applications
    /// pick [`ResetConnection`](Self::ResetConnection).
    #[default]
    Tracked,
    /// `COM_RESET_CONNECTION` on every return (what `mysql_async`'s own pool does): rolls back
    /// an open transaction, drops temporary tables, user variables, prepared statements (the
    /// statement cache goes with them) and named locks, and restores session variables. One
    /// round trip per return, and every statement prepared again after it.
    ResetConnection,
    /// Only the `ROLLBACK` of a transaction left open: session state (variables, temporary
    /// tables, locks) carries over to the next holder.
    RollbackOnly,
}

impl FromStr for SessionReset {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        match value {
            "tracked" => Ok(Self::Tracked),
            "reset_connection" => Ok(Self::ResetConnection),
            "rollback_only" => Ok(Self::RollbackOnly),
            _ => Err(Error::config(
                "session_reset",
                format!("is `{value}`; expected tracked, reset_connection or rollback_only"),
            )),
        }
    }
}

/// How to reach and authenticate with a MySQL or MariaDB server.
///
/// ```
/// use adapter_mysql::{MysqlOptions, SslMode};
///
/// let options = MysqlOptions::from_url("mysql://app:secret@db.internal/shop?ssl_mode=required")?
///     .with_program_name("shop-api");
/// assert_eq!(options.ssl_mode(), SslMode::Required);
/// assert!(!format!("{options:?}").contains("secret"));
/// # Ok::<(), pool_core::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct MysqlOptions {
    /// Host, port, user, database and `mysql_async`'s own settings. Never holds the password:
    /// it is added per connect.
    driver: Opts,
    password: Option<Secret>,
    password_provider: Option<CredentialsProvider>,
    tls: TlsConfig,
    prefer_socket: bool,
    connect_timeout: Option<Duration>,
    cancel_timeout: Duration,
    program_name: String,
    session_reset: SessionReset,
}

impl MysqlOptions {
    /// Options for `localhost` on port 3306, with every default of this crate; set the
    /// server with [`with_host`](Self::with_host), as with every adapter's options.
    pub fn new() -> Self {
        Self::from_driver_opts(OptsBuilder::default().ip_or_hostname("localhost").into())
    }

    /// Sets the host name or IP address (default `localhost`).
    pub fn with_host(self, host: impl Into<String>) -> Self {
        self.map_driver(|b| b.ip_or_hostname(host))
    }

    fn from_driver_opts(driver: Opts) -> Self {
        let mut options = Self {
            driver,
            password: None,
            password_provider: None,
            tls: TlsConfig::default(),
            prefer_socket: false,
            connect_timeout: None,
            cancel_timeout: DEFAULT_CANCEL_TIMEOUT,
            program_name: DEFAULT_PROGRAM_NAME.to_owned(),
            // A clean return should cost nothing: the pool's cost is paid on every checkout.
            session_reset: SessionReset::default(),
        };
        if options.driver.tcp_keepalive().is_none() {
            options = options.with_tcp_keepalive(Some(DEFAULT_TCP_KEEPALIVE));
        }
        options
    }

    /// Parses a `mysql://` (or `mariadb://`) URL; see the [module docs](self) for its forms.
    pub fn from_url(input: &str) -> Result<Self> {
        let mut url = Url::parse(input)
            .map_err(|e| Error::config("url", format!("could not be parsed: {e}")))?;
        match url.scheme() {
            "mysql" => {}
            "mariadb" => {
                url.set_scheme("mysql")
                    .map_err(|()| Error::config("url", "could not be rewritten to mysql://"))?;
            }
            other => {
                return Err(Error::config(
                    "url",
                    format!("has the scheme `{other}`; expected `mysql://` or `mariadb://`"),
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::config(
                "url",
                "has no host (expected mysql://host/...)",
            ));
        }

        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let password = url.password().map(percent_decode);
        let _ = url.set_password(None);
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for (key, value) in pairs {
            if key.is_empty() {
                return Err(Error::config(
                    "url",
                    "has a parameter without a name (`=value`); parameters are written key=value",
                ));
            }
            if is_own_param(&key) {
                ours.push((key, value));
            } else {
                check_driver_param(&key)?;
                theirs.push((key, value));
            }
        }
        if theirs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(&theirs);
        }

        let driver = Opts::from_url(url.as_str()).map_err(url_error)?;
        let mut options = Self::from_driver_opts(driver);
        options.password = password.map(Secret::new);
        for (key, value) in &ours {
            options.param(key, value)?;
        }
        Ok(options)
    }

    /// Applies one of this crate's own URL parameters: the one place they are validated.
    fn param(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "ssl_mode" => self.tls.mode = SslMode::from_str(value)?,
            "ssl_ca" => {
                if value.is_empty() {
                    return Err(Error::config("ssl_ca", "is empty; expected a file path"));
                }
                self.tls.roots = TlsRoots::CaFile(PathBuf::from(value));
            }
            "ssl_roots" => {
                self.tls.roots = match value {
                    "system" => TlsRoots::System,
                    "webpki" => TlsRoots::WebPki,
                    _ => {
                        return Err(Error::config(
                            "ssl_roots",
                            format!(
                                "is `{value}`; expected `system` or `webpki` (for a CA file use \
                                 `ssl_ca=/path/ca.pem`)"
                            ),
                        ));
                    }
                };
            }
            "ssl_accept_invalid_certs" => self.tls.accept_invalid_certs = parse_bool(key, value)?,
            "prefer_socket" => self.prefer_socket = parse_bool(key, value)?,
            "connect_timeout_ms" => self.connect_timeout = Some(parse_millis(key, value)?),
            "cancel_timeout_ms" => self.cancel_timeout = parse_millis(key, value)?,
            "program_name" => self.program_name = value.to_owned(),
            "session_reset" => self.session_reset = SessionReset::from_str(value)?,
            _ => unreachable!("is_own_param and param list the same keys"),
        }
        Ok(())
    }

    /// Sets the TCP port (default 3306).
    pub fn with_port(self, port: u16) -> Self {
        self.map_driver(|b| b.tcp_port(port))
    }

    /// Sets the user name.
    pub fn with_user(self, user: impl Into<String>) -> Self {
        self.map_driver(|b| b.user(Some(user)))
    }

    /// Sets a fixed password. A [password provider](Self::with_password_provider) wins over it.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password));
        self
    }

    /// Calls `provider` at every connect (the side connection that cancels a query
    /// included) for the password or token to send, so rotating credentials such as IAM
    /// tokens work; it wins over a fixed password. The same method, with the same argument,
    /// exists on every adapter's options.
    ///
    /// Its failure makes that connect fail with [`pool_core::Error::Connect`]; the pool
    /// retries with backoff. An IAM token is sent in clear text by the server's
    /// `mysql_clear_password` plugin, so enable it (`enable_cleartext_plugin=true`) only
    /// together with `ssl_mode=required`.
    ///
    /// ```
    /// use adapter_mysql::MysqlOptions;
    /// use pool_core::{CredentialsProvider, Secret};
    ///
    /// let options = MysqlOptions::new()
    ///     .with_host("db.internal")
    ///     .with_user("app")
    ///     .with_password_provider(CredentialsProvider::new(|| async {
    ///         // e.g. generate an RDS IAM auth token here
    ///         Ok(Secret::new("token"))
    ///     }));
    /// # drop(options);
    /// ```
    pub fn with_password_provider(mut self, provider: CredentialsProvider) -> Self {
        self.password_provider = Some(provider);
        self
    }

    /// Sets the default database (schema).
    pub fn with_database(self, database: impl Into<String>) -> Self {
        self.map_driver(|b| b.db_name(Some(database)))
    }

    /// Connects through this Unix socket instead of TCP (TLS does not apply to sockets).
    pub fn with_socket(self, path: impl Into<String>) -> Self {
        self.map_driver(|b| b.socket(Some(path)))
    }

    /// Sets how much TLS to demand; see [`SslMode`].
    pub fn with_ssl_mode(mut self, mode: SslMode) -> Self {
        self.tls.mode = mode;
        self
    }

    /// Sets where trusted root certificates come from; see [`TlsRoots`].
    pub fn with_tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls.roots = roots;
        self
    }

    /// Trusts only the CA certificates in this PEM (or DER) file: `TlsRoots::CaFile`, under
    /// the name adapter-postgres uses.
    pub fn with_ca_file(self, path: impl Into<std::path::PathBuf>) -> Self {
        self.with_tls_roots(TlsRoots::CaFile(path.into()))
    }

    /// `true` encrypts without authenticating the server, even when TLS is required: only for
    /// a development server with a self-signed certificate.
    pub fn with_danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_invalid_certs = accept;
        self
    }

    /// The old name of
    /// [`with_danger_accept_invalid_certs`](Self::with_danger_accept_invalid_certs).
    #[deprecated(note = "use `with_danger_accept_invalid_certs`, the name both adapters use")]
    pub fn danger_accept_invalid_certs(self, accept: bool) -> Self {
        self.with_danger_accept_invalid_certs(accept)
    }

    /// Bounds one connect attempt; `None` (the default) leaves it to the pool's connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the budget for everything a query timeout sets off (the side connection, its
    /// `KILL QUERY`, the wait for the killed query to stop): a call that timed out returns at
    /// most this long after its timeout, even when the server went silent. Default 1.5 s.
    pub fn with_cancel_timeout(mut self, timeout: Duration) -> Self {
        self.cancel_timeout = timeout;
        self
    }

    /// Sets the TCP keepalive idle time (default 30 s); `None` turns keepalive off.
    pub fn with_tcp_keepalive(self, idle: Option<Duration>) -> Self {
        self.map_driver(|b| b.tcp_keepalive(idle))
    }

    /// Sets how many prepared statements each connection keeps (default 32, least recently used
    /// evicted); 0 closes every statement after use.
    pub fn with_statement_cache_capacity(self, capacity: usize) -> Self {
        self.map_driver(|b| b.stmt_cache_size(capacity))
    }

    /// The old name of [`with_statement_cache_capacity`](Self::with_statement_cache_capacity).
    #[deprecated(
        note = "use `with_statement_cache_capacity`, the name every adapter's options use"
    )]
    pub fn with_statement_cache_size(self, size: usize) -> Self {
        self.with_statement_cache_capacity(size)
    }

    /// Sets the `program_name` connection attribute that marks this pool's sessions.
    pub fn with_program_name(mut self, name: impl Into<String>) -> Self {
        self.program_name = name.into();
        self
    }

    /// [`with_program_name`](Self::with_program_name) under the name adapter-postgres uses:
    /// `program_name` is MySQL's `application_name` (shown by
    /// `performance_schema.session_connect_attrs`).
    pub fn with_application_name(self, name: impl Into<String>) -> Self {
        self.with_program_name(name)
    }

    /// `true` lets `mysql_async` reconnect through the server's Unix socket when the host is a
    /// loopback address (default `false`: one connect, one session, keepalive applies).
    pub fn with_prefer_socket(mut self, prefer: bool) -> Self {
        self.prefer_socket = prefer;
        self
    }

    /// Sets what a connection does about its session when it returns to the pool (default
    /// [`SessionReset::Tracked`]).
    pub fn with_session_reset(mut self, reset: SessionReset) -> Self {
        self.session_reset = reset;
        self
    }

    /// Adjusts any other `mysql_async` option. The password and TLS options set here are
    /// replaced at connect time by this type's own.
    pub fn with_driver_options(self, f: impl FnOnce(OptsBuilder) -> OptsBuilder) -> Self {
        self.map_driver(f)
    }

    fn map_driver(mut self, f: impl FnOnce(OptsBuilder) -> OptsBuilder) -> Self {
        self.driver = f(OptsBuilder::from_opts(self.driver)).into();
        self
    }

    /// The host name or IP address.
    pub fn host(&self) -> &str {
        self.driver.ip_or_hostname()
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.driver.tcp_port()
    }

    /// The user name, if set.
    pub fn user(&self) -> Option<&str> {
        self.driver.user()
    }

    /// The default database, if set.
    pub fn database(&self) -> Option<&str> {
        self.driver.db_name()
    }

    /// The Unix socket, if set.
    pub fn socket(&self) -> Option<&str> {
        self.driver.socket()
    }

    /// Where and how connections go, for error messages: host and port (or the socket), user,
    /// database and `ssl_mode`; never the password.
    pub(crate) fn describe_target(&self) -> String {
        let place = match self.socket() {
            Some(socket) => format!("socket {socket}"),
            _ => format!("{}:{}", self.host(), self.port()),
        };
        let user = self.user().unwrap_or_default();
        let database = match self.database() {
            Some(db) => format!(" to database `{db}`"),
            None => String::new(),
        };
        format!(
            "{place} as user `{user}`{database} with ssl_mode={}",
            self.ssl_mode().as_str()
        )
    }

    /// How much TLS is demanded.
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.mode
    }

    /// Where trusted root certificates come from.
    pub fn tls_roots(&self) -> &TlsRoots {
        &self.tls.roots
    }

    /// True when the server's certificate is not checked even if TLS is required.
    pub fn accepts_invalid_certs(&self) -> bool {
        self.tls.accept_invalid_certs
    }

    /// The bound on one connect attempt, if any.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The bound on cancelling a query.
    pub fn cancel_timeout(&self) -> Duration {
        self.cancel_timeout
    }

    /// The TCP keepalive idle time, if keepalive is on.
    pub fn tcp_keepalive(&self) -> Option<Duration> {
        self.driver.tcp_keepalive()
    }

    /// Prepared statements kept per connection.
    pub fn statement_cache_size(&self) -> usize {
        self.driver.stmt_cache_size()
    }

    /// The `program_name` connection attribute.
    pub fn program_name(&self) -> &str {
        &self.program_name
    }

    /// Whether `mysql_async` may switch a loopback connection to the Unix socket.
    pub fn prefer_socket(&self) -> bool {
        self.prefer_socket
    }

    /// What a return does about the session.
    pub fn session_reset(&self) -> SessionReset {
        self.session_reset
    }

    pub(crate) fn tls(&self) -> &TlsConfig {
        &self.tls
    }

    /// The password for the next connect: the provider's, else the fixed one.
    pub(crate) async fn current_password(&self) -> Result<Option<String>> {
        match &self.password_provider {
            Some(provider) => Ok(Some(provider.fetch().await?.expose().to_owned())),
            None => Ok(self.password.as_ref().map(|p| p.expose().to_owned())),
        }
    }

    /// The `mysql_async` options for one connect.
    pub(crate) fn driver_opts(&self, password: Option<String>, ssl: Option<SslOpts>) -> Opts {
        // With TLS demanded, never trade the verified TCP session for an unencrypted socket.
        let prefer_socket = self.prefer_socket && !self.tls.mode.requires_tls();
        OptsBuilder::from_opts(self.driver.clone())
            .pass(password)
            .ssl_opts(ssl)
            .prefer_socket(prefer_socket)
            .connect_attribute("program_name", self.program_name.clone())
            .into()
    }
}

impl Default for MysqlOptions {
    /// The same as [`MysqlOptions::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MysqlOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field fails to compile until it is shown or skipped here.
        let Self {
            driver,
            password,
            password_provider,
            tls,
            prefer_socket,
            connect_timeout,
            cancel_timeout,
            program_name,
            session_reset,
        } = self;
        f.debug_struct("MysqlOptions")
            .field("host", &driver.ip_or_hostname())
            .field("port", &driver.tcp_port())
            .field("socket", &driver.socket())
            .field("user", &driver.user())
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("password_provider", &password_provider.is_some())
            .field("database", &driver.db_name())
            .field("ssl_mode", &tls.mode)
            .field("tls_roots", &tls.roots)
            .field("accept_invalid_certs", &tls.accept_invalid_certs)
            .field("prefer_socket", prefer_socket)
            .field("connect_timeout", connect_timeout)
            .field("cancel_timeout", cancel_timeout)
            .field("tcp_keepalive", &driver.tcp_keepalive())
            .field("statement_cache_size", &driver.stmt_cache_size())
            .field("program_name", program_name)
            .field("session_reset", session_reset)
            .finish()
    }
}

fn is_own_param(key: &str) -> bool {
    matches!(
        key,
        "ssl_mode"
            | "ssl_ca"
            | "ssl_roots"
            | "ssl_accept_invalid_certs"
            | "prefer_socket"
            | "connect_timeout_ms"
            | "cancel_timeout_ms"
            | "program_name"
            | "session_reset"
    )
}

fn check_driver_param(key: &str) -> Result<()> {
    if DRIVER_TLS_PARAMS.contains(&key) {
        return Err(Error::config(
            key,
            "is not supported; use `ssl_mode` (disabled, preferred, required, verify_ca, \
             verify_identity) and `ssl_ca`/`ssl_roots`",
        ));
    }
    if key == "reset_connection" {
        return Err(Error::config(
            key,
            "is mysql_async's pool setting; use `session_reset` (tracked, reset_connection, \
             rollback_only)",
        ));
    }
    if DRIVER_POOL_PARAMS.contains(&key) {
        return Err(Error::config(
            key,
            "configures mysql_async's own pool, which this adapter does not use; set it in \
             pool_core::PoolConfig",
        ));
    }
    Ok(())
}

/// Maps `mysql_async`'s URL errors. None of them carries the password: it was removed from the
/// URL before `mysql_async` saw it.
fn url_error(error: UrlError) -> Error {
    match error {
        UrlError::UnknownParameter { param } => {
            Error::config(param, "is not a known connection URL parameter")
        }
        UrlError::InvalidParamValue { param, value } => {
            Error::config(param, format!("has the invalid value `{value}`"))
        }
        UrlError::FeatureRequired { feature, param } => Error::config(
            param,
            format!("needs mysql_async's `{feature}` feature, which this build lacks"),
        ),
        UrlError::Parse(e) => Error::config("url", format!("could not be parsed: {e}")),
        UrlError::Invalid => Error::config("url", "is invalid or incomplete"),
        UrlError::UnsupportedScheme { scheme } => Error::config(
            "url",
            format!("has the scheme `{scheme}`; expected `mysql://`"),
        ),
        UrlError::InvalidPoolConstraints { .. } => Error::config(
            "pool_min",
            "configures mysql_async's own pool, which is not used",
        ),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::config(
            key,
            format!("is `{value}`; expected true or false"),
        )),
    }
}

fn parse_millis(key: &str, value: &str) -> Result<Duration> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| {
            Error::config(
                key,
                format!("is `{value}`; expected a whole number of milliseconds"),
            )
        })
}

fn percent_decode(input: &str) -> String {
    percent_encoding::percent_decode_str(input)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "s3cr#t-pa55";

    enum Expect {
        Ok(fn(&MysqlOptions)),
        Err(&'static str),
    }

    #[test]
    fn url_parsing_table() {
        let cases: Vec<(&str, Expect)> = vec![
            (
                "mysql://root@127.0.0.1/test",
                Expect::Ok(|o| {
                    assert_eq!(o.host(), "127.0.0.1");
                    assert_eq!(o.port(), 3306);
                    assert_eq!(o.user(), Some("root"));
                    assert_eq!(o.database(), Some("test"));
                    assert_eq!(o.ssl_mode(), SslMode::Preferred);
                    assert_eq!(o.tcp_keepalive(), Some(DEFAULT_TCP_KEEPALIVE));
                    assert_eq!(o.statement_cache_size(), 32);
                    assert_eq!(o.program_name(), "pool-core");
                    assert!(!o.prefer_socket());
                    assert_eq!(o.connect_timeout(), None);
                    assert_eq!(o.session_reset(), SessionReset::Tracked);
                }),
            ),
            (
                "mariadb://app:s3cr%23t-pa55@db.example:3307/shop",
                Expect::Ok(|o| {
                    assert_eq!(o.host(), "db.example");
                    assert_eq!(o.port(), 3307);
                    assert_eq!(o.password.as_ref().map(Secret::expose), Some(PASSWORD));
                }),
            ),
            (
                "mysql://app@[::1]:3306/app",
                Expect::Ok(|o| assert_eq!(o.host(), "[::1]")),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?ssl_mode=VERIFY_IDENTITY&ssl_ca=/etc/ca.pem",
                Expect::Ok(|o| {
                    assert_eq!(o.ssl_mode(), SslMode::VerifyIdentity);
                    assert_eq!(o.tls_roots(), &TlsRoots::CaFile("/etc/ca.pem".into()));
                }),
            ),
            (
                "mysql://u@h/d?ssl_mode=required&ssl_roots=webpki&ssl_accept_invalid_certs=true",
                Expect::Ok(|o| {
                    assert_eq!(o.ssl_mode(), SslMode::Required);
                    assert_eq!(o.tls_roots(), &TlsRoots::WebPki);
                    assert!(o.accepts_invalid_certs());
                }),
            ),
            (
                "mysql://u@h/d?connect_timeout_ms=1500&cancel_timeout_ms=250&program_name=api",
                Expect::Ok(|o| {
                    assert_eq!(o.connect_timeout(), Some(Duration::from_millis(1500)));
                    assert_eq!(o.cancel_timeout(), Duration::from_millis(250));
                    assert_eq!(o.program_name(), "api");
                }),
            ),
            (
                "mysql://u@h/d?stmt_cache_size=100&tcp_keepalive=5000&socket=/tmp/m.sock",
                Expect::Ok(|o| {
                    assert_eq!(o.statement_cache_size(), 100);
                    assert_eq!(o.tcp_keepalive(), Some(Duration::from_secs(5)));
                    assert_eq!(o.socket(), Some("/tmp/m.sock"));
                }),
            ),
            (
                "mysql://u@h/d?prefer_socket=true",
                Expect::Ok(|o| assert!(o.prefer_socket())),
            ),
            (
                "mysql://u@h/d?session_reset=reset_connection",
                Expect::Ok(|o| assert_eq!(o.session_reset(), SessionReset::ResetConnection)),
            ),
            (
                "mysql://u@h/d?session_reset=rollback_only",
                Expect::Ok(|o| assert_eq!(o.session_reset(), SessionReset::RollbackOnly)),
            ),
            (
                "mysql://u@h/d?session_reset=tracked",
                Expect::Ok(|o| assert_eq!(o.session_reset(), SessionReset::Tracked)),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?session_reset=always",
                Expect::Err("session_reset"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?reset_connection=true",
                Expect::Err("reset_connection"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?ssl_mode=maybe",
                Expect::Err("ssl_mode"),
            ),
            ("mysql://u:s3cr%23t-pa55@h/d?ssl_ca=", Expect::Err("ssl_ca")),
            (
                "mysql://u:s3cr%23t-pa55@h/d?ssl_roots=mine",
                Expect::Err("ssl_roots"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?require_ssl=true",
                Expect::Err("require_ssl"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?verify_ca=false",
                Expect::Err("verify_ca"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?pool_max=10",
                Expect::Err("pool_max"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?conn_ttl=10",
                Expect::Err("conn_ttl"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?stmt_cache=10",
                Expect::Err("stmt_cache"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?stmt_cache_size=lots",
                Expect::Err("stmt_cache_size"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?connect_timeout_ms=1s",
                Expect::Err("connect_timeout_ms"),
            ),
            (
                "mysql://u:s3cr%23t-pa55@h/d?prefer_socket=perhaps",
                Expect::Err("prefer_socket"),
            ),
            ("mysql://u:s3cr%23t-pa55@h/d?=x", Expect::Err("url")),
            ("postgres://u:s3cr%23t-pa55@h/d", Expect::Err("url")),
            ("mysql://u:s3cr%23t-pa55@h:99999/d", Expect::Err("url")),
            ("mysql:///d", Expect::Err("url")),
            ("u:s3cr#t-pa55@h/d", Expect::Err("url")),
            ("", Expect::Err("url")),
        ];
        for (input, expect) in cases {
            let result = MysqlOptions::from_url(input);
            match (expect, result) {
                (Expect::Ok(check), Ok(options)) => {
                    check(&options);
                    let debug = format!("{options:?}");
                    assert!(!debug.contains(PASSWORD), "{input}: Debug leaks: {debug}");
                    assert!(!debug.contains("s3cr%23t"), "{input}: Debug leaks: {debug}");
                }
                (Expect::Err(field), Err(error)) => {
                    match &error {
                        Error::Config { field: actual, .. } => {
                            assert_eq!(actual, field, "{input}: {error}");
                        }
                        other => panic!("{input}: expected a config error, got {other:?}"),
                    }
                    for text in [error.to_string(), format!("{error:?}")] {
                        assert!(!text.contains("s3cr"), "{input}: error leaks: {text}");
                    }
                }
                (Expect::Ok(_), Err(error)) => panic!("{input}: unexpected error {error}"),
                (Expect::Err(field), Ok(o)) => panic!("{input}: expected error on {field}: {o:?}"),
            }
        }
    }

    #[test]
    fn debug_redacts_the_password_but_shows_that_one_is_set() {
        let options = MysqlOptions::new()
            .with_host("h")
            .with_user("u")
            .with_password(PASSWORD);
        let debug = format!("{options:?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn the_driver_options_never_hold_the_password_between_connects() {
        let options = MysqlOptions::from_url("mysql://u:pw@h/d").unwrap();
        assert_eq!(options.driver.pass(), None);
        let opts = options.driver_opts(Some("pw".to_owned()), None);
        assert_eq!(opts.pass(), Some("pw"));
        assert_eq!(
            opts.connect_attributes()
                .unwrap()
                .get("program_name")
                .map(String::as_str),
            Some("pool-core")
        );
    }

    #[test]
    fn tls_required_never_switches_to_the_unencrypted_socket() {
        let options = MysqlOptions::new()
            .with_host("127.0.0.1")
            .with_prefer_socket(true)
            .with_ssl_mode(SslMode::VerifyIdentity);
        assert!(!options.driver_opts(None, None).prefer_socket());
        let preferred = options.with_ssl_mode(SslMode::Preferred);
        assert!(preferred.driver_opts(None, None).prefer_socket());
    }

    #[test]
    fn builder_methods_set_what_they_name() {
        let options = MysqlOptions::new()
            .with_host("db")
            .with_port(3310)
            .with_user("u")
            .with_database("d")
            .with_statement_cache_capacity(7)
            .with_tcp_keepalive(None)
            .with_connect_timeout(Some(Duration::from_secs(2)))
            .with_cancel_timeout(Duration::from_secs(1))
            .with_program_name("svc")
            .with_session_reset(SessionReset::RollbackOnly)
            .with_danger_accept_invalid_certs(true)
            .with_tls_roots(TlsRoots::WebPki)
            .with_ssl_mode(SslMode::VerifyCa);
        assert_eq!(
            (
                options.host(),
                options.port(),
                options.user(),
                options.database()
            ),
            ("db", 3310, Some("u"), Some("d"))
        );
        assert_eq!(options.statement_cache_size(), 7);
        assert_eq!(options.tcp_keepalive(), None);
        assert_eq!(options.connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(options.cancel_timeout(), Duration::from_secs(1));
        assert_eq!(options.program_name(), "svc");
        assert_eq!(options.session_reset(), SessionReset::RollbackOnly);
        assert!(options.accepts_invalid_certs());
        assert_eq!(options.tls_roots(), &TlsRoots::WebPki);
        assert_eq!(options.ssl_mode(), SslMode::VerifyCa);
    }

    #[test]
    fn the_names_adapter_postgres_uses_set_the_same_things() {
        let options = MysqlOptions::new()
            .with_application_name("billing")
            .with_ca_file("/etc/ssl/db-ca.pem");
        assert_eq!(options.program_name(), "billing");
        assert_eq!(
            options.tls_roots(),
            &TlsRoots::CaFile("/etc/ssl/db-ca.pem".into())
        );
    }
}
