//! The scenarios, each named for the guarantee it checks.
//!
//! Timing margins are relative to the configured timeouts and generous (hundreds of
//! milliseconds), because the suite runs on small shared machines; the one absolute bound,
//! "fails fast under a millisecond while the breaker is open", is checked on the median.

use std::sync::Arc;
use std::time::Duration;

use pool_core::{ConnectionProtocol, Error, Pool, PooledConnection};
use tokio::time::{Instant, sleep};

use super::load::{Load, OutcomeKind};
use super::rig::{MARGIN, Rig, SETTLE, assert_only_typed_fault_errors, percentile};
use super::{ChaosDb, Measured, Sessions, close_and_check, log_capture, settle};
use crate::fault_proxy::Fault;

/// Scenario 0: no fault, 32 tasks on a pool of 8 through the proxy: zero errors.
pub async fn control_load_through_the_proxy_has_no_errors<D: ChaosDb>(db: Arc<D>) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::new(&db, "control", |_| {}).await;
    let load = Load::start(&rig.pool, 32, "SELECT 1", Duration::ZERO);
    sleep(Duration::from_secs(3)).await;
    let stats = load.stop(Duration::from_secs(5)).await;
    m.note("calls", stats.outcomes.len());
    m.note(
        "p99 call",
        percentile(stats.outcomes.iter().map(|o| o.total).collect(), 0.99),
    );
    assert_eq!(
        stats.errors(),
        0,
        "{}: errors without a fault: {}",
        db.name(),
        stats.summary()
    );
    assert!(
        stats.outcomes.len() > 100,
        "{}: only {} calls",
        db.name(),
        stats.outcomes.len()
    );
    rig.finish(&mut m).await;
    m
}

