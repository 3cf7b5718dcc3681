//! `/metrics` parsed, not grepped: a real parser (prometheus-parse, and
//! promtool when installed), no duplicate series, bounded series per node,
//! and every metric the alert rules and the Grafana dashboard use is one
//! the exporter emits.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use cnictl_exporter::metrics::BGP_PEER_SERIES_CAP;
use common::*;

/// A cluster that makes every metric family non-empty: a routing fault
/// (failing pairs, findings), IPVS tables, and one BGP session down.
fn eventful() -> cnictl_model::ClusterSnapshot {
    let mut snap = broken(5);
    let bgp = snap
        .nodes
        .get_mut("node-2")
        .and_then(|n| n.bgp.as_mut())
        .expect("node-2 runs BIRD");
    let p = bgp
        .protocols
        .iter_mut()
        .find(|p| p.is_bgp())
        .expect("a BGP protocol");
    p.state = "start".into();
    p.info = "Active        Socket: Connection refused".into();
    p.bgp_state = Some("Active".into());
    snap.collected_at = Some("2026-01-01T00:00:00Z".into());
    snap
}

/// What Prometheus 2.x asks for.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `/metrics` in OpenMetrics, as Prometheus negotiates it.
async fn scrape(snap: cnictl_model::ClusterSnapshot) -> String {
    scrape_as(snap, Some(PROMETHEUS_ACCEPT)).await.1
}

/// `/metrics` with `accept` (none: as curl asks): content type and text.
async fn scrape_as(snap: cnictl_model::ClusterSnapshot, accept: Option<&str>) -> (String, String) {
    let app = app(snap);
    let mut req = axum::http::Request::get("/metrics");
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = send(&app, req.body(axum::body::Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::OK);
    (r.content_type.clone(), r.text())
}

#[tokio::test]
async fn format_follows_accept() {
    let (ct, text) = scrape_as(eventful(), None).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "classic text"
    );
    let (ct, om) = scrape_as(eventful(), Some(PROMETHEUS_ACCEPT)).await;
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ct}"
    );
    assert!(om.ends_with("# EOF\n"));
    let (ct, _) = scrape_as(eventful(), Some("text/html,*/*;q=0.8")).await;
    assert!(ct.starts_with("text/plain"), "a browser gets text: {ct}");
}

#[tokio::test]
async fn series_are_sorted_and_stable() {
    let a = scrape(eventful()).await;
    // Two analyses of one cluster: the same series in the same order (the
    // clock-derived values differ).
    let series = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s).to_string())
            .collect()
    };
    assert_eq!(
        series(&a),
        series(&scrape(eventful()).await),
        "stable order"
    );
    let mut family: Vec<&str> = Vec::new();
    let mut name = "";
    for line in a.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(family.is_sorted(), "{name} samples sorted: {family:?}");
            name = rest.split(' ').next().unwrap_or("");
            family.clear();
        } else if !line.starts_with('#') {
            family.push(line);
        }
    }
    assert!(family.is_sorted());
}

#[tokio::test]
async fn every_family_has_help_and_type() {
    for accept in [None, Some(PROMETHEUS_ACCEPT)] {
        let (_, text) = scrape_as(eventful(), accept).await;
        let help: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# HELP "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap_or(l);
            assert!(help.contains(name), "{name} has no HELP ({accept:?})");
        }
    }
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("metrics text parses")
}

/// (name, sorted labels) of every sample.
fn series(s: &prometheus_parse::Scrape) -> Vec<(String, BTreeMap<String, String>)> {
    s.samples
        .iter()
        .map(|x| {
            let labels = x
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (x.metric.clone(), labels)
        })
        .collect()
}

#[tokio::test]
async fn every_line_parses_and_no_series_repeats() {
    let text = scrape(eventful()).await;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics terminator");
    let sample_lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    let parsed = parse(&text);
    assert_eq!(
        parsed.samples.len(),
        sample_lines,
        "every sample line parsed"
    );
    let all = series(&parsed);
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "duplicate series");
}

