//! PostgreSQL: `SELECT 1` through each contender.

use adapter_postgres::PostgresConnector;
use adapter_postgres::tokio_postgres::{self, Client, NoTls, Statement};
use pool_core::{ConnectionProtocol, Connector, Pool, PoolConfig};
use tokio::sync::Mutex;

use crate::drive::{Group, Loop, Suite, setup, text};

const CONNECTIONS: usize = 16;
const TASKS: usize = 64;
const SQL: &str = "SELECT 1";

fn url() -> String {
    std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Our adapter gets `sslmode=disable`, as the raw driver and the other pools use `NoTls`.
fn adapter_url() -> String {
    let url = url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=disable")
}

pub fn suite() -> Suite {
    Suite {
        groups: vec![Group {
            suite: "postgres",
            contenders: vec![
                setup("tokio-postgres, 16 dedicated connections (16 tasks)", raw),
                setup(
                    "adapter-postgres, 16 dedicated, no pool (16 tasks)",
                    adapter,
                ),
                setup(
                    "pool-core 16 / 64, defaults, native client + prepare_cached",
                    || ours_native(PoolConfig::default(), TASKS),
                ),
                setup(
                    "pool-core 16 / 16 (no waiting), defaults, native client + prepare_cached",
                    || ours_native(PoolConfig::default(), CONNECTIONS),
                ),
                setup("pool-core 16 / 64, defaults, neutral API", || {
                    ours(PoolConfig::default())
                }),
                setup(
                    "pool-core 16 / 64, fair config, native client + prepare_cached",
                    || ours_native(benches::competitors::fair_config(CONNECTIONS), TASKS),
                ),
                setup("pool-core 16 / 64, fair config, neutral API", || {
                    ours(benches::competitors::fair_config(CONNECTIONS))
                }),
                setup("deadpool-postgres 16 / 64 (prepare_cached)", || {
                    deadpool(TASKS)
                }),
                setup(
                    "deadpool-postgres 16 / 16 (no waiting, prepare_cached)",
                    || deadpool(CONNECTIONS),
                ),
                setup("bb8-postgres 16 / 64 (statement prepared on connect)", bb8),
            ],
        }],
    }
}

async fn connect_raw() -> Result<(Client, Statement), String> {
    let (client, connection) = tokio_postgres::connect(&url(), NoTls).await.map_err(text)?;
    tokio::spawn(connection);
    let statement = client.prepare(SQL).await.map_err(text)?;
    Ok((client, statement))
}

async fn raw() -> Result<Loop<Vec<(Client, Statement)>>, String> {
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        conns.push(connect_raw().await?);
    }
    Ok(Loop::new(conns, CONNECTIONS, |s, w| {
        Box::pin(async move {
            let (client, statement) = &s[w];
            client.query(statement, &[]).await.map(drop).map_err(text)
        })
    }))
}

async fn adapter() -> Result<Loop<Vec<Mutex<adapter_postgres::PostgresConnection>>>, String> {
    let connector = PostgresConnector::from_url(&adapter_url()).map_err(text)?;
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        conns.push(Mutex::new(connector.connect().await.map_err(text)?));
    }
    Ok(Loop::new(conns, CONNECTIONS, |s, w| {
        Box::pin(async move {
            let mut conn = s[w].lock().await;
            conn.query(SQL, &[]).await.map(drop).map_err(text)
        })
    }))
}

/// `config` with the pool sized like the others (16 connections, all opened at start).
fn sized(mut config: PoolConfig) -> PoolConfig {
    config.min_size = Some(CONNECTIONS);
    config.max_size = CONNECTIONS;
    config
}

/// The neutral API: `query` through the adapter's statement cache.
async fn ours(config: PoolConfig) -> Result<Loop<Pool<PostgresConnector>>, String> {
    let connector = PostgresConnector::from_url(&adapter_url()).map_err(text)?;
    let pool = Pool::builder(connector)
        .config(sized(config))
        .build()
        .await
        .map_err(text)?;
    Ok(Loop::new(pool, TASKS, |pool, _| {
        Box::pin(async move {
            let mut conn = pool.get().await.map_err(text)?;
            conn.query(SQL, &[]).await.map(drop).map_err(text)
        })
    }))
}

/// The query as deadpool-postgres runs it: the native client with a cached prepared
/// statement.
async fn ours_native(
    config: PoolConfig,
    tasks: usize,
) -> Result<Loop<Pool<PostgresConnector>>, String> {
    let connector = PostgresConnector::from_url(&adapter_url()).map_err(text)?;
    let pool = Pool::builder(connector)
        .config(sized(config))
        .build()
        .await
        .map_err(text)?;
    Ok(Loop::new(pool, tasks, |pool, _| {
        Box::pin(async move {
            let mut conn = pool.get().await.map_err(text)?;
            let statement = conn.prepare_cached(SQL).await.map_err(text)?;
            conn.client()
                .query(&statement, &[])
                .await
                .map(drop)
                .map_err(text)
        })
    }))
}

async fn deadpool(tasks: usize) -> Result<Loop<deadpool_postgres::Pool>, String> {
    use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
    let config: tokio_postgres::Config = url().parse().map_err(text)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(CONNECTIONS)
        .build()
        .map_err(text)?;
    Ok(Loop::new(pool, tasks, |pool, _| {
        Box::pin(async move {
            let client = pool.get().await.map_err(text)?;
            let statement = client.prepare_cached(SQL).await.map_err(text)?;
            client.query(&statement, &[]).await.map(drop).map_err(text)
        })
    }))
}

/// bb8-postgres's manager, plus the statement prepared once per connection (bb8 has no
/// statement cache of its own).
struct Prepared(bb8_postgres::PostgresConnectionManager<NoTls>);

impl bb8::ManageConnection for Prepared {
    type Connection = (Client, Statement);
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let client = self.0.connect().await?;
        let statement = client.prepare(SQL).await?;
        Ok((client, statement))
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.0.is_valid(&mut conn.0).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.0.has_broken(&mut conn.0)
    }
}

async fn bb8() -> Result<Loop<bb8::Pool<Prepared>>, String> {
    let config: tokio_postgres::Config = url().parse().map_err(text)?;
    let manager = Prepared(bb8_postgres::PostgresConnectionManager::new(config, NoTls));
    let pool = bb8::Pool::builder()
        .max_size(CONNECTIONS as u32)
        // Its default pings on every checkout; the others do not.
        .test_on_check_out(false)
        .build(manager)
        .await
        .map_err(text)?;
    Ok(Loop::new(pool, TASKS, |pool, _| {
        Box::pin(async move {
            let conn = pool.get().await.map_err(text)?;
            let (client, statement) = &*conn;
            client.query(statement, &[]).await.map(drop).map_err(text)
        })
    }))
}
