//! Connections refused for a while, under load, then accepted again.

use std::sync::Arc;
use std::time::Duration;

use pool_core::CircuitState;
use tokio::time::{Instant, sleep};

use super::{
    Verdicts, median_failure, mixed_load, real_cause_target, recovery_targets, summary, targets,
    watch_recovery,
};
use crate::chaos::rig::Rig;
use crate::chaos::{ChaosDb, Measured, OutcomeKind};
use crate::fault_proxy::Fault;

/// Connections refused (the proxy resets every session and every new one) for 500 ms.
pub async fn refused_for_500ms_recovers_within_a_second<D: ChaosDb>(db: Arc<D>) -> Measured {
    refused_for(db, "refused 500ms", Duration::from_millis(500)).await
}

/// Connections refused for 5 s.
pub async fn refused_for_5s_recovers_within_a_second<D: ChaosDb>(db: Arc<D>) -> Measured {
    refused_for(db, "refused 5s", Duration::from_secs(5)).await
}

/// The database refuses connections for `outage` under [`CALLERS`](super::CALLERS) callers,
/// with the default configuration (nothing structural to add). Targets: first success, 90 %,
/// fail fast with the cause, one connect attempt per half-open interval, no session left.
async fn refused_for<D: ChaosDb>(db: Arc<D>, scenario: &'static str, outage: Duration) -> Measured {
    let mut m = Measured::default();
    let mut v = Verdicts::new(db.name(), scenario);
    let rig = Rig::defaults(&db, "defrefused", true, |_| {}).await;
    let pool = &rig.pool;
    let load = mixed_load(&db, pool, "SELECT 1");
    sleep(Duration::from_secs(1)).await;
    let base = pool.stats();
    rig.proxy().set(Fault::Refuse);
    let cut = Instant::now();
    let until = cut + outage;

    // When the breaker opens; from 20 ms later, count the attempts that reach the proxy and
    // the half-open trials the breaker allowed, until the restore.
    let mut opened = None;
    while Instant::now() < until {
        if pool.stats().circuit_opened_total > base.circuit_opened_total {
            opened = Some(Instant::now());
            break;
        }
        sleep(Duration::from_millis(2)).await;
    }
    let counted_from = opened.map(|t| t + Duration::from_millis(20));
    if let Some(t) = counted_from {
        sleep(t.saturating_duration_since(Instant::now())).await;
    }
    let accepted_from = rig.proxy().accepted();
    let trials_from = pool.stats().circuit_half_opened_total;
    let mut max_connecting_while_open = 0;
    while Instant::now() < until {
        let s = pool.stats();
        if s.circuit != CircuitState::Closed {
            max_connecting_while_open = max_connecting_while_open.max(s.connecting);
        }
        sleep(Duration::from_millis(1)).await;
    }
    let attempts = rig.proxy().accepted() - accepted_from;
    let trials = pool.stats().circuit_half_opened_total - trials_from;
    rig.proxy().set(Fault::Pass);
    let back = Instant::now();
    m.note("outage", back - cut);
    m.note("breaker opened after the cut", opened.map(|t| t - cut));

    watch_recovery(&load, back).await;
    let stats = load.stop(Duration::from_secs(10)).await;
    let after = pool.stats();
    m.note("outcomes", summary(&stats.outcomes));
    m.note(
        "breaker opened / half-opened / closed",
        (
            after.circuit_opened_total - base.circuit_opened_total,
            after.circuit_half_opened_total - base.circuit_half_opened_total,
            after.circuit_closed_total - base.circuit_closed_total,
        ),
    );
    m.note(
        "CircuitOpen errors after the restore",
        stats
            .outcomes
            .iter()
            .filter(|o| o.kind == OutcomeKind::CircuitOpen && o.started >= back)
            .count(),
    );
    m.note(
        "a CircuitOpen error",
        stats.first_error(OutcomeKind::CircuitOpen),
    );

    recovery_targets(&mut v, &mut m, &stats.outcomes, back);
    let (median, failed) = median_failure(&stats.outcomes, opened.unwrap_or(cut), back);
    v.target(
        &mut m,
        targets::FAIL_FAST,
        failed > 0 && median < Duration::from_millis(1),
        format!("median {median:.1?} over {failed} failed calls while the breaker was open"),
    );
    real_cause_target(&mut v, &mut m, &stats.outcomes);
    v.target(
        &mut m,
        targets::ONE_TRIAL,
        counted_from.is_some() && attempts <= trials,
        format!(
            "{attempts} attempts at the proxy, {trials} half-open trials (most connects in \
             flight while not closed: {max_connecting_while_open})"
        ),
    );
    rig.finish(&mut m).await;
    v.finish(&m);
    m
}
