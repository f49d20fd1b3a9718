//! The load test's final report: printed for people, serialized for machines.

use std::collections::BTreeMap;

use pool_core::PoolStats;
use serde::Serialize;

use super::args::{Db, Scenario};
use crate::latency::{Summary, fmt_us};

/// One sample of the pool's size.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SizeSample {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    /// Open connections.
    pub total: usize,
    /// Checked out.
    pub active: usize,
    /// Callers waiting.
    pub waiting: usize,
    /// The auto-scaler's warm size.
    pub warm_target: usize,
    /// Resident memory, KiB.
    pub rss_kib: u64,
}

/// Something the pool did during the run, as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    /// What happened.
    pub what: String,
}

/// The leak check: each item is measured after the load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeakCheck {
    /// True when every item passed.
    pub passed: bool,
    /// (what, passed, detail).
    pub items: Vec<(String, bool, String)>,
}

impl LeakCheck {
    /// Adds one measured item.
    pub fn expect(&mut self, what: &str, ok: bool, detail: String) {
        self.items.push((what.to_owned(), ok, detail));
        self.passed = self.items.iter().all(|(_, ok, _)| *ok);
    }
}

/// Memory, from `/proc/self/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Memory {
    /// VmRSS before the tasks started, KiB.
    pub rss_before_kib: u64,
    /// VmHWM at the end (peak resident set of the whole run), KiB.
    pub peak_rss_kib: u64,
    /// RSS growth while the tasks were alive, divided by the tasks alive (most of them
    /// waiting for a connection): what one waiting task costs, all in.
    pub bytes_per_task: Option<f64>,
    /// Tasks alive when that was measured.
    pub tasks_measured: usize,
    /// The size of a `pool.get()` future: the part of a waiting task the pool accounts for.
    pub get_future_bytes: usize,
}

/// Everything the load test measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The connector.
    pub db: Db,
    /// The scenario and its size.
    pub scenario: Scenario,
    /// The pool's configuration changes from the defaults (the full config is the default).
    pub pool_config: String,
    /// Wall time of the load, seconds.
    pub elapsed_secs: f64,
    /// Completed cycles (acquire + query succeeded).
    pub completed: u64,
    /// Completed cycles per second.
    pub throughput_per_sec: f64,
    /// Acquire latency of successful gets.
    pub acquire: Summary,
    /// Errors by `stage:kind`.
    pub errors: BTreeMap<String, u64>,
    /// Memory.
    pub memory: Memory,
    /// Pool size over time (every 250 ms).
    pub size_over_time: Vec<SizeSample>,
    /// Auto-scaler decisions, breaker transitions and outage start/end, in order.
    pub events: Vec<Event>,
    /// The pool's own stats after the load (before closing).
    pub final_stats: PoolStats,
    /// The leak check.
    pub leak_check: LeakCheck,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        println!();
        println!("== load test: {:?} / {:?}", self.db, self.scenario);
        println!("pool: {}", self.pool_config);
        println!(
            "completed {} cycles in {:.2} s: {:.0} per second",
            self.completed, self.elapsed_secs, self.throughput_per_sec
        );
        let a = &self.acquire;
        println!(
            "acquire latency ({} gets): p50 {}  p95 {}  p99 {}  p99.9 {}  max {}",
            a.count,
            fmt_us(a.p50_us),
            fmt_us(a.p95_us),
            fmt_us(a.p99_us),
            fmt_us(a.p999_us),
            fmt_us(a.max_us)
        );
        let m = &self.memory;
        println!(
            "memory: RSS before {} KiB, peak (VmHWM) {} KiB; {} per task ({} tasks alive); get() future {} bytes",
            m.rss_before_kib,
            m.peak_rss_kib,
            m.bytes_per_task
                .map_or("n/a".to_owned(), |b| format!("{b:.0} bytes")),
            m.tasks_measured,
            m.get_future_bytes
        );
        if self.errors.is_empty() {
            println!("errors: none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            println!("errors: {}", list.join(", "));
        }
        println!("pool size over time (t: total / active / waiting / warm target):");
        let step = (self.size_over_time.len() / 12).max(1);
        let line: Vec<String> = self
            .size_over_time
            .iter()
            .step_by(step)
            .map(|s| {
                format!(
                    "{:.1}s: {}/{}/{}/{}",
                    s.t_ms as f64 / 1e3,
                    s.total,
                    s.active,
                    s.waiting,
                    s.warm_target
                )
            })
            .collect();
        for chunk in line.chunks(4) {
            println!("  {}", chunk.join("   "));
        }
        println!("events: {}", self.events.len());
        for e in &self.events {
            println!("  {:>7.2}s  {}", e.t_ms as f64 / 1e3, e.what);
        }
        let s = &self.final_stats;
        println!(
            "pool stats: total {} active {} idle {} created {} closed {} connect failures {} timeouts {} circuit rejections {} scale ups {} downs {} circuit opened {} closed {}",
            s.total,
            s.active,
            s.idle,
            s.created_total,
            s.closed_total,
            s.connect_failures_total,
            s.timeouts_total,
            s.circuit_rejections_total,
            s.scale_ups_total,
            s.scale_downs_total,
            s.circuit_opened_total,
            s.circuit_closed_total
        );
        println!(
            "leak check: {}",
            if self.leak_check.passed {
                "PASSED"
            } else {
                "FAILED"
            }
        );
        for (what, ok, detail) in &self.leak_check.items {
            println!("  [{}] {what}: {detail}", if *ok { "ok" } else { "FAIL" });
        }
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`); 0 where there is none.
pub fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
