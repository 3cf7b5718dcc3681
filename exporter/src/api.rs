//! The JSON API handlers. Each reads the last good analysis; none computes
//! analysis. Bad input is a 4xx JSON error, never a 5xx or a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cnictl_analyzers::Code;
use cnictl_analyzers::{Finding, Severity};
use serde::{Deserialize, Serialize};
use serde_json::json;

use cnictl_analyzers::pipeline::{Analysis, NodeSummary, SeverityCounts};
use cnictl_analyzers::reach::FailingPair;
use cnictl_httpkit::ApiError;

use crate::explain::{self, ExplainQuery};
use crate::matrix::{self, MatrixQuery};
use crate::state::{AppState, Served};

/// Default and largest page of `/api/v1/findings`.
pub const FINDINGS_PAGE: usize = 500;
pub const FINDINGS_PAGE_MAX: usize = 5000;

fn ready(state: &AppState) -> Result<Arc<Served>, ApiError> {
    state.current().ok_or_else(|| {
        let why = state
            .status()
            .last_error
            .map_or_else(|| "first analysis still running".to_string(), |e| e.message);
        ApiError::not_ready(format!("no analysis available yet: {why}"))
    })
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request(format!("malformed query: {}", e.body_text())))
}

/// `/readyz`: 200 once an analysis succeeded (a later failure is reported
/// in the body but the last good result is still served), else 503.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let status = state.status();
    let ready = state.current().is_some();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "stale": status.last_error.is_some(),
        "status": status,
    });
    (code, Json(body)).into_response()
}

/// `/metrics`: the text rendered at the last refresh, in the format the
/// scraper negotiates, gzip-compressed (also at refresh) when accepted.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.metrics_response(&headers)
}

#[derive(Serialize)]
struct ModelOut<'a> {
    schema: &'static str,
    model: &'a str,
    source: &'a str,
    collected_at: Option<&'a str>,
    /// When the data were collected and how that is known (README
    /// "Operating cnictl": timestamps).
    data_time: Option<crate::state::DataTime>,
    nodes: usize,
    findings: SeverityCounts,
    /// How many findings are root causes (the rest are their consequences).
    root_causes: usize,
    per_node: &'a [cnictl_analyzers::infer::NodeModel],
    analysis_seconds: f64,
    reachability: ReachOut<'a>,
}

#[derive(Serialize)]
struct ReachOut<'a> {
    probes: usize,
    failing_total: usize,
    failing_pairs: &'a [FailingPair],
    truncated: bool,
}

/// `/api/v1/model`: the cluster's model, per-node models with evidence,
/// and the overview numbers.
pub async fn model(State(state): State<AppState>) -> Result<Response, ApiError> {
    let a = ready(&state)?;
    let reach = a.reachability();
    let out = ModelOut {
        schema: cnictl_model::SCHEMA,
        model: a.model(),
        source: &a.snapshot().source,
        collected_at: a.snapshot().collected_at.as_deref(),
        data_time: state.status().data_time,
        nodes: a.nodes().len(),
        findings: a.counts_by_severity(),
        root_causes: a.report().root_count(),
        per_node: &a.inference().per_node,
        analysis_seconds: a.duration.as_secs_f64(),
        reachability: ReachOut {
            probes: reach.probes,
            failing_total: reach.failing_total,
            failing_pairs: &reach.failing_pairs,
            truncated: reach.truncated(),
        },
    };
    Ok(Json(out).into_response())
}

/// Filters of `/api/v1/findings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    pub severity: Option<String>,
    pub code: Option<String>,
    pub node: Option<String>,
    /// Case-insensitive text search over code, node, summary, evidence, hint.
    pub q: Option<String>,
    /// `root`: only root causes; `symptom`: only their consequences.
    pub role: Option<String>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

struct FindingFilter {
    /// `Some(true)`: roots only; `Some(false)`: symptoms only.
    root: Option<bool>,
    severity: Option<Severity>,
    code: Option<Code>,
    node: Option<String>,
    text: Option<String>,
}

