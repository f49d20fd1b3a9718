//! Which exposition format a scraper gets: OpenMetrics when it asks for it (Prometheus does,
//! in its `Accept` header), else the classic Prometheus text format (0.0.4), which `curl`,
//! `promtool check metrics` and older scrapers expect.
//!
//! `prometheus-client` writes OpenMetrics only. The two formats share their sample lines; they
//! differ in the metadata. OpenMetrics names a counter's family without its `_total` suffix
//! (`# TYPE x counter`, then `x_total 3`), which the classic format reads as metadata for a
//! metric with no samples, leaving `x_total` without help or type ("no help text" in
//! promtool); it also has `# UNIT` lines and a final `# EOF` that the classic format lacks.
//! [`to_prometheus_text`] rewrites exactly those lines.

use std::collections::HashSet;

/// The content type of the OpenMetrics text (public as `metrics::CONTENT_TYPE`).
pub(super) const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of the classic Prometheus text format.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// The Prometheus text format 0.0.4.
    PrometheusText,
}

impl Format {
    /// The format for a request's `Accept` header: OpenMetrics when it is acceptable at all
    /// (Prometheus lists it first, weighted highest), the classic format otherwise, including
    /// when there is no header.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let asks_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or_default();
                let refused = params.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if asks_openmetrics {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
        }
    }

    /// `openmetrics` (as [`encode`](super::encode) writes it) in this format.
    pub fn render(self, openmetrics: String) -> String {
        match self {
            Format::OpenMetrics => openmetrics,
            Format::PrometheusText => to_prometheus_text(&openmetrics),
        }
    }
}

/// OpenMetrics text, as `prometheus-client` writes it, in the classic Prometheus text format:
/// counters' `# HELP` and `# TYPE` name the `_total` samples they describe, and `# UNIT` and
/// `# EOF` lines are left out. Sample lines pass unchanged.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let metadata = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match metadata {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                text.push_str(prefix);
                text.push_str(name);
                if counters.contains(name) {
                    text.push_str("_total");
                }
                if !tail.is_empty() {
                    text.push(' ');
                    text.push_str(tail);
                }
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_and_openmetrics_clients_get_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("Application/OpenMetrics-Text")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn curl_promtool_and_plain_text_clients_get_the_classic_format() {
        for accept in [
            None,
            Some("*/*"),
            Some("text/plain"),
            Some("text/plain;version=0.0.4"),
            Some("application/openmetrics-text;q=0, text/plain"),
        ] {
            assert_eq!(
                Format::negotiate(accept),
                Format::PrometheusText,
                "{accept:?}"
            );
        }
    }

    #[test]
    fn counters_metadata_names_their_total_samples_and_openmetrics_only_lines_go() {
        let openmetrics = "\
# HELP db_client_connection_created Connections opened.
# TYPE db_client_connection_created counter
db_client_connection_created_total{pool_name=\"a\"} 3
# HELP db_client_connection_max The most connections the pool may open.
# TYPE db_client_connection_max gauge
db_client_connection_max{pool_name=\"a\"} 8
# HELP db_client_connection_wait_time_seconds Time waited.
# TYPE db_client_connection_wait_time_seconds histogram
# UNIT db_client_connection_wait_time_seconds seconds
db_client_connection_wait_time_seconds_sum{pool_name=\"a\"} 0.5
db_client_connection_wait_time_seconds_count{pool_name=\"a\"} 2
# EOF
";
        let classic = "\
# HELP db_client_connection_created_total Connections opened.
# TYPE db_client_connection_created_total counter
db_client_connection_created_total{pool_name=\"a\"} 3
# HELP db_client_connection_max The most connections the pool may open.
# TYPE db_client_connection_max gauge
db_client_connection_max{pool_name=\"a\"} 8
# HELP db_client_connection_wait_time_seconds Time waited.
# TYPE db_client_connection_wait_time_seconds histogram
db_client_connection_wait_time_seconds_sum{pool_name=\"a\"} 0.5
db_client_connection_wait_time_seconds_count{pool_name=\"a\"} 2
";
        assert_eq!(to_prometheus_text(openmetrics), classic);
    }
}
