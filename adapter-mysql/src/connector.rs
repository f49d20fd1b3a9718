//! [`MysqlConnector`]: opens connections, and the side connections that cancel queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, DriverError, Opts, SslOpts};
use pool_core::{BackendError, Connector, Error, Result, async_trait};

use crate::connection::MysqlConnection;
use crate::error::{classify, classify_connect};
use crate::incarnation::{self, Incarnation};
use crate::options::MysqlOptions;
use crate::sessions::SessionRegistry;
use crate::tls::TlsPlan;

/// Opens MySQL/MariaDB connections for a pool. Cheap to clone: clones share the options and the
/// record of opened sessions.
///
/// ```no_run
/// use adapter_mysql::MysqlConnector;
/// use pool_core::{ConnectionProtocol, Connector};
///
/// # async fn run() -> pool_core::Result<()> {
/// let connector = MysqlConnector::from_url("mysql://root@127.0.0.1/test")?;
/// let mut connection = connector.connect().await?;
/// let rows = connection.query("SELECT ? + 1", &[41.into()]).await?;
/// assert_eq!(rows[0].get(0).and_then(|v| v.as_i64()), Some(42));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MysqlConnector {
    shared: Arc<Shared>,
}

/// What a connector and its connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: MysqlOptions,
    sessions: SessionRegistry,
    /// Set when `ssl_mode=preferred` found that the server offers no TLS: later connects go
    /// straight to plain TCP instead of paying (and making the server log) a second handshake.
    server_without_tls: AtomicBool,
}

impl MysqlConnector {
    /// A connector with these options.
    pub fn new(options: MysqlOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                options,
                sessions: SessionRegistry::default(),
                server_without_tls: AtomicBool::new(false),
            }),
        }
    }

    /// A connector for a `mysql://` URL; see [`MysqlOptions::from_url`].
    pub fn from_url(url: &str) -> Result<Self> {
        MysqlOptions::from_url(url).map(Self::new)
    }

    /// The options connections are opened with.
    pub fn options(&self) -> &MysqlOptions {
        &self.shared.options
    }

    /// Ids (`CONNECTION_ID()`) of the server sessions this connector opened, pool connections
    /// and cancel side connections alike, except those [`live_session_ids`](Self::live_session_ids)
    /// found gone.
    pub fn session_ids(&self) -> Vec<u32> {
        self.shared.sessions.snapshot()
    }

    /// Asks the server which of this connector's sessions are still open (through a side
    /// connection that is not counted), and forgets the others.
    ///
    /// After a pool is closed this should become empty: the way to check that no session leaked.
    pub async fn live_session_ids(&self) -> Result<Vec<u32>> {
        let checked = self.shared.sessions.snapshot();
        if checked.is_empty() {
            return Ok(Vec::new());
        }
        let mut side = self.shared.open(false).await?;
        let list = checked
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let live: Result<Vec<u32>> = side
            .query(format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN ({list})"
            ))
            .await
            .map_err(|e| Error::Backend(classify(e)));
        let _ = side.disconnect().await;
        let live = live?;
        self.shared.sessions.retain_live(&checked, &live);
        Ok(live)
    }
}

#[async_trait]
impl Connector for MysqlConnector {
    type Connection = MysqlConnection;

    async fn connect(&self) -> Result<MysqlConnection> {
        let mut conn = self.shared.open(true).await?;
        // One round trip, so a later KILL from a side connection can check it reaches the
        // same server process (see the `incarnation` module).
        let at = incarnation::read(&mut conn).await;
        Ok(MysqlConnection::new(conn, at, Arc::clone(&self.shared)))
    }
}

impl Shared {
    /// Opens one session: asks the provider for the password, applies the TLS plan and the
    /// connect timeout, and records the session id when `record` is set.
    pub(crate) async fn open(&self, record: bool) -> Result<Conn> {
        let connect = async {
            let password = self.options.current_password().await.map_err(|e| {
                Error::Connect(BackendError::connection(format!(
                    "the password provider failed: {e}"
                )))
            })?;
            match self.options.tls().plan()? {
                TlsPlan::Plain => self.connect_with(password, None).await,
                TlsPlan::Required(ssl) => self.connect_with(password, Some(ssl)).await,
                TlsPlan::Opportunistic(_) if self.server_without_tls.load(Ordering::Relaxed) => {
                    self.connect_with(password, None).await
                }
                TlsPlan::Opportunistic(ssl) => {
                    match Conn::new(self.driver_opts(password.clone(), Some(ssl))).await {
                        Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)) => {
                            self.server_without_tls.store(true, Ordering::Relaxed);
                            self.connect_with(password, None).await
                        }
                        other => other.map_err(|e| self.connect_error(e)),
                    }
                }
            }
        };
        let conn = match self.options.connect_timeout() {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .map_err(|_| Error::ConnectTimeout(limit))??,
            None => connect.await?,
        };
        if record {
            self.sessions.opened(conn.id());
        }
        Ok(conn)
    }

    async fn connect_with(&self, password: Option<String>, ssl: Option<SslOpts>) -> Result<Conn> {
        Conn::new(self.driver_opts(password, ssl))
            .await
            .map_err(|e| self.connect_error(e))
    }

    fn connect_error(&self, error: mysql_async::Error) -> Error {
        Error::Connect(classify_connect(error, self.options.describe_target()))
    }

    fn driver_opts(&self, password: Option<String>, ssl: Option<SslOpts>) -> Opts {
        self.options.driver_opts(password, ssl)
    }

    /// Interrupts the statement running on session `id`, through a side connection.
    pub(crate) async fn kill_query(&self, id: u32, at: Option<Incarnation>) -> Result<()> {
        self.kill(format!("KILL QUERY {id}"), at).await
    }

    /// Ends session `id` on the server, through a side connection: for a connection whose
    /// statement was abandoned halfway, which `COM_QUIT` would only reach after the statement
    /// finished on its own.
    pub(crate) async fn kill_connection(&self, id: u32, at: Option<Incarnation>) -> Result<()> {
        self.kill(format!("KILL CONNECTION {id}"), at).await
    }

    /// Sends `statement` from a side connection, but only to the server process that opened
    /// the session (`at`): after a restart, session ids start again from 1 and the id may now
    /// be someone else's.
    async fn kill(&self, statement: String, at: Option<Incarnation>) -> Result<()> {
        let refused = |why: &str| {
            Err(Error::Backend(BackendError::connection(format!(
                "not sending `{statement}`: {why}"
            ))))
        };
        let Some(expected) = at else {
            return refused("the session's server process is unknown");
        };
        let mut side = self.open(true).await?;
        let killed = match incarnation::read(&mut side).await {
            Some(found) if found.same_as(expected) => side
                .query_drop(&statement)
                .await
                .map_err(|e| Error::Backend(classify(e))),
            Some(_) => refused("the server restarted since the session opened"),
            None => refused("the side connection could not tell which server process it reached"),
        };
        let _ = side.disconnect().await;
        killed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_options_but_not_the_password() {
        let connector = MysqlConnector::from_url("mysql://app:hunter2@db/shop").unwrap();
        let debug = format!("{connector:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("db") && debug.contains("app"), "{debug}");
    }

    #[test]
    fn clones_share_the_session_record() {
        let connector = MysqlConnector::from_url("mysql://app@db/shop").unwrap();
        let clone = connector.clone();
        connector.shared.sessions.opened(42);
        assert_eq!(clone.session_ids(), vec![42]);
    }
}