/// Scenario 1: the database vanishes under load. Every call returns within the acquire timeout
/// plus a margin with a typed error; the breaker opens within 1 s of the fifth failure; while
/// it is open acquires fail in under a millisecond with the last connect error as the cause;
/// the pool makes at most one connection attempt per half-open interval.
pub async fn a_vanished_database_opens_the_breaker_and_fails_fast_with_the_cause<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let open_duration = Duration::from_millis(500);
    let acquire = Duration::from_secs(1);
    let rig = Rig::new(&db, "vanish", |c| {
        c.acquire_timeout = acquire;
        c.connect_timeout = Duration::from_millis(500);
        c.circuit_breaker.open_duration = open_duration;
    })
    .await;
    let pool = &rig.pool;
    let load = Load::start(pool, 32, "SELECT 1", Duration::ZERO);
    sleep(Duration::from_secs(1)).await;
    let base = pool.stats();
    let cut = Instant::now();
    rig.proxy().set(Fault::Refuse);

    // Watch the counters closely: when the fifth failure is counted, when the breaker opens.
    let mut fifth_failure = None;
    let opened = loop {
        let s = pool.stats();
        if fifth_failure.is_none() && s.connect_failures_total >= base.connect_failures_total + 5 {
            fifth_failure = Some(Instant::now());
        }
        if s.circuit_opened_total > base.circuit_opened_total {
            break Instant::now();
        }
        assert!(
            cut.elapsed() < Duration::from_secs(5),
            "{}: the breaker did not open within 5 s of the database vanishing ({} connect \
             failures since)",
            db.name(),
            s.connect_failures_total - base.connect_failures_total
        );
        sleep(Duration::from_millis(2)).await;
    };
    let fifth_failure = fifth_failure.unwrap_or(opened);
    m.note("breaker opened after the cut", opened - cut);
    m.note(
        "breaker opened after the 5th failure",
        opened.saturating_duration_since(fifth_failure),
    );
    assert!(
        opened.saturating_duration_since(fifth_failure) <= Duration::from_secs(1),
        "{}: the breaker opened {:?} after the fifth failure",
        db.name(),
        opened - fifth_failure
    );
    let accepted_at_open = rig.proxy().accepted();
    let half_opened_at_open = pool.stats().circuit_half_opened_total;

    // Connection attempts in the first 300 ms after opening, before any half-open trial was
    // possible (open_duration 500 ms): there should be none.
    let early = tokio::spawn({
        let pool = pool.clone();
        let accepted = rig.proxy().accepted_counter();
        async move {
            sleep(Duration::from_millis(300).saturating_sub(opened.elapsed())).await;
            let half = pool.stats().circuit_half_opened_total;
            (accepted() - accepted_at_open, half)
        }
    });
    // While open: fail fast, with the cause.
    let mut fast = Vec::new();
    let mut causes = Vec::new();
    let mut overlapped = 0;
    for _ in 0..40 {
        if pool.circuit_breaker().state() != pool_core::CircuitState::Open {
            sleep(Duration::from_millis(5)).await;
            continue;
        }
        let half_opened = pool.stats().circuit_half_opened_total;
        let t = Instant::now();
        let result = pool.get().await;
        let took = t.elapsed();
        if pool.stats().circuit_half_opened_total != half_opened {
            // The open interval ended during this call: it may have been the half-open trial,
            // which waits for its connect by design. Not a fail-fast sample.
            overlapped += 1;
            continue;
        }
        match result {
            Err(Error::CircuitOpen { last_error, .. }) => {
                fast.push(took);
                causes.push(last_error);
            }
            Err(_) => {}
            Ok(_) => panic!("{}: got a connection from a vanished database", db.name()),
        }
        sleep(Duration::from_millis(5)).await;
    }
    let p50 = percentile(fast.clone(), 0.5);
    let max = percentile(fast.clone(), 1.0);
    m.note("fail-fast samples", fast.len());
    m.note("probes that overlapped a half-open trial", overlapped);
    m.note("fail-fast p50", p50);
    m.note("fail-fast max", max);
    assert!(
        fast.len() >= 10,
        "{}: only {} acquires saw an open breaker",
        db.name(),
        fast.len()
    );
    assert!(
        p50 < Duration::from_millis(1),
        "{}: open-breaker acquires took {p50:?} (median)",
        db.name()
    );
    assert!(
        max < Duration::from_millis(50),
        "{}: an open-breaker acquire took {max:?}",
        db.name()
    );
    for cause in &causes {
        let cause = cause
            .as_ref()
            .unwrap_or_else(|| panic!("{}: CircuitOpen without last_error", db.name()));
        assert!(
            cause.class() == pool_core::ErrorClass::Connection,
            "{}: the cause is not a connection error: {cause}",
            db.name()
        );
    }
    m.note(
        "cause",
        causes
            .first()
            .and_then(|c| c.as_ref())
            .map(ToString::to_string),
    );

    // Half-open trials: at most one connection attempt per open interval.
    sleep(Duration::from_secs(2) - opened.elapsed().min(Duration::from_secs(2))).await;
    let window = opened.elapsed();
    let attempts = rig.proxy().accepted() - accepted_at_open;
    let (early_attempts, early_half) = early.await.expect("the early sampler");
    let early_half_opens = early_half - half_opened_at_open;
    m.note(
        "attempts in the first 300 ms while open (half-opens then)",
        (early_attempts, early_half_opens),
    );
    let half_opens = pool.stats().circuit_half_opened_total - half_opened_at_open;
    let intervals = (window.as_millis() / open_duration.as_millis()) as u64 + 1;
    m.note("attempts while open", (attempts, window));
    m.note("half-open intervals", half_opens);
    assert!(
        half_opens <= intervals,
        "{}: {half_opens} half-open trials in {window:?} with open_duration {open_duration:?}",
        db.name()
    );
    // Each half-open interval allows exactly one trial; any other attempt is a connect made
    // while the breaker was open.
    assert!(
        attempts <= half_opens,
        "{}: {attempts} connection attempts reached the server in {window:?} after the breaker \
         opened, but only {half_opens} half-open trials were allowed: a connect was made while \
         the breaker was open ({early_attempts} of them in the first 300 ms, before any trial \
         was due; half-opens by then: {early_half_opens})",
        db.name()
    );
    let stats = load.stop(Duration::from_secs(3)).await;
    let slowest = stats
        .outcomes
        .iter()
        .filter(|o| o.ended() > cut)
        .map(|o| o.total)
        .max()
        .unwrap_or_default();
    m.note("slowest call after the cut", slowest);
    m.note("outcomes", stats.summary());
    assert!(
        slowest <= acquire + MARGIN,
        "{}: a call took {slowest:?} (acquire timeout {acquire:?})",
        db.name()
    );
    assert_only_typed_fault_errors(db.name(), &stats);
    assert!(pool.stats().circuit_half_opened_total > base.circuit_half_opened_total);
    rig.finish(&mut m).await;
    m
}

/// Scenario 2: the database comes back: the breaker half-opens and closes, and 90 % of calls
/// succeed again within 2 s (the success ratio of a 500 ms window of call starts, as the
/// default-configuration scenarios measure it: a ratio, unlike a rate compared with the
/// pre-fault one, does not depend on how busy the machine was before the fault).
pub async fn a_returning_database_closes_the_breaker_and_calls_succeed_again_within_2s<
    D: ChaosDb,