impl FindingFilter {
    fn parse(q: &FindingsQuery, a: &Analysis) -> Result<Self, ApiError> {
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
        Ok(FindingFilter {
            root: role(q.role.as_deref())?,
            severity: severity(q.severity.as_deref())?,
            code: nonempty(&q.code).map(known_code).transpose()?,
            node: nonempty(&q.node).map(|n| known_node(a, n)).transpose()?,
            text: nonempty(&q.q).map(|t| t.to_lowercase()),
        })
    }

    fn matches(&self, f: &Finding) -> bool {
        self.severity.is_none_or(|s| s == f.severity)
            && self.code.is_none_or(|c| c == f.code)
            && self
                .node
                .as_ref()
                .is_none_or(|n| f.node.as_ref() == Some(n))
            && self.text.as_ref().is_none_or(|t| text_matches(f, t))
    }
}

fn role(s: Option<&str>) -> Result<Option<bool>, ApiError> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some("root") => Ok(Some(true)),
        Some("symptom") => Ok(Some(false)),
        Some(s) => Err(ApiError::bad_request(format!(
            "unknown role {s:?} (expected root or symptom)"
        ))),
    }
}

fn severity(s: Option<&str>) -> Result<Option<Severity>, ApiError> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let all = [Severity::Error, Severity::Warning, Severity::Info];
    let found = all.into_iter().find(|v| v.as_str() == s);
    let why = format!("unknown severity {s:?} (expected error, warning or info)");
    found.map(Some).ok_or_else(|| ApiError::bad_request(why))
}

fn known_code(c: String) -> Result<Code, ApiError> {
    Code::parse(&c).ok_or_else(|| ApiError::bad_request(format!("unknown finding code {c:?}")))
}

fn known_node(a: &Analysis, n: String) -> Result<String, ApiError> {
    match a.node(&n) {
        Some(_) => Ok(n),
        None => Err(ApiError::not_found(
            "unknown_node",
            format!("no node {n:?}"),
        )),
    }
}

fn text_matches(f: &Finding, needle: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    has(f.code.as_str())
        || f.node.as_deref().is_some_and(has)
        || has(&f.summary)
        || has(&f.hint)
        || f.evidence.iter().any(|e| has(e))
}

/// `/api/v1/findings?severity=&code=&node=&q=&offset=&limit=`.
pub async fn findings(
    State(state): State<AppState>,
    q: Result<Query<FindingsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let a = ready(&state)?;
    let filter = FindingFilter::parse(&q, &a)?;
    let limit = q.limit.unwrap_or(FINDINGS_PAGE);
    if limit == 0 || limit > FINDINGS_PAGE_MAX {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={FINDINGS_PAGE_MAX}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    let report = a.report();
    let views = FindingView::all(report);
    let matching: Vec<&FindingView> = views
        .iter()
        .filter(|v| filter.matches(v.finding) && filter.root.is_none_or(|r| r == v.is_root()))
        .collect();
    let page: Vec<&FindingView> = matching.iter().skip(offset).take(limit).copied().collect();
    let codes = by_code(matching.iter().map(|v| v.finding));
    Ok(Json(json!({
        "schema": cnictl_model::SCHEMA,
        "model": a.model(),
        "total": matching.len(),
        "offset": offset,
        "limit": limit,
        "by_code": codes,
        "root_causes": report.root_count(),
        "findings": page,
        "skipped": report.skipped,
    }))
    .into_response())
}

/// A finding as `/api/v1/findings` serves it: with its place in the
/// report and, for a consequence, the root cause that explains it.
#[derive(Serialize)]
struct FindingView<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    /// Its index in the report (`caused_by` refers to these).
    id: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    caused_by: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    because: Option<&'a str>,
}

