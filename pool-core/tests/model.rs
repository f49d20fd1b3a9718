//! A randomized model test: random sequences of get, release, cancelled get, injected connect
//! failures and time advance, checked against a simple model, with the pool's invariants
//! verified after every step.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{Error, Pool, PooledConnection};
use proptest::prelude::*;

const MAX: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Get,
    Release(usize),
    CancelledGet { after_ms: u64 },
    ConnectFails(bool),
    BreakOne(usize),
    Advance { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Get),
        4 => (0..8usize).prop_map(Op::Release),
        2 => (0..300u64).prop_map(|after_ms| Op::CancelledGet { after_ms }),
        1 => any::<bool>().prop_map(Op::ConnectFails),
        1 => (0..8usize).prop_map(Op::BreakOne),
        2 => (0..120_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector)
        .min_size(1)
        .max_size(MAX)
        .configure(|c| {
            c.reset_on_return = false;
            c.acquire_timeout = Duration::from_secs(1);
            c.idle_timeout = Some(Duration::from_secs(30));
            c.max_lifetime = Some(Duration::from_secs(90));
            c.health_check_interval = Some(Duration::from_secs(20));
            c.leak_detection_threshold = Some(Duration::from_secs(60));
            c.leak_capture_backtrace = false;
            c.circuit_breaker.open_duration = Duration::from_secs(5);
        })
        .build()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut held: Vec<PooledConnection<TestConnector>> = Vec::new();
    let mut connect_fails = false;

    for op in ops {
        match op {
            Op::Get => {
                let idle_before = pool.stats().idle;
                let result = pool.get().await;
                match &result {
                    Ok(_) => prop_assert!(held.len() < MAX, "got a connection past max_size"),
                    Err(Error::Timeout { .. }) | Err(Error::CircuitOpen { .. }) => {
                        // Only an exhausted pool, or one that cannot connect, may refuse.
                        prop_assert!(
                            held.len() == MAX || connect_fails || idle_before == 0,
                            "refused with {} held and {} idle: {:?}",
                            held.len(),
                            idle_before,
                            result.as_ref().err()
                        );
                    }
                    Err(other) => prop_assert!(false, "unexpected error {other:?}"),
                }
                if let Ok(conn) = result {
                    conn.begin_use();
                    held.push(conn);
                }
            }
            Op::Release(i) => {
                if !held.is_empty() {
                    let conn = held.swap_remove(i % held.len());
                    conn.end_use();
                }
            }
            Op::CancelledGet { after_ms } => {
                let _ = tokio::time::timeout(Duration::from_millis(after_ms), pool.get()).await;
            }
            Op::ConnectFails(fails) => {
                connect_fails = fails;
                faults.set_connect(if fails { Behavior::Fail } else { Behavior::Ok });
            }
            Op::BreakOne(i) => {
                if !held.is_empty() {
                    let len = held.len();
                    held[i % len].break_it();
                }
            }
            Op::Advance { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        pool.check_invariants().map_err(TestCaseError::fail)?;
        let stats = pool.stats();
        prop_assert_eq!(stats.active, held.len(), "active = what the model holds");
        prop_assert!(stats.total + stats.connecting <= MAX);
        prop_assert!(!faults.double_use_seen());
    }
    drop(held);
    let report = pool.close(Duration::from_secs(10)).await;
    prop_assert!(report.complete, "{:?}", report);
    prop_assert_eq!(faults.open(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_pool_matches_the_model_under_random_operations(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run(ops))?;
    }
}