>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::new(&db, "comeback", |c| {
        c.acquire_timeout = Duration::from_secs(1);
        c.connect_timeout = Duration::from_millis(500);
        c.circuit_breaker.open_duration = Duration::from_millis(300);
    })
    .await;
    let pool = &rig.pool;
    let load = Load::start(pool, 32, "SELECT 1", Duration::ZERO);
    sleep(Duration::from_millis(700)).await;
    let t0 = Instant::now();
    sleep(Duration::from_millis(1500)).await;
    let before = pool.stats();
    rig.proxy().set(Fault::Refuse);
    let cut = Instant::now();
    let deadline = cut + Duration::from_secs(5);
    while pool.stats().circuit_opened_total == before.circuit_opened_total {
        assert!(
            Instant::now() < deadline,
            "{}: the breaker never opened",
            db.name()
        );
        sleep(Duration::from_millis(10)).await;
    }
    sleep(Duration::from_millis(500)).await;
    rig.proxy().set(Fault::Pass);
    let back = Instant::now();
    let deadline = back + Duration::from_secs(5);
    while pool.circuit_breaker().state() != pool_core::CircuitState::Closed {
        assert!(
            Instant::now() < deadline,
            "{}: the breaker never closed",
            db.name()
        );
        sleep(Duration::from_millis(5)).await;
    }
    let closed_after = back.elapsed();
    sleep(Duration::from_millis(2500).saturating_sub(back.elapsed())).await;
    let stats = load.stop(Duration::from_secs(3)).await;
    let pre = stats.rate(t0, t0 + Duration::from_millis(1500));
    let recovered =
        super::defaults::ninety_percent_after(&stats.outcomes, back, Duration::from_secs(2));
    m.note("pre-fault rate/s", pre.round());
    m.note("breaker closed after the database returned", closed_after);
    m.note("90 % of calls succeed after", recovered);
    m.note(
        "rate/s 1.5-2 s after",
        stats
            .rate(
                back + Duration::from_millis(1500),
                back + Duration::from_secs(2),
            )
            .round(),
    );
    m.note("outcomes", stats.summary());
    let after = pool.stats();
    assert!(after.circuit_half_opened_total > before.circuit_half_opened_total);
    assert!(after.circuit_closed_total > before.circuit_closed_total);
    assert!(
        recovered.is_some(),
        "{}: 90 % of calls did not succeed within 2 s of the database's return ({})",
        db.name(),
        stats.summary()
    );
    assert_only_typed_fault_errors(db.name(), &stats);
    rig.finish(&mut m).await;
    m
}