#[tokio::test]
async fn documented_metrics_are_emitted() {
    let text = scrape(eventful()).await;
    let names: BTreeSet<String> = parse(&text)
        .samples
        .iter()
        .map(|s| s.metric.clone())
        .collect();
    for want in [
        "cnictl_findings",
        "cnictl_root_cause_findings",
        "cnictl_node_routes",
        "cnictl_node_neighbours",
        "cnictl_node_fdb_entries",
        "cnictl_node_pods",
        "cnictl_bgp_session_up",
        "cnictl_bgp_peers",
        "cnictl_bgp_peers_established",
        "cnictl_ipvs_virtual_services",
        "cnictl_ipvs_real_servers",
        "cnictl_model_info",
        "cnictl_node_unreachable_peers",
        "cnictl_pod_path_down",
        "cnictl_failing_node_pairs",
        "cnictl_pod_path_down_capped",
        "cnictl_analysis_duration_seconds",
        "cnictl_analysis_errors_total",
        "cnictl_last_success_timestamp_seconds",
        "cnictl_last_refresh_failed",
        "cnictl_build_info",
        "cnictl_nodes",
    ] {
        assert!(names.contains(want), "{want} missing from:\n{text}");
    }
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
        .expect("README.md");
    for n in &names {
        assert!(
            doc.contains(&format!("`{n}`")),
            "{n} is not documented in README.md"
        );
    }
}

#[tokio::test]
async fn values_reflect_the_analysis() {
    let parsed = parse(&scrape(eventful()).await);
    let find = |name: &str, label: &str, value: &str| {
        parsed
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label) == Some(value))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(find("cnictl_model_info", "model", "calico-bgp"), Some(1.0));
    assert_eq!(
        find("cnictl_node_unreachable_peers", "node", BROKEN_NODE),
        Some(1.0)
    );
    assert!(find("cnictl_findings", "code", "missing-pod-route").is_some_and(|v| v >= 1.0));
    assert_eq!(
        find("cnictl_pod_path_down", "src_node", BROKEN_NODE),
        Some(1.0)
    );
    let down = parsed
        .samples
        .iter()
        .filter(|s| s.metric == "cnictl_bgp_session_up" && s.labels.get("node") == Some("node-2"));
    assert!(
        down.clone()
            .any(|s| matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 0.0)),
        "the down session is listed"
    );
}

