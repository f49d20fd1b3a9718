//! [`PostgresOptions`]: everything that shapes a connection, parsed from a connection string in
//! one place and adjusted with `with_*` methods; [`build`](PostgresOptions::build) validates it
//! once and loads the TLS trust roots.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use pool_core::{CredentialsProvider, Error, Result};
use tokio_postgres::config::Host;

use crate::connector::PostgresConnector;
use crate::session_target::TargetSession;
use crate::url;

/// The `application_name` sessions get unless told otherwise, so they are easy to find in
/// `pg_stat_activity`.
pub const DEFAULT_APPLICATION_NAME: &str = "pool";

/// Whether and how TLS is used; the crate documentation has the table and the reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, plain TCP otherwise; certificates are not checked.
    #[default]
    Prefer,
    /// TLS or fail; the certificate chain and host name are verified (stricter than libpq).
    Require,
    /// TLS or fail; the chain is verified, the host name is not.
    VerifyCa,
    /// TLS or fail; the chain and the host name are verified.
    VerifyFull,
}

impl SslMode {
    /// True when the connection fails rather than falling back to plain TCP.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }

    /// The libpq spelling (`verify-full`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for SslMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(Error::config(
                    "sslmode",
                    "`allow` is not supported: use `prefer` (TLS when offered) or `disable`",
                ));
            }
            other => {
                return Err(Error::config(
                    "sslmode",
                    format!(
                        "is `{other}`; expected one of disable, prefer, require, verify-ca, \
                         verify-full"
                    ),
                ));
            }
        })
    }
}

/// Whether connections go through PgBouncer, and in which of its pool modes
/// (`pgbouncer=session|transaction|off` in a connection string,
/// [`with_pgbouncer`](PostgresOptions::with_pgbouncer) in code).
///
/// | | `Off` (default) | `Session` | `Transaction` |
/// |---|---|---|---|
/// | statement cache (named prepared statements) | as configured | as configured | **off**: every statement is parsed unnamed, in the same round trip as its execution |
/// | session reset on return | as [`SessionReset`] says | as [`SessionReset`] says | **only the `ROLLBACK`** of a transaction left open: the session belongs to PgBouncer's server connections, not to this client |
/// | query timeout cancels with | `pg_cancel_backend` on a side connection | the protocol cancel request | the protocol cancel request |
/// | backend identity read at connect | yes (one query) | no | no |
///
/// **Why.** In transaction mode a client has a server connection only for one transaction (or
/// one statement outside a transaction): a statement prepared by name in one transaction is
/// not there in the next, and another client may run on the same server connection in
/// between. So nothing may assume session state between transactions: no named statements,
/// no `SET` or temporary table that outlives its transaction, no session reset from this side
/// (PgBouncer owns the server sessions; its `server_reset_query` is its business). And a query
/// timeout must not cancel by process id: the `pg_backend_pid()` read at connect belongs to
/// whichever server connection answered it, which may now serve another client. The protocol
/// cancel request goes to PgBouncer, which forwards it to the server connection that runs
/// *this* client's statement, or drops it when there is none.
///
/// In session mode a client keeps its server connection while it is connected, so the
/// statement cache and the session reset work as without PgBouncer (PgBouncer runs its
/// `server_reset_query` only when the client disconnects, which a pooled connection rarely
/// does); only the cancel goes through PgBouncer, since a side connection would wait for a
/// server connection of its own.
///
/// Through [`PostgresConnection::client`](crate::PostgresConnection::client) in transaction
/// mode, prepare statements (`prepare`, `prepare_cached`) only inside a transaction and use
/// them there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PgbouncerMode {
    /// A direct connection to PostgreSQL (or a pooler that keeps sessions, configured as such).
    #[default]
    Off,
    /// PgBouncer with `pool_mode = session`.
    Session,
    /// PgBouncer with `pool_mode = transaction`.
    Transaction,
}

