//! The shapes the benches and the load report rely on.

use std::time::Duration;

use benches::grid::{Cell, SIZES, TASKS};
use benches::latency::{Histogram, fmt_us};
use benches::load::recorder::{Recorder, kind};

#[test]
fn the_grid_has_every_size_task_and_mode_once() {
    let cells = Cell::all();
    assert_eq!(cells.len(), SIZES.len() * TASKS.len() * 2);
    let mut groups: Vec<String> = cells.iter().map(|c| c.group("overhead")).collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups.len(), cells.len());
    assert!(groups.contains(&"overhead/hold/size=4/tasks=1024".to_owned()));
}

#[test]
fn errors_are_counted_by_stage_and_kind() {
    let rec = Recorder::default();
    rec.error("acquire", &pool_core::Error::Closed);
    rec.error("acquire", &pool_core::Error::Closed);
    rec.error(
        "query",
        &pool_core::Error::QueryTimeout(Duration::from_secs(1)),
    );
    let errors = rec.errors();
    assert_eq!(errors.get("acquire:closed"), Some(&2));
    assert_eq!(errors.get("query:query_timeout"), Some(&1));
    assert_eq!(kind(&pool_core::Error::Closed), "closed");
}

#[test]
fn latencies_merge_across_shards() {
    let rec = Recorder::default();
    for task in 0..100 {
        rec.acquired(task, Duration::from_micros(task as u64 + 1));
    }
    let all = rec.latencies();
    assert_eq!(all.len(), 100);
    let s = all.summary();
    assert!(s.max_us >= 99.0 && s.max_us <= 101.0, "max {}", s.max_us);
    assert!(Histogram::new().is_empty());
}

#[test]
fn durations_print_in_a_readable_unit() {
    assert_eq!(fmt_us(0.5), "500 ns");
    assert_eq!(fmt_us(12.34), "12.3 µs");
    assert_eq!(fmt_us(4560.0), "4.56 ms");
    assert_eq!(fmt_us(2_000_000.0), "2.00 s");
}
