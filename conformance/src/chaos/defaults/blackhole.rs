//! A blackhole (the network stops moving bytes, sockets stay open), short and long.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{
    RECOVERY_CAP, Verdicts, first_success_after, mixed_load, ninety_percent_after,
    real_cause_target, summary, targets, watch_recovery,
};
use crate::chaos::rig::{Rig, percentile};
use crate::chaos::{Api, ChaosDb, Measured, Outcome};
use crate::fault_proxy::Fault;

/// The query timeout the blackhole scenarios set: the default (60 s) would make the bound
/// "2 × the timeout" two minutes.
pub const BLACKHOLE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A 3 s blackhole: past the query timeout (timeouts and cancels fire), shorter than twice it.
pub async fn a_short_blackhole_never_holds_a_call_past_twice_its_timeout<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    blackhole_for(db, "blackhole 3s", Duration::from_secs(3)).await
}

/// A 10 s blackhole (the one issue 12 tried): far past twice the query timeout, so a call that
/// is not bounded would show.
pub async fn a_long_blackhole_never_holds_a_call_past_twice_its_timeout<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    blackhole_for(db, "blackhole 10s", Duration::from_secs(10)).await
}

/// The proxy blackholes every connection for `length` under [`CALLERS`](super::CALLERS)
/// callers running a 100 ms sleep (so calls are in flight when it begins), with the default
/// configuration plus a [`BLACKHOLE_QUERY_TIMEOUT`] query timeout. Targets: no call through the
/// neutral API, and none through the native client, lasts longer than 2 × its timeout (`get()`
/// ≤ 2 × the acquire timeout, the statement ≤ 2 × the query timeout), holders included; every
/// failure typed; no session left. The recovery after it lifts is measured, not a target.
async fn blackhole_for<D: ChaosDb>(
    db: Arc<D>,
    scenario: &'static str,
    length: Duration,
) -> Measured {
    let mut m = Measured::default();
    let mut v = Verdicts::new(db.name(), scenario);
    let rig = Rig::defaults(&db, "defblackhole", true, |c| {
        c.query_timeout = Some(BLACKHOLE_QUERY_TIMEOUT);
    })
    .await;
    let pool = &rig.pool;
    let acquire_timeout = pool.config().acquire_timeout;
    let load = mixed_load(&db, pool, &db.sleep_sql(100));
    sleep(Duration::from_secs(1)).await;
    rig.proxy().set(Fault::Blackhole);
    let start = Instant::now();
    sleep(length).await;
    rig.proxy().set(Fault::Pass);
    let lifted = Instant::now();
    watch_recovery(&load, lifted).await;
    let stats = load.stop(Duration::from_secs(30)).await;
    m.note("outcomes", summary(&stats.outcomes));
    m.note("adapter's cancel budget", db.cancel_budget());
    m.note(
        "first success after lifting",
        first_success_after(&stats.outcomes, lifted),
    );
    m.note(
        "90 % after lifting",
        ninety_percent_after(&stats.outcomes, lifted, RECOVERY_CAP),
    );
    for (api, target) in [
        (Api::Neutral, targets::NEUTRAL_BOUNDED),
        (Api::Native, targets::NATIVE_BOUNDED),
    ] {
        let calls: Vec<&Outcome> = stats.outcomes.iter().filter(|o| o.api == api).collect();
        let holders: Vec<&&Outcome> = calls
            .iter()
            .filter(|o| o.started < start && o.ended() > start)
            .collect();
        let worst_acquire = calls.iter().map(|o| o.acquire).max().unwrap_or_default();
        let statement = |o: &Outcome| o.total.saturating_sub(o.acquire);
        let worst_statement = calls.iter().map(|o| statement(o)).max().unwrap_or_default();
        let worst = calls
            .iter()
            .max_by_key(|o| statement(o))
            .map(|o| (o.kind, o.error.clone()));
        let p99 = percentile(calls.iter().map(|o| statement(o)).collect(), 0.99);
        v.target(
            &mut m,
            target,
            !holders.is_empty()
                && worst_acquire <= acquire_timeout * 2
                && worst_statement <= BLACKHOLE_QUERY_TIMEOUT * 2,
            format!(
                "longest get() {worst_acquire:.3?} (timeout {acquire_timeout:?}), longest \
                 statement {worst_statement:.3?} (p99 {p99:.3?}; query timeout \
                 {BLACKHOLE_QUERY_TIMEOUT:?}) ended with {worst:?}; {} holders at the start",
                holders.len()
            ),
        );
    }
    real_cause_target(&mut v, &mut m, &stats.outcomes);
    rig.finish(&mut m).await;
    v.finish(&m);
    m
}