#[tokio::test]
async fn series_per_node_stay_bounded() {
    // 40 nodes: a full mesh of 39 peers per node, above the per-node cap.
    let mut snap = healthy(40);
    for n in snap.nodes.values_mut() {
        if let Some(b) = n.bgp.as_mut() {
            for p in b.protocols.iter_mut().filter(|p| p.is_bgp()) {
                p.bgp_state = Some("Active".into());
                p.state = "start".into();
                p.info = "Active".into();
            }
        }
    }
    let parsed = parse(&scrape(snap).await);
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    let mut sessions: BTreeMap<String, usize> = BTreeMap::new();
    for s in &parsed.samples {
        if let Some(n) = s.labels.get("node") {
            *per_node.entry(n.to_string()).or_default() += 1;
            if s.metric == "cnictl_bgp_session_up" {
                *sessions.entry(n.to_string()).or_default() += 1;
            }
        }
    }
    assert_eq!(per_node.len(), 40);
    assert!(per_node.values().all(|&n| n <= 200), "{per_node:?}");
    assert!(
        sessions.values().all(|&n| n == BGP_PEER_SERIES_CAP),
        "down sessions capped: {sessions:?}"
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cnictl_*` names in PromQL text.
fn metric_refs(promql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = promql;
    while let Some(i) = rest.find("cnictl_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn rules_and_dashboard_use_only_emitted_metrics() {
    let mut emitted: BTreeSet<String> = parse(&scrape(eventful()).await)
        .samples
        .iter()
        .map(|s| s.metric.clone())
        .collect();
    // The agent's and the aggregator's families (agent/src/metrics.rs
    // registers them by their full names; counters gain `_total`).
    let agent = std::fs::read_to_string(repo_root().join("agent/src/metrics.rs"))
        .expect("agent metrics source");
    for name in agent
        .split('"')
        .filter(|s| s.starts_with("cnictl_") && !s.contains(' '))
    {
        emitted.insert(name.to_string());
        emitted.insert(format!("{name}_total"));
    }
    // Recording rules' outputs.
    emitted.extend(["cnictl:data_age:seconds".to_string()]);
    let rules = std::fs::read_to_string(repo_root().join("deploy/prometheus/cnictl-rules.yml"))
        .expect("rules file");
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/cnictl-dashboard.json"))
            .expect("dashboard"),
    )
    .expect("dashboard is JSON");
    let mut exprs = Vec::new();
    dashboard_exprs(&dash, &mut exprs);
    assert!(
        exprs.len() >= 15,
        "dashboard has its queries: {}",
        exprs.len()
    );
    let mut used = metric_refs(&rules);
    assert!(used.len() >= 6, "rules reference metrics: {used:?}");
    for e in &exprs {
        used.extend(metric_refs(e));
    }
    let unknown: Vec<_> = used.difference(&emitted).collect();
    assert!(unknown.is_empty(), "used but not emitted: {unknown:?}");
    assert!(exprs.iter().all(|e| !e.is_empty()));
    // Provisioned from a file (the Helm ConfigMap), a dashboard gets no
    // import dialog: an `${DS_…}` input would stay unresolved.
    let raw = dash.to_string();
    assert!(
        dash.get("__inputs").is_none() && !raw.contains("${DS_"),
        "no import-time inputs"
    );
    let var = dash["templating"]["list"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["type"] == "datasource"))
        .expect("a datasource variable");
    assert_eq!(var["query"], "prometheus");
    assert!(
        raw.contains("cnictl_aggregator_agent_up"),
        "a panel for agents"
    );
}

/// promtool, when installed (Debian `prometheus`): lints the scrape in
/// both formats (clean: no problem at all) and checks the rules and the
/// scrape config.
#[tokio::test]
async fn promtool_accepts_metrics_rules_and_config() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("skipping: promtool not installed (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for accept in [None, Some(PROMETHEUS_ACCEPT)] {
        let (_, text) = scrape_as(eventful(), accept).await;
        let f = dir.path().join("metrics.txt");
        std::fs::write(&f, &text).expect("write");
        let out = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&f).expect("open"))
            .output()
            .expect("promtool runs");
        let report = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && report.trim().is_empty(),
            "promtool check metrics ({accept:?}): {report}"
        );
    }
    let prom = repo_root().join("deploy/prometheus");
    for args in [
        vec!["check", "rules", "cnictl-rules.yml"],
        vec!["check", "config", "prometheus.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&prom)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn gzip_is_served_when_accepted() {
    use std::io::Read as _;
    let app = app(eventful());
    let plain = get(&app, "/metrics").await.text();
    let req = |enc: &str| {
        axum::http::Request::get("/metrics")
            .header("accept-encoding", enc)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let r = send(&app, req("gzip, deflate")).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .expect("gzip body");
    assert_eq!(text, plain, "same text, compressed");
    let r = send(&app, req("gzip;q=0, identity")).await;
    assert_eq!(r.text(), plain, "q=0 refuses gzip");
}

/// Root causes and their consequences are counted apart: one BGP session
/// down (fixtures/calico-bgp-broken-bgp-session-down) is six findings, one
/// root cause on node-1 and five symptoms.
#[tokio::test]
async fn root_causes_and_symptoms_are_counted_apart() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/calico-bgp-broken-bgp-session-down");
    let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
    let parsed = parse(&scrape(snap).await);
    let sum = |name: &str| -> f64 {
        let values = parsed.samples.iter().filter(|s| s.metric == name);
        values
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .sum()
    };
    assert_eq!(sum("cnictl_findings"), 6.0);
    assert_eq!(sum("cnictl_root_cause_findings"), 1.0);
    assert_eq!(sum("cnictl_symptom_findings"), 5.0);
    let root = parsed
        .samples
        .iter()
        .find(|s| s.metric == "cnictl_root_cause_findings")
        .expect("a root series");
    assert_eq!(root.labels.get("code"), Some("bgp-session-down"));
    assert_eq!(root.labels.get("node"), Some("node-1"));
}
