//! [`PgbouncerTarget`]: adapter-postgres through a throwaway PgBouncer in transaction mode.

use std::sync::Arc;

use adapter_postgres::tokio_postgres::SimpleQueryMessage;
use adapter_postgres::{PostgresConnection, PostgresConnector, PostgresOptions};
use pool_core::{ConnectionProtocol, Connector, async_trait};

use super::{PostgresTarget, SIDE_CONNECT_TIMEOUT};
use crate::marker::Marker;
use crate::target::{ColumnTypes, ConformanceTarget, Native, SessionVariable};
use crate::throwaway::{PoolMode, ThrowawayPgbouncer};

/// Server connections PgBouncer may open: more than any case's pools and side sessions hold
/// at once, fewer than the throwaway server's `max_connections`.
const POOL_SIZE: u32 = 20;

/// The reason the cases that carry session state from one holder to the next do not apply.
const NO_SESSION_STATE: &str = "PgBouncer in transaction mode keeps no session between \
    transactions: a temporary table or session variable stays on whichever server connection \
    ran it, not with the client, and the adapter (pgbouncer=transaction) leaves the server \
    sessions to PgBouncer's own reset";

/// adapter-postgres with `pgbouncer=transaction`, through a PgBouncer (transaction mode) of its
/// own in front of a PostgreSQL of its own, both started by [`start`](Self::start) and stopped
/// when the target is dropped. Sessions are the clients PgBouncer lists (`SHOW CLIENTS`, by
/// `application_name`); a session is killed with PgBouncer's `KILL` (then `RESUME`), which
/// ends every client connection of the database, the way an operator would end them.
#[derive(Debug, Clone)]
pub struct PgbouncerTarget {
    bouncer: Result<Arc<ThrowawayPgbouncer>, String>,
    /// The postgres target, pointed at PgBouncer with the adapter's setting.
    postgres: PostgresTarget,
}

impl PgbouncerTarget {
    /// Starts the throwaway PostgreSQL and PgBouncer (blocking, a few seconds: call it from
    /// `spawn_blocking` inside a runtime). When they cannot start (PgBouncer not installed:
    /// `cargo xtask services`), the target's probe fails with the reason, so every case is
    /// skipped, and `--require pgbouncer` fails the run.
    pub fn start() -> Self {
        let bouncer = ThrowawayPgbouncer::start(PoolMode::Transaction, POOL_SIZE).map(Arc::new);
        let url = match &bouncer {
            Ok(bouncer) => format!("{}&pgbouncer=transaction", bouncer.url()),
            Err(_) => "postgres://postgres@127.0.0.1:1/postgres?pgbouncer=transaction".to_owned(),
        };
        Self {
            bouncer,
            postgres: PostgresTarget::new(url),
        }
    }

    fn bouncer(&self) -> Result<&ThrowawayPgbouncer, String> {
        self.bouncer
            .as_deref()
            .map_err(|e| format!("the throwaway PgBouncer did not start: {e}"))
    }

    /// Runs `sql` on PgBouncer's admin console (database `pgbouncer`) and returns its rows,
    /// each as (column name, value) pairs.
    async fn console(&self, sql: &str) -> Result<Vec<Vec<(String, String)>>, String> {
        let url = self.bouncer()?.url().replace("/postgres?", "/pgbouncer?");
        let connector: PostgresConnector = PostgresOptions::from_url(&url)
            .and_then(|o| {
                o.with_pgbouncer(adapter_postgres::PgbouncerMode::Transaction)
                    .with_application_name("conformance-admin")
                    .with_connect_timeout(SIDE_CONNECT_TIMEOUT)
                    .build()
            })
            .map_err(|e| e.to_string())?;
        let mut console = connector.connect().await.map_err(|e| e.to_string())?;
        let messages = console.client().simple_query(sql).await;
        let _ = console.close().await;
        let messages = messages.map_err(|e| format!("{sql}: {e}"))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name().to_owned(), row.get(i).unwrap_or("").to_owned()))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// PgBouncer's client connections whose `application_name` is `name`.
    async fn clients_named(&self, name: &str) -> Result<usize, String> {
        let clients = self.console("SHOW CLIENTS").await?;
        Ok(clients
            .iter()
            .filter(|row| {
                row.iter()
                    .any(|(column, value)| column == "application_name" && value == name)
            })
            .count())
    }
}

#[async_trait]
impl ConformanceTarget for PgbouncerTarget {
    type Connector = PostgresConnector;

    fn name(&self) -> &str {
        "pgbouncer"
    }

    fn location(&self) -> String {
        match &self.bouncer {
            Ok(bouncer) => format!(
                "{} (PgBouncer, transaction mode, in front of PostgreSQL on port {})",
                self.postgres.location(),
                bouncer.postgres().port()
            ),
            Err(_) => "a throwaway PgBouncer (not started)".to_owned(),
        }
    }

    async fn probe(&self) -> Result<(), String> {
        self.bouncer()?;
        let connector = self
            .connector(&Marker::unique("probe"))
            .map_err(|e| e.to_string())?;
        let mut conn = connector.connect().await.map_err(|e| e.to_string())?;
        let ping = conn.ping().await.map_err(|e| e.to_string());
        let _ = conn.close().await;
        ping
    }

    fn connector(&self, marker: &Marker) -> pool_core::Result<PostgresConnector> {
        self.postgres.connector(marker)
    }

    fn column_types(&self) -> ColumnTypes {
        self.postgres.column_types()
    }

    fn long_query(&self) -> String {
        self.postgres.long_query()
    }

    async fn execute_native(&self, conn: &mut PostgresConnection, sql: &str) -> Result<(), Native> {
        self.postgres.execute_native(conn, sql).await
    }

    /// PgBouncer's `KILL` of the database (every client connection to it, and its server
    /// connections), then `RESUME`, so new connections are accepted again: PgBouncer 1.18 has
    /// no command that ends one client connection. Returns once PgBouncer lists no client
    /// with the connection's `application_name`.
    async fn kill_session(&self, conn: &mut PostgresConnection) -> Result<(), String> {
        let name = conn
            .client()
            .simple_query("SELECT current_setting('application_name')")
            .await
            .map_err(|e| format!("reading application_name: {e}"))?
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or("application_name: no row")?;
        self.console("KILL postgres").await?;
        self.console("RESUME postgres").await?;
        let deadline = tokio::time::Instant::now() + super::KILL_SETTLE;
        while self.clients_named(&name).await? > 0 {
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "PgBouncer still lists a client named {name} {:?} after KILL",
                    super::KILL_SETTLE
                ));
            }
            tokio::time::sleep(super::POLL).await;
        }
        Ok(())
    }

    fn session_variable(&self) -> Result<SessionVariable, String> {
        Err(NO_SESSION_STATE.to_owned())
    }

    /// Client connections PgBouncer lists with the marker as `application_name`: the pool's
    /// sessions are its connections to PgBouncer.
    async fn count_sessions(&self, marker: &Marker) -> Result<Option<usize>, String> {
        self.clients_named(marker.as_str()).await.map(Some)
    }

    fn not_applicable(&self) -> Vec<(&'static str, String)> {
        [
            "temporary_table_does_not_survive_reset",
            "session_variable_does_not_survive_reset",
            "temporary_table_made_through_the_native_client_does_not_survive_reset",
            "session_variable_set_through_the_native_client_does_not_survive_reset",
        ]
        .into_iter()
        .map(|case| (case, NO_SESSION_STATE.to_owned()))
        .collect()
    }
}