impl<'a> FindingView<'a> {
    fn all(report: &'a cnictl_analyzers::Report) -> Vec<FindingView<'a>> {
        let mut views: Vec<FindingView<'a>> = report
            .findings
            .iter()
            .enumerate()
            .map(|(id, finding)| FindingView {
                finding,
                id,
                caused_by: None,
                because: None,
            })
            .collect();
        for g in &report.groups {
            for s in &g.symptoms {
                views[s.finding].caused_by = Some(g.root);
                views[s.finding].because = Some(&s.because);
            }
        }
        views
    }

    fn is_root(&self) -> bool {
        self.caused_by.is_none()
    }
}

fn by_code<'a>(findings: impl Iterator<Item = &'a Finding>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for f in findings {
        *m.entry(f.code.as_str()).or_default() += 1;
    }
    m
}

/// `/api/v1/nodes`: one summary per node.
pub async fn nodes(State(state): State<AppState>) -> Result<Response, ApiError> {
    let a = ready(&state)?;
    Ok(Json(json!({
        "schema": cnictl_model::SCHEMA,
        "model": a.model(),
        "nodes": a.nodes(),
    }))
    .into_response())
}

#[derive(Serialize)]
struct NodeDetail<'a> {
    schema: &'static str,
    summary: &'a NodeSummary,
    model_evidence: Option<&'a [String]>,
    links: Option<&'a [cnictl_model::Link]>,
    addrs: Option<&'a [cnictl_model::Addr]>,
    routes: Vec<String>,
    rules: Option<Vec<String>>,
    neighbours: Option<Vec<String>>,
    fdb: Option<Vec<String>>,
    bgp: Option<&'a cnictl_model::Bgp>,
    ipvs: Option<Vec<IpvsOut>>,
    findings: Vec<&'a Finding>,
}

#[derive(Serialize)]
struct IpvsOut {
    service: String,
    reals: Vec<String>,
}

/// `/api/v1/nodes/{name}`: the node's tables as the tools print them
/// (so the UI can put findings, whose evidence uses the same text, next
/// to the entries they concern), plus its findings.
pub async fn node(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(name) =
        name.map_err(|e| ApiError::bad_request(format!("malformed node name: {}", e.body_text())))?;
    let a = ready(&state)?;
    let summary = a
        .node(&name)
        .ok_or_else(|| ApiError::not_found("unknown_node", format!("no node {name:?}")))?;
    Ok(Json(NodeDetail::of(&a, &name, summary)).into_response())
}

impl<'a> NodeDetail<'a> {
    /// The node's tables as text, its model evidence and its findings.
    fn of(a: &'a Analysis, name: &str, summary: &'a NodeSummary) -> Self {
        let dump = a.snapshot().nodes.get(name);
        NodeDetail {
            schema: cnictl_model::SCHEMA,
            summary,
            model_evidence: a.inference().node(name).map(|m| m.evidence.as_slice()),
            links: dump.map(|d| d.links.as_slice()),
            addrs: dump.map(|d| d.addrs.as_slice()),
            routes: dump.map(|d| lines(&d.routes)).unwrap_or_default(),
            rules: dump.and_then(|d| d.rules.as_deref().map(lines)),
            neighbours: dump.and_then(|d| d.neighbours.as_deref().map(lines)),
            fdb: dump.and_then(|d| d.fdb.as_deref().map(lines)),
            bgp: dump.and_then(|d| d.bgp.as_ref()),
            ipvs: dump.and_then(|d| d.ipvs.as_deref()).map(ipvs_lines),
            findings: a.findings_of(name).collect(),
        }
    }
}

fn ipvs_lines(services: &[cnictl_model::VirtualService]) -> Vec<IpvsOut> {
    services
        .iter()
        .map(|s| IpvsOut {
            service: s.to_string(),
            reals: lines(&s.reals),
        })
        .collect()
}

fn lines<T: std::fmt::Display>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// `/api/v1/explain?src=&dst=&port=&proto=&size=&df=`. At most
/// `explain_concurrency` run at once; the rest get 429 immediately.
pub async fn explain(
    State(state): State<AppState>,
    q: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let a = ready(&state)?;
    let _permit = state
        .explain_permits()
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("explain"))?;
    let out = tokio::task::spawn_blocking(move || explain::run(&a, &q))
        .await
        .map_err(|_| ApiError::internal("internal", "explain task failed"))??;
    Ok(Json(out).into_response())
}