impl PgbouncerMode {
    /// The connection-string spelling: `off`, `session`, `transaction`.
    pub fn as_str(self) -> &'static str {
        match self {
            PgbouncerMode::Off => "off",
            PgbouncerMode::Session => "session",
            PgbouncerMode::Transaction => "transaction",
        }
    }

    /// True behind PgBouncer in either mode.
    pub fn is_on(self) -> bool {
        self != PgbouncerMode::Off
    }
}

impl FromStr for PgbouncerMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "off" => Ok(PgbouncerMode::Off),
            "session" => Ok(PgbouncerMode::Session),
            "transaction" => Ok(PgbouncerMode::Transaction),
            "statement" => Err(Error::config(
                "pgbouncer",
                "`statement` pool mode is not supported (it forbids transactions); use \
                 `transaction`",
            )),
            other => Err(Error::config(
                "pgbouncer",
                format!("is `{other}`; expected one of off, session, transaction"),
            )),
        }
    }
}

/// The certificate authorities a server certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RootCerts {
    /// The operating system's trust store (`sslrootcert=system`).
    #[default]
    System,
    /// A PEM file of CA certificates (`sslrootcert=/path/to/ca.pem`), read by
    /// [`build`](PostgresOptions::build).
    File(PathBuf),
    /// PEM-encoded CA certificates held in memory.
    Pem(Vec<u8>),
}

/// What a connection does when it returns to the pool.
///
/// Every variant rolls back a transaction the holder left open or failed, and only then:
/// the adapter reads the transaction status the server reports with every answer (see
/// [`PostgresConnection`](crate::PostgresConnection)), so a `ROLLBACK` never goes to an idle
/// session and the server never logs "there is no transaction in progress".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionReset {
    /// The default: reset only what the holder changed. A return after plain queries and
    /// finished transactions sends nothing at all; after a statement that can keep state in
    /// the session (`SET`, `RESET`, `LISTEN`, `PREPARE`, `DECLARE`, `CREATE TEMP …`,
    /// `set_config`, session advisory locks, `DO`, …, whether sent through the neutral API or
    /// the native client), or a change of a parameter the server reports (`TimeZone`, the
    /// role, …), the return runs `DISCARD ALL` minus `DEALLOCATE ALL`, so the statement
    /// cache survives. Not seen: state a function or procedure changes from inside without
    /// the server reporting it (a PL/pgSQL `SET work_mem` or `CREATE TEMP TABLE` behind
    /// `SELECT f()`); such applications pick [`DiscardAllKeepStatements`](Self::DiscardAllKeepStatements).
    #[default]
    Tracked,
    /// `DISCARD ALL` on every return: settings, temporary tables, advisory locks, `LISTEN`s,
    /// cursors and prepared statements all go, so the connection's statement cache is
    /// cleared too. One round trip per return, and every statement prepared again.
    DiscardAll,
    /// `DISCARD ALL` minus `DEALLOCATE ALL` (its documented equivalent, without that line) on
    /// every return: the same clean session, but prepared statements and so the statement
    /// cache survive. One round trip per return.
    DiscardAllKeepStatements,
    /// A custom query (one or several statements, simple protocol) on every return. The
    /// statement cache is cleared, since the query may deallocate statements.
    Query(String),
    /// Only the `ROLLBACK` of an open transaction: session state (settings, temporary tables)
    /// carries over.
    RollbackOnly,
}

