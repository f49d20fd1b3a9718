//! Cancellation safety: an acquire dropped at any await point never leaks a slot, whatever the
//! connect, validation and hook steps were doing at that moment (deadpool's
//! `managed_cancellation` idea, extended to every step).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::Pool;
use pool_core::testing::{Behavior, TestConnector};

const BEHAVIORS: [Behavior; 4] = [
    Behavior::Ok,
    Behavior::Slow(Duration::from_millis(100)),
    Behavior::Fail,
    Behavior::Hang,
];

/// The moments, after the acquire starts, at which it is dropped.
const ABORT_AFTER: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(50),
    Duration::from_millis(150),
    Duration::from_secs(5),
];

fn hook_with(
    behavior: Arc<Mutex<Behavior>>,
) -> impl for<'a> Fn(
    &'a mut pool_core::testing::TestConnection,
    pool_core::ConnectionMetadata,
) -> pool_core::BoxFuture<'a, pool_core::Result<()>>
+ Send
+ Sync
+ 'static {
    move |_conn, _meta| {
        let behavior = *behavior.lock();
        Box::pin(async move {
            match behavior {
                Behavior::Fail => Err(pool_core::Error::config("hook", "injected hook failure")),
                Behavior::Hang => std::future::pending().await,
                Behavior::Slow(d) => {
                    tokio::time::sleep(d).await;
                    Ok(())
                }
                _ => Ok(()),
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquire_never_leaks_a_slot() {
    let mut cases = 0;
    for prime_idle in [false, true] {
        for connect in BEHAVIORS {
            for ping in BEHAVIORS {
                for hook in BEHAVIORS {
                    for abort_after in ABORT_AFTER {
                        run_case(prime_idle, connect, ping, hook, abort_after).await;
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 2 * 4 * 4 * 4 * 5);
}

async fn run_case(
    prime_idle: bool,
    connect: Behavior,
    ping: Behavior,
    hook: Behavior,
    abort_after: Duration,
) {
    let case = format!(
        "prime_idle={prime_idle} connect={connect:?} ping={ping:?} hook={hook:?} abort_after={abort_after:?}"
    );
    let connector = TestConnector::new();
    let faults = connector.faults();
    let hook_behavior = Arc::new(Mutex::new(Behavior::Ok));
    let pool = Pool::builder(connector)
        .min_size(usize::from(prime_idle))
        .max_size(2)
        .connect_timeout(Duration::from_secs(1))
        .before_checkout(hook_with(hook_behavior.clone()))
        .configure(|c| {
            c.validation_bypass = Duration::ZERO;
            c.health_check_timeout = Duration::from_secs(1);
            c.circuit_breaker.enabled = false;
            c.reset_on_return = false;
            c.leak_detection_threshold = None;
        })
        .build()
        .await
        .expect("pool builds");

    faults.set_connect(connect);
    faults.set_ping(ping);
    *hook_behavior.lock() = hook;
    let _ = tokio::time::timeout(abort_after, pool.get_timeout(Duration::from_secs(10))).await;

    // Let every attempt, retry and timeout the aborted acquire set off run its course.
    tokio::time::sleep(Duration::from_secs(30)).await;
    pool.check_invariants()
        .unwrap_or_else(|e| panic!("{case}: {e}"));

    // Healthy again: both slots must still be usable at the same time. A connect that was
    // still retrying may be mid-backoff, so allow the longest backoff (10 s) to pass.
    faults.set_connect(Behavior::Ok);
    faults.set_ping(Behavior::Ok);
    *hook_behavior.lock() = Behavior::Ok;
    let a = pool
        .get_timeout(Duration::from_secs(15))
        .await
        .unwrap_or_else(|e| panic!("{case}: first slot lost: {e}"));
    let b = pool
        .get_timeout(Duration::from_secs(15))
        .await
        .unwrap_or_else(|e| panic!("{case}: second slot lost: {e}"));
    let stats = pool.stats();
    assert_eq!(stats.active, 2, "{case}");
    assert!(stats.total <= 2, "{case}: total {}", stats.total);
    assert!(
        faults.max_open() <= 2,
        "{case}: {} open at once",
        faults.max_open()
    );
    drop((a, b));
    pool.check_invariants()
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let report = pool.close(Duration::from_secs(5)).await;
    assert!(report.complete, "{case}: {report:?}");
    assert_eq!(faults.open(), 0, "{case}: connections left open");
}
