//! [`PostgresConnector`]: opens [`PostgresConnection`]s for a pool.

use std::fmt;
use std::sync::Arc;

use pool_core::{BackendError, Connector, Error, Result, async_trait};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_postgres::config::Host;

use crate::cancel;
use crate::connection::PostgresConnection;
use crate::error::classify_with_context;
use crate::options::{PostgresOptions, SslMode};
use crate::tls::{self, MakeRustls};

/// Opens PostgreSQL connections; hand one to a pool. Build it with
/// [`from_url`](Self::from_url) or [`PostgresOptions::build`].
///
/// Each [`connect`](Connector::connect) asks the password provider (if any) for a fresh
/// password, opens the socket with the configured keepalives and timeouts, negotiates TLS as
/// the [`SslMode`] says and spawns the connection's I/O task on the current tokio runtime. It
/// then reads the backend's process id and start time (one query), which a query timeout
/// needs to cancel the statement from a side connection; that side connection is opened the
/// same way (the password provider is asked again), named `"<application_name> (cancel)"`.
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
        let (client, io_task) = self.open(self.options.pg.clone()).await?;
        // One round trip, so a query timeout can cancel through a side connection that cannot
        // signal the wrong backend (see the `cancel` module).
        let identity = cancel::identify(&client).await;
        Ok(PostgresConnection::new(
            client,
            io_task,
            identity,
            self.clone(),
        ))
    }
}

impl PostgresConnector {
    /// Opens a session with `config` (the options' own, or a side connection's variant of
    /// them): asks the password provider, negotiates TLS and spawns the I/O task.
    pub(crate) async fn open(
        &self,
        mut config: tokio_postgres::Config,
    ) -> Result<(Client, JoinHandle<()>)> {
        if let Some(provider) = &self.options.password_provider {
            let password = provider().await.map_err(|e| {
                Error::Connect(BackendError::connection(format!(
                    "the password provider failed: {e}"
                )))
            })?;
            config.password(password);
        }
        let (client, connection) = config.connect(self.tls.clone()).await.map_err(|e| {
            let hint = self.hint(&crate::error::render(&e));
            Error::Connect(classify_with_context(e, Some(self.describe_target()), hint))
        })?;
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a postgres connection ended with an error");
            }
        });
        Ok((client, task))
    }

    /// The TLS factory, also for the TLS connection of a cancel request.
    pub(crate) fn tls(&self) -> MakeRustls {
        self.tls.clone()
    }
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnector")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
