//! [`ChaosDb`]: what the chaos scenarios need to know about one database, and its three
//! implementations.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pool_core::{ConnectionProtocol, Connector, Value, async_trait};

use crate::marker::Marker;

/// Which of a pool's sessions to kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sessions {
    /// Sessions running a statement right now.
    Busy,
    /// Sessions waiting for a statement.
    Idle,
    /// All of them.
    All,
}

/// One database as the chaos scenarios drive it. Side sessions (counting, killing) go straight
/// to the server, never through a proxy, and never carry the pool's marker.
#[async_trait]
pub trait ChaosDb: Send + Sync + 'static {
    /// The adapter's connector.
    type Connector: Connector + Clone;

    /// `"postgres"`, `"mysql"`, `"sqlite"`.
    fn name(&self) -> &str;

    /// The real server's TCP address (what a fault proxy forwards to); `None` for an embedded
    /// database.
    fn server_addr(&self) -> Option<SocketAddr>;

    /// A connector whose sessions carry `marker`, connecting to `via` (a fault proxy) instead of
    /// the server when given, with a short connect timeout of its own as a backstop.
    fn connector(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector>;

    /// A connector with the adapter's default options (as a new user gets them from the
    /// database's URL), apart from `marker` naming the pool's sessions so they can be counted
    /// and killed, connecting to `via` (a fault proxy) instead of the server when given.
    fn connector_with_adapter_defaults(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector>;

    /// The adapter's default cancel budget: how long a query-timeout's server-side cancel may
    /// take before the call gives up on it (the connection is then discarded).
    fn cancel_budget(&self) -> Duration;

    /// Runs `sql` through the driver's native client, the way the adapter's documentation
    /// tells an application to (under the pool's query timeout, with the server-side cancel:
    /// `bounded(...)`), discarding any rows.
    async fn native_query(
        &self,
        conn: &mut <Self::Connector as Connector>::Connection,
        sql: &str,
    ) -> pool_core::Result<()>;

    /// A statement that runs for about `ms` milliseconds on the server.
    fn sleep_sql(&self, ms: u64) -> String;

    /// How long the adapter may take beyond the query timeout to give up on a query whose
    /// server stopped answering (its cancel request's own timeout).
    fn cancel_grace(&self) -> Duration;

    /// True when the adapter's `is_broken` notices a session killed while idle without any I/O
    /// of its own (PostgreSQL: the driver's connection task sees the socket close).
    fn notices_idle_kill(&self) -> bool;

    /// Proves the server answers, within a few seconds.
    async fn probe(&self) -> Result<(), String>;

    /// How many of the pool's sessions (made by `connector`, carrying `marker`) the server
    /// lists now; `None` when the database cannot tell.
    async fn count_sessions(
        &self,
        connector: &Self::Connector,
        marker: &Marker,
    ) -> Result<Option<usize>, String>;

    /// Kills the pool's sessions of the given kind from a side session, waits until the server
    /// no longer lists them, and returns how many it killed.
    async fn kill_sessions(
        &self,
        connector: &Self::Connector,
        marker: &Marker,
        which: Sessions,
    ) -> Result<usize, String>;
}

/// Side connections must not hang on a dead server.
const SIDE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a killed session may stay listed.
const KILL_SETTLE: Duration = Duration::from_secs(5);

async fn bounded<T>(
    what: &str,
    fut: impl std::future::Future<Output = pool_core::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(SIDE_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {SIDE_TIMEOUT:?}")),
    }
}

/// PostgreSQL through adapter-postgres; sessions are found by `application_name`.
#[derive(Debug, Clone)]
pub struct PostgresChaos {
    url: String,
    server: SocketAddr,
}

impl PostgresChaos {
    /// The shared server: `CONFORMANCE_POSTGRES_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/test`), which must be on `127.0.0.1`.
    ///
    /// # Panics
    ///
    /// When the URL does not parse or names another host.
    pub fn from_env() -> Self {
        let url = std::env::var(crate::targets::POSTGRES_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let options = adapter_postgres::PostgresOptions::from_url(&url)
            .expect("CONFORMANCE_POSTGRES_URL parses");
        let port = options
            .pg_config()
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432);
        Self::new(url, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The server at `url`, listening on `server` (a throwaway server, say).
    pub fn new(url: impl Into<String>, server: SocketAddr) -> Self {
        Self {
            url: url.into(),
            server,
        }
    }

    fn options(
        &self,
        port: u16,
        name: &str,
    ) -> pool_core::Result<adapter_postgres::PostgresOptions> {
        Ok(adapter_postgres::PostgresOptions::from_url(&self.url)?
            .with_host("127.0.0.1")
            .with_port(port)
            .with_application_name(name)
            .with_connect_timeout(SIDE_TIMEOUT)
            // The query timeout's cancel goes through the same path as the pool's sessions;
            // through a blackhole it must give up quickly.
            .with_cancel_timeout(Duration::from_millis(500)))
    }

    async fn admin(&self, sql: &str, params: &[Value]) -> Result<Vec<pool_core::Row>, String> {
        let connector = self
            .options(self.server.port(), "chaos-admin")
            .and_then(|o| o.build())
            .map_err(|e| e.to_string())?;
        let mut admin = bounded("connecting the side session", connector.connect()).await?;
        let rows = bounded(sql, admin.query(sql, params)).await;
        let _ = tokio::time::timeout(SIDE_TIMEOUT, admin.close()).await;
        rows
    }
}

#[async_trait]
impl ChaosDb for PostgresChaos {
    type Connector = adapter_postgres::PostgresConnector;

    fn name(&self) -> &str {
        "postgres"
    }

    fn server_addr(&self) -> Option<SocketAddr> {
        Some(self.server)
    }

    fn connector(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector> {
        let port = via.unwrap_or(self.server).port();
        self.options(port, marker.as_str())?.build()
    }

    fn connector_with_adapter_defaults(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector> {
        let port = via.unwrap_or(self.server).port();
        adapter_postgres::PostgresOptions::from_url(&self.url)?
            .with_host("127.0.0.1")
            .with_port(port)
            .with_application_name(marker.as_str())
            .build()
    }

    fn cancel_budget(&self) -> Duration {
        adapter_postgres::PostgresOptions::new().cancel_timeout()
    }

    async fn native_query(
        &self,
        conn: &mut adapter_postgres::PostgresConnection,
        sql: &str,
    ) -> pool_core::Result<()> {
        conn.bounded(async |client| client.simple_query(sql).await.map(drop))
            .await
    }

    fn sleep_sql(&self, ms: u64) -> String {
        format!("SELECT pg_sleep({})", ms as f64 / 1000.0)
    }

    fn cancel_grace(&self) -> Duration {
        // with_cancel_timeout above: the budget for all the work a query timeout sets off.
        Duration::from_millis(500)
    }

    fn notices_idle_kill(&self) -> bool {
        true
    }

    async fn probe(&self) -> Result<(), String> {
        self.admin("SELECT 1", &[]).await.map(drop)
    }

    async fn count_sessions(
        &self,
        _connector: &Self::Connector,
        marker: &Marker,
    ) -> Result<Option<usize>, String> {
        let rows = self
            .admin(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[Value::Text(marker.as_str().to_owned())],
            )
            .await?;
        let n = rows
            .first()
            .and_then(|r| r.get(0))
            .and_then(Value::as_i64)
            .ok_or("count(*) returned no integer")?;
        Ok(Some(n as usize))
    }

    async fn kill_sessions(
        &self,
        _connector: &Self::Connector,
        marker: &Marker,
        which: Sessions,
    ) -> Result<usize, String> {
        let filter = match which {
            Sessions::Busy => " AND state = 'active'",
            Sessions::Idle => " AND state = 'idle'",
            Sessions::All => "",
        };
        let rows = self
            .admin(
                &format!(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1{filter}"
                ),
                &[Value::Text(marker.as_str().to_owned())],
            )
            .await?;
        let pids: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.get(0).and_then(Value::as_i64))
            .collect();
        let deadline = tokio::time::Instant::now() + KILL_SETTLE;
        for pid in &pids {
            loop {
                let left = self
                    .admin(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                        &[Value::I64(*pid)],
                    )
                    .await?;
                if left.first().and_then(|r| r.get(0)).and_then(Value::as_i64) == Some(0) {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("backend {pid} still listed after termination"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(pids.len())
    }
}

/// MySQL/MariaDB through adapter-mysql; a pool's sessions are the ids its connector recorded.
#[derive(Debug, Clone)]
pub struct MysqlChaos {
    url: String,
    server: SocketAddr,
}

impl MysqlChaos {
    /// The shared server: `CONFORMANCE_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`),
    /// which must be on `127.0.0.1`.
    ///
    /// # Panics
    ///
    /// When the URL does not parse.
    pub fn from_env() -> Self {
        let url = std::env::var(crate::targets::MYSQL_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/test".to_owned());
        let options =
            adapter_mysql::MysqlOptions::from_url(&url).expect("CONFORMANCE_MYSQL_URL parses");
        let port = options.port();
        Self::new(url, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The server at `url`, listening on `server` (a throwaway server, say).
    pub fn new(url: impl Into<String>, server: SocketAddr) -> Self {
        Self {
            url: url.into(),
            server,
        }
    }

    fn options(&self, port: u16) -> pool_core::Result<adapter_mysql::MysqlOptions> {
        Ok(adapter_mysql::MysqlOptions::from_url(&self.url)?
            .with_port(port)
            .with_connect_timeout(Some(SIDE_TIMEOUT))
            // The query timeout's KILL QUERY goes through the same path as the pool's sessions;
            // through a blackhole it must give up quickly.
            .with_cancel_timeout(Duration::from_millis(500)))
    }

    async fn admin(&self, sql: &str) -> Result<Vec<pool_core::Row>, String> {
        let connector = adapter_mysql::MysqlConnector::new(
            self.options(self.server.port())
                .map_err(|e| e.to_string())?,
        );
        let mut admin = bounded("connecting the side session", connector.connect()).await?;
        let rows = bounded(sql, admin.query(sql, &[])).await;
        let _ = tokio::time::timeout(SIDE_TIMEOUT, admin.close()).await;
        rows
    }
}

#[async_trait]
impl ChaosDb for MysqlChaos {
    type Connector = adapter_mysql::MysqlConnector;

    fn name(&self) -> &str {
        "mysql"
    }

    fn server_addr(&self) -> Option<SocketAddr> {
        Some(self.server)
    }

    fn connector(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector> {
        let port = via.unwrap_or(self.server).port();
        Ok(adapter_mysql::MysqlConnector::new(
            self.options(port)?.with_program_name(marker.as_str()),
        ))
    }

    fn connector_with_adapter_defaults(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector> {
        let port = via.unwrap_or(self.server).port();
        Ok(adapter_mysql::MysqlConnector::new(
            adapter_mysql::MysqlOptions::from_url(&self.url)?
                .with_port(port)
                .with_program_name(marker.as_str()),
        ))
    }

    fn cancel_budget(&self) -> Duration {
        adapter_mysql::MysqlOptions::new().cancel_timeout()
    }

    async fn native_query(
        &self,
        conn: &mut adapter_mysql::MysqlConnection,
        sql: &str,
    ) -> pool_core::Result<()> {
        use adapter_mysql::mysql_async::prelude::Queryable;
        conn.bounded(async |db| db.query_drop(sql).await).await
    }

    fn sleep_sql(&self, ms: u64) -> String {
        format!("SELECT SLEEP({})", ms as f64 / 1000.0)
    }

    fn cancel_grace(&self) -> Duration {
        // with_cancel_timeout above.
        Duration::from_millis(500)
    }

    fn notices_idle_kill(&self) -> bool {
        false
    }

    async fn probe(&self) -> Result<(), String> {
        self.admin("SELECT 1").await.map(drop)
    }

    async fn count_sessions(
        &self,
        connector: &Self::Connector,
        _marker: &Marker,
    ) -> Result<Option<usize>, String> {
        let ids = connector.session_ids();
        if ids.is_empty() {
            return Ok(Some(0));
        }
        let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        // Only the pool's own sessions: the adapter's short-lived cancel sessions run KILL QUERY.
        let rows = self
            .admin(&format!(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID IN ({list}) \
                 AND (INFO IS NULL OR INFO NOT LIKE 'KILL QUERY%')"
            ))
            .await?;
        let n = rows
            .first()
            .and_then(|r| r.get(0))
            .and_then(Value::as_i64)
            .ok_or("count(*) returned no integer")?;
        Ok(Some(n as usize))
    }

    async fn kill_sessions(
        &self,
        connector: &Self::Connector,
        _marker: &Marker,
        which: Sessions,
    ) -> Result<usize, String> {
        let ids = connector.session_ids();
        if ids.is_empty() {
            return Ok(0);
        }
        let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let filter = match which {
            Sessions::Busy => " AND COMMAND = 'Query'",
            Sessions::Idle => " AND COMMAND = 'Sleep'",
            Sessions::All => "",
        };
        let rows = self
            .admin(&format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN ({list}){filter}"
            ))
            .await?;
        let victims: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.get(0).and_then(Value::as_i64))
            .collect();
        for id in &victims {
            // Gone already (ended on its own) is fine.
            let _ = self.admin(&format!("KILL CONNECTION {id}")).await;
        }
        let deadline = tokio::time::Instant::now() + KILL_SETTLE;
        for id in &victims {
            loop {
                let left = self
                    .admin(&format!(
                        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"
                    ))
                    .await?;
                if left.first().and_then(|r| r.get(0)).and_then(Value::as_i64) == Some(0) {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("session {id} still listed after KILL"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(victims.len())
    }
}

/// SQLite through adapter-sqlite, on a file in a temporary directory: no server, so nothing to
/// proxy, kill or count; the scenarios that apply check the pool's own accounting.
#[derive(Debug)]
pub struct SqliteChaos {
    dir: tempfile::TempDir,
}

impl SqliteChaos {
    /// A fresh temporary directory for the database files.
    ///
    /// # Panics
    ///
    /// When no temporary directory can be made.
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("conformance-chaos-sqlite-")
                .tempdir()
                .expect("a temporary directory"),
        }
    }

    fn file(&self, marker: &Marker) -> PathBuf {
        self.dir.path().join(format!("{marker}.db"))
    }
}

impl Default for SqliteChaos {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl ChaosDb for SqliteChaos {
    type Connector = adapter_sqlite::SqliteConnector;

    fn name(&self) -> &str {
        "sqlite"
    }

    fn server_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn connector(
        &self,
        _via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector> {
        adapter_sqlite::SqliteConnector::from_url(&format!(
            "sqlite://{}",
            self.file(marker).display()
        ))
    }

    fn connector_with_adapter_defaults(
        &self,
        via: Option<SocketAddr>,
        marker: &Marker,
    ) -> pool_core::Result<Self::Connector> {
        // `connector` sets nothing beyond the file already.
        self.connector(via, marker)
    }

    fn cancel_budget(&self) -> Duration {
        // `sqlite3_interrupt` is a flag the running statement checks: no side connection.
        Duration::ZERO
    }

    async fn native_query(
        &self,
        conn: &mut adapter_sqlite::SqliteConnection,
        sql: &str,
    ) -> pool_core::Result<()> {
        let sql = sql.to_owned();
        conn.with_native(move |c| -> adapter_sqlite::rusqlite::Result<()> {
            let mut statement = c.prepare(&sql)?;
            let mut rows = statement.query([])?;
            while rows.next()?.is_some() {}
            Ok(())
        })
        .await?
        .map_err(|e| pool_core::Error::Backend(pool_core::BackendError::query(e)))
    }

    fn sleep_sql(&self, ms: u64) -> String {
        // No sleep function: a recursive count that takes roughly that long here.
        format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) \
             SELECT count(*) FROM c",
            ms * 5_000
        )
    }

    fn cancel_grace(&self) -> Duration {
        Duration::ZERO
    }

    fn notices_idle_kill(&self) -> bool {
        false
    }

    async fn probe(&self) -> Result<(), String> {
        let connector = self
            .connector(None, &Marker::unique("probe"))
            .map_err(|e| e.to_string())?;
        let mut conn = connector.connect().await.map_err(|e| e.to_string())?;
        let result = conn.ping().await.map_err(|e| e.to_string());
        let _ = conn.close().await;
        result
    }

    async fn count_sessions(
        &self,
        _connector: &Self::Connector,
        _marker: &Marker,
    ) -> Result<Option<usize>, String> {
        Ok(None)
    }

    async fn kill_sessions(
        &self,
        _connector: &Self::Connector,
        _marker: &Marker,
        _which: Sessions,
    ) -> Result<usize, String> {
        Err("an embedded database has no sessions to kill from outside".to_owned())
    }
}
