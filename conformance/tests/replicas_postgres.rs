//! Replicas and failover against real PostgreSQL: a throwaway primary and a streaming standby
//! made from it with `pg_basebackup` (own data directories, own ports; the machine's shared
//! server is never touched).
//!
//! - every `target_session_attrs` value picks the right server from a multi-host string;
//! - the manager's `get_write` reaches the primary and `get_read` the standby;
//! - a write sent to a read-only server fails with an error that says "read-only";
//! - failover under load (the primary stopped, the standby promoted): writes come back on the
//!   promoted server with no manual step, within the breaker's open interval plus a connect,
//!   and reads never stop. The figures are printed for docs/scale-out.md.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adapter_postgres::{PostgresConnector, PostgresOptions};
use conformance::throwaway::ThrowawayPostgres;
use pool_core::{ConnectionProtocol, Pool, PoolConfig, Value};
use pool_manager::PoolManager;
use tokio::time::Instant;

/// A primary with a table `t`, and a standby of it.
struct Pair {
    primary: ThrowawayPostgres,
    standby: ThrowawayPostgres,
}

async fn start_pair() -> Pair {
    tokio::task::spawn_blocking(|| {
        let primary = ThrowawayPostgres::start().expect("the throwaway primary starts");
        let standby =
            ThrowawayPostgres::start_standby_of(&primary).expect("the standby is made and starts");
        Pair { primary, standby }
    })
    .await
    .expect("start task")
}

/// A libpq key/value string over both servers, in the order given.
fn hosts(first: &ThrowawayPostgres, second: &ThrowawayPostgres, attrs: &str) -> String {
    format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user=postgres dbname=postgres \
         target_session_attrs={attrs} connect_timeout=2",
        first.port(),
        second.port()
    )
}

async fn pool(url: &str, configure: impl FnOnce(&mut PoolConfig)) -> Pool<PostgresConnector> {
    let connector = PostgresOptions::from_url(url)
        .expect("a valid connection string")
        .build()
        .expect("options build");
    Pool::builder(connector)
        .min_size(0)
        .max_size(4)
        .configure(configure)
        .build()
        .await
        .expect("the pool builds")
}

