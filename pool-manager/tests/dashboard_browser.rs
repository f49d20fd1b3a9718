//! The dashboard in a real headless browser (Debian's `chromium`): the page polls `/stats`
//! over HTTP, and the rendered DOM shows every pool with live numbers and charts. A screenshot
//! is saved as `artifacts/dashboard.png` for people to look at. A second test holds the page in
//! a 1400×1000 frame with twelve pools: every panel fits without scrolling, every chart has
//! axes, y ticks and HH:MM:SS time ticks, and the STALE marker shows once the server stops.
//!
//! Chromium is required: without it the test fails with instructions
//! (`apt-get install -y chromium`, or set `CHROMIUM` to the browser's path).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::http::service_with_activity;
use pool_core::Value;
use tokio::process::Command;

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "this test needs a headless Chromium and found none on PATH{}: install it with \
         `apt-get update && apt-get install -y chromium` (Debian/Ubuntu), or set CHROMIUM to \
         the browser's path",
        if std::env::var_os("CI").is_some() {
            " (CI is set)"
        } else {
            ""
        }
    );
}

/// Runs headless Chromium on `url` with `extra` arguments; returns stdout.
async fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("chromium finished within 90 s")
        .expect("chromium ran");
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The opening tag of the section of pool `name`.
fn section_tag<'a>(dom: &'a str, name: &str) -> &'a str {
    let marker = format!("data-pool=\"{name}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("pool {name} is not on the page:\n{dom}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

fn attribute(tag: &str, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = tag
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} missing in {tag}"))
        + marker.len();
    let end = start + tag[start..].find('"').unwrap();
    tag[start..end].to_owned()
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_every_pool_with_live_numbers_in_headless_chromium() {
    let (manager, server) = service_with_activity(30).await;
    // Keep load running while the browser polls, bounded in count and time.
    let load = {
        let manager = manager.clone();
        tokio::spawn(async move {
            for i in 0..2_000 {
                let mut conn = manager.get("cache").await.unwrap();
                conn.execute("INSERT INTO t VALUES (?)", &[Value::I64(i)])
                    .await
                    .unwrap();
                drop(conn);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let url = format!("http://{}/dashboard?interval=250", server.local_addr());

    let dom = run_chromium(&url, &["--dump-dom"]).await;
    for name in ["cache", "reports"] {
        let tag = section_tag(&dom, name);
        let samples: u32 = attribute(tag, "data-samples").parse().unwrap();
        assert!(samples >= 2, "the page polled more than once: {tag}");
        // `reports` timed out an acquire in `service_with_activity`: degraded for a minute.
        let want = if name == "reports" {
            "degraded"
        } else {
            "healthy"
        };
        assert_eq!(attribute(tag, "data-state"), want, "{tag}");
        assert_eq!(attribute(tag, "data-circuit"), "closed", "{tag}");
    }
    let cache: u64 = attribute(section_tag(&dom, "cache"), "data-checkouts")
        .parse()
        .unwrap();
    assert!(cache >= 31, "live checkouts shown: {cache}");
    assert!(dom.contains("breaker closed"), "breaker state shown");
    let reports = &dom[dom.find("data-pool=\"reports\"").unwrap()..];
    let timeouts = &reports[reports.find("v-timeouts").unwrap()..];
    let value = &timeouts[timeouts.find('>').unwrap() + 1..timeouts.find("</dd>").unwrap()];
    assert_eq!(value, "1", "the timeout of `reports` is shown");
    let points = dom.matches("points=\"").count();
    assert!(
        points >= 12,
        "each pool has its six chart lines drawn: {points}"
    );
    let status = &dom[dom.find("id=\"status\"").unwrap()..];
    let status = &status[..status.find("</span>").unwrap()];
    assert!(
        !status.contains("cannot load stats"),
        "no fetch failed: {status}"
    );

    let shot = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &url,
        &[
            "--window-size=1280,900",
            &format!("--screenshot={}", shot.display()),
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 10_000,
        "the screenshot has content: {} bytes",
        png.len()
    );

    load.abort();
    server.shutdown().await.unwrap();
}

/// A page that holds the dashboard in a 1400×1000 frame, measures it once twelve pools have a
/// few samples, asks the test's server to stop, waits for the stale marker, and writes what it
/// saw into `#out`'s attributes (which `--dump-dom` prints).
const PROBE: &str = r#"<!doctype html><html><body style="margin:0">
<iframe id="f" src="/dashboard?interval=250" style="width:1400px;height:1000px;border:0"></iframe>
<div id="out"></div>
<script>
"use strict";
const frame = document.getElementById("f");
const out = document.getElementById("out");
const report = (key, value) => out.setAttribute("data-" + key, String(value));
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function run() {
  let doc;
  for (;;) {
    doc = frame.contentDocument;
    const sections = doc ? [...doc.querySelectorAll("section.pool")] : [];
    if (sections.length === 12 && sections.every(s => Number(s.dataset.samples) >= 3)) break;
    await sleep(100);
  }
  const w = frame.contentWindow;
  report("viewport", w.innerWidth + "x" + w.innerHeight);
  const outside = [];
  for (const s of doc.querySelectorAll("section.pool")) {
    const r = s.getBoundingClientRect();
    if (r.left < 0 || r.top < 0 || r.right > w.innerWidth || r.bottom > w.innerHeight)
      outside.push(s.dataset.pool + " " + JSON.stringify(r));
  }
  report("outside", outside.join("; "));
  const charts = [...doc.querySelectorAll("svg.chart")];
  report("charts", charts.length);
  const bad = [];
  for (const c of charts) {
    const xs = [...c.querySelectorAll("text.x-tick")].map(t => t.textContent);
    const ys = [...c.querySelectorAll("text.y-tick")].map(t => t.textContent);
    if (xs.length < 2 || !xs.every(t => /^\d\d:\d\d:\d\d$/.test(t)) || ys.length < 2
        || c.querySelectorAll("line.axis").length < 2)
      bad.push(c.dataset.chart + " x[" + xs + "] y[" + ys + "]");
  }
  report("bad-charts", bad.join("; "));
  report("stale-before", doc.body.dataset.stale);
  await fetch("/stop");
  while (doc.body.dataset.stale !== "true") await sleep(100);
  const marker = doc.getElementById("stale");
  report("stale-visible", w.getComputedStyle(marker).display !== "none" && marker.getBoundingClientRect().width > 0);
  report("stale-text", marker.textContent);
  report("done", true);
}
run().catch(e => report("error", e));
</script></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_pools_fit_1400x1000_with_axes_and_a_stale_marker_once_the_server_stops() {
    use axum::response::Html;
    use axum::routing::get;
    use pool_core::Pool;
    use pool_core::testing::TestConnector;
    use pool_manager::PoolManager;
    use std::sync::{Arc, Mutex};

    let manager = PoolManager::new();
    for i in 1..=12 {
        let pool = Pool::builder(TestConnector::new())
            .min_size(1)
            .max_size(4)
            .build()
            .await
            .unwrap();
        manager.register(format!("pool{i:02}"), pool).unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stop = Arc::new(Mutex::new(Some(stop)));
    let app = pool_manager::http::router(manager)
        .route("/probe", get(|| async { Html(PROBE) }))
        .route(
            "/stop",
            get(move || {
                if let Some(stop) = stop.lock().unwrap().take() {
                    let _ = stop.send(());
                }
                async { "stopping" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    let dom = run_chromium(
        &format!("http://{addr}/probe"),
        &[
            "--window-size=1450,1100",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ],
    )
    .await;
    let out = &dom[dom.find("id=\"out\"").expect("the probe's output")..];
    let out = &out[..out.find('>').unwrap()];
    assert!(!out.contains("data-error"), "the probe failed: {out}");
    assert_eq!(attribute(out, "data-done"), "true", "{out}");
    assert_eq!(attribute(out, "data-viewport"), "1400x1000", "{out}");
    assert_eq!(
        attribute(out, "data-outside"),
        "",
        "every pool's panel lies inside 1400×1000"
    );
    assert_eq!(
        attribute(out, "data-charts"),
        "36",
        "three charts per pool: {out}"
    );
    assert_eq!(
        attribute(out, "data-bad-charts"),
        "",
        "every chart has axes, HH:MM:SS time ticks and y ticks"
    );
    assert_eq!(attribute(out, "data-stale-before"), "false", "{out}");
    assert_eq!(attribute(out, "data-stale-visible"), "true", "{out}");
    assert!(
        attribute(out, "data-stale-text").starts_with("STALE"),
        "{out}"
    );
    let result = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stopped when asked");
    result.unwrap().unwrap();
}
