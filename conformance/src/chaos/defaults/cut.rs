//! Every session cut at once under load: by the network (a reset) or by the server (a kill).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{Verdicts, mixed_load, real_cause_target, summary, targets};
use crate::chaos::rig::{Rig, SETTLE};
use crate::chaos::{ChaosDb, Measured, OutcomeKind, Sessions, settle};
use crate::fault_proxy::Fault;

/// How soon after a cut a call must no longer fail: the proxy's tasks and the driver's reader
/// need a moment to see it.
const CUT_SEEN: Duration = Duration::from_millis(50);

/// How long the load runs after the cut.
const AFTER_CUT: Duration = Duration::from_millis(1500);

/// The proxy resets every open connection once, under [`CALLERS`](super::CALLERS) callers, with
/// the default configuration (nothing structural to add). Targets: only the calls in flight
/// fail; the pool opens exactly as many connections as it lost (counted by the pool and at the
/// proxy); every failure typed; no session left.
pub async fn a_reset_of_every_session_fails_only_the_calls_in_flight<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let mut v = Verdicts::new(db.name(), "reset");
    let rig = Rig::defaults(&db, "defreset", true, |_| {}).await;
    let pool = &rig.pool;
    let load = mixed_load(&db, pool, "SELECT 1");
    sleep(Duration::from_secs(1)).await;
    let base = pool.stats();
    let accepted = rig.proxy().accepted();
    rig.proxy().set(Fault::Reset);
    let cut = Instant::now();
    let lost = base.total;
    m.note(
        "open / connecting at the cut",
        (base.total, base.connecting),
    );
    sleep(AFTER_CUT).await;
    let stats = load.stop(Duration::from_secs(10)).await;
    settle(&*db, pool, &rig.marker, SETTLE).await;
    let reopened_at_proxy = rig.proxy().accepted() - accepted;
    cut_targets(
        &mut v,
        &mut m,
        &stats.outcomes,
        cut,
        lost,
        pool.stats().created_total - base.created_total,
        Some(reopened_at_proxy),
    );
    rig.finish(&mut m).await;
    v.finish(&m);
    m
}

/// The server kills every session of the pool (`pg_terminate_backend`, `KILL CONNECTION`)
/// under [`CALLERS`](super::CALLERS) callers, with the default configuration (nothing
/// structural to add). The cut counts from the moment the server no longer lists a killed
/// session. Targets as for the reset (connections counted by the pool only: the proxy would
/// also count the kill's own side sessions).
pub async fn a_kill_of_every_session_fails_only_the_calls_in_flight<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let mut v = Verdicts::new(db.name(), "kill");
    let rig = Rig::defaults(&db, "defkill", true, |_| {}).await;
    let pool = &rig.pool;
    let load = mixed_load(&db, pool, "SELECT 1");
    sleep(Duration::from_secs(1)).await;
    let base = pool.stats();
    let killing = Instant::now();
    let killed = db
        .kill_sessions(pool.connector(), &rig.marker, Sessions::All)
        .await
        .expect("killing the pool's sessions");
    let cut = Instant::now();
    m.note("killing took", cut - killing);
    m.note(
        "open / connecting before the kill",
        (base.total, base.connecting),
    );
    sleep(AFTER_CUT).await;
    let stats = load.stop(Duration::from_secs(10)).await;
    settle(&*db, pool, &rig.marker, SETTLE).await;
    cut_targets(
        &mut v,
        &mut m,
        &stats.outcomes,
        cut,
        killed,
        pool.stats().created_total - base.created_total,
        None,
    );
    rig.finish(&mut m).await;
    v.finish(&m);
    m
}

fn cut_targets(
    v: &mut Verdicts,
    m: &mut Measured,
    outcomes: &[crate::chaos::Outcome],
    cut: Instant,
    lost: usize,
    created: u64,
    accepted: Option<u64>,
) {
    m.note("outcomes", summary(outcomes));
    let failed_before = outcomes
        .iter()
        .filter(|o| o.kind != OutcomeKind::Ok && o.started < cut + CUT_SEEN)
        .count();
    m.note("failed calls in flight at the cut", failed_before);
    let late: Vec<_> = outcomes
        .iter()
        .filter(|o| o.kind != OutcomeKind::Ok && o.started >= cut + CUT_SEEN)
        .collect();
    v.target(
        m,
        targets::ONLY_IN_FLIGHT_FAIL,
        late.is_empty(),
        match late.iter().max_by_key(|o| o.started) {
            None => format!("{failed_before} failed, all in flight"),
            Some(o) => format!(
                "{failed_before} in flight failed, and {} started later, the last {:.3?} after \
                 the cut: {:?}",
                late.len(),
                o.started - cut,
                o.error
            ),
        },
    );
    let lost = lost as u64;
    v.target(
        m,
        targets::REOPENS_WHAT_IT_LOST,
        created == lost && accepted.is_none_or(|a| a == lost),
        match accepted {
            Some(a) => format!("lost {lost}, opened {created} (proxy accepted {a})"),
            None => format!("lost {lost}, opened {created}"),
        },
    );
    real_cause_target(v, m, outcomes);
}