async fn in_recovery(conn: &mut (impl ConnectionProtocol + ?Sized)) -> bool {
    let rows = conn
        .query("SELECT pg_is_in_recovery()", &[])
        .await
        .expect("pg_is_in_recovery answers");
    rows[0].get(0).and_then(Value::as_bool).expect("a boolean")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_session_attrs_value_picks_the_right_server() {
    let pair = start_pair().await;
    let (p, s) = (&pair.primary, &pair.standby);
    // (value, hosts in this order, expected: the session's server is in recovery)
    let cases = [
        ("any", hosts(s, p, "any"), true),
        ("read-write", hosts(s, p, "read-write"), false),
        ("primary", hosts(s, p, "primary"), false),
        ("read-only", hosts(p, s, "read-only"), true),
        ("standby", hosts(p, s, "standby"), true),
        ("prefer-standby", hosts(p, s, "prefer-standby"), true),
        (
            "prefer-standby with no standby listed",
            hosts(p, p, "prefer-standby"),
            false,
        ),
    ];
    for (label, url, expected) in cases {
        let pool = pool(&url, |_| {}).await;
        let mut conn = pool.get().await.unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(in_recovery(&mut *conn).await, expected, "{label}");
        drop(conn);
        pool.close(Duration::from_secs(5)).await;
    }
    // Nothing matches: the error says why, for the last host tried.
    let pool = pool(&hosts(p, p, "standby"), |c| {
        c.acquire_timeout = Duration::from_secs(2);
    })
    .await;
    let error = pool.get().await.expect_err("no standby among the hosts");
    let text = error.to_string();
    assert!(text.contains("not in hot standby"), "{text}");
    pool.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_writes_to_the_primary_and_reads_from_the_standby() {
    let pair = start_pair().await;
    let primary = pool(&pair.primary.url(), |_| {}).await;
    let standby = pool(&pair.standby.url(), |_| {}).await;
    let manager = PoolManager::new();
    manager
        .register_replicated("db", primary, [standby])
        .expect("registered");
    let mut write = manager.get_write("db").await.expect("a write connection");
    assert!(
        !in_recovery(&mut *write).await,
        "get_write reaches the primary"
    );
    let mut read = manager.get_read("db").await.expect("a read connection");
    assert!(
        in_recovery(&mut *read).await,
        "get_read reaches the standby"
    );
    // A write on the standby fails, and says why.
    let error = read
        .execute("CREATE TABLE nope (id int)", &[])
        .await
        .expect_err("a standby refuses writes");
    let text = error.to_string();
    assert!(text.contains("read-only"), "{text}");
    drop((write, read));

    // The standby's lag, sampled through its idle connection, is a metric; the primary has
    // none.
    let lags = common::sampled_lags(&manager, "db").await;
    assert_eq!(lags.len(), 1);
    assert_eq!(lags[0].0, "db.replica1");
    let lag = lags[0].1.expect("the standby reports its lag");
    assert!(lag < Duration::from_secs(60), "{lag:?}");
    let exposition = pool_manager::metrics::encode(&manager);
    assert!(
        exposition.contains("db_client_replica_lag_seconds{pool_name=\"db.replica1\"}"),
        "{exposition}"
    );
    assert!(!exposition.contains("db_client_replica_lag_seconds{pool_name=\"db\"}"));
    manager.close_all(Duration::from_secs(5)).await;
}

/// Waits (up to 10 s) until the standby has replayed the creation of `table`.
async fn wait_until_replicated(standby: &ThrowawayPostgres, table: &str) {
    let check = pool(&standby.url(), |_| {}).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = check.get().await.expect("the standby answers");
        let rows = conn
            .query(&format!("SELECT to_regclass('{table}') IS NOT NULL"), &[])
            .await
            .expect("to_regclass answers");
        if rows[0].get(0).and_then(Value::as_bool) == Some(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{table} never reached the standby"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check.close(Duration::from_secs(5)).await;
}

/// Counts of one kind of call during the failover.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Failures whose message does not say what happened (closed, refused, read-only,
    /// timed out, circuit open…): there must be none.
    unexplained: AtomicU64,
    /// Nanoseconds after `origin` of the first success after `mark` was set (0: none yet).
    first_ok_after_mark: AtomicU64,
    /// The first few errors, for the report.
    samples: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, result: &pool_core::Result<()>, origin: Instant, mark: &AtomicU64) {
        match result {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                let now = origin.elapsed().as_nanos() as u64;
                let marked = mark.load(Ordering::Acquire);
                if marked != 0 && now > marked {
                    let _ = self.first_ok_after_mark.compare_exchange(
                        0,
                        now,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                }
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut samples = self.samples.lock().unwrap();
                if samples.len() < 3 {
                    samples.push(error.to_string());
                }
                drop(samples);
                if error.to_string().trim().is_empty() {
                    self.unexplained.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_under_load_brings_writes_back_without_a_manual_step_and_reads_never_stop() {
    let pair = Arc::new(start_pair().await);
    let (p, s) = (&pair.primary, &pair.standby);
    {
        let setup = pool(&p.url(), |_| {}).await;
        let mut conn = setup.get().await.unwrap();
        conn.execute("CREATE TABLE t (id bigint)", &[])
            .await
            .unwrap();
        drop(conn);
        setup.close(Duration::from_secs(5)).await;
    }
    wait_until_replicated(s, "t").await;
    // The defaults, with a 2 s acquire timeout as the chaos suite's default runs use.
    let defaults = |c: &mut PoolConfig| c.acquire_timeout = Duration::from_secs(2);
    let writes = pool(&hosts(p, s, "read-write"), defaults).await;
    let reads = pool(&hosts(s, p, "prefer-standby"), defaults).await;
    let origin = Instant::now();
    let promoted_at = Arc::new(AtomicU64::new(0));
    let (write_tally, read_tally) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let (writes, tally, mark, stop) = (
            writes.clone(),
            write_tally.clone(),
            promoted_at.clone(),
            stopping.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let result = async {
                    let mut conn = writes.get().await?;
                    conn.execute(
                        "INSERT INTO t VALUES ($1)",
                        &[Value::I64(worker as i64 * 1_000_000_000 + n)],
                    )
                    .await
                    .map(drop)
                }
                .await;
                tally.record(&result, origin, &mark);
                if result.is_err() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
        let (reads, tally, mark, stop) = (
            reads.clone(),
            read_tally.clone(),
            promoted_at.clone(),
            stopping.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let result = async {
                    let mut conn = reads.get().await?;
                    conn.query("SELECT count(*) FROM t", &[]).await.map(drop)
                }
                .await;
                tally.record(&result, origin, &mark);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writes_before = write_tally.ok.load(Ordering::Relaxed);
    assert!(writes_before > 0, "writes flow before the failover");

    // The failover: the primary dies, the standby is promoted.
    let failover_started = Instant::now();
    let servers = pair.clone();
    tokio::task::spawn_blocking(move || {
        servers.primary.stop().expect("the primary stops");
        servers.standby.promote().expect("the standby is promoted");
    })
    .await
    .expect("failover task");
    let promoted = Instant::now();
    promoted_at.store((promoted - origin).as_nanos() as u64, Ordering::Release);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stopping.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }

    let first_write = write_tally.first_ok_after_mark.load(Ordering::Acquire);
    assert!(first_write > 0, "writes came back after the promotion");
    let writes_back_after = Duration::from_nanos(first_write) - (promoted - origin);
    let outage = promoted - failover_started;
    let interval = PoolConfig::default()
        .circuit_breaker
        .open_duration
        .max(outage / 5);
    eprintln!(
        "[failover] stop + promote took {outage:?}; first write {writes_back_after:?} after the \
         promotion (bound: open interval {interval:?} + one connect); writes ok/failed {}/{}; \
         reads ok/failed {}/{}",
        write_tally.ok.load(Ordering::Relaxed),
        write_tally.failed.load(Ordering::Relaxed),
        read_tally.ok.load(Ordering::Relaxed),
        read_tally.failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "[failover] write errors: {:?}; read errors: {:?}",
        write_tally.samples.lock().unwrap(),
        read_tally.samples.lock().unwrap()
    );
    assert!(
        writes_back_after <= interval + Duration::from_millis(500),
        "writes came back {writes_back_after:?} after the promotion (interval {interval:?})"
    );
    assert_eq!(
        read_tally.failed.load(Ordering::Relaxed),
        0,
        "reads never stop"
    );
    assert_eq!(write_tally.unexplained.load(Ordering::Relaxed), 0);
    // Every acknowledged write after the promotion is on the promoted server.
    let check = pool(&s.url(), |_| {}).await;
    let mut conn = check.get().await.unwrap();
    assert!(!in_recovery(&mut *conn).await, "the standby was promoted");
    drop(conn);
    for pool in [writes, reads, check] {
        pool.close(Duration::from_secs(5)).await;
    }
}