/// How to open PostgreSQL connections: a connection string, TLS, credentials and the
/// per-connection behaviour. Build a [`PostgresConnector`] from it with
/// [`build`](Self::build).
///
/// Defaults, each chosen for a pooled server process:
///
/// | option | default | why |
/// |---|---|---|
/// | `application_name` | `"pool"` | sessions are identifiable in `pg_stat_activity` |
/// | `connect_timeout` | 10 s | a healthy server answers in milliseconds; covers a slow TLS handshake |
/// | `keepalives_idle` | 60 s | an idle socket to a vanished host is probed after a minute, not two hours |
/// | `keepalives_interval` | 10 s, 3 retries | so a dead idle peer is noticed within ~90 s |
/// | `tcp_user_timeout` | 30 s | unacknowledged writes to a blackholed server fail after 30 s |
/// | `sslmode` | `prefer` | libpq's default |
/// | root certificates | the system store | what operators already manage |
/// | statement cache | 100 statements | sqlx's default: covers an application's hot set |
/// | session reset | `DISCARD ALL` | nothing leaks to the next holder |
/// | `pgbouncer` | `off` | a direct connection; see [`PgbouncerMode`] for what each mode changes |
///
/// A value the connection string sets explicitly is kept.
///
/// ```
/// use adapter_postgres::{PgbouncerMode, PostgresOptions, SslMode};
///
/// let options = PostgresOptions::from_url("postgres://app@db.internal/shop")?
///     .with_ssl_mode(SslMode::VerifyFull)
///     .with_ca_file("/etc/ssl/db-ca.pem")
///     .with_application_name("checkout")
///     .with_pgbouncer(PgbouncerMode::Transaction); // or `?pgbouncer=transaction` in the URL
/// assert!(!format!("{options:?}").contains("secret"));
/// # Ok::<(), pool_core::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct PostgresOptions {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) ssl_mode: SslMode,
    pub(crate) root_certs: RootCerts,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) password_provider: Option<CredentialsProvider>,
    pub(crate) session_reset: SessionReset,
    pub(crate) statement_cache_capacity: usize,
    pub(crate) cancel_timeout: Duration,
    pub(crate) target_session: TargetSession,
    pub(crate) pgbouncer: PgbouncerMode,
}

impl PostgresOptions {
    /// Options for `localhost:5432` with every default and no user yet.
    pub fn new() -> Self {
        let mut options = Self::bare(tokio_postgres::Config::new());
        options.pg.host("localhost");
        options.apply_defaults(&[]);
        options
    }

    fn bare(pg: tokio_postgres::Config) -> Self {
        Self {
            pg,
            ssl_mode: SslMode::default(),
            root_certs: RootCerts::default(),
            accept_invalid_certs: false,
            password_provider: None,
            session_reset: SessionReset::default(),
            statement_cache_capacity: 100,
            // A healthy server cancels in milliseconds (a side connection's setup included);
            // past this, a timed-out call returns and its connection is discarded.
            cancel_timeout: Duration::from_millis(1500),
            target_session: TargetSession::Any,
            pgbouncer: PgbouncerMode::Off,
        }
    }

    /// Parses a `postgres://` / `postgresql://` URL or a libpq key/value string (see the crate
    /// documentation). A malformed one is an [`Error::Config`] naming the bad parameter and never
    /// showing the password.
    pub fn from_url(url: &str) -> Result<Self> {
        let split = url::split(url)?;
        let pg = tokio_postgres::Config::from_str(&split.driver)
            .map_err(|e| config_error(e, &split.driver))?;
        let mut options = Self::bare(pg);
        for (key, value) in &split.own {
            match key.as_str() {
                "sslmode" => options.ssl_mode = value.parse()?,
                "pgbouncer" => options.pgbouncer = value.parse()?,
                "sslrootcert" => {
                    options.root_certs = match value.as_str() {
                        "system" => RootCerts::System,
                        "" => {
                            return Err(Error::config(
                                "sslrootcert",
                                "is empty; give a PEM file path or `system`",
                            ));
                        }
                        path => RootCerts::File(PathBuf::from(path)),
                    }
                }
                "target_session_attrs" => options.target_session = value.parse()?,
                _ => unreachable!("url::split only returns the keys it owns"),
            }
        }
        // libpq: `sslrootcert=system` without an explicit sslmode means verify-full.
        if options.root_certs == RootCerts::System
            && split
                .own
                .iter()
                .any(|(k, v)| k == "sslrootcert" && v == "system")
            && !split.keys.iter().any(|k| k == "sslmode")
        {
            options.ssl_mode = SslMode::VerifyFull;
        }
        options.apply_defaults(&split.keys);
        Ok(options)
    }