/// Scenario 3: a blackhole. No acquire waits past its timeout; calls holding a connection when
/// it starts end within the query timeout (plus the adapter's cancel grace and a margin); the
/// hung connections are discarded by validation and health checks; the pool recovers after.
pub async fn a_blackholed_database_never_hangs_a_caller_and_the_pool_recovers<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let acquire = Duration::from_secs(1);
    let query_timeout = Duration::from_secs(1);
    let rig = Rig::new(&db, "blackhole", |c| {
        c.min_size = Some(4);
        c.acquire_timeout = acquire;
        c.connect_timeout = Duration::from_millis(500);
        c.query_timeout = Some(query_timeout);
        c.health_check_interval = Some(Duration::from_millis(250));
        c.health_check_timeout = Duration::from_millis(300);
        c.close_timeout = Duration::from_millis(500);
    })
    .await;
    let pool = &rig.pool;
    let load = Load::start(pool, 16, &db.sleep_sql(100), Duration::ZERO);
    sleep(Duration::from_secs(1)).await;
    let base = pool.stats();
    let start = Instant::now();
    rig.proxy().set(Fault::Blackhole);
    let holder_bound = query_timeout + db.cancel_grace() + MARGIN * 2;
    // Hold the blackhole until every call that was running when it began has ended (or the
    // bound has passed, which the assertions below report), and at least two acquire timeouts.
    let held_until = start + holder_bound + Duration::from_millis(250);
    while Instant::now() < held_until
        && (load.running_since_before(start) > 0 || start.elapsed() < acquire * 2 + MARGIN)
    {
        sleep(Duration::from_millis(20)).await;
    }
    let during = pool.stats();
    rig.proxy().set(Fault::Pass);
    let lifted = Instant::now();
    sleep(Duration::from_secs(3)).await;
    let stats = load.stop(Duration::from_secs(10)).await;

    let holders: Vec<_> = stats
        .outcomes
        .iter()
        .filter(|o| o.started < start && o.ended() > start)
        .collect();
    let slowest_holder = holders
        .iter()
        .map(|o| o.ended() - start)
        .max()
        .unwrap_or_default();
    let slowest_acquire = stats
        .outcomes
        .iter()
        .filter(|o| o.started >= start)
        .map(|o| o.acquire)
        .max()
        .unwrap_or_default();
    let first_success_after = stats
        .outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::Ok && o.started >= lifted)
        .map(|o| o.ended() - lifted)
        .min();
    m.note("holders at the start", holders.len());
    m.note("slowest holder ended after", slowest_holder);
    m.note("slowest acquire during", slowest_acquire);
    m.note("first success after lifting", first_success_after);
    m.note("outcomes", stats.summary());
    let discarded = (during.health_check_failures_total - base.health_check_failures_total)
        + (during.validation_failures_total - base.validation_failures_total)
        + (during.broken_on_return_total - base.broken_on_return_total);
    m.note("hung connections discarded", discarded);
    assert!(
        !holders.is_empty(),
        "{}: no call held a connection when the blackhole began",
        db.name()
    );
    let slowest = holders.iter().max_by_key(|o| o.ended() - start);
    assert!(
        slowest_holder <= holder_bound,
        "{}: a call holding a connection ended {slowest_holder:?} into the blackhole (bound \
         {holder_bound:?}: query timeout {query_timeout:?} + cancel grace {:?} + margin): \
         started {:?} before, acquire took {:?}, ended with {:?}",
        db.name(),
        db.cancel_grace(),
        slowest.map(|o| start - o.started),
        slowest.map(|o| o.acquire),
        slowest.map(|o| &o.error)
    );
    assert!(
        slowest_acquire <= acquire + MARGIN,
        "{}: an acquire waited {slowest_acquire:?} (timeout {acquire:?})",
        db.name()
    );
    assert!(
        discarded > 0,
        "{}: no hung connection was discarded",
        db.name()
    );
    let first = first_success_after.unwrap_or_else(|| {
        panic!(
            "{}: no call succeeded after the blackhole lifted",
            db.name()
        )
    });
    assert!(
        first <= Duration::from_secs(2),
        "{}: first success {first:?} after lifting",
        db.name()
    );
    assert_only_typed_fault_errors(db.name(), &stats);
    rig.finish(&mut m).await;
    m
}

/// Scenario 3b: one query on a connection whose server goes silent returns soon after the
/// query timeout (within 2 s more), however the adapter tries to cancel it.
pub async fn a_query_on_a_blackholed_connection_returns_soon_after_the_query_timeout<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let query_timeout = Duration::from_secs(1);
    let rig = Rig::new(&db, "blackholequery", |c| {
        c.min_size = Some(1);
        c.max_size = 1;
        c.query_timeout = Some(query_timeout);
        c.close_timeout = Duration::from_millis(500);
    })
    .await;
    let pool = &rig.pool;
    let mut conn = pool.get().await.expect("a connection");
    conn.query("SELECT 1", &[]).await.expect("it works");
    rig.proxy().set(Fault::Blackhole);
    let t = Instant::now();
    let result =
        tokio::time::timeout(Duration::from_secs(20), conn.query(&db.sleep_sql(10), &[])).await;
    let took = t.elapsed();
    drop(conn);
    rig.proxy().set(Fault::Pass);
    m.note("returned after", took);
    m.note(
        "with",
        result
            .as_ref()
            .map(|r| r.as_ref().map(|_| ()).map_err(ToString::to_string)),
    );
    let result = result.unwrap_or_else(|_| panic!("{}: the query hung for 20 s", db.name()));
    assert!(
        result.is_err(),
        "{}: a blackholed query succeeded",
        db.name()
    );
    let bound = query_timeout + Duration::from_secs(2);
    assert!(
        took <= bound,
        "{}: a query on a blackholed connection returned only after {took:?} (query timeout \
         {query_timeout:?}; expected within {bound:?}): {:?}",
        db.name(),
        result.err().map(|e| e.to_string())
    );
    rig.finish(&mut m).await;
    m
}

