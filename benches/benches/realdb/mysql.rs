//! MariaDB/MySQL: `SELECT 1` through each contender (text protocol everywhere: our adapter runs
//! parameterless statements over it, so the raw driver and mysql_async's pool do the same), all
//! over TCP (our adapter's default transport) but the one row that shows `mysql_async`'s own
//! default, the server's Unix socket.

use adapter_mysql::mysql_async::prelude::Queryable;
use adapter_mysql::mysql_async::{self, Conn, Opts, OptsBuilder, PoolConstraints, PoolOpts};
use adapter_mysql::{MysqlConnector, SessionReset};
use pool_core::{ConnectionProtocol, Connector, Pool};
use tokio::sync::Mutex;

use crate::drive::{Group, Loop, Suite, setup, text};

const CONNECTIONS: usize = 16;
const TASKS: usize = 64;
const SQL: &str = "SELECT 1";

fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// Our adapter gets `ssl_mode=disabled`, as the raw driver connects without TLS.
fn adapter_url() -> String {
    let url = url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}ssl_mode=disabled")
}

pub fn suite() -> Suite {
    Suite {
        groups: vec![Group {
            suite: "mysql",
            contenders: vec![
                setup("mysql_async, 16 dedicated connections (16 tasks)", raw),
                setup(
                    "mysql_async, 16 dedicated, its default transport (Unix socket)",
                    raw_over_unix_socket,
                ),
                setup("adapter-mysql, 16 dedicated, no pool (16 tasks)", adapter),
                setup("pool-core 16 conns / 64 tasks, reset off", || ours(false)),
                setup("pool-core 16 / 64, fair config", ours_fair),
                setup("pool-core 16 / 64, defaults (tracked reset)", || ours(true)),
                setup(
                    "pool-core 16 / 64, defaults, native Queryable (conn.queryable())",
                    || ours_native(TASKS),
                ),
                setup(
                    "pool-core 16 / 16 (no waiting), defaults, native Queryable",
                    || ours_native(CONNECTIONS),
                ),
                setup(
                    "pool-core 16 / 64, session_reset=reset_connection (old default)",
                    ours_reset_connection,
                ),
                setup("mysql_async::Pool 16 / 64, reset off", || {
                    native_pool(false, TASKS)
                }),
                setup("mysql_async::Pool 16 / 16 (no waiting), reset off", || {
                    native_pool(false, CONNECTIONS)
                }),
                setup("mysql_async::Pool 16 / 64, its default reset", || {
                    native_pool(true, TASKS)
                }),
            ],
        }],
    }
}

/// The competitors' options: over TCP, as our adapter connects by default. (`mysql_async`
/// itself, given a loopback address, reconnects through the server's Unix socket, which is
/// faster than TCP on this machine; `raw_over_unix_socket` shows by how much.)
fn opts() -> Result<Opts, String> {
    let url = url();
    let sep = if url.contains('?') { '&' } else { '?' };
    Opts::from_url(&format!("{url}{sep}prefer_socket=false")).map_err(text)
}

async fn raw() -> Result<Loop<Vec<Mutex<Conn>>>, String> {
    raw_with(opts()?).await
}

/// `mysql_async` with its own defaults: on loopback, its connections move to the Unix socket.
async fn raw_over_unix_socket() -> Result<Loop<Vec<Mutex<Conn>>>, String> {
    raw_with(Opts::from_url(&url()).map_err(text)?).await
}

async fn raw_with(opts: Opts) -> Result<Loop<Vec<Mutex<Conn>>>, String> {
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        conns.push(Mutex::new(Conn::new(opts.clone()).await.map_err(text)?));
    }
    Ok(Loop::new(conns, CONNECTIONS, |s, w| {
        Box::pin(async move {
            let mut conn = s[w].lock().await;
            conn.query::<i64, _>(SQL).await.map(drop).map_err(text)
        })
    }))
}

async fn adapter() -> Result<Loop<Vec<Mutex<adapter_mysql::MysqlConnection>>>, String> {
    let connector = MysqlConnector::from_url(&adapter_url()).map_err(text)?;
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

async fn ours(reset: bool) -> Result<Loop<Pool<MysqlConnector>>, String> {
    let pool = our_pool(SessionReset::Tracked, |c| c.reset_on_return = reset).await?;
    Ok(neutral(pool))
}

/// The defaults, queried through `mysql_async`'s `Queryable` on the tracked wrapper, from
/// `tasks` tasks (16: nobody waits for a connection).
async fn ours_native(tasks: usize) -> Result<Loop<Pool<MysqlConnector>>, String> {
    let pool = our_pool(SessionReset::Tracked, |_| {}).await?;
    Ok(Loop::new(pool, tasks, |pool, _| {
        Box::pin(async move {
            let mut conn = pool.get().await.map_err(text)?;
            conn.queryable()
                .query::<i64, _>(SQL)
                .await
                .map(drop)
                .map_err(text)
        })
    }))
}

/// `COM_RESET_CONNECTION` on every return, as the adapter did before tracking.
async fn ours_reset_connection() -> Result<Loop<Pool<MysqlConnector>>, String> {
    let pool = our_pool(SessionReset::ResetConnection, |_| {}).await?;
    Ok(neutral(pool))
}

/// With the competitors' per-checkout work (`fair_config`: no reset, no validation, no leak
/// tracking).
async fn ours_fair() -> Result<Loop<Pool<MysqlConnector>>, String> {
    let pool = our_pool(SessionReset::Tracked, |c| {
        *c = benches::competitors::fair_config(CONNECTIONS);
    })
    .await?;
    Ok(neutral(pool))
}

async fn our_pool(
    reset: SessionReset,
    configure: impl FnOnce(&mut pool_core::PoolConfig),
) -> Result<Pool<MysqlConnector>, String> {
    let options = adapter_mysql::MysqlOptions::from_url(&adapter_url())
        .map_err(text)?
        .with_session_reset(reset);
    Pool::builder(MysqlConnector::new(options))
        .min_size(CONNECTIONS)
        .max_size(CONNECTIONS)
        .configure(configure)
        .build()
        .await
        .map_err(text)
}

/// `SELECT 1` through the neutral API, 64 tasks.
fn neutral(pool: Pool<MysqlConnector>) -> Loop<Pool<MysqlConnector>> {
    Loop::new(pool, TASKS, |pool, _| {
        Box::pin(async move {
            let mut conn = pool.get().await.map_err(text)?;
            conn.query(SQL, &[]).await.map(drop).map_err(text)
        })
    })
}

/// mysql_async's own pool, with or without its reset on return, from `tasks` tasks.
async fn native_pool(reset: bool, tasks: usize) -> Result<Loop<mysql_async::Pool>, String> {
    let constraints =
        PoolConstraints::new(CONNECTIONS, CONNECTIONS).ok_or("invalid pool constraints")?;
    let opts = OptsBuilder::from_opts(opts()?).pool_opts(
        PoolOpts::default()
            .with_constraints(constraints)
            .with_reset_connection(reset),
    );
    let pool = mysql_async::Pool::new(opts);
    Ok(Loop::new(pool, tasks, |pool, _| {
        Box::pin(async move {
            let mut conn = pool.get_conn().await.map_err(text)?;
            conn.query::<i64, _>(SQL).await.map(drop).map_err(text)
        })
    }))
}
