//! [`PostgresTarget`]: adapter-postgres against a real PostgreSQL server.

use adapter_postgres::{PostgresConnection, PostgresConnector, PostgresOptions};
use pool_core::{ConnectionProtocol, Connector, Value, async_trait};

use super::{KILL_SETTLE, POLL, SIDE_CONNECT_TIMEOUT, env_or, redact_url};
use crate::marker::Marker;
use crate::target::{ColumnTypes, ConformanceTarget, Native, SessionVariable};

/// The environment variable with the server's URL.
pub const POSTGRES_URL_ENV: &str = "CONFORMANCE_POSTGRES_URL";

/// The URL used when [`POSTGRES_URL_ENV`] is unset: this machine's server.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The `application_name` of the side sessions that kill and count: never a case's marker.
const ADMIN_APPLICATION_NAME: &str = "conformance-admin";

/// adapter-postgres on the server at a URL. Each pool's sessions carry its marker as
/// `application_name`, so `pg_stat_activity` tells exactly which sessions are the pool's.
#[derive(Debug, Clone)]
pub struct PostgresTarget {
    url: String,
}

impl PostgresTarget {
    /// The server at `CONFORMANCE_POSTGRES_URL`, by default
    /// `postgres://postgres@127.0.0.1:5432/test`.
    pub fn from_env() -> Self {
        Self::new(env_or(POSTGRES_URL_ENV, DEFAULT_URL))
    }

    /// The server at `url` (any connection string adapter-postgres accepts; an
    /// `application_name` in it is replaced by each case's marker).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }

    fn connector_named(&self, application_name: &str) -> pool_core::Result<PostgresConnector> {
        PostgresOptions::from_url(&self.url)?
            .with_application_name(application_name)
            .with_connect_timeout(SIDE_CONNECT_TIMEOUT)
            .build()
    }

    /// Runs `sql` on a fresh side session and returns the first column of its first row.
    async fn admin_scalar(&self, sql: &str, params: &[Value]) -> Result<Value, String> {
        let connector = self
            .connector_named(ADMIN_APPLICATION_NAME)
            .map_err(|e| e.to_string())?;
        let mut admin = connector.connect().await.map_err(|e| e.to_string())?;
        let rows = admin.query(sql, params).await;
        let _ = admin.close().await;
        let rows = rows.map_err(|e| format!("{sql}: {e}"))?;
        rows.first()
            .and_then(|r| r.get(0))
            .cloned()
            .ok_or_else(|| format!("{sql} returned no value"))
    }
}

#[async_trait]
impl ConformanceTarget for PostgresTarget {
    type Connector = PostgresConnector;

    fn name(&self) -> &str {
        "postgres"
    }

    fn location(&self) -> String {
        redact_url(&self.url)
    }

    fn connector(&self, marker: &Marker) -> pool_core::Result<PostgresConnector> {
        self.connector_named(marker.as_str())
    }

    fn column_types(&self) -> ColumnTypes {
        ColumnTypes {
            boolean: "BOOLEAN",
            bigint: "BIGINT",
            double: "DOUBLE PRECISION",
            text: "TEXT",
            blob: "BYTEA",
            table_options: "",
        }
    }

    fn long_query(&self) -> String {
        "SELECT pg_sleep(30)".to_owned()
    }

    /// `pg_terminate_backend` from a side session, then waits until `pg_stat_activity` no
    /// longer lists the backend.
    /// tokio-postgres's `batch_execute` (the simple protocol).
    async fn execute_native(&self, conn: &mut PostgresConnection, sql: &str) -> Result<(), Native> {
        conn.client()
            .batch_execute(sql)
            .await
            .map_err(|e| Native::Failed(e.to_string()))
    }

    async fn kill_session(&self, conn: &mut PostgresConnection) -> Result<(), String> {
        let pid = conn
            .query("SELECT pg_backend_pid()", &[])
            .await
            .map_err(|e| format!("reading the backend pid: {e}"))?
            .first()
            .and_then(|r| r.get(0))
            .and_then(Value::as_i64)
            .ok_or("pg_backend_pid() returned no integer")?;
        let terminated = self
            .admin_scalar("SELECT pg_terminate_backend($1)", &[Value::I64(pid)])
            .await?;
        if terminated != Value::Bool(true) {
            return Err(format!(
                "pg_terminate_backend({pid}) returned {terminated:?}"
            ));
        }
        let deadline = tokio::time::Instant::now() + KILL_SETTLE;
        loop {
            let left = self
                .admin_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                    &[Value::I64(pid)],
                )
                .await?;
            if left.as_i64() == Some(0) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "backend {pid} still listed {KILL_SETTLE:?} after termination"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn session_variable(&self) -> Result<SessionVariable, String> {
        Ok(SessionVariable {
            set: "SET statement_timeout = '4321s'".to_owned(),
            read: "SELECT current_setting('statement_timeout')".to_owned(),
            value: Value::Text("4321s".to_owned()),
        })
    }

    /// Sessions in `pg_stat_activity` whose `application_name` is the marker.
    async fn count_sessions(&self, marker: &Marker) -> Result<Option<usize>, String> {
        let count = self
            .admin_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[Value::Text(marker.as_str().to_owned())],
            )
            .await?;
        count
            .as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("count(*) returned {count:?}"))
    }
}
