//! [`PostgresConnector`]: opens [`PostgresConnection`]s for a pool.

use std::fmt;
use std::sync::Arc;

use pool_core::{BackendError, Connector, Error, Result, async_trait};
use tokio::task::JoinHandle;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::cancel;
use crate::connection::PostgresConnection;
use crate::dial::{self, Target};
use crate::error::classify_connect;
use crate::options::{PostgresOptions, SslMode};
use crate::session_target::Requirement;
use crate::tls::{self, MakeRustls, TrackedTls};
use crate::wire::{SessionTracker, Tracked};

/// Opens PostgreSQL connections; hand one to a pool. Build it with
/// [`from_url`](Self::from_url) or [`PostgresOptions::build`].
///
/// Each [`connect`](Connector::connect) asks the password provider (if any) for a fresh
/// password, opens the socket with the configured keepalives and timeouts, negotiates TLS as
/// the [`SslMode`] says and spawns the connection's I/O task on the current tokio runtime. It
/// then reads the backend's process id and start time (one query), which a query timeout
/// needs to cancel the statement from a side connection; that side connection is opened the
/// same way (the password provider is asked again), named `"<application_name> (cancel)"`.
/// Behind PgBouncer ([`PgbouncerMode`](crate::PgbouncerMode)) it reads nothing: a query
/// timeout then cancels with the protocol cancel request, which PgBouncer forwards.
#[derive(Clone)]
pub struct PostgresConnector {
    options: Arc<PostgresOptions>,
    tls: MakeRustls,
}

