//! Every documented PromQL expression, evaluated by a real Prometheus (Debian's `prometheus`
//! package) scraping two instances that export the same pool names, as two replicas of one
//! service do. The expressions are read from docs/guide.md, docs/metrics.md (the table
//! columns headed "PromQL") and docs/prometheus-alerts.yml (`expr:`), not copied here, so a
//! documented query that Prometheus rejects ("many-to-many matching not allowed") fails this test.
//!
//! Prometheus and promtool are required: without them the test fails with instructions
//! (`cargo xtask services`, or `apt-get install -y prometheus`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pool_core::Pool;
use pool_core::testing::TestConnector;
use pool_manager::PoolManager;
use pool_manager::http::Server;
use serde_json::Value;

/// How long Prometheus gets to start, scrape and evaluate: generous, the machine is shared.
const DEADLINE: Duration = Duration::from_secs(90);

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test needs `{name}` (Debian's prometheus package) and found none on PATH: \
                 run `cargo xtask services` or `apt-get update && apt-get install -y prometheus`"
            )
        })
}

/// The inline code of every cell in a markdown table column whose header mentions PromQL.
fn promql_in_markdown(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut column: Option<usize> = None;
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            in_table = false;
            column = None;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        if !in_table {
            in_table = true;
            column = cells.iter().position(|c| c.contains("PromQL"));
            continue;
        }
        let Some(column) = column else { continue };
        let Some(cell) = cells.get(column) else {
            continue;
        };
        if cell.starts_with("---") {
            continue;
        }
        let code = cell.trim().trim_matches('`');
        assert!(
            !code.is_empty() && !code.contains('`'),
            "one code span per PromQL cell: {line}"
        );
        found.push(code.to_owned());
    }
    found
}

/// Every `expr:` of a Prometheus rule file (one-line expressions, as ours are).
fn promql_in_rules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("expr:"))
        .map(|expr| expr.trim().to_owned())
        .collect()
}

/// The expression without a final comparison with a number (`… > 0.9`): what it measures, which
/// has a series for every pool whose metrics exist, whatever their values.
fn measured_part(expr: &str) -> &str {
    let mut depth = 0i32;
    let mut cut = None;
    let bytes = expr.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'>' | b'<' | b'=' if depth == 0 && i > 0 && bytes[i - 1] == b' ' => cut = Some(i),
            _ => {}
        }
    }
    match cut {
        Some(at) => {
            let rest = expr[at..].trim_start_matches(['>', '<', '=', '!']).trim();
            if rest.parse::<f64>().is_ok() {
                expr[..at].trim()
            } else {
                expr
            }
        }
        None => expr,
    }
}

/// Kills Prometheus when the test ends, however it ends.
struct PrometheusGuard(Child);

impl Drop for PrometheusGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A service replica: `orders` (max 2) and `cache` (max 4) on fake connections.
async fn replica() -> (PoolManager, Server) {
    let manager = PoolManager::new();
    for (name, max) in [("orders", 2), ("cache", 4)] {
        let pool = Pool::builder(TestConnector::new())
            .name(name)
            .min_size(1)
            .max_size(max)
            .acquire_timeout(Duration::from_millis(100))
            .build()
            .await
            .unwrap();
        manager.register(name, pool).unwrap();
    }
    let server = pool_manager::http::serve(manager.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    (manager, server)
}

/// Saturates `orders` (both connections held, one more caller queueing and timing out) and
/// keeps `cache` checking out, until the task is aborted.
fn drive_load(manager: PoolManager) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _held = [
            manager.get("orders").await.unwrap(),
            manager.get("orders").await.unwrap(),
        ];
        loop {
            let timed_out = manager.get("orders").await.unwrap_err();
            assert!(timed_out.is_timeout(), "{timed_out}");
            for _ in 0..5 {
                let conn = manager.get("cache").await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(conn);
            }
        }
    })
}

struct Prometheus {
    base: String,
    client: reqwest::Client,
    log: PathBuf,
}

