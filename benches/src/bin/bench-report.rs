//! Turns the benchmark results into the tables and the chart of `docs/benchmarks.md`.
//!
//! Reads criterion's estimates (`<target>/criterion/**/new/{benchmark,estimates}.json`) for
//! the `overhead` and `features` groups, and the JSON the other benches leave in
//! `bench-results/`; prints Markdown to stdout and writes the overhead chart as SVG.
//!
//! `cargo run --release -p benches --bin bench-report -- [--svg benches/results/overhead.svg]
//! [--criterion DIR]` (default `$CRITERION_HOME`, else `<target>/criterion`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use benches::competitors::NAMES;
use benches::grid::{SIZES, TASKS};
use benches::results;
use serde_json::Value;

/// (group, function) → operations per second.
type Measured = BTreeMap<(String, String), f64>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let svg_path = args
        .iter()
        .position(|a| a == "--svg")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let criterion_dir = args
        .iter()
        .position(|a| a == "--criterion")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CRITERION_HOME").map(PathBuf::from))
        .unwrap_or_else(|| results::target_dir().join("criterion"));
    let measured = read_criterion(&criterion_dir);
    if measured.is_empty() {
        eprintln!(
            "no criterion results under {}: run the benches first",
            criterion_dir.display()
        );
    }
    let mut out = String::new();
    overhead_tables(&measured, &mut out);
    features_table(&measured, &mut out);
    json_tables(&mut out);
    more_tables(&mut out);
    print!("{out}");
    if let Some(path) = svg_path {
        let svg = overhead_svg(&measured);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::write(&path, svg) {
            Ok(()) => eprintln!("chart written to {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Every benchmark criterion measured, as operations per second.
fn read_criterion(dir: &Path) -> Measured {
    let mut measured = Measured::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.file_name().is_none_or(|n| n != "benchmark.json")
                || path
                    .parent()
                    .and_then(|p| p.file_name())
                    .is_none_or(|n| n != "new")
            {
                continue;
            }
            let (Some(bench), Some(est)) = (
                read_json(&path),
                read_json(&path.with_file_name("estimates.json")),
            ) else {
                continue;
            };
            let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0);
            let nanos = est["slope"]["point_estimate"]
                .as_f64()
                .or_else(|| est["mean"]["point_estimate"].as_f64());
            let (Some(group), Some(function), Some(nanos)) = (
                bench["group_id"].as_str(),
                bench["function_id"].as_str(),
                nanos,
            ) else {
                continue;
            };
            measured.insert(
                (group.to_owned(), function.to_owned()),
                elements * 1e9 / nanos,
            );
        }
    }
    measured
}

fn fmt_rate(ops: f64) -> String {
    if ops >= 1e6 {
        format!("{:.2} M", ops / 1e6)
    } else {
        format!("{:.0} k", ops / 1e3)
    }
}

