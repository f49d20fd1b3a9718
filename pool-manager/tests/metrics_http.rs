//! The status service over real HTTP: `/metrics` parsed by a real Prometheus parser,
//! `/health`, `/stats` and `/dashboard`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::http::{get, service_with_activity};
use common::test_pool_with;
use pool_core::testing::Behavior;
use prometheus_parse::{Sample, Scrape, Value};

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the exposition parses")
}

fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> &'a Sample {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {metric} {labels:?}"))
}

fn number(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{} is not a number: {other:?}", sample.metric),
    }
}

const OTEL_NAMES: [&str; 9] = [
    "db_client_connection_count",
    "db_client_connection_max",
    "db_client_connection_idle_max",
    "db_client_connection_idle_min",
    "db_client_connection_pending_requests",
    "db_client_connection_timeouts_total",
    "db_client_connection_create_time_seconds",
    "db_client_connection_wait_time_seconds",
    "db_client_connection_use_time_seconds",
];

#[tokio::test]
async fn metrics_scraped_over_http_parse_and_reflect_activity() {
    // 40: more than 32 checkouts in a row on this thread (see the use-time check below).
    let (_manager, server) = service_with_activity(40).await;
    let (status, text) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    let scrape = scrape(&text);
    let names: BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in OTEL_NAMES {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }

    let cache = ("pool_name", "cache");
    let reports = ("pool_name", "reports");
    assert_eq!(
        number(find(
            &scrape,
            "db_client_connection_count",
            &[cache, ("state", "used")]
        )),
        0.0
    );
    assert!(
        number(find(
            &scrape,
            "db_client_connection_count",
            &[cache, ("state", "idle")]
        )) >= 1.0
    );
    assert_eq!(
        number(find(&scrape, "db_client_connection_max", &[cache])),
        4.0
    );
    assert_eq!(
        number(find(&scrape, "db_client_connection_idle_min", &[reports])),
        1.0
    );
    assert_eq!(
        number(find(
            &scrape,
            "db_client_connection_timeouts_total",
            &[reports]
        )),
        1.0
    );
    assert_eq!(
        number(find(
            &scrape,
            "db_client_connection_timeouts_total",
            &[cache]
        )),
        0.0
    );
    assert!(
        number(find(
            &scrape,
            "db_client_connection_checkouts_total",
            &[cache]
        )) >= 41.0
    );
    assert_eq!(
        number(find(
            &scrape,
            "db_client_connection_circuit_state",
            &[cache, ("state", "closed")]
        )),
        1.0
    );

    // Histograms: cumulative buckets ending in +Inf = _count, which counts every checkout.
    let wait = find(&scrape, "db_client_connection_wait_time_seconds", &[cache]);
    let Value::Histogram(buckets) = &wait.value else {
        panic!("wait_time is not a histogram: {wait:?}")
    };
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "{buckets:?}"
    );
    let last = buckets.last().unwrap();
    assert!(last.less_than.is_infinite());
    let count = number(find(
        &scrape,
        "db_client_connection_wait_time_seconds_count",
        &[cache],
    ));
    assert_eq!(last.count, count);
    assert!(count >= 41.0, "every checkout is counted: {count}");
    let used = find(&scrape, "db_client_connection_use_time_seconds", &[cache]);
    let Value::Histogram(used) = &used.value else {
        panic!()
    };
    // pool-core times one fast-path checkout in 32 per thread and records it with weight 32:
    // 40 checkouts in a row hold at least one timed one, wherever the thread's count stood.
    assert!(used.last().unwrap().count >= 32.0, "{used:?}");
    let created = number(find(
        &scrape,
        "db_client_connection_create_time_seconds_count",
        &[cache],
    ));
    assert!(created >= 1.0);
    server.shutdown().await.unwrap();
}

/// `/metrics` answered `Accept: header` (none when `None`): the content type and the body.
async fn get_metrics(
    server: &pool_manager::http::Server,
    accept: Option<&str>,
) -> (String, String) {
    let url = format!("http://{}/metrics", server.local_addr());
    let mut request = reqwest::Client::new().get(&url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_answer_prometheus_in_openmetrics_and_plain_clients_in_the_classic_format() {
    let (_manager, server) = service_with_activity(3).await;
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (content_type, openmetrics) = get_metrics(&server, Some(prometheus_accept)).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(openmetrics.ends_with("# EOF\n"));

    for accept in [None, Some("text/plain"), Some("*/*")] {
        let (content_type, text) = get_metrics(&server, accept).await;
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        // Every sample's metric has its own help and type lines (what promtool checks).
        let described: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# HELP "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for sample in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let metric = sample.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    metric
                        .strip_suffix(suffix)
                        .filter(|f| described.contains(f))
                })
                .unwrap_or(metric);
            assert!(described.contains(family), "{metric} has no help text");
        }
        assert!(described.contains("db_client_connection_timeouts_total"));
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_exported_metric_is_documented_in_docs_metrics_md() {
    let (_manager, server) = service_with_activity(1).await;
    let (_, text) = get(&server, "/metrics").await;
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .expect("docs/metrics.md exists");
    let families: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(families.len() >= 25, "{families:?}");
    for family in families {
        assert!(
            docs.contains(&format!("`{family}")),
            "{family} is not in docs/metrics.md"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_is_200_while_healthy_and_503_once_a_pool_is_critical() {
    let (manager, server) = service_with_activity(1).await;
    let (status, body) = get(&server, "/health").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["pools"]["cache"]["state"], "healthy");

    let (flaky, faults) = test_pool_with("flaky", 0, 2, |c| {
        c.circuit_breaker.failure_threshold = 1;
        c.acquire_timeout = Duration::from_secs(1);
    })
    .await;
    manager.register("flaky", flaky).unwrap();
    faults.set_connect(Behavior::Fail);
    assert!(manager.get("flaky").await.is_err());

    let (status, body) = get(&server, "/health").await;
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "critical");
    assert_eq!(json["pools"]["flaky"]["state"], "critical");
    assert_eq!(json["pools"]["flaky"]["circuit"], "open");
    assert_eq!(json["pools"]["cache"]["state"], "healthy");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn stats_endpoint_serves_every_pool_as_json() {
    let (_manager, server) = service_with_activity(3).await;
    let (status, body) = get(&server, "/stats").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["pools"]["cache"]["checkouts_total"], 4);
    assert_eq!(json["pools"]["reports"]["timeouts_total"], 1);
    assert_eq!(json["routes"]["cache"]["primary"], "cache");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dashboard_is_one_self_contained_page() {
    let (_manager, server) = service_with_activity(1).await;
    let (status, body) = get(&server, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("<!doctype html>"));
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "<link",
        "<script src",
    ] {
        assert!(
            !body.contains(external),
            "the page loads an external asset: {external}"
        );
    }
    assert!(
        body.contains("fetch(\"stats\""),
        "it polls the stats next to it"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_grafana_dashboard_queries_only_exported_metrics() {
    let (_manager, server) = service_with_activity(1).await;
    let (_, text) = get(&server, "/metrics").await;
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/grafana-dashboard.json"
        ))
        .expect("docs/grafana-dashboard.json exists"),
    )
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "{exprs:?}");
    let mut used = BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("db_client_connection_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            assert!(
                exported.contains(name.as_str()),
                "{name} (in {expr}) is not exported"
            );
            used.insert(name);
        }
    }
    for otel in [
        "db_client_connection_count",
        "db_client_connection_wait_time_seconds_bucket",
    ] {
        assert!(used.contains(otel), "the dashboard shows {otel}");
    }
    server.shutdown().await.unwrap();
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
