//! The cancel sent after a query timeout reaches the timed-out statement and nothing after it:
//! the next statement and the pool's reset on the same connection never fail with `57014`.
//! When the cancel cannot be sent the safe way, the statement is still cancelled and the
//! connection is discarded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pool_core::{ConnectionProtocol, Error, Value};

/// PostgreSQL's `query_canceled`.
const QUERY_CANCELED: &str = "57014";

/// Rounds per test: the late second signal of a protocol cancel request hit within a few rounds.
const ROUNDS: usize = 30;

fn sqlstate(e: &Error) -> Option<&str> {
    e.backend().and_then(|b| b.code())
}

#[tokio::test]
async fn a_timed_out_query_never_cancels_the_next_statement_or_the_reset() {
    let mut conn = common::connect().await;
    let limit = Duration::from_millis(150);
    conn.set_query_timeout(Some(limit));
    let mut slowest = Duration::ZERO;
    for round in 0..ROUNDS {
        let started = Instant::now();
        let err = if round % 2 == 0 {
            conn.query("SELECT pg_sleep(1)", &[]).await.map(|_| ())
        } else {
            conn.execute("SELECT pg_sleep(1)", &[]).await.map(|_| ())
        }
        .unwrap_err();
        let took = started.elapsed();
        slowest = slowest.max(took);
        assert!(
            matches!(err, Error::QueryTimeout(d) if d == limit),
            "round {round}: the slow query should time out, got {err:?} (a 57014 here is a \
             cancel left over from an earlier round)"
        );
        assert!(!conn.is_broken(), "round {round}: broken after the timeout");

        // Immediately: the next statement, then the reset the pool runs on return.
        match conn.query("SELECT 1", &[]).await {
            Ok(rows) => assert_eq!(rows[0].get(0), Some(&Value::I64(1))),
            Err(e) => panic!(
                "round {round}: SELECT 1 after the timeout failed (SQLSTATE {:?}): {e}",
                sqlstate(&e)
            ),
        }
        if let Err(e) = conn.reset().await {
            panic!(
                "round {round}: the reset after the timeout failed (SQLSTATE {:?}): {e}",
                sqlstate(&e)
            );
        }
        assert!(!conn.is_broken(), "round {round}: broken after the reset");
        match conn.execute("SELECT 2", &[]).await {
            Ok(_) => {}
            Err(e) => assert_ne!(sqlstate(&e), Some(QUERY_CANCELED), "round {round}: {e}"),
        }
    }
    eprintln!("{ROUNDS} timeouts of {limit:?}: the slowest returned after {slowest:?}");
    assert!(
        slowest < limit + Duration::from_millis(1500),
        "a timeout returned after {slowest:?}"
    );
}

#[tokio::test]
async fn when_the_side_connection_cannot_cancel_the_statement_still_ends_and_the_connection_is_discarded()
 {
    // The provider answers for the connection itself and fails for every later one, so the
    // side connection that would run pg_cancel_backend cannot open.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let options =
        common::options().with_password_provider(pool_core::CredentialsProvider::new(move || {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    Ok(pool_core::Secret::new(""))
                } else {
                    Err(Error::config("vault", "lease expired"))
                }
            }
        }));
    let mut conn = common::connect_with(options).await;
    let mut observer = common::connect().await;
    let pid = common::backend_pid(&mut conn).await;
    let limit = Duration::from_millis(150);
    conn.set_query_timeout(Some(limit));

    let started = Instant::now();
    let err = conn.query("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, Error::QueryTimeout(d) if d == limit),
        "{err:?}"
    );
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "a side connection was tried"
    );
    assert!(
        conn.is_broken(),
        "after the protocol cancel request the connection must be discarded"
    );

    // The protocol cancel request still stopped the statement on the server.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let running = common::scalar(
            &mut observer,
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
            &[Value::I64(pid)],
        )
        .await;
        if running == Value::I64(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pg_sleep(30) still runs 1 s after the timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("the fallback returned after {took:?}");
    conn.close().await.unwrap();
}
