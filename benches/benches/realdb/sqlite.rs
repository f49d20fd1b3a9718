//! SQLite: point reads and single-row updates on a temporary WAL database of 10,000 rows.
//!
//! rusqlite runs on 4 dedicated OS threads (one connection each, statements cached): the
//! upper bound. Our adapter gives each connection its own thread and answers over channels;
//! without a pool it runs 4 tasks, one connection each; the pool runs 16 tasks over 4.
//! Every connection uses `synchronous=normal` (the usual WAL setting) so updates measure the
//! pool and SQLite, not fsync.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use adapter_sqlite::{SqliteConnector, rusqlite};
use pool_core::{ConnectionProtocol, Connector, Pool, Value};
use tokio::sync::Mutex;

use crate::drive::{BoxFuture, Contender, Group, Loop, Suite, setup, text};

const ROWS: i64 = 10_000;
const CONNECTIONS: usize = 4;
const TASKS: usize = 16;
const READ: &str = "SELECT v FROM kv WHERE id = ?";
const UPDATE: &str = "UPDATE kv SET v = ? WHERE id = ?";

/// The database file; the directory lives as long as the process.
fn db_path() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let path = dir.path().join("bench.db");
    if !path.exists() {
        let conn = rusqlite::Connection::open(&path).expect("creating the database");
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO kv WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
             WHERE x < {ROWS}) SELECT x, 'value ' || x FROM c;"
        ))
        .expect("filling the database");
    }
    path
}

fn url() -> String {
    format!("sqlite://{}?synchronous=normal", db_path().display())
}

/// A row id from a cheap per-worker sequence (spreads reads over the table).
fn next_id(seed: &mut i64) -> i64 {
    *seed = (*seed * 7919 + 1) % ROWS + 1;
    *seed
}

pub fn suite() -> Suite {
    let group = |suite, write: bool| Group {
        suite,
        contenders: vec![
            setup("rusqlite, 4 dedicated threads", move || raw(write)),
            setup(
                "adapter-sqlite, 4 dedicated, no pool (4 tasks)",
                move || adapter(write),
            ),
            setup("pool-core 4 conns / 16 tasks, reset off", move || {
                ours(write, false)
            }),
            setup("pool-core 4 / 16, default reset", move || ours(write, true)),
        ],
    };
    Suite {
        groups: vec![group("sqlite-read", false), group("sqlite-update", true)],
    }
}

/// rusqlite on dedicated threads: not a [`Loop`], its workers are OS threads.
struct Raw {
    write: bool,
}

impl Contender for Raw {
    fn run(&mut self, secs: Duration) -> BoxFuture<Result<u64, String>> {
        let write = self.write;
        Box::pin(async move {
            let stop = Arc::new(AtomicBool::new(false));
            let total = Arc::new(AtomicU64::new(0));
            let path = db_path();
            let mut threads = Vec::new();
            for t in 0..CONNECTIONS {
                let (stop, total, path) = (stop.clone(), total.clone(), path.clone());
                threads.push(std::thread::spawn(move || -> Result<(), String> {
                    let conn = rusqlite::Connection::open(&path).map_err(text)?;
                    conn.busy_timeout(Duration::from_secs(5)).map_err(text)?;
                    conn.pragma_update(None, "synchronous", "normal")
                        .map_err(text)?;
                    let mut seed = t as i64;
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let id = next_id(&mut seed);
                        if write {
                            let mut st = conn.prepare_cached(UPDATE).map_err(text)?;
                            st.execute(rusqlite::params![format!("v{done}"), id])
                                .map_err(text)?;
                        } else {
                            let mut st = conn.prepare_cached(READ).map_err(text)?;
                            let _: String = st.query_row([id], |r| r.get(0)).map_err(text)?;
                        }
                        done += 1;
                    }
                    total.fetch_add(done, Ordering::Relaxed);
                    Ok(())
                }));
            }
            tokio::time::sleep(secs).await;
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                t.join()
                    .map_err(|_| "a rusqlite thread panicked".to_owned())??;
            }
            Ok(total.load(Ordering::Relaxed))
        })
    }
}

async fn raw(write: bool) -> Result<Raw, String> {
    Ok(Raw { write })
}

/// The statement and its parameters for worker `w`'s next operation.
fn op_params(write: bool, seed: &mut i64, n: u64) -> (&'static str, Vec<Value>) {
    let id = Value::I64(next_id(seed));
    if write {
        (UPDATE, vec![Value::Text(format!("v{n}")), id])
    } else {
        (READ, vec![id])
    }
}

/// Updates go through `execute`, reads through `query` (one row back).
async fn run(
    conn: &mut adapter_sqlite::SqliteConnection,
    write: bool,
    sql: &str,
    params: &[Value],
) -> Result<(), String> {
    if write {
        conn.execute(sql, params).await.map(drop).map_err(text)
    } else {
        conn.query(sql, params).await.map(drop).map_err(text)
    }
}

struct Direct {
    conns: Vec<Mutex<(adapter_sqlite::SqliteConnection, i64, u64)>>,
    write: bool,
}

async fn adapter(write: bool) -> Result<Loop<Direct>, String> {
    let connector = SqliteConnector::from_url(&url()).map_err(text)?;
    let mut conns = Vec::new();
    for t in 0..CONNECTIONS {
        conns.push(Mutex::new((
            connector.connect().await.map_err(text)?,
            t as i64,
            0,
        )));
    }
    Ok(Loop::new(Direct { conns, write }, CONNECTIONS, |s, w| {
        Box::pin(async move {
            let mut guard = s.conns[w].lock().await;
            let (conn, seed, n) = &mut *guard;
            *n += 1;
            let (sql, params) = op_params(s.write, seed, *n);
            run(conn, s.write, sql, &params).await
        })
    }))
}

struct Pooled {
    pool: Pool<SqliteConnector>,
    seeds: Vec<Mutex<(i64, u64)>>,
    write: bool,
}

async fn ours(write: bool, reset: bool) -> Result<Loop<Pooled>, String> {
    let connector = SqliteConnector::from_url(&url()).map_err(text)?;
    let pool = Pool::builder(connector)
        .min_size(CONNECTIONS)
        .max_size(CONNECTIONS)
        .configure(|c| c.reset_on_return = reset)
        .build()
        .await
        .map_err(text)?;
    let seeds = (0..TASKS).map(|t| Mutex::new((t as i64, 0))).collect();
    let state = Pooled { pool, seeds, write };
    Ok(Loop::new(state, TASKS, |s, w| {
        Box::pin(async move {
            let (sql, params) = {
                let mut guard = s.seeds[w].lock().await;
                let (seed, n) = &mut *guard;
                *n += 1;
                op_params(s.write, seed, *n)
            };
            let mut conn = s.pool.get().await.map_err(text)?;
            run(&mut conn, s.write, sql, &params).await
        })
    }))
}