/// Scenario 4: sessions killed server-side under load. Callers whose query was cut get a
/// connection-class error; a killed idle connection is never handed out once past the
/// validation bypass; the pool refills to `min_size`.
pub async fn killed_sessions_give_connection_errors_and_are_never_handed_out<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::new(&db, "kills", |c| {
        c.min_size = Some(4);
        c.query_timeout = Some(Duration::from_secs(5));
        c.health_check_interval = None;
    })
    .await;
    let pool = &rig.pool;
    let connector = pool.connector().clone();

    // Mid-query kills.
    let load = Load::start(pool, 8, &db.sleep_sql(400), Duration::ZERO);
    sleep(Duration::from_millis(700)).await;
    let kill_at = Instant::now();
    let killed_busy = db
        .kill_sessions(&connector, &rig.marker, Sessions::Busy)
        .await
        .expect("killing busy sessions");
    sleep(Duration::from_millis(900)).await;
    let stats = load.stop(Duration::from_secs(5)).await;
    let broken = stats.count(OutcomeKind::ConnectionBroken);
    m.note("busy sessions killed", killed_busy);
    m.note("callers told the connection broke", broken);
    m.note("outcomes", stats.summary());
    assert!(killed_busy > 0, "{}: no busy session to kill", db.name());
    assert!(
        broken >= killed_busy,
        "{}: {killed_busy} sessions killed mid-query but only {broken} callers got a \
         connection-class error ({}; first other error {:?})",
        db.name(),
        stats.summary(),
        stats
            .outcomes
            .iter()
            .find(|o| o.kind != OutcomeKind::Ok && o.ended() > kill_at)
            .map(|o| &o.error)
    );
    assert_only_typed_fault_errors(db.name(), &stats);
    assert!(
        stats.count(OutcomeKind::Ok) > stats.errors(),
        "{}: the pool did not keep serving ({})",
        db.name(),
        stats.summary()
    );

    // Idle kills, past the validation bypass: none is handed out.
    settle(&*db, pool, &rig.marker, SETTLE).await;
    let before = pool.stats();
    sleep(pool.config().validation_bypass + Duration::from_millis(100)).await;
    let killed_idle = db
        .kill_sessions(&connector, &rig.marker, Sessions::Idle)
        .await
        .expect("killing idle sessions");
    assert!(killed_idle > 0, "{}: no idle session to kill", db.name());
    let max = pool.stats().max_size;
    let mut held: Vec<PooledConnection<D::Connector>> = Vec::new();
    for _ in 0..max {
        held.push(pool.get().await.expect("a connection after idle kills"));
    }
    for conn in &mut held {
        conn.query("SELECT 1", &[]).await.unwrap_or_else(|e| {
            panic!(
                "{}: a killed idle connection was handed out: {e}",
                db.name()
            )
        });
    }
    drop(held);
    let after = pool.stats();
    m.note("idle sessions killed", killed_idle);
    let caught = (after.validation_failures_total - before.validation_failures_total)
        + (after.broken_on_return_total - before.broken_on_return_total);
    m.note("killed idle connections caught at checkout", caught);
    assert!(
        caught >= killed_idle as u64,
        "{}: {killed_idle} idle sessions killed, {caught} caught by validation or is_broken",
        db.name()
    );

    // Refill.
    let total = settle(&*db, pool, &rig.marker, SETTLE).await;
    assert!(
        total >= pool.config().effective_min_size(),
        "{}: refilled to {total} only",
        db.name()
    );
    rig.finish(&mut m).await;
    m
}

/// Scenario 4b (adapters that notice a dead session without I/O): a connection killed while
/// idle is not handed out even inside the validation bypass window.
pub async fn an_idle_session_killed_inside_the_bypass_window_is_not_handed_out<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::new(&db, "bypasskill", |c| {
        c.min_size = Some(2);
        c.max_size = 2;
        c.health_check_interval = None;
        // A long bypass, so the kill surely lands inside it on a slow machine.
        c.validation_bypass = Duration::from_secs(30);
    })
    .await;
    let pool = &rig.pool;
    let connector = pool.connector().clone();
    {
        let mut a = pool.get().await.expect("a");
        let mut b = pool.get().await.expect("b");
        a.query("SELECT 1", &[]).await.expect("a works");
        b.query("SELECT 1", &[]).await.expect("b works");
    }
    sleep(Duration::from_millis(100)).await;
    let killed = db
        .kill_sessions(&connector, &rig.marker, Sessions::Idle)
        .await
        .expect("killing idle sessions");
    assert_eq!(killed, 2, "{}: both idle sessions killed", db.name());
    // Let the driver see the socket close.
    sleep(Duration::from_millis(100)).await;
    for _ in 0..2 {
        let mut conn = pool.get().await.expect("a connection");
        conn.query("SELECT 1", &[]).await.unwrap_or_else(|e| {
            panic!(
                "{}: a connection killed while idle was handed out inside the bypass window \
                 although the adapter's is_broken() knew: {e}",
                db.name()
            )
        });
        drop(conn);
    }
    m.note("killed", killed);
    rig.finish(&mut m).await;
    m
}