impl Prometheus {
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        response.json().await.unwrap()
    }

    /// Evaluates `expr` now; panics on any error Prometheus reports; returns the result vector.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let answer = self.api("/api/v1/query", &[("query", expr)]).await;
        assert_eq!(
            answer["status"], "success",
            "Prometheus rejected the documented expression {expr}: {answer}"
        );
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// What Prometheus logged, for failure messages.
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls until `ready` holds for the answer of `path`, up to [`DEADLINE`].
    async fn wait_for(&self, what: &str, path: &str, ready: impl Fn(&Value) -> bool) {
        let started = Instant::now();
        loop {
            if let Ok(response) = self.client.get(format!("{}{path}", self.base)).send().await
                && let Ok(answer) = response.json::<Value>().await
            {
                if ready(&answer) {
                    return;
                }
                assert!(
                    started.elapsed() < DEADLINE,
                    "{what} not within {DEADLINE:?}: {answer}\n{}",
                    self.log_text()
                );
            } else {
                assert!(
                    started.elapsed() < DEADLINE,
                    "Prometheus did not answer within {DEADLINE:?}:\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn start_prometheus(dir: &Path, targets: &[String]) -> (PrometheusGuard, Prometheus) {
    // The test's copy of the rules fires at once: `for` is the operator's patience, not part of
    // what the expression means.
    let rules = std::fs::read_to_string(docs_dir().join("prometheus-alerts.yml")).unwrap();
    let rules: String = rules
        .lines()
        .map(|line| match line.trim().strip_prefix("for:") {
            Some(_) => format!("{}for: 0s\n", &line[..line.len() - line.trim_start().len()]),
            None => format!("{line}\n"),
        })
        .collect();
    std::fs::write(dir.join("alerts.yml"), rules).unwrap();
    let targets = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - alerts.yml\n\
             scrape_configs:\n  - job_name: orders-service\n    static_configs:\n      \
             - targets: [{targets}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(binary("prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    (
        PrometheusGuard(child),
        Prometheus {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            log: dir.join("prometheus.log"),
        },
    )
}

fn instances(result: &[Value]) -> std::collections::BTreeSet<String> {
    result
        .iter()
        .filter_map(|s| s["metric"]["instance"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_expression_evaluates_in_prometheus_scraping_two_replicas() {
    let docs = docs_dir();
    let guide = promql_in_markdown(&std::fs::read_to_string(docs.join("guide.md")).unwrap());
    let reference = promql_in_markdown(&std::fs::read_to_string(docs.join("metrics.md")).unwrap());
    let alerts =
        promql_in_rules(&std::fs::read_to_string(docs.join("prometheus-alerts.yml")).unwrap());
    assert!(guide.len() >= 10, "the guide's alert table: {guide:?}");
    assert!(reference.len() >= 7, "metrics.md's queries: {reference:?}");
    assert!(alerts.len() >= 10, "the rule file's alerts: {alerts:?}");
    for expr in &guide {
        assert!(
            alerts.contains(expr),
            "the rule file holds the guide's alert {expr}"
        );
    }

    let (first, first_server) = replica().await;
    let (second, second_server) = replica().await;
    let loads = [drive_load(first.clone()), drive_load(second.clone())];
    let targets = [
        first_server.local_addr().to_string(),
        second_server.local_addr().to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (_guard, prometheus) = start_prometheus(dir.path(), &targets);

    prometheus
        .wait_for("both targets up", "/api/v1/targets", |answer| {
            let active = answer["data"]["activeTargets"].as_array();
            active.is_some_and(|a| a.len() == 2 && a.iter().all(|t| t["health"] == "up"))
        })
        .await;
    // Rates need two samples of each series inside their range.
    let started = Instant::now();
    while prometheus.query("count_over_time(up[1m]) >= 3").await.len() < 2 {
        assert!(started.elapsed() < DEADLINE, "three scrapes of each target");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    for expr in guide.iter().chain(&reference).chain(&alerts) {
        prometheus.query(expr).await;
        let measured = measured_part(expr);
        let result = prometheus.query(measured).await;
        assert!(
            !result.is_empty(),
            "{measured} (from {expr}) has no series while both replicas export every metric"
        );
    }

    let saturated = alerts
        .iter()
        .find(|e| e.contains("db_client_connection_max"))
        .expect("the saturation alert");
    let result = prometheus.query(saturated).await;
    let want: std::collections::BTreeSet<String> = targets.iter().cloned().collect();
    assert_eq!(
        instances(&result),
        want,
        "`orders` is saturated on both replicas, each its own series: {result:?}"
    );
    assert!(
        result.iter().all(|s| s["metric"]["pool_name"] == "orders"),
        "only `orders` is saturated: {result:?}"
    );

    prometheus
        .wait_for(
            "PoolSaturated pending or firing on both replicas",
            "/api/v1/alerts",
            |answer| {
                let alerts = answer["data"]["alerts"].as_array().cloned();
                let saturated: Vec<Value> = alerts
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| {
                        a["labels"]["alertname"] == "PoolSaturated"
                            && a["labels"]["pool_name"] == "orders"
                            && (a["state"] == "pending" || a["state"] == "firing")
                    })
                    .collect();
                instances(
                    &saturated
                        .iter()
                        .map(|a| serde_json::json!({ "metric": a["labels"] }))
                        .collect::<Vec<_>>(),
                ) == want
            },
        )
        .await;

    for load in loads {
        load.abort();
    }
    first_server.shutdown().await.unwrap();
    second_server.shutdown().await.unwrap();
}

#[test]
fn promtool_accepts_the_rule_file() {
    let output = Command::new(binary("promtool"))
        .args(["check", "rules"])
        .arg(docs_dir().join("prometheus-alerts.yml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_only_the_documented_count_suffix_in_metrics() {
    let (manager, server) = replica().await;
    let load = drive_load(manager);
    let text = reqwest::Client::new()
        .get(format!("http://{}/metrics", server.local_addr()))
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    load.abort();
    server.shutdown().await.unwrap();

    let mut promtool = Command::new(binary("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let findings: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        findings
            .iter()
            .any(|l| l.contains("db_client_connection_count")),
        "promtool reports the documented `_count` suffix: {report}"
    );
    for finding in findings {
        assert!(
            finding.starts_with("db_client_connection_count ") && finding.contains("_count"),
            "the only finding is the documented `_count` suffix of db_client_connection_count \
             (docs/metrics.md), got: {finding}"
        );
    }
}

#[test]
fn measured_part_drops_only_a_final_numeric_comparison() {
    for (expr, want) in [
        ("a / ignoring(state) b > 0.9", "a / ignoring(state) b"),
        ("x{state=\"open\"} == 1", "x{state=\"open\"}"),
        ("rate(x[5m])", "rate(x[5m])"),
        ("increase(x[15m]) > 0", "increase(x[15m])"),
    ] {
        assert_eq!(measured_part(expr), want);
    }
}