    /// Sets our defaults for everything the connection string left out.
    fn apply_defaults(&mut self, given: &[String]) {
        let given = |key: &str| given.iter().any(|k| k == key);
        if self.pg.get_application_name().is_none() {
            self.pg.application_name(DEFAULT_APPLICATION_NAME);
        }
        if self.pg.get_connect_timeout().is_none() {
            self.pg.connect_timeout(Duration::from_secs(10));
        }
        if self.pg.get_tcp_user_timeout().is_none() {
            self.pg.tcp_user_timeout(Duration::from_secs(30));
        }
        if !given("keepalives_idle") {
            self.pg.keepalives_idle(Duration::from_secs(60));
        }
        if !given("keepalives_interval") {
            self.pg.keepalives_interval(Duration::from_secs(10));
        }
        if !given("keepalives_retries") {
            self.pg.keepalives_retries(3);
        }
    }

    /// Which of several hosts a session may be opened on (libpq's `target_session_attrs`,
    /// all six values; see [`TargetSession`]). Default: any.
    pub fn with_target_session(mut self, target: TargetSession) -> Self {
        self.target_session = target;
        self
    }

    /// The `target_session_attrs` in force: this crate's, or the driver configuration's when
    /// only that was set (through [`with_pg_config`](Self::with_pg_config)).
    pub fn target_session(&self) -> TargetSession {
        match self.target_session {
            TargetSession::Any => TargetSession::from_driver(self.pg.get_target_session_attrs()),
            set => set,
        }
    }

    /// Validates the options and loads the TLS trust roots, once: a connector that builds can
    /// connect without re-reading files.
    pub fn build(self) -> Result<PostgresConnector> {
        if self.pg.get_hosts().is_empty() {
            return Err(Error::config(
                "host",
                "is missing: name one in the URL (postgres://user@HOST/db) or with with_host",
            ));
        }
        if self.pg.get_user().is_none() {
            return Err(Error::config(
                "user",
                "is missing: name one in the URL (postgres://USER@host/db) or with with_user",
            ));
        }
        if self.ssl_mode.requires_tls()
            && self
                .pg
                .get_hosts()
                .iter()
                .any(|h| !matches!(h, Host::Tcp(_)))
        {
            return Err(Error::config(
                "sslmode",
                format!(
                    "is `{}`, but a Unix socket host cannot use TLS",
                    self.ssl_mode.as_str()
                ),
            ));
        }
        PostgresConnector::new(self)
    }