/// Scenario 5: 200 ms latency at the proxy. Acquire timeouts fire on time; no waiter starves
/// (the longest wait stays near the median: FIFO).
pub async fn latency_spikes_keep_acquire_timeouts_and_fifo_order<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::new(&db, "latency", |c| {
        c.min_size = Some(4);
        c.max_size = 4;
        c.acquire_timeout = Duration::from_secs(8);
        c.connect_timeout = Duration::from_secs(5);
        c.query_timeout = Some(Duration::from_secs(5));
        c.health_check_interval = None;
        // A ping takes two 200 ms hops: validation must not time out on latency alone.
        c.health_check_timeout = Duration::from_secs(2);
    })
    .await;
    let pool = &rig.pool;
    rig.proxy().set(Fault::Latency(Duration::from_millis(200)));
    let latency_from = Instant::now();
    let load = Load::start(pool, 8, "SELECT 1", Duration::ZERO);
    sleep(Duration::from_millis(1500)).await;
    let steady = Instant::now();
    // Acquire timeouts fire on time while the pool is saturated.
    let short = Duration::from_millis(300);
    let mut timeouts = Vec::new();
    for _ in 0..4 {
        let t = Instant::now();
        let r = pool.get_timeout(short).await;
        let took = t.elapsed();
        assert!(
            matches!(r, Err(Error::Timeout { .. })),
            "{}: a 300 ms acquire on a saturated pool returned {:?}",
            db.name(),
            r.as_ref().map(|_| ()).map_err(ToString::to_string)
        );
        timeouts.push(took);
    }
    sleep(Duration::from_millis(3500)).await;
    let stats = load.stop(Duration::from_secs(10)).await;
    let waits: Vec<Duration> = stats
        .outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::Ok && o.started >= steady)
        .map(|o| o.acquire)
        .collect();
    let p50 = percentile(waits.clone(), 0.5);
    let max = percentile(waits.clone(), 1.0);
    let worst_timeout = timeouts.iter().max().copied().unwrap_or_default();
    m.note("calls in steady state", waits.len());
    m.note("wait p50", p50);
    m.note("wait max", max);
    m.note("300 ms acquire gave up after (worst)", worst_timeout);
    m.note("outcomes", stats.summary());
    assert!(
        worst_timeout >= short && worst_timeout <= short + MARGIN,
        "{}: a 300 ms acquire gave up after {worst_timeout:?}",
        db.name()
    );
    let errors: Vec<String> = stats
        .outcomes
        .iter()
        .filter(|o| o.kind != OutcomeKind::Ok)
        .map(|o| {
            format!(
                "{:?} started {:?} after the latency began, acquire {:?}: {:?}",
                o.kind,
                o.started.saturating_duration_since(latency_from),
                o.acquire,
                o.error
            )
        })
        .collect();
    assert!(
        errors.is_empty(),
        "{}: errors under latency ({}; wait p50 {p50:?}, max {max:?}): {errors:#?}",
        db.name(),
        stats.summary()
    );
    assert!(
        waits.len() >= 8,
        "{}: only {} calls",
        db.name(),
        waits.len()
    );
    assert!(
        max <= p50 * 2 + Duration::from_millis(300),
        "{}: a waiter waited {max:?} while the median was {p50:?}: not first come, first served",
        db.name()
    );
    rig.finish(&mut m).await;
    m
}

