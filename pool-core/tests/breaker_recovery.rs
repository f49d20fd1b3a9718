//! The breaker with its defaults protects the database without manufacturing outages: a short
//! first interval, callers waiting for the half-open trial instead of being refused, and
//! waiters a return can serve kept waiting when it opens.

use std::time::Duration;

use pool_core::testing::{Behavior, TestConnector};
use pool_core::{CircuitState, Error, Pool, PoolConfig};
use tokio::time::{Instant, sleep};

/// Defaults, apart from an empty start and a 2 s acquire timeout, as the chaos suite runs.
async fn pool(connector: &TestConnector, max_size: usize) -> Pool<TestConnector> {
    Pool::builder(connector.clone())
        .min_size(0)
        .max_size(max_size)
        .acquire_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn after_a_half_second_refusal_the_first_call_succeeds_within_a_second() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = pool(&connector, 8).await;
    faults.set_connect(Behavior::Fail);
    let outage = Instant::now();
    // Callers keep asking while the database refuses: the breaker opens.
    while outage.elapsed() < Duration::from_millis(500) {
        assert!(pool.get().await.is_err());
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
    faults.set_connect(Behavior::Ok);
    let back = Instant::now();
    loop {
        match pool.get().await {
            Ok(conn) => {
                drop(conn);
                break;
            }
            Err(Error::CircuitOpen { retry_in, .. }) => {
                assert!(
                    retry_in > Duration::ZERO,
                    "a refusal says when to come back"
                );
                sleep(Duration::from_millis(10)).await;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        back.elapsed() <= Duration::from_secs(1),
        "first success {:?} after the database was back",
        back.elapsed()
    );
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn callers_during_the_half_open_trial_wait_for_it_and_are_served_when_it_succeeds() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = pool(&connector, 8).await;
    faults.set_connect(Behavior::Fail);
    let Err(Error::CircuitOpen { retry_in, .. }) = pool.get().await.map(drop) else {
        panic!("five refused connects open the breaker")
    };
    sleep(retry_in).await;
    // The trial connect takes 100 ms; four callers arrive during it.
    faults.set_connect(Behavior::Slow(Duration::from_millis(100)));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await?;
                sleep(Duration::from_millis(50)).await;
                drop(conn);
                Ok::<_, Error>(())
            })
        })
        .collect();
    sleep(Duration::from_millis(10)).await;
    assert_eq!(pool.circuit_breaker().state(), CircuitState::HalfOpen);
    assert_eq!(pool.counts().connecting, 1, "one trial at a time");
    for caller in callers {
        caller
            .await
            .unwrap()
            .expect("served after the trial succeeded");
    }
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Closed);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn callers_during_a_failing_trial_get_circuit_open_with_the_next_interval() {
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = pool(&connector, 8).await;
    faults.set_connect(Behavior::Fail);
    let Err(Error::CircuitOpen { retry_in, .. }) = pool.get().await.map(drop) else {
        panic!("the breaker opens")
    };
    sleep(retry_in).await;
    // The trial takes 100 ms to be refused; a second caller arrives meanwhile.
    faults.set_connect(Behavior::SlowFail(Duration::from_millis(100)));
    let trial = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    sleep(Duration::from_millis(10)).await;
    assert_eq!(pool.circuit_breaker().state(), CircuitState::HalfOpen);
    let start = Instant::now();
    let waited = pool.get().await.map(drop);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(90),
        "the caller waited for the trial's outcome"
    );
    for outcome in [trial.await.unwrap(), waited] {
        match outcome {
            Err(Error::CircuitOpen { retry_in, .. }) => {
                // The next interval: the outage is still under 5 × `open_duration` old, so
                // it is `open_duration` again, drawn in [half, whole].
                let open = PoolConfig::default().circuit_breaker.open_duration;
                assert!(retry_in >= open / 2 && retry_in <= open, "{retry_in:?}");
            }
            other => panic!("expected CircuitOpen, got {other:?}"),
        }
    }
    assert_eq!(faults.connects_attempted(), 6, "five to open, one trial");
}

#[tokio::test(start_paused = true)]
async fn waiters_a_return_can_serve_keep_waiting_when_the_breaker_opens() {
    // A server at max_connections: the pool's sessions work, new ones are refused.
    let connector = TestConnector::new();
    let faults = connector.faults();
    let pool = Pool::builder(connector.clone())
        .config({
            let mut config = PoolConfig::default();
            config.min_size = Some(2);
            config.max_size = 4;
            config.acquire_timeout = Duration::from_secs(2);
            config
        })
        .build()
        .await
        .unwrap();
    let held = [pool.get().await.unwrap(), pool.get().await.unwrap()];
    faults.set_connect(Behavior::Fail);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(drop) })
        })
        .collect();
    // Two connects in flight, retried with backoff from 100 ms: five failures within a second.
    sleep(Duration::from_secs(1)).await;
    assert_eq!(pool.circuit_breaker().state(), CircuitState::Open);
    assert_eq!(
        pool.counts().waiting,
        3,
        "the opening failed nobody a return can serve"
    );
    drop(held);
    for waiter in waiters {
        waiter
            .await
            .unwrap()
            .expect("served by a returned connection");
    }
    pool.check_invariants().unwrap();
}
