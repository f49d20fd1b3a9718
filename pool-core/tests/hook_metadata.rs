//! Hooks are async closures given the connection and its `ConnectionMetadata` (id, age, idle
//! time, checkouts), as sqlx passes `PoolConnectionMetadata`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::testing::TestConnector;
use pool_core::{ConnectionMetadata, ConnectionProtocol, Error, Pool};

/// The metadata one hook was given, call by call.
type Seen = Arc<Mutex<Vec<ConnectionMetadata>>>;

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn each_hook_sees_the_connections_metadata_and_can_use_it() {
    let (connected, checkouts, checkins) = (Seen::default(), Seen::default(), Seen::default());
    let (c, o, i) = (connected.clone(), checkouts.clone(), checkins.clone());
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .after_connect(move |conn, meta| {
            c.lock().push(meta);
            Box::pin(async move {
                conn.execute("SET search_path TO app", &[]).await?;
                Ok(())
            })
        })
        .before_checkout(move |_conn, meta| {
            o.lock().push(meta);
            Box::pin(async { Ok(()) })
        })
        .after_checkin(move |_conn, meta| {
            i.lock().push(meta);
            Box::pin(async { Ok(()) })
        })
        .build()
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(3)).await;
    let conn = pool.get().await.unwrap();
    assert_eq!(
        conn.executed(),
        ["SET search_path TO app"],
        "after_connect ran its statement"
    );
    let id = conn.id();
    tokio::time::advance(Duration::from_secs(2)).await;
    drop(conn);
    settle().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    drop(pool.get().await.unwrap());
    settle().await;

    let connected = connected.lock().clone();
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].id, id);
    assert_eq!(
        (connected[0].age, connected[0].checkouts),
        (Duration::ZERO, 0)
    );

    let checkouts = checkouts.lock().clone();
    assert_eq!(checkouts.len(), 2);
    assert_eq!(checkouts[0].age, Duration::from_secs(3));
    assert_eq!(
        checkouts[0].idle_for,
        Duration::from_secs(3),
        "idle since it opened"
    );
    assert_eq!(checkouts[0].checkouts, 0);
    assert_eq!(checkouts[1].age, Duration::from_secs(6));
    assert_eq!(
        checkouts[1].idle_for,
        Duration::from_secs(1),
        "idle since its return"
    );
    assert_eq!(checkouts[1].checkouts, 1);

    let checkins = checkins.lock().clone();
    assert_eq!(checkins.len(), 2);
    assert_eq!(checkins[0].age, Duration::from_secs(5));
    assert_eq!(checkins[0].idle_for, Duration::ZERO);
    assert_eq!(checkins[1].checkouts, 2);
}

#[tokio::test(start_paused = true)]
async fn a_before_checkout_hook_can_refuse_an_old_connection() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .before_checkout(|_conn, meta| {
            Box::pin(async move {
                if meta.age > Duration::from_secs(60) {
                    return Err(Error::config("age", "too old"));
                }
                Ok(())
            })
        })
        .build()
        .await
        .unwrap();
    drop(pool.get().await.expect("a young connection passes"));
    settle().await;
    tokio::time::advance(Duration::from_secs(61)).await;
    let error = pool.get().await.unwrap_err();
    assert!(error.to_string().contains("too old"), "{error}");
}