impl PostgresConnector {
    /// Parses a connection string (see the crate documentation) and builds a connector with
    /// every default.
    ///
    /// ```
    /// # use adapter_postgres::PostgresConnector;
    /// let connector = PostgresConnector::from_url("postgres://app:secret@db.internal:5432/shop")?;
    /// assert!(!format!("{connector:?}").contains("secret"));
    /// # Ok::<(), pool_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        PostgresOptions::from_url(url)?.build()
    }

    /// Called by [`PostgresOptions::build`] after validation: loads the TLS roots.
    pub(crate) fn new(mut options: PostgresOptions) -> Result<Self> {
        let config = tls::client_config(
            options.ssl_mode,
            &options.root_certs,
            options.accept_invalid_certs,
        )?;
        options.pg.ssl_mode(match options.ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        Ok(Self {
            options: Arc::new(options),
            tls: MakeRustls::new(config),
        })
    }

    /// The options connections are opened with.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// Where and how connections go, for error messages: never the password.
    fn describe_target(&self) -> String {
        let pg = &self.options.pg;
        let hosts = pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = pg
                    .get_ports()
                    .get(i)
                    .or_else(|| pg.get_ports().first())
                    .copied()
                    .unwrap_or(5432);
                match host {
                    Host::Tcp(name) => format!("{name}:{port}"),
                    #[cfg(unix)]
                    Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        format!(
            "{hosts} as user `{}` with sslmode={}",
            pg.get_user().unwrap_or_default(),
            self.options.ssl_mode.as_str()
        )
    }

    /// A hint for the connect failures people meet most, keyed on the driver's message.
    fn hint(&self, message: &str) -> Option<String> {
        let mode = self.options.ssl_mode.as_str();
        if message.contains("server does not support TLS") {
            return Some(format!(
                "the server does not accept TLS, but sslmode={mode} requires it: enable ssl on \
                 the server, or use sslmode=prefer or disable if plain TCP is acceptable"
            ));
        }
        if message.contains("not valid for name") {
            return Some(
                "the certificate does not name the host connected to: connect by a name the \
                 certificate lists, or use sslmode=verify-ca to check the chain only"
                    .to_owned(),
            );
        }
        if message.contains("invalid peer certificate") {
            let extra = if self.options.ssl_mode == SslMode::Require {
                " (unlike libpq, sslmode=require verifies the certificate here)"
            } else {
                ""
            };
            return Some(format!(
                "the server's certificate did not verify against the trusted roots ({:?}){extra}: \
                 point sslrootcert at the CA that signed it",
                self.options.root_certs
            ));
        }
        None
    }
}

#[async_trait]
impl Connector for PostgresConnector {
    type Connection = PostgresConnection;

    async fn connect(&self) -> Result<PostgresConnection> {
        let opened = self.open(self.options.pg.clone()).await?;
        // One round trip, so a query timeout can cancel through a side connection that cannot
        // signal the wrong backend (see the `cancel` module). Behind PgBouncer the backend
        // is whichever server connection answered, so the identity would be a stranger's.
        let identity = if self.options.pgbouncer.is_on() {
            None
        } else {
            cancel::identify(&opened.client).await
        };
        opened.tracker.answered_all();
        Ok(PostgresConnection::new(opened, identity, self.clone()))
    }
}

impl PostgresConnector {
    /// Opens a session with `config` (the options' own, or a side connection's variant of
    /// them): asks the password provider, dials the hosts in turn (see the `dial` module),
    /// negotiates TLS, spawns the I/O task and checks `target_session_attrs` (a pass over the
    /// hosts per requirement: `prefer-standby` makes two). The error of the last host tried
    /// is returned.
    pub(crate) async fn open(&self, mut config: tokio_postgres::Config) -> Result<Opened> {
        if let Some(provider) = &self.options.password_provider {
            let password = provider.fetch().await.map_err(|e| {
                Error::Connect(BackendError::connection(format!(
                    "the password provider failed: {e}"
                )))
            })?;
            config.password(password.expose());
        }
        let targets = dial::targets(&config).await.map_err(|e| {
            Error::Connect(BackendError::connection(format!(
                "{}: {e}",
                self.describe_target()
            )))
        })?;
        let mut last_error = None;
        for &requirement in self.options.target_session().passes() {
            for target in &targets {
                match self.open_at(&config, target.clone(), requirement).await {
                    Ok(opened) => return Ok(opened),
                    Err(e) => last_error = Some(e),
                }
            }
        }
        Err(last_error.expect("dial::targets returns at least one target"))
    }

    /// Opens a session at one address and keeps it if it meets `requirement`.
    async fn open_at(
        &self,
        config: &tokio_postgres::Config,
        target: Target,
        requirement: Requirement,
    ) -> Result<Opened> {
        let dial_failed = |e: std::io::Error| {
            Error::Connect(BackendError::connection(format!(
                "{} (at {}): error connecting to server: {e}",
                self.describe_target(),
                target.address
            )))
        };
        let socket = dial::dial(&target.address, config)
            .await
            .map_err(dial_failed)?;
        let tracker = Arc::new(SessionTracker::new());
        let tls = MakeTlsConnect::<dial::Plain>::make_tls_connect(
            &mut self.tls.clone(),
            target.hostname.as_deref().unwrap_or(""),
        )
        .map_err(|e| {
            Error::Connect(BackendError::connection(format!(
                "{}: {e}",
                self.describe_target()
            )))
        })?;
        let startup = config.connect_raw(Tracked::new(socket, tracker.clone()), TrackedTls(tls));
        // tokio-postgres bounds only the TCP connect; the options promise the handshake too.
        let limit = config.get_connect_timeout().copied();
        let opened = match limit {
            Some(limit) => tokio::time::timeout(limit, startup).await.map_err(|_| {
                Error::Connect(BackendError::connection(format!(
                    "{} (at {}): the startup handshake took longer than the connect timeout \
                     ({limit:?})",
                    self.describe_target(),
                    target.address
                )))
            })?,
            None => startup.await,
        };
        let (client, connection) = opened.map_err(|e| {
            let hint = self.hint(&crate::error::render(&e));
            Error::Connect(classify_connect(e, Some(self.describe_target()), hint))
        })?;
        let io_task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a postgres connection ended with an error");
            }
        });
        let opened = Opened {
            client,
            io_task,
            tracker,
            target,
        };
        opened.check_requirement(requirement).await?;
        Ok(opened)
    }

    /// The TLS factory, also for the TLS connection of a cancel request.
    pub(crate) fn tls(&self) -> MakeRustls {
        self.tls.clone()
    }
}

/// A session just opened, with what the connection keeps of how it was opened.
pub(crate) struct Opened {
    pub(crate) client: Client,
    pub(crate) io_task: JoinHandle<()>,
    /// Watches the session's traffic (see the `wire` module).
    pub(crate) tracker: Arc<SessionTracker>,
    /// Where it was opened: a protocol cancel request goes to the same address.
    pub(crate) target: Target,
}

impl Opened {
    /// Checks one `target_session_attrs` requirement with one round trip (none for `any`).
    /// A session that fails it is dropped (its I/O task sends Terminate).
    async fn check_requirement(&self, requirement: Requirement) -> Result<()> {
        let Some((query, wanted)) = requirement.check() else {
            return Ok(());
        };
        let messages = self
            .client
            .simple_query(query)
            .await
            .map_err(|e| Error::Connect(classify_connect(e, None, None)))?;
        let value = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        if value.as_deref() == Some(wanted) {
            return Ok(());
        }
        Err(Error::Connect(BackendError::connection(format!(
            "{} (target_session_attrs): {}",
            self.target.address,
            requirement.refusal()
        ))))
    }
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnector")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
