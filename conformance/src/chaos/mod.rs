//! The chaos suite: a real pool against a real server while the network or the server fails,
//! driven through a [`FaultProxy`](crate::fault_proxy::FaultProxy) or a
//! [throwaway server](crate::throwaway).
//!
//! Every scenario is a function generic over a [`ChaosDb`] (what differs between databases:
//! connectors, how to kill and count sessions) and states its guarantee in its name. The
//! scenarios assert with `assert!` (they are test code) and return a [`Measured`] with the
//! timings they saw, printed by the tests so `docs/reliability.md` can quote them. After every
//! scenario [`settle`] checks `pool.check_invariants()` and that the server's own count of the
//! pool's sessions equals `stats().total`.
//!
//! The tests in `tests/chaos_*.rs` run the scenarios one at a time ([`run_serial`]): they
//! measure timings on a small, loaded machine, and two at once would measure each other.

mod capture;
mod dbs;
pub mod defaults;
mod load;
mod rig;
mod scenarios;

pub use capture::{LogCapture, log_capture};
pub use dbs::{ChaosDb, MysqlChaos, PostgresChaos, Sessions, SqliteChaos};
pub use load::{Api, CallFn, Load, LoadStats, Outcome, OutcomeKind};
pub use rig::defaults_config;
pub use scenarios::*;

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use pool_core::Pool;

use crate::marker::Marker;

/// What a scenario measured, for the report.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// `(what, value)` pairs in the order measured.
    pub values: Vec<(String, String)>,
}

impl Measured {
    /// Records one measurement.
    pub fn note(&mut self, what: &str, value: impl std::fmt::Debug) {
        self.values.push((what.to_owned(), format!("{value:?}")));
    }

    /// Records one measurement already put into words.
    pub fn note_text(&mut self, what: &str, text: String) {
        self.values.push((what.to_owned(), text));
    }
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{k} = {v}")?;
        }
        Ok(())
    }
}

/// Runs `scenario` on a fresh two-thread tokio runtime, one scenario per process at a time,
/// after checking the database answers (an unreachable database fails the test unless
/// `CONFORMANCE_ALLOW_SKIP=1`), and prints what it measured.
///
/// # Panics
///
/// When the scenario fails, or the database is unreachable and skipping is not allowed.
pub fn run_serial<D, F, Fut>(db: D, name: &str, scenario: F)
where
    D: ChaosDb,
    F: FnOnce(std::sync::Arc<D>) -> Fut,
    Fut: Future<Output = Measured>,
{
    run_serial_with(|| (db, ()), name, |db, ()| scenario(db));
}

/// [`run_serial`] for scenarios that need something started first (a throwaway server):
/// `make` runs once this scenario has its turn, so starting the server does not load the
/// machine while another scenario measures; what it returns besides the database goes to the
/// scenario (and is dropped, stopping the server, before the next scenario's turn).
///
/// # Panics
///
/// As [`run_serial`].
pub fn run_serial_with<D, S, F, Fut>(make: impl FnOnce() -> (D, S), name: &str, scenario: F)
where
    D: ChaosDb,
    F: FnOnce(std::sync::Arc<D>, S) -> Fut,
    Fut: Future<Output = Measured>,
{
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (db, extra) = make();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the chaos scenario");
    runtime.block_on(async {
        let db = std::sync::Arc::new(db);
        if let Err(reason) = db.probe().await {
            let reason = format!("{}: {reason}", db.name());
            if std::env::var(crate::ALLOW_SKIP_ENV).is_ok_and(|v| v == "1") {
                eprintln!("skipped {name}: {reason} ({}=1)", crate::ALLOW_SKIP_ENV);
                return;
            }
            panic!(
                "{reason}; set {}=1 to skip instead of failing",
                crate::ALLOW_SKIP_ENV
            );
        }
        let started = tokio::time::Instant::now();
        let measured = scenario(db.clone(), extra).await;
        eprintln!(
            "[chaos] {} {name}: {measured}; scenario took {:?}",
            db.name(),
            started.elapsed()
        );
    });
}

/// Waits (up to `within`) until the pool has settled, then asserts its invariants and that the
/// server lists exactly `stats().total` sessions of this pool (when the database can tell).
/// Returns the settled total.
///
/// # Panics
///
/// When an invariant is violated or the counts never agree.
pub async fn settle<D: ChaosDb>(
    db: &D,
    pool: &Pool<D::Connector>,
    marker: &Marker,
    within: Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Err(violation) = pool.check_invariants() {
            panic!("{}: pool invariant violated: {violation}", db.name());
        }
        let stats = pool.stats();
        assert!(
            stats.total + stats.connecting <= stats.max_size,
            "{}: {} open + {} connecting > max {}",
            db.name(),
            stats.total,
            stats.connecting,
            stats.max_size
        );
        assert!(
            stats.active + stats.idle <= stats.total,
            "{}: active + idle > total: {stats:?}",
            db.name()
        );
        let last = if stats.connecting == 0 && stats.active + stats.idle == stats.total {
            match db.count_sessions(pool.connector(), marker).await {
                Ok(None) => return stats.total,
                Ok(Some(n)) if n == stats.total => return stats.total,
                Ok(Some(n)) => {
                    format!("server lists {n} sessions, stats().total = {}", stats.total)
                }
                Err(e) => format!("counting sessions failed: {e}"),
            }
        } else {
            format!(
                "active {} + idle {} vs total {}, connecting {}",
                stats.active, stats.idle, stats.total, stats.connecting
            )
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: the pool did not settle within {within:?}: {last}",
            db.name()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Closes the pool and asserts that the server lists none of its sessions afterwards.
///
/// # Panics
///
/// When sessions remain `within` after close.
pub async fn close_and_check<D: ChaosDb>(
    db: &D,
    pool: &Pool<D::Connector>,
    marker: &Marker,
    within: Duration,
) {
    let report = pool.close(within).await;
    assert!(
        report.complete,
        "{}: close incomplete: {report:?}",
        db.name()
    );
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match db.count_sessions(pool.connector(), marker).await {
            Ok(None) | Ok(Some(0)) => return,
            Ok(Some(n)) => assert!(
                tokio::time::Instant::now() < deadline,
                "{}: {n} sessions of the pool remain {within:?} after close",
                db.name()
            ),
            Err(e) => panic!("{}: counting sessions failed: {e}", db.name()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