    /// Replaces the hosts with one host name or IP address.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        let host = host.into();
        let port = self.pg.get_ports().first().copied();
        self.pg = rebuild_without_hosts(&self.pg);
        self.pg.host(&host);
        if let Some(port) = port {
            self.pg.port(port);
        }
        self
    }

    /// Sets the port of every host.
    pub fn with_port(mut self, port: u16) -> Self {
        let hosts = self.pg.get_hosts().to_vec();
        self.pg = rebuild_without_hosts(&self.pg);
        for host in hosts {
            match host {
                Host::Tcp(name) => self.pg.host(&name),
                #[cfg(unix)]
                Host::Unix(path) => self.pg.host_path(path),
            };
            self.pg.port(port);
        }
        self
    }

    /// Sets the user name.
    pub fn with_user(mut self, user: impl AsRef<str>) -> Self {
        self.pg.user(user.as_ref());
        self
    }

    /// Sets a fixed password (see [`with_password_provider`](Self::with_password_provider) for
    /// rotating ones).
    pub fn with_password(mut self, password: impl AsRef<[u8]>) -> Self {
        self.pg.password(password.as_ref());
        self
    }

    /// Fetches the password before every connection attempt (the side connection that
    /// cancels a query included), so rotating credentials work; it wins over a fixed
    /// password. The same method, with the same argument, exists on every adapter's options.
    ///
    /// ```
    /// # use adapter_postgres::PostgresOptions;
    /// use pool_core::{CredentialsProvider, Secret};
    ///
    /// let options = PostgresOptions::from_url("postgres://app@db/shop")?
    ///     .with_password_provider(CredentialsProvider::new(|| async {
    ///         Ok(Secret::new(std::env::var("DB_TOKEN").unwrap_or_default()))
    ///     }));
    /// # Ok::<(), pool_core::Error>(())
    /// ```
    pub fn with_password_provider(mut self, provider: CredentialsProvider) -> Self {
        self.password_provider = Some(provider);
        self
    }

    /// Sets the database name (`with_database` on every adapter's options).
    pub fn with_database(mut self, database: impl AsRef<str>) -> Self {
        self.pg.dbname(database.as_ref());
        self
    }

    /// Sets the database name: the old name of [`with_database`](Self::with_database).
    #[deprecated(note = "use `with_database`, the name every adapter's options use")]
    pub fn with_dbname(mut self, dbname: impl AsRef<str>) -> Self {
        self.pg.dbname(dbname.as_ref());
        self
    }

    /// Sets `application_name`, shown in `pg_stat_activity` and server logs.
    pub fn with_application_name(mut self, name: impl AsRef<str>) -> Self {
        self.pg.application_name(name.as_ref());
        self
    }

    /// Sets the TLS mode.
    pub fn with_ssl_mode(mut self, mode: SslMode) -> Self {
        self.ssl_mode = mode;
        self
    }

    /// Sets the certificate authorities that server certificates are checked against.
    pub fn with_root_certs(mut self, roots: RootCerts) -> Self {
        self.root_certs = roots;
        self
    }

    /// Checks server certificates against the CA certificates in this PEM file.
    pub fn with_ca_file(self, path: impl Into<PathBuf>) -> Self {
        self.with_root_certs(RootCerts::File(path.into()))
    }

    /// Accepts any server certificate even when TLS is required: the connection is encrypted
    /// but anyone on the network path can impersonate the server. This is libpq's `require`;
    /// only for servers whose certificate cannot be verified (a self-signed test box).
    pub fn with_danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Sets what a connection does when it returns to the pool.
    pub fn with_session_reset(mut self, reset: SessionReset) -> Self {
        self.session_reset = reset;
        self
    }

    /// Sets how many prepared statements each connection keeps (least recently used ones are
    /// closed first). `0` turns the cache off: statements are then parsed unnamed on every
    /// call. Behind PgBouncer in transaction mode ([`with_pgbouncer`](Self::with_pgbouncer))
    /// the cache is off whatever this says.
    pub fn with_statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.statement_cache_capacity = capacity;
        self
    }

    /// Says that connections go through PgBouncer in `mode` (`pgbouncer=` in a connection
    /// string); [`PgbouncerMode`] has what each mode changes. In transaction mode: no named
    /// prepared statements, no session reset but the `ROLLBACK` of an open transaction, and a
    /// query timeout cancels through PgBouncer's forwarding of the protocol cancel request.
    pub fn with_pgbouncer(mut self, mode: PgbouncerMode) -> Self {
        self.pgbouncer = mode;
        self
    }

    /// Sets how long the TCP connect and the startup handshake may take, per host.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.pg.connect_timeout(timeout);
        self
    }

    /// Sets the budget for everything a query timeout sets off (the side connection's
    /// `pg_cancel_backend`, the wait for the cancelled statement's answer): a call that timed
    /// out returns at most this long after its timeout, even when the server went silent.
    /// Past it, the connection is discarded and a protocol cancel is sent in the background.
    /// Default 1.5 s.
    pub fn with_cancel_timeout(mut self, timeout: Duration) -> Self {
        self.cancel_timeout = timeout;
        self
    }

    /// Sets how long written data may stay unacknowledged before the socket is closed.
    pub fn with_tcp_user_timeout(mut self, timeout: Duration) -> Self {
        self.pg.tcp_user_timeout(timeout);
        self
    }

    /// Sets TCP keepalive: idle time before the first probe, the interval between probes and
    /// how many unanswered probes close the socket.
    pub fn with_keepalives(mut self, idle: Duration, interval: Duration, retries: u32) -> Self {
        self.pg.keepalives(true);
        self.pg.keepalives_idle(idle);
        self.pg.keepalives_interval(interval);
        self.pg.keepalives_retries(retries);
        self
    }

    /// Adjusts the underlying tokio-postgres configuration directly, for options without a
    /// `with_*` method here (`target_session_attrs`, `options`, `load_balance_hosts`, …).
    pub fn with_pg_config(mut self, adjust: impl FnOnce(&mut tokio_postgres::Config)) -> Self {
        adjust(&mut self.pg);
        self
    }

    /// The tokio-postgres configuration connections are opened with (TLS mode aside).
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// The TLS mode.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// Where trusted CA certificates come from.
    pub fn root_certs(&self) -> &RootCerts {
        &self.root_certs
    }

    /// True when certificate checks were turned off with
    /// [`with_danger_accept_invalid_certs`](Self::with_danger_accept_invalid_certs).
    pub fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs
    }

    /// The session reset on return.
    pub fn session_reset(&self) -> &SessionReset {
        &self.session_reset
    }

    /// The statement cache capacity per connection (`0`: off), as set; behind PgBouncer in
    /// transaction mode the cache is off anyway (see
    /// [`effective_statement_cache_capacity`](Self::effective_statement_cache_capacity)).
    pub fn statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// The statement cache capacity connections get: `0` behind PgBouncer in transaction mode,
    /// the configured one otherwise.
    pub fn effective_statement_cache_capacity(&self) -> usize {
        match self.pgbouncer {
            PgbouncerMode::Transaction => 0,
            PgbouncerMode::Off | PgbouncerMode::Session => self.statement_cache_capacity,
        }
    }

    /// Whether connections go through PgBouncer, and in which mode.
    pub fn pgbouncer(&self) -> PgbouncerMode {
        self.pgbouncer
    }

    /// The budget for cancelling a timed-out query (see
    /// [`with_cancel_timeout`](Self::with_cancel_timeout)).
    pub fn cancel_timeout(&self) -> Duration {
        self.cancel_timeout
    }

    /// True when a password provider is set.
    pub fn has_password_provider(&self) -> bool {
        self.password_provider.is_some()
    }
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// tokio-postgres has no way to clear hosts, so copy everything else into a fresh config.
fn rebuild_without_hosts(old: &tokio_postgres::Config) -> tokio_postgres::Config {
    // `Config` keeps hosts, hostaddrs and ports in parallel lists; start them over.
    let mut fresh = tokio_postgres::Config::new();
    if let Some(user) = old.get_user() {
        fresh.user(user);
    }
    if let Some(password) = old.get_password() {
        fresh.password(password);
    }
    if let Some(dbname) = old.get_dbname() {
        fresh.dbname(dbname);
    }
    if let Some(options) = old.get_options() {
        fresh.options(options);
    }
    if let Some(name) = old.get_application_name() {
        fresh.application_name(name);
    }
    if let Some(t) = old.get_connect_timeout() {
        fresh.connect_timeout(*t);
    }
    if let Some(t) = old.get_tcp_user_timeout() {
        fresh.tcp_user_timeout(*t);
    }
    fresh.keepalives(old.get_keepalives());
    fresh.keepalives_idle(old.get_keepalives_idle());
    if let Some(i) = old.get_keepalives_interval() {
        fresh.keepalives_interval(i);
    }
    if let Some(r) = old.get_keepalives_retries() {
        fresh.keepalives_retries(r);
    }
    fresh.target_session_attrs(old.get_target_session_attrs());
    fresh.channel_binding(old.get_channel_binding());
    fresh.load_balance_hosts(old.get_load_balance_hosts());
    fresh.ssl_mode(old.get_ssl_mode());
    fresh.ssl_negotiation(old.get_ssl_negotiation());
    fresh
}

