//! Leak detection in virtual time: a connection held past the threshold is reported once with
//! the stack trace of its checkout, counted, and reclaimed after the second threshold.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::Pool;
use pool_core::testing::TestConnector;
use tokio::time::sleep;

/// Collects everything tracing writes, so tests can read the log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

/// One process-wide subscriber writing to one buffer: tracing's per-thread default does not
/// reliably see events from callsites first hit on other test threads.
fn capture_logs() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .init();
            captured
        })
        .clone()
}

async fn leaky_pool(reclaim: Option<Duration>) -> Pool<TestConnector> {
    Pool::builder(TestConnector::new())
        .name("leaky")
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            c.autoscale.enabled = false;
            c.reset_on_return = false;
            c.leak_detection_threshold = Some(Duration::from_secs(10));
            c.leak_capture_backtrace = true;
            c.leak_reclaim_after = reclaim;
        })
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_leak_is_reported_once_with_the_stack_trace_of_its_checkout() {
    let logs = capture_logs();
    let pool = leaky_pool(None).await;
    let conn = pool.get().await.unwrap();
    sleep(Duration::from_secs(9)).await;
    assert_eq!(pool.stats().leaks_total, 0, "not yet past the threshold");
    sleep(Duration::from_secs(4)).await;
    assert_eq!(pool.stats().leaks_total, 1);
    sleep(Duration::from_secs(30)).await;
    assert_eq!(pool.stats().leaks_total, 1, "reported once per checkout");

    let text = logs.text();
    assert!(text.contains("possible connection leak"), "{text}");
    assert!(text.contains("pool=leaky") || text.contains("pool: leaky") || text.contains("leaky"));
    assert!(
        text.contains("a_leak_is_reported_once_with_the_stack_trace_of_its_checkout"),
        "the checkout site is in the trace: {text}"
    );
    drop(conn);
    assert_eq!(pool.stats().idle, 1, "a leak that ends is just a return");
}

#[tokio::test(start_paused = true)]
async fn a_leaked_connection_is_reclaimed_so_capacity_recovers() {
    let connector_pool = leaky_pool(Some(Duration::from_secs(20))).await;
    let pool = connector_pool;
    let leaked = pool.get().await.unwrap();
    // With max_size 1 nobody else can get a connection while it leaks...
    assert!(pool.get_timeout(Duration::from_secs(1)).await.is_err());
    sleep(Duration::from_secs(25)).await;
    // ...until its slot is reclaimed.
    let stats = pool.stats();
    assert_eq!(stats.leaks_reclaimed_total, 1, "{stats:?}");
    let fresh = pool
        .get_timeout(Duration::from_secs(1))
        .await
        .expect("capacity recovered");
    assert_ne!(fresh.id(), leaked.id());
    pool.check_invariants().unwrap();
    // The holder finally lets go: the reclaimed connection is closed, not reused.
    drop(leaked);
    tokio::task::yield_now().await;
    let stats = pool.stats();
    assert_eq!(stats.total, 1);
    assert_eq!(stats.closed_total, 1);
    pool.check_invariants().unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_stack_traces_a_leak_report_still_names_the_line_of_the_get_call() {
    let logs = capture_logs();
    let pool = Pool::builder(TestConnector::new())
        .min_size(1)
        .max_size(1)
        .configure(|c| {
            c.leak_detection_threshold = Some(Duration::from_secs(1));
            c.leak_capture_backtrace = false;
        })
        .build()
        .await
        .unwrap();
    let _conn = pool.get().await.unwrap();
    let line = line!() - 1;
    sleep(Duration::from_secs(2)).await;
    assert_eq!(pool.stats().leaks_total, 1);
    let site = format!("tests/leak_detection.rs:{line}");
    assert!(logs.text().contains(&site), "{site} not in {}", logs.text());
}

/// Without checkout validation the fast path reads no clock: the leak scan stamps the checkout
/// with its own time, so a leak is still reported, at most a quarter of the threshold late,
/// and never early.
#[tokio::test(start_paused = true)]
async fn on_the_fast_path_a_leak_is_reported_late_by_at_most_a_quarter_never_early() {
    let pool = Pool::builder(TestConnector::new())
        .min_size(2)
        .max_size(2)
        .configure(|c| {
            c.autoscale.enabled = false;
            c.reset_on_return = false;
            c.test_on_checkout = false;
            c.leak_detection_threshold = Some(Duration::from_secs(8));
        })
        .build()
        .await
        .unwrap();
    // Half a scan interval (1 s) into the cycle, so stamping loses time.
    sleep(Duration::from_millis(500)).await;
    let held = pool.get().await.unwrap();
    let returned_in_time = pool.get().await.unwrap();
    sleep(Duration::from_millis(7_900)).await;
    drop(returned_in_time);
    assert_eq!(pool.stats().leaks_total, 0, "nothing before the threshold");
    sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        pool.stats().leaks_total,
        1,
        "reported by 10 s (threshold 8 s + 25 %)"
    );
    drop(held);
    pool.check_invariants().unwrap();
}
