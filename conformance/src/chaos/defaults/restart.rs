//! A server restart under load.

use std::sync::Arc;
use std::time::Duration;

use pool_core::PoolConfig;
use tokio::time::{Instant, sleep};

use super::{
    FIRST_SUCCESS_BOUND, Verdicts, mixed_load, real_cause_target, recovery_targets, summary,
    targets, watch_recovery,
};
use crate::chaos::rig::Rig;
use crate::chaos::{ChaosDb, Measured, OutcomeKind, Restartable};

/// A throwaway server stopped hard (every session cut) and started again on the same port
/// 500 ms later, under [`CALLERS`](super::CALLERS) callers, with the default configuration
/// straight to the server (no proxy; nothing structural to add). Targets: errors only while
/// it is down (and in the 1 s recovery window), no `CircuitOpen` beyond the breaker's first
/// interval once it is up (the dead idle sessions are replaced without the breaker refusing
/// anyone; refused connects while it was down open it, rightly), first success, 90 %, every
/// failure typed, no session left.
pub async fn a_restart_under_load_gives_errors_only_while_down<D: ChaosDb>(
    db: Arc<D>,
    server: Arc<dyn Restartable>,
) -> Measured {
    let mut m = Measured::default();
    let mut v = Verdicts::new(db.name(), "restart");
    let rig = Rig::defaults(&db, "defrestart", false, |_| {}).await;
    let pool = &rig.pool;
    let load = mixed_load(&db, pool, "SELECT 1");
    sleep(Duration::from_secs(1)).await;
    let base = pool.stats();
    let stopping = Instant::now();
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.stop())
        .await
        .expect("stop task")
        .expect("the server stops");
    sleep(Duration::from_millis(500)).await;
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.start_again())
        .await
        .expect("start task")
        .expect("the server starts again");
    let up = Instant::now();
    m.note("server down for", up - stopping);

    watch_recovery(&load, up).await;
    let stats = load.stop(Duration::from_secs(10)).await;
    let after = pool.stats();
    m.note("outcomes", summary(&stats.outcomes));
    m.note(
        "breaker opened / half-opened",
        (
            after.circuit_opened_total - base.circuit_opened_total,
            after.circuit_half_opened_total - base.circuit_half_opened_total,
        ),
    );
    m.note(
        "validation failures / broken on return",
        (
            after.validation_failures_total - base.validation_failures_total,
            after.broken_on_return_total - base.broken_on_return_total,
        ),
    );

    recovery_targets(&mut v, &mut m, &stats.outcomes, up);
    let late: Vec<_> = stats
        .outcomes
        .iter()
        .filter(|o| o.kind != OutcomeKind::Ok && o.started >= up + FIRST_SUCCESS_BOUND)
        .collect();
    v.target(
        &mut m,
        targets::ERRORS_ONLY_WHILE_DOWN,
        late.is_empty(),
        match late.iter().max_by_key(|o| o.started) {
            None => "no failure among calls started 1 s or more after the server was up".into(),
            Some(o) => format!(
                "{} failed calls started 1 s or more after up, the last {:.3?} after: {:?}",
                late.len(),
                o.started - up,
                o.error
            ),
        },
    );
    // The breaker opened after `stopping`; the last trial before up was refused, and the next
    // comes at most one interval later: `open_duration`, or a fifth of the outage if longer.
    let open_interval = PoolConfig::default()
        .circuit_breaker
        .open_duration
        .max((up - stopping) / 5);
    let refused: Vec<_> = stats
        .outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::CircuitOpen && o.started >= up)
        .collect();
    let last_refused = refused.iter().map(|o| o.started - up).max();
    v.target(
        &mut m,
        targets::NO_BREAKER_AFTER_UP,
        last_refused.is_none_or(|after| after < open_interval),
        match last_refused {
            None => "none".into(),
            Some(after) => format!(
                "{} CircuitOpen errors for calls started after up, the last {after:.3?} after \
                 (bound: {open_interval:.3?})",
                refused.len(),
            ),
        },
    );
    real_cause_target(&mut v, &mut m, &stats.outcomes);
    rig.finish(&mut m).await;
    v.finish(&m);
    m
}