/// Turns tokio-postgres's parse error into our [`Error::Config`]: the field is the option it
/// names, the reason its message (which never contains a value, so never a password).
///
/// An option is named only when it looks like one (a word of letters, digits and `_`): in a
/// garbled URL that falls through to the key/value parser (`postgres//app:pw@db/shop?x=y`),
/// everything before the first `=` is the "option", password included, so such a string is
/// reported as malformed without quoting it.
///
/// An invalid value is quoted (`` `port` has an invalid value `notaport` ``), except a
/// password's.
fn config_error(e: tokio_postgres::Error, input: &str) -> Error {
    let cause = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
    let is_option_name = |name: &str| {
        !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    // tokio-postgres's two messages that quote input: "unknown option `x`" and "invalid value
    // for option `x`".
    let named = |prefix: &str| {
        let option = cause
            .strip_prefix(prefix)?
            .strip_prefix(" `")?
            .strip_suffix('`')?;
        Some(option.to_owned())
    };
    let (unknown, invalid) = (named("unknown option"), named("invalid value for option"));
    match (unknown, invalid) {
        (Some(option), _) | (_, Some(option)) if !is_option_name(&option) => Error::config(
            "url",
            "is malformed: neither a postgres:// URL nor libpq key=value pairs (a parameter \
             name holds characters no option has)",
        ),
        (Some(option), _) => Error::config(
            option,
            "is not a connection parameter tokio-postgres or this adapter knows",
        ),
        (_, Some(option)) => {
            let value = match url::value_of(input, &option) {
                Some(value) if !option.contains("pass") => format!(" `{value}`"),
                _ => String::new(),
            };
            let expected = match option.as_str() {
                "port" => " (expected a TCP port number, 1 to 65535)",
                "connect_timeout"
                | "keepalives_idle"
                | "keepalives_interval"
                | "tcp_user_timeout" => " (expected a whole number of seconds)",
                _ => "",
            };
            Error::config(&option, format!("has an invalid value{value}{expected}"))
        }
        // The others quote at most one character of the input.
        _ => Error::config("url", format!("is malformed: {cause}")),
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so a new field cannot be forgotten here.
        let Self {
            pg,
            ssl_mode,
            root_certs,
            accept_invalid_certs,
            password_provider,
            session_reset,
            statement_cache_capacity,
            cancel_timeout,
            target_session: _,
            pgbouncer,
        } = self;
        f.debug_struct("PostgresOptions")
            .field("hosts", &pg.get_hosts())
            .field("ports", &pg.get_ports())
            .field("user", &pg.get_user())
            .field(
                "password",
                &pg.get_password().map(|_| Redacted("<redacted>")),
            )
            .field(
                "password_provider",
                &password_provider.as_ref().map(|_| Redacted("<provider>")),
            )
            .field("dbname", &pg.get_dbname())
            .field("application_name", &pg.get_application_name())
            .field("ssl_mode", ssl_mode)
            .field("root_certs", root_certs)
            .field("accept_invalid_certs", accept_invalid_certs)
            .field("connect_timeout", &pg.get_connect_timeout())
            .field("tcp_user_timeout", &pg.get_tcp_user_timeout())
            .field("keepalives_idle", &pg.get_keepalives_idle())
            .field("session_reset", session_reset)
            .field("cancel_timeout", cancel_timeout)
            .field("statement_cache_capacity", statement_cache_capacity)
            .field("target_session_attrs", &self.target_session())
            .field("pgbouncer", pgbouncer)
            .finish_non_exhaustive()
    }
}

struct Redacted(&'static str);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
