//! Each connection owns a dedicated OS thread: SQLite never runs on the async runtime's
//! threads, and the thread ends when the connection is closed or dropped.

use std::cell::RefCell;
use std::sync::mpsc;
use std::time::Duration;

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::{ConnectionProtocol, Connector};

async fn memory() -> SqliteConnection {
    SqliteConnector::from_url("sqlite::memory:")
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Sends on a channel when the thread that holds it exits (thread-local destructors run then).
struct ExitSignal(mpsc::Sender<()>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static EXIT: RefCell<Option<ExitSignal>> = const { RefCell::new(None) };
}

/// Plants an exit signal on the connection's thread; the receiver fires when the thread ends.
async fn watch_thread(conn: &mut SqliteConnection) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    conn.with_native(move |_| EXIT.with(|e| *e.borrow_mut() = Some(ExitSignal(tx))))
        .await
        .unwrap();
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runs_on_the_connections_own_thread_not_the_runtimes() {
    let mut a = memory().await;
    let mut b = memory().await;
    let here = std::thread::current().id();
    let (a_id, a_name) = a
        .with_native(|_| {
            let t = std::thread::current();
            (t.id(), t.name().map(str::to_owned))
        })
        .await
        .unwrap();
    let b_id = b
        .with_native(|_| std::thread::current().id())
        .await
        .unwrap();
    let a_again = a
        .with_native(|_| std::thread::current().id())
        .await
        .unwrap();
    assert_ne!(a_id, here);
    assert_ne!(a_id, b_id, "each connection has its own thread");
    assert_eq!(a_id, a_again, "a connection keeps its thread");
    assert!(a_name.is_some_and(|n| n.starts_with("sqlite-conn-")));
}

#[tokio::test]
async fn dropping_the_connection_ends_its_thread() {
    let mut conn = memory().await;
    let exited = watch_thread(&mut conn).await;
    drop(conn);
    exited
        .recv_timeout(Duration::from_secs(2))
        .expect("the thread did not exit");
}

#[tokio::test]
async fn closing_the_connection_ends_its_thread() {
    let mut conn = memory().await;
    let exited = watch_thread(&mut conn).await;
    conn.close().await.unwrap();
    exited
        .recv_timeout(Duration::from_secs(2))
        .expect("the thread did not exit");
    assert!(conn.is_broken());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_connection_mid_query_interrupts_it_and_ends_the_thread() {
    let mut conn = memory().await;
    let exited = watch_thread(&mut conn).await;
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let task = tokio::spawn(async move {
        let _ = conn.query(endless, &[]).await;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    task.abort();
    let _ = task.await;
    exited
        .recv_timeout(Duration::from_secs(2))
        .expect("the thread did not exit");
}