fn hangs() -> Vec<(String, String, String)> {
    let Some(Value::Array(list)) = read_json(&results::dir().join("overhead-hangs.json")) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|h| {
            let cell = &h["cell"];
            let group = format!(
                "overhead/{}/size={}/tasks={}",
                cell["mode"].as_str()?,
                cell["size"].as_u64()?,
                cell["tasks"].as_u64()?
            );
            Some((
                group,
                h["pool"].as_str()?.to_owned(),
                h["note"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// One table per mode: ours in ops/s, each competitor in ops/s with ours ÷ theirs.
fn overhead_tables(measured: &Measured, out: &mut String) {
    let hangs = hangs();
    for mode in ["no-hold", "hold"] {
        let _ = writeln!(
            out,
            "\n#### Overhead, {mode} (checkouts/s; ×N = ours ÷ competitor, above 1 we are faster)\n"
        );
        let _ = write!(out, "| size | tasks |");
        for name in NAMES {
            let _ = write!(out, " {name} |");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "|---:|---:|{}", "---:|".repeat(NAMES.len()));
        for size in SIZES {
            for tasks in TASKS {
                let group = format!("overhead/{mode}/size={size}/tasks={tasks}");
                let ours = measured.get(&(group.clone(), "ours".into())).copied();
                let _ = write!(out, "| {size} | {tasks} |");
                for name in NAMES {
                    let cell = match measured.get(&(group.clone(), name.to_owned())) {
                        Some(&v) if name == "ours" => fmt_rate(v),
                        Some(&v) => match ours {
                            Some(o) => format!("{} (×{:.2})", fmt_rate(v), o / v),
                            None => fmt_rate(v),
                        },
                        None => {
                            let hung = hangs
                                .iter()
                                .any(|(g, p, n)| g == &group && p == name && n.starts_with("hung"));
                            if hung { "hangs".into() } else { "—".into() }
                        }
                    };
                    let _ = write!(out, " {cell} |");
                }
                let _ = writeln!(out);
            }
        }
    }
}

/// Feature variants against the fair configuration.
fn features_table(measured: &Measured, out: &mut String) {
    let groups: Vec<String> = measured
        .keys()
        .filter(|(g, _)| g.starts_with("features/"))
        .map(|(g, _)| g.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n#### Cost of features (pool of 16; checkouts/s and change against `fair`)\n"
    );
    let _ = write!(out, "| variant |");
    for g in &groups {
        let _ = write!(out, " {} |", g.trim_start_matches("features/"));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "|---|{}", "---:|".repeat(groups.len()));
    let variants: Vec<String> = measured
        .keys()
        .filter(|(g, _)| g == &groups[0])
        .map(|(_, f)| f.clone())
        .collect();
    let mut ordered = vec!["fair".to_owned()];
    ordered.extend(variants.into_iter().filter(|v| v != "fair"));
    for variant in ordered {
        let _ = write!(out, "| {variant} |");
        for g in &groups {
            let base = measured.get(&(g.clone(), "fair".into())).copied();
            let cell = match (measured.get(&(g.clone(), variant.clone())), base) {
                (Some(&v), Some(b)) if variant != "fair" => {
                    format!("{} ({:+.0} %)", fmt_rate(v), (v / b - 1.0) * 100.0)
                }
                (Some(&v), _) => fmt_rate(v),
                _ => "—".into(),
            };
            let _ = write!(out, " {cell} |");
        }
        let _ = writeln!(out);
    }
}

/// The tables of the JSON-writing benches, where present.
fn json_tables(out: &mut String) {
    if let Some(Value::Array(rows)) = read_json(&results::dir().join("allocs.json")) {
        let _ = writeln!(out, "\n#### Allocations per get (steady state)\n");
        let _ = writeln!(
            out,
            "| pool | mode | size | tasks | allocations/get | bytes/get |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for r in rows {
            let a = r["allocs_per_get"]
                .as_f64()
                .map_or("hangs".into(), |v| format!("{v:.3}"));
            let b = r["bytes_per_get"]
                .as_f64()
                .map_or("—".into(), |v| format!("{v:.1}"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {a} | {b} |",
                r["pool"].as_str().unwrap_or("?"),
                r["mode"].as_str().unwrap_or("?"),
                r["size"],
                r["tasks"]
            );
        }
    }
}

/// Fairness and real-database tables from their benches' JSON.
fn more_tables(out: &mut String) {
    if let Some(Value::Array(rows)) = read_json(&results::dir().join("fairness.json")) {
        let _ = writeln!(out, "\n#### Fairness and tail: wait per get\n");
        let _ = writeln!(
            out,
            "| scenario | pool | gets/s | p50 | p99 | p99.9 | max | p99/p50 |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
        let ms = |v: &Value| {
            v.as_f64()
                .map_or("—".into(), |us| format!("{:.2} ms", us / 1e3))
        };
        for r in rows {
            let w = &r["wait"];
            if w.is_null() {
                let _ = writeln!(
                    out,
                    "| {} | {} | — | — | — | — | — | {} |",
                    r["scenario"].as_str().unwrap_or("?"),
                    r["pool"].as_str().unwrap_or("?"),
                    r["note"].as_str().unwrap_or("")
                );
                continue;
            }
            let ratio = match (w["p99_us"].as_f64(), w["p50_us"].as_f64()) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.1}", a / b),
                _ => "—".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {} | {} | {ratio} |",
                r["scenario"].as_str().unwrap_or("?"),
                r["pool"].as_str().unwrap_or("?"),
                r["gets_per_sec"].as_f64().unwrap_or(0.0),
                ms(&w["p50_us"]),
                ms(&w["p99_us"]),
                ms(&w["p999_us"]),
                ms(&w["max_us"]),
            );
        }
    }
    if let Some(Value::Array(rows)) = read_json(&results::dir().join("realdb.json")) {
        let _ = writeln!(
            out,
            "\n#### Real databases (operations/s, best of the rounds; change against the raw driver)\n"
        );
        let _ = writeln!(out, "| suite | contender | ops/s | vs raw driver |");
        let _ = writeln!(out, "|---|---|---:|---:|");
        let mut base: Option<(String, f64)> = None;
        for r in rows {
            let suite = r["suite"].as_str().unwrap_or("?").to_owned();
            let ops = r["ops_per_sec"].as_f64();
            if base.as_ref().is_none_or(|(s, _)| *s != suite) {
                base = ops.map(|v| (suite.clone(), v));
            }
            let rel = match (ops, &base) {
                (Some(v), Some((s, b))) if *s == suite => {
                    format!("{:+.1} %", (v / b - 1.0) * 100.0)
                }
                _ => r["note"].as_str().unwrap_or("—").to_owned(),
            };
            let _ = writeln!(
                out,
                "| {suite} | {} | {} | {rel} |",
                r["name"].as_str().unwrap_or("?"),
                ops.map_or("—".into(), |v| format!("{v:.0}"))
            );
        }
    }
}

/// A grouped bar chart of the overhead grid (log scale), one panel per mode.
fn overhead_svg(measured: &Measured) -> String {
    // One colour per pool; sized by `NAMES`, so adding a pool without a colour fails to build.
    const COLORS: [&str; NAMES.len()] = [
        "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f",
    ];
    let cells: Vec<(usize, usize)> = SIZES
        .iter()
        .flat_map(|&s| TASKS.iter().map(move |&t| (s, t)))
        .collect();
    let (panel_w, panel_h, left, top) = (1100.0, 300.0, 70.0, 40.0);
    let height = top + 2.0 * (panel_h + 90.0);
    let (lo, hi) = (1e4f64.log10(), 1e8f64.log10());
    let y = |v: f64, y0: f64| y0 + panel_h - (v.max(1e4).log10() - lo) / (hi - lo) * panel_h;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="11">"#,
        left + panel_w + 20.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="20" font-size="14">Pool overhead: checkouts per second (log scale), 2 tokio workers</text>"#
    );
    for (i, name) in NAMES.iter().enumerate() {
        let x = left + 440.0 + i as f64 * 90.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="10" width="12" height="12" fill="{}"/><text x="{}" y="20">{name}</text>"#,
            COLORS[i],
            x + 16.0
        );
    }
    for (p, mode) in ["no-hold", "hold"].iter().enumerate() {
        let y0 = top + p as f64 * (panel_h + 90.0);
        let _ = writeln!(
            svg,
            r#"<text x="{left}" y="{}" font-size="13">{mode}</text>"#,
            y0 - 4.0
        );
        for decade in 4..=8 {
            let v = 10f64.powi(decade);
            let yy = y(v, y0);
            let _ = writeln!(
                svg,
                r##"<line x1="{left}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">1e{decade}</text>"##,
                left + panel_w,
                left - 6.0,
                yy + 4.0
            );
        }
        let group_w = panel_w / cells.len() as f64;
        let bar_w = (group_w - 10.0) / NAMES.len() as f64;
        for (c, (size, tasks)) in cells.iter().enumerate() {
            let gx = left + c as f64 * group_w + 5.0;
            let group = format!("overhead/{mode}/size={size}/tasks={tasks}");
            for (i, name) in NAMES.iter().enumerate() {
                let x = gx + i as f64 * bar_w;
                match measured.get(&(group.clone(), (*name).to_owned())) {
                    Some(&v) => {
                        let top_y = y(v, y0);
                        let _ = writeln!(
                            svg,
                            r#"<rect x="{x:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{name} {group}: {v:.0}/s</title></rect>"#,
                            bar_w - 1.0,
                            y0 + panel_h - top_y,
                            COLORS[i]
                        );
                    }
                    None => {
                        let _ = writeln!(
                            svg,
                            r#"<text x="{:.1}" y="{:.1}" font-size="9" fill="{}">×</text>"#,
                            x,
                            y0 + panel_h - 4.0,
                            COLORS[i]
                        );
                    }
                }
            }
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">s{size}/t{tasks}</text>"#,
                gx + group_w / 2.0 - 5.0,
                y0 + panel_h + 14.0
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}">s = pool size, t = concurrent tasks; × = no result (hang)</text>"#,
        height - 10.0
    );
    svg.push_str("</svg>\n");
    svg
}