/// `/api/v1/matrix?proto=&port=&by=`: the NetworkPolicy matrix as
/// `cnictl matrix -o json` writes it, within the bounds of
/// [`crate::matrix`]. Shares the explain permits: both walk the dataplane.
pub async fn matrix(
    State(state): State<AppState>,
    q: Result<Query<MatrixQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let a = ready(&state)?;
    let _permit = state
        .explain_permits()
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("matrix"))?;
    let bytes = tokio::task::spawn_blocking(move || matrix::run(&a, &q))
        .await
        .map_err(|_| ApiError::internal("internal", "matrix task failed"))??;
    Ok((
        [(header::CONTENT_TYPE, cnictl_httpkit::JSON)],
        Body::from(bytes),
    )
        .into_response())
}

/// `/api/v1/matrix/probes`: the (protocol, port) values the policies
/// name, the pod and namespace counts, and the matrix's bounds.
pub async fn matrix_probes(State(state): State<AppState>) -> Result<Response, ApiError> {
    let a = ready(&state)?;
    Ok(Json(matrix::probes(&a)?).into_response())
}

/// `/api/v1/snapshot`: the analysed snapshot as `cnictl/v1` JSON.
/// Serialized off the async threads, one download at a time.
pub async fn snapshot(State(state): State<AppState>) -> Result<Response, ApiError> {
    let a = ready(&state)?;
    let _permit = state
        .snapshot_permits()
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("snapshot"))?;
    let bytes = tokio::task::spawn_blocking(move || serde_json::to_vec(a.snapshot().as_ref()))
        .await
        .map_err(|_| ApiError::internal("internal", "snapshot task failed"))?
        .map_err(|e| ApiError::internal("encode", e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, cnictl_httpkit::JSON)],
        Body::from(bytes),
    )
        .into_response())
}

/// Any other path under `/api`: a JSON 404.
pub async fn api_not_found() -> ApiError {
    ApiError::not_found(
        "not_found",
        "no such endpoint (see /api/v1/model, /findings, /nodes, /explain, /matrix, /snapshot)",
    )
}

/// At most this many names of each kind in `/api/v1/completions` (a
/// datalist of 100,000 entries helps nobody and costs the browser).
pub const COMPLETIONS_MAX: usize = 5000;

#[derive(Serialize)]
struct CompletionsOut {
    schema: &'static str,
    /// `namespace/name` of every pod with its own network namespace.
    pods: Vec<String>,
    /// `svc/namespace/name:port` of every Service port.
    services: Vec<String>,
    nodes: Vec<String>,
    /// True when a list was cut at [`COMPLETIONS_MAX`].
    truncated: bool,
}

/// `/api/v1/completions`: what the explain form can name, for its
/// autocomplete.
pub async fn completions(State(state): State<AppState>) -> Result<Response, ApiError> {
    let a = ready(&state)?;
    let k8s = &a.snapshot().k8s;
    let pods = k8s
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .map(|p| format!("{}/{}", p.namespace, p.name));
    let services = k8s.services.iter().flatten().flat_map(|s| {
        s.ports
            .iter()
            .map(move |p| format!("svc/{}/{}:{}", s.namespace, s.name, p.port))
    });
    let nodes = a.nodes().iter().map(|n| n.name.clone());
    let (pods, t1) = capped(pods);
    let (services, t2) = capped(services);
    let (nodes, t3) = capped(nodes);
    Ok(Json(CompletionsOut {
        schema: cnictl_model::SCHEMA,
        pods,
        services,
        nodes,
        truncated: t1 || t2 || t3,
    })
    .into_response())
}

/// The first [`COMPLETIONS_MAX`] items, and whether there were more.
fn capped(it: impl Iterator<Item = String>) -> (Vec<String>, bool) {
    let mut v: Vec<String> = it.take(COMPLETIONS_MAX + 1).collect();
    let more = v.len() > COMPLETIONS_MAX;
    v.truncate(COMPLETIONS_MAX);
    (v, more)
}
