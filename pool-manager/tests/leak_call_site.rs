//! pool-core names the `get()` call site in leak reports; through the manager it must still be
//! the application's line, not a line inside pool-manager.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::test_pool_with;
use pool_manager::PoolManager;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn leak_reports_name_the_applications_call_site_not_the_managers() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let manager = PoolManager::new();
    let (primary, _) = test_pool_with("orders", 1, 2, |c| {
        c.leak_detection_threshold = Some(Duration::from_secs(1));
    })
    .await;
    let (replica, _) = test_pool_with("orders.replica1", 1, 2, |c| {
        c.leak_detection_threshold = Some(Duration::from_secs(1));
    })
    .await;
    manager
        .register_replicated("orders", primary, [replica])
        .unwrap();

    let write_line = line!() + 1;
    let written = manager.get_write("orders").await.unwrap();
    let read_line = line!() + 1;
    let read = manager.get_read("orders").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let leaks: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("possible connection leak"))
        .collect();
    assert_eq!(leaks.len(), 2, "{text}");
    let file = "leak_call_site.rs";
    for (pool, line) in [
        ("pool=orders ", write_line),
        ("pool=orders.replica1", read_line),
    ] {
        let report = leaks
            .iter()
            .find(|l| l.contains(pool))
            .unwrap_or_else(|| panic!("no leak report for {pool}: {text}"));
        assert!(
            report.contains(&format!("{file}:{line}")),
            "the report names this test's line {line}: {report}"
        );
        assert!(!report.contains("pool-manager/src"), "{report}");
    }
    drop((written, read));
}