/// Scenario 5b: a `Timeout` error reports how long the caller really waited, also when its
/// wait went through a failed checkout validation before it queued.
pub async fn a_timeout_error_reports_the_whole_wait<D: ChaosDb>(db: Arc<D>) -> Measured {
    let mut m = Measured::default();
    let acquire = Duration::from_millis(1500);
    let rig = Rig::new(&db, "timeoutwait", |c| {
        c.min_size = Some(1);
        c.max_size = 1;
        c.acquire_timeout = acquire;
        // Longer than the acquire timeout, so the acquire's own timeout is what fires; short
        // enough that a connect started under the latency and slowed further by it ends well
        // inside the settle window (with 10 s it could outlast the 8 s settle: seen once).
        c.connect_timeout = Duration::from_secs(3);
        c.health_check_interval = None;
        c.health_check_timeout = Duration::from_millis(500);
    })
    .await;
    let pool = &rig.pool;
    drop(pool.get().await.expect("a connection"));
    sleep(pool.config().validation_bypass + Duration::from_millis(100)).await;
    // 600 ms round trips: the checkout validation (500 ms) fails, and a new connection cannot
    // open before the acquire timeout.
    rig.proxy().set(Fault::Latency(Duration::from_millis(300)));
    let t = Instant::now();
    let result = pool.get().await;
    let took = t.elapsed();
    rig.proxy().set(Fault::Pass);
    let waited = match &result {
        Err(Error::Timeout { waited, .. }) => *waited,
        other => panic!(
            "{}: expected a timeout, got {:?}",
            db.name(),
            other.as_ref().map(|_| ()).map_err(ToString::to_string)
        ),
    };
    drop(result);
    m.note("call took", took);
    m.note("error says it waited", waited);
    assert!(
        took >= acquire && took <= acquire + MARGIN,
        "{}: the acquire took {took:?} (timeout {acquire:?})",
        db.name()
    );
    assert!(
        waited + Duration::from_millis(100) >= took,
        "{}: the Timeout error says the caller waited {waited:?}, but it waited {took:?}",
        db.name()
    );
    rig.finish(&mut m).await;
    m
}

/// A throwaway server a scenario may stop and start again.
pub trait Restartable: Send + Sync + 'static {
    /// Stops the server hard (every session cut).
    fn stop(&self) -> Result<(), String>;
    /// Starts it again on the same port.
    fn start_again(&self) -> Result<(), String>;
}

impl Restartable for crate::throwaway::ThrowawayPostgres {
    fn stop(&self) -> Result<(), String> {
        crate::throwaway::ThrowawayPostgres::stop(self)
    }
    fn start_again(&self) -> Result<(), String> {
        crate::throwaway::ThrowawayPostgres::start_again(self)
    }
}

impl Restartable for crate::throwaway::ThrowawayMariadb {
    fn stop(&self) -> Result<(), String> {
        crate::throwaway::ThrowawayMariadb::stop(self)
    }
    fn start_again(&self) -> Result<(), String> {
        crate::throwaway::ThrowawayMariadb::start_again(self)
    }
}

/// Scenario 6: the server (a throwaway one) restarts mid-load: the pool recovers on its own.
pub async fn a_restarted_server_is_recovered_from_without_a_manual_step<D: ChaosDb>(
    db: Arc<D>,
    server: Arc<dyn Restartable>,
) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::direct(&db, "restart", |c| {
        c.min_size = Some(4);
        c.acquire_timeout = Duration::from_secs(1);
    })
    .await;
    let pool = &rig.pool;
    let load = Load::start(pool, 16, "SELECT 1", Duration::ZERO);
    sleep(Duration::from_secs(1)).await;
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.stop())
        .await
        .expect("stop task")
        .expect("the server stops");
    let stopped = Instant::now();
    sleep(Duration::from_millis(500)).await;
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.start_again())
        .await
        .expect("start task")
        .expect("the server starts again");
    let up = Instant::now();
    m.note("server down for", up - stopped);
    let deadline = up + Duration::from_secs(5);
    let recovered = loop {
        let ok = load
            .snapshot()
            .iter()
            .filter(|o| o.kind == OutcomeKind::Ok && o.started >= up)
            .map(|o| o.ended())
            .min();
        if let Some(t) = ok {
            break t - up;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no call succeeded within 5 s of the server coming back",
            db.name()
        );
        sleep(Duration::from_millis(20)).await;
    };
    sleep(Duration::from_millis(500)).await;
    let stats = load.stop(Duration::from_secs(5)).await;
    m.note("first success after the server was up", recovered);
    m.note("outcomes", stats.summary());
    assert!(
        recovered <= Duration::from_secs(3),
        "{}: recovered after {recovered:?}",
        db.name()
    );
    assert_only_typed_fault_errors(db.name(), &stats);
    rig.finish(&mut m).await;
    m
}

/// Scenario 7: `close()` with a deadline while 100 tasks hold or wait: waiters get
/// `Error::Closed`, holders' connections close on return, the server is left with no session
/// of the pool.
pub async fn close_under_load_fails_waiters_and_leaves_no_session<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let rig = Rig::new(&db, "shutdown", |c| {
        c.min_size = Some(4);
        c.acquire_timeout = Duration::from_secs(10);
    })
    .await;
    let pool = &rig.pool;
    let tasks = 100;
    let hold = Duration::from_millis(100);
    let load = Load::start(pool, tasks, "SELECT 1", hold);
    sleep(Duration::from_secs(1)).await;
    let waiting = pool.stats().waiting;
    let closing = Instant::now();
    let deadline = Duration::from_secs(3);
    let report = pool.close(deadline).await;
    let took = closing.elapsed();
    assert!(
        matches!(pool.get().await, Err(Error::Closed)),
        "{}: get after close",
        db.name()
    );
    let stats = load.stop(Duration::from_secs(3)).await;
    let last_closed = stats
        .outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::Closed)
        .map(|o| o.ended().saturating_duration_since(closing))
        .max()
        .unwrap_or_default();
    m.note("waiting when closed", waiting);
    m.note("close took", took);
    m.note("last task told Closed after", last_closed);
    m.note("outcomes", stats.summary());
    assert!(
        waiting > 50,
        "{}: only {waiting} waiters when closing",
        db.name()
    );
    assert!(report.complete, "{}: {report:?}", db.name());
    assert!(took <= deadline, "{}: close took {took:?}", db.name());
    assert_eq!(
        stats.count(OutcomeKind::Closed),
        tasks,
        "{}: every task ends with Closed exactly once ({})",
        db.name(),
        stats.summary()
    );
    assert_eq!(
        stats.errors(),
        tasks,
        "{}: only Closed errors ({})",
        db.name(),
        stats.summary()
    );
    assert!(
        last_closed <= hold + MARGIN,
        "{}: a task learned of the close only after {last_closed:?}",
        db.name()
    );
    pool.check_invariants().expect("invariants after close");
    assert_eq!(
        pool.stats().total,
        0,
        "{}: connections left after close",
        db.name()
    );
    close_and_check(&*db, pool, &rig.marker, Duration::from_secs(3)).await;
    m
}

/// Holds two connections of `pool`: the checkout site the leak report must name.
async fn hold_connections_past_the_leak_threshold<M: pool_core::Connector>(
    pool: &Pool<M>,
) -> Vec<PooledConnection<M>> {
    let a = pool.get().await.expect("first leaked connection");
    let b = pool.get().await.expect("second leaked connection");
    vec![a, b]
}

/// Scenario 8: connections held past the leak threshold under load are reported with the
/// stack trace of their checkout, counted, and reclaimed.
pub async fn leaked_connections_are_reported_with_their_checkout_trace_and_reclaimed<D: ChaosDb>(
    db: Arc<D>,
) -> Measured {
    let mut m = Measured::default();
    let capture = log_capture();
    let rig = Rig::new(&db, "leak", |c| {
        c.min_size = Some(1);
        c.max_size = 4;
        c.leak_detection_threshold = Some(Duration::from_millis(200));
        c.leak_capture_backtrace = true;
        c.leak_reclaim_after = Some(Duration::from_millis(500));
    })
    .await;
    let pool = &rig.pool;
    let load = Load::start(pool, 4, "SELECT 1", Duration::from_millis(5));
    let held = hold_connections_past_the_leak_threshold(pool).await;
    let t = Instant::now();
    let deadline = t + Duration::from_secs(5);
    loop {
        let s = pool.stats();
        if s.leaks_total >= 2 && s.leaks_reclaimed_total >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: leaks reported {}, reclaimed {} after 5 s",
            db.name(),
            s.leaks_total,
            s.leaks_reclaimed_total
        );
        sleep(Duration::from_millis(10)).await;
    }
    m.note("reported and reclaimed after", t.elapsed());
    // With two slots reclaimed, the load gets all four connections again.
    let full = pool.stats();
    m.note("total with the leaked two still held", full.total);
    drop(held);
    let stats = load.stop(Duration::from_secs(3)).await;
    assert_eq!(stats.errors(), 0, "{}: {}", db.name(), stats.summary());
    let log = capture.text();
    let report = log
        .find(rig.marker.as_str())
        .map(|from| &log[from..])
        .filter(|tail| tail.contains("possible") || tail.contains("leak"))
        .and_then(|tail| tail.find("hold_connections_past_the_leak_threshold"));
    assert!(
        report.is_some(),
        "{}: no leak report naming the checkout site hold_connections_past_the_leak_threshold \
         (log has {} lines mentioning the pool)",
        db.name(),
        log.lines()
            .filter(|l| l.contains(rig.marker.as_str()))
            .count()
    );
    let s = pool.stats();
    m.note("leaks_total", s.leaks_total);
    m.note("leaks_reclaimed_total", s.leaks_reclaimed_total);
    rig.finish(&mut m).await;
    m
}
