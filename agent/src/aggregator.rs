//! The aggregator (`cnictl serve --kube`, `cnictl bundle --kube`): finds
//! the agents (the DaemonSet's pods through the API, or a static list),
//! pulls every agent's NodeSnapshot concurrently with a bound and a
//! deadline, adds the cluster's API objects, and hands the ClusterSnapshot
//! to the exporter's analysis and HTTP surface.
//!
//! Cost grows with nodes, not nodes²: one request per agent per round,
//! and `If-None-Match` makes an unchanged node a 304 with no body. Snapshots
//! travel and are kept gzip-compressed as the agent sent them (a 1,000-route
//! node is ~300 KB of JSON, ~20 KB compressed, ~600 KB parsed): they are
//! parsed only to build the ClusterSnapshot handed to the analysis. An agent
//! that does not answer keeps its last good snapshot (marked stale) and is
//! reported as an `agent-unreachable` finding on `/api/v1/agents` and in
//! `cnictl_aggregator_agents{state="unreachable"}`; the rest keep being
//! served.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use cnictl_analyzers::finding::{Finding, Severity};
use cnictl_exporter::{AppState, Limits, Loader};
use cnictl_model::{ClusterSnapshot, K8s, NodeSnapshot};
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::kube::{self as kubeapi, KubeOptions};
use crate::metrics::AggregatorMetrics;
use crate::util::{now_rfc3339, unix_now};

/// The response header in which an agent names its node.
pub const NODE_HEADER: &str = "x-cnictl-node";

/// Where the in-cluster service account token is (it rotates: re-read).
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How the agents are found.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// `--agents host:port,…` (labs and tests).
    Static(Vec<String>),
    /// The agent DaemonSet's running pods.
    Kube {
        namespace: String,
        selector: String,
        port: u16,
    },
}

/// Everything the aggregator needs.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    pub listen: SocketAddr,
    pub discovery: Discovery,
    /// The API, for the cluster's objects and for discovery; `None` takes
    /// the objects from `k8s_bundle` (or none).
    pub kube: Option<KubeOptions>,
    /// A bundle whose `k8s/` supplies the API objects (tests, labs).
    pub k8s_bundle: Option<PathBuf>,
    /// Pull period.
    pub refresh: Duration,
    /// Agents pulled at once.
    pub concurrency: usize,
    /// Deadline for one agent's answer.
    pub timeout: Duration,
    /// File holding the bearer token sent to agents (the service account's
    /// in a pod); `None` sends none (agents run `--insecure-no-auth`).
    pub token_file: Option<PathBuf>,
    pub limits: Limits,
}

impl AggregatorConfig {
    /// Defaults: port 9640 on all addresses, 30 s refresh, 32 agents in
    /// flight, 10 s per agent, limits of the exporter.
    pub fn new(discovery: Discovery, kube: Option<KubeOptions>) -> Self {
        AggregatorConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9640)),
            discovery,
            kube,
            k8s_bundle: None,
            refresh: Duration::from_secs(30),
            concurrency: 32,
            timeout: Duration::from_secs(10),
            token_file: None,
            limits: Limits::default(),
        }
    }
}

/// One agent as the aggregator last saw it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStatus {
    pub target: String,
    /// The node it reported (or discovery said) it runs on.
    pub node: Option<String>,
    /// `up` or `unreachable`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Bounded error code of the last failure (`connect`, `timeout`,
    /// `http_401`, `decode`…).
    pub last_error: Option<String>,
    pub last_error_message: Option<String>,
    /// Unix seconds of the last successful pull.
    pub last_success: Option<f64>,
    #[serde(skip)]
    etag: Option<String>,
    #[serde(skip)]
    stored: Option<Stored>,
}

/// A node snapshot as its agent sent it: JSON, gzip-compressed when the
/// agent compressed it.
#[derive(Debug, Clone)]
pub struct Stored {
    bytes: Bytes,
    gzip: bool,
}

impl Stored {
    /// Parses the snapshot.
    pub fn decode(&self) -> Result<NodeSnapshot, String> {
        if !self.gzip {
            return serde_json::from_slice(&self.bytes)
                .map_err(|e| format!("invalid node snapshot: {e}"));
        }
        // Inflate first: serde_json's reader path is several times slower
        // than parsing a slice.
        let mut json = Vec::with_capacity(self.bytes.len() * 16);
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&self.bytes[..]),
            &mut json,
        )
        .map_err(|e| format!("invalid gzip body: {e}"))?;
        serde_json::from_slice(&json).map_err(|e| format!("invalid node snapshot: {e}"))
    }

    /// Bytes held (compressed when the agent compressed).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl AgentStatus {
    fn new(target: String, node: Option<String>) -> Self {
        AgentStatus {
            target,
            node,
            state: "unreachable",
            consecutive_failures: 0,
            last_error: None,
            last_error_message: None,
            last_success: None,
            etag: None,
            stored: None,
        }
    }
}

/// The result of pulling one agent.
enum Pulled {
    /// A new snapshot: its ETag, its node name, its bytes.
    Changed(String, String, Stored),
    NotModified,
    Failed(&'static str, String),
}

/// Pulls agents over HTTP/1.1 with keep-alive.
#[derive(Clone)]
pub struct Puller {
    http: HttpClient<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
    token: Option<String>,
}

impl Puller {
    pub fn new(timeout: Duration, token: Option<String>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1)
            .build(connector);
        Puller {
            http,
            timeout,
            token,
        }
    }

    async fn pull(&self, target: &str, etag: Option<&str>) -> Pulled {
        match tokio::time::timeout(self.timeout, self.pull_inner(target, etag)).await {
            Err(_) => Pulled::Failed("timeout", format!("no answer within {:?}", self.timeout)),
            Ok(p) => p,
        }
    }

    async fn pull_inner(&self, target: &str, etag: Option<&str>) -> Pulled {
        let mut req = http::Request::get(format!("http://{target}/api/v1/node"));
        if let Some(t) = etag {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        req = req.header(header::ACCEPT_ENCODING, "gzip");
        let Ok(req) = req.body(Empty::new()) else {
            return Pulled::Failed("request", format!("invalid agent address {target:?}"));
        };
        let res = match self.http.request(req).await {
            Ok(r) => r,
            Err(e) => return Pulled::Failed("connect", format!("{e:#}")),
        };
        let status = res.status();
        if status == StatusCode::NOT_MODIFIED {
            return Pulled::NotModified;
        }
        let headers = res.headers().clone();
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Pulled::Failed("read", e.to_string()),
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Pulled::Failed(http_code(status), format!("{status}: {text}"));
        }
        let stored = Stored {
            gzip: text(header::CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip")),
            bytes: body,
        };
        // The agent names its node in a header; without it (another
        // implementation), parse once to learn the name and validate.
        let node = match text(header::HeaderName::from_static(NODE_HEADER)) {
            Some(n) => n,
            None => match stored.decode() {
                Ok(n) => n.name,
                Err(e) => return Pulled::Failed("decode", e),
            },
        };
        Pulled::Changed(text(header::ETAG).unwrap_or_default(), node, stored)
    }
}

/// Bounded codes for HTTP failures.
fn http_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "http_401",
        403 => "http_403",
        404 => "http_404",
        503 => "http_503",
        500..=599 => "http_5xx",
        _ => "http_other",
    }
}

/// The aggregator's memory: every agent, keyed by target.
#[derive(Default)]
pub struct Agents {
    by_target: BTreeMap<String, AgentStatus>,
}

/// What one round changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundSummary {
    pub up: usize,
    pub unreachable: usize,
    pub changed: usize,
    /// Agents that changed state (up ↔ unreachable) or appeared/left.
    pub transitions: usize,
}

impl Agents {
    /// Makes the known set equal `targets` (discovery result), keeping what
    /// is known about agents that stay.
    pub fn reconcile(&mut self, targets: Vec<(String, Option<String>)>) -> usize {
        let before = self.by_target.len();
        let mut next = BTreeMap::new();
        let mut kept = 0;
        for (target, node) in targets {
            let status = match self.by_target.remove(&target) {
                Some(s) => {
                    kept += 1;
                    s
                }
                None => AgentStatus::new(target.clone(), node),
            };
            next.insert(target, status);
        }
        let added = next.len() - kept;
        self.by_target = next;
        (before - kept) + added
    }

    /// Pulls every agent, `concurrency` at a time.
    pub async fn pull_round(
        &mut self,
        puller: &Puller,
        concurrency: usize,
        metrics: Option<&AggregatorMetrics>,
    ) -> RoundSummary {
        let jobs: Vec<(String, Option<String>)> = self
            .by_target
            .values()
            .map(|a| (a.target.clone(), a.etag.clone()))
            .collect();
        let results: Vec<(String, Pulled)> = futures::stream::iter(jobs)
            .map(|(target, etag)| async move {
                let pulled = puller.pull(&target, etag.as_deref()).await;
                (target, pulled)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut summary = RoundSummary::default();
        let now = unix_now();
        for (target, pulled) in results {
            if let Some(agent) = self.by_target.get_mut(&target) {
                apply(agent, pulled, now, &mut summary, metrics);
            }
        }
        summary
    }

    /// Every agent's status, sorted by target.
    pub fn statuses(&self) -> Vec<AgentStatus> {
        self.by_target.values().cloned().collect()
    }

    /// The latest snapshot of every node that ever answered (stale ones
    /// included), unparsed, with its node name. Cheap: the bytes are shared.
    pub fn stored(&self) -> Vec<(String, Stored)> {
        self.by_target
            .values()
            .filter_map(|a| Some((a.node.clone()?, a.stored.clone()?)))
            .collect()
    }

    /// `agent-unreachable` findings, one per agent that did not answer.
    pub fn findings(&self) -> Vec<Finding> {
        self.by_target
            .values()
            .filter(|a| a.state != "up")
            .map(unreachable_finding)
            .collect()
    }
}

fn apply(
    agent: &mut AgentStatus,
    pulled: Pulled,
    now: f64,
    summary: &mut RoundSummary,
    metrics: Option<&AggregatorMetrics>,
) {
    let was_up = agent.state == "up";
    let result = match pulled {
        Pulled::Changed(etag, node, stored) => {
            agent.etag = (!etag.is_empty()).then_some(etag);
            agent.node = Some(node);
            agent.stored = Some(stored);
            summary.changed += 1;
            mark_up(agent, now);
            "ok"
        }
        Pulled::NotModified => {
            mark_up(agent, now);
            "not_modified"
        }
        Pulled::Failed(code, message) => {
            agent.state = "unreachable";
            agent.consecutive_failures = agent.consecutive_failures.saturating_add(1);
            agent.last_error = Some(code.to_string());
            agent.last_error_message = Some(message);
            code
        }
    };
    if let Some(m) = metrics {
        m.pull(result);
    }
    if agent.state == "up" {
        summary.up += 1;
    } else {
        summary.unreachable += 1;
    }
    if was_up != (agent.state == "up") {
        summary.transitions += 1;
    }
}

fn mark_up(agent: &mut AgentStatus, now: f64) {
    agent.state = "up";
    agent.consecutive_failures = 0;
    agent.last_error = None;
    agent.last_error_message = None;
    agent.last_success = Some(now);
}

fn unreachable_finding(a: &AgentStatus) -> Finding {
    let node = a.node.clone();
    let stale = if a.stored.is_some() {
        "its last good snapshot is still shown (stale)"
    } else {
        "the node has never been collected"
    };
    Finding {
        code: cnictl_analyzers::Code::AgentUnreachable,
        severity: Severity::Warning,
        node: node.clone(),
        summary: format!(
            "the cnictl agent at {} ({}) did not answer {} pull(s) in a row: {stale}",
            a.target,
            node.as_deref().unwrap_or("unknown node"),
            a.consecutive_failures
        ),
        evidence: vec![format!(
            "{}: {}",
            a.last_error.as_deref().unwrap_or("error"),
            a.last_error_message.as_deref().unwrap_or("")
        )],
        hint: format!(
            "kubectl -n <namespace> get pods -o wide --field-selector spec.nodeName={} (is the agent running and its port {} reachable from the aggregator?)",
            node.as_deref().unwrap_or("<node>"),
            a.target.rsplit(':').next().unwrap_or("")
        ),
    }
}

/// The agents discovery finds now: `(target, node)` pairs.
pub async fn discover(
    discovery: &Discovery,
    client: Option<&kube::Client>,
    opts: Option<&KubeOptions>,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    match discovery {
        Discovery::Static(list) => Ok(list.iter().map(|t| (t.clone(), None)).collect()),
        Discovery::Kube {
            namespace,
            selector,
            port,
        } => {
            let (client, opts) = client
                .zip(opts)
                .context("agent discovery through the API needs --kube")?;
            let pods = kubeapi::list_agent_pods(client, opts, namespace, selector).await?;
            Ok(pods
                .into_iter()
                .map(|p| (SocketAddr::new(p.ip, *port).to_string(), Some(p.node)))
                .collect())
        }
    }
}

fn read_token(cfg: &AggregatorConfig) -> anyhow::Result<Option<String>> {
    cfg.token_file
        .as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|t| t.trim().to_string())
                .with_context(|| format!("reading the agent bearer token from {}", p.display()))
        })
        .transpose()
}

/// Reads the API objects for the ClusterSnapshot.
async fn read_k8s(cfg: &AggregatorConfig, client: Option<&kube::Client>) -> anyhow::Result<K8s> {
    if let (Some(c), Some(opts)) = (client, &cfg.kube) {
        return Ok(kubeapi::read_cluster_with(c, opts).await?);
    }
    match &cfg.k8s_bundle {
        Some(dir) => {
            let dir = dir.clone();
            let k8s = tokio::task::spawn_blocking(move || crate::util::read_k8s_dir(&dir))
                .await
                .context("bundle reader panicked")?
                .map_err(anyhow::Error::msg)?;
            Ok(k8s)
        }
        None => Ok(K8s::default()),
    }
}

/// Assembles the cluster snapshot from the API objects and the agents'
/// stored snapshots (blocking: it parses them). A snapshot that does not
/// parse is left out and named in the returned list.
pub fn assemble(
    k8s: K8s,
    stored: Vec<(String, Stored)>,
    source: &str,
) -> (ClusterSnapshot, Vec<(String, String)>) {
    let mut snap = ClusterSnapshot::new(source);
    snap.collected_at = Some(now_rfc3339());
    snap.k8s = k8s;
    let mut bad = Vec::new();
    for (name, s) in stored {
        match s.decode() {
            Ok(node) => {
                snap.nodes.insert(name, node);
            }
            Err(e) => bad.push((name, e)),
        }
    }
    (snap, bad)
}

struct Shared {
    agents: RwLock<Vec<AgentStatus>>,
    findings: RwLock<Vec<Finding>>,
    metrics: AggregatorMetrics,
}

/// Runs the aggregator on `cfg.listen` until Ctrl-C / SIGTERM.
pub async fn run_aggregator(cfg: AggregatorConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    run_aggregator_on(listener, cfg, cnictl_exporter::shutdown_signal()).await
}

/// [`run_aggregator`] on a bound listener until `shutdown` resolves.
pub async fn run_aggregator_on(
    listener: TcpListener,
    cfg: AggregatorConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let client = match &cfg.kube {
        Some(opts) => Some(kubeapi::client(opts).await?),
        None => None,
    };
    let state = AppState::new(cfg.limits);
    let shared = Arc::new(Shared {
        agents: RwLock::new(Vec::new()),
        findings: RwLock::new(Vec::new()),
        metrics: AggregatorMetrics::default(),
    });
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    eprintln!("cnictl aggregator: listening on {addr}");
    let refresher = tokio::spawn(refresh_loop(state.clone(), shared.clone(), cfg, client));
    let app = Router::new()
        .route("/api/v1/agents", get(agents_api))
        .with_state(shared.clone())
        .merge(cnictl_exporter::router(state))
        .layer(middleware::from_fn_with_state(shared, append_metrics));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    result.with_context(|| format!("aggregator server on {addr} failed"))
}

#[derive(Serialize)]
struct AgentsDoc {
    schema: &'static str,
    agents: Vec<AgentStatus>,
    findings: Vec<Finding>,
}

async fn agents_api(State(shared): State<Arc<Shared>>) -> Response {
    let agents = shared.agents.read().map(|a| a.clone()).unwrap_or_default();
    let findings = shared
        .findings
        .read()
        .map(|f| f.clone())
        .unwrap_or_default();
    Json(AgentsDoc {
        schema: cnictl_model::SCHEMA,
        agents,
        findings,
    })
    .into_response()
}

/// Adds the aggregator's own series to the exporter's `/metrics` (asking
/// the exporter for plain text so the body can be extended).
async fn append_metrics(
    State(shared): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.uri().path() != "/metrics" {
        return next.run(req).await;
    }
    req.headers_mut().remove(header::ACCEPT_ENCODING);
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 << 20).await else {
        return crate::util::json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics",
            "cannot read the metrics body",
        );
    };
    let text = String::from_utf8_lossy(&bytes);
    let (head, eof) = match text.strip_suffix("# EOF\n") {
        Some(h) => (h, "# EOF\n"),
        None => (text.as_ref(), ""),
    };
    let combined = format!("{head}{}{eof}", shared.metrics.render_body());
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Response::from_parts(parts, Body::from(combined))
}

/// The longest the aggregator trusts its watches without a full re-list.
const RELIST_EVERY: Duration = Duration::from_secs(600);
/// A watch request's server-side lifetime before it is renewed.
const WATCH_SECONDS: u32 = 300;

/// One watch per object kind, for the life of the aggregator: any change
/// (or any watch error — 410 Gone, a server that cannot watch) marks the
/// objects dirty, so the refresh loop re-lists. Resumes from the last
/// resourceVersion seen; after an error it starts again from "now" (a
/// fresh resourceVersion), having marked dirty so nothing is missed.
fn spawn_watches(client: kube::Client, opts: KubeOptions, dirty: Arc<AtomicBool>) {
    use kubeapi::Resource;
    for resource in [
        Resource::Nodes,
        Resource::Pods,
        Resource::Services,
        Resource::EndpointSlices,
    ] {
        let (client, opts, dirty) = (client.clone(), opts.clone(), dirty.clone());
        tokio::spawn(async move {
            loop {
                let Ok(mut version) = kubeapi::current_version(&client, &opts, resource).await
                else {
                    dirty.store(true, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    continue;
                };
                // Anything between the last list and `version` is unseen.
                dirty.store(true, Ordering::SeqCst);
                let mark = || dirty.store(true, Ordering::SeqCst);
                loop {
                    let began = Instant::now();
                    match kubeapi::watch(&client, resource, &version, WATCH_SECONDS, mark).await {
                        Ok(out) => {
                            version = out.resource_version.unwrap_or(version);
                            // A server that ends watches at once must not
                            // be asked again in a tight loop.
                            if began.elapsed() < Duration::from_secs(1) {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                        Err(_) => {
                            dirty.store(true, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Discover → pull → (when anything changed) analyse, every `refresh`.
async fn refresh_loop(
    state: AppState,
    shared: Arc<Shared>,
    cfg: AggregatorConfig,
    client: Option<kube::Client>,
) {
    let mut agents = Agents::default();
    let mut k8s = K8s::default();
    let mut first = true;
    let mut served_findings = Vec::new();
    // Watches raise `dirty`; the objects are re-listed only then (and at
    // least every RELIST_EVERY), not on every refresh.
    let dirty = Arc::new(AtomicBool::new(true));
    if let (Some(c), Some(opts)) = (&client, &cfg.kube) {
        spawn_watches(c.clone(), opts.clone(), dirty.clone());
    }
    let mut listed_at: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let mut changed = first;
        let stale = listed_at.is_none_or(|t| t.elapsed() >= RELIST_EVERY);
        if dirty.swap(false, Ordering::SeqCst) || stale || cfg.kube.is_none() {
            match read_k8s(&cfg, client.as_ref()).await {
                Ok(next) => {
                    changed |= next != k8s;
                    k8s = next;
                    listed_at = Some(Instant::now());
                }
                Err(e) => {
                    dirty.store(true, Ordering::SeqCst);
                    eprintln!("cnictl aggregator: reading the API objects failed: {e:#}");
                }
            }
        }
        match discover(&cfg.discovery, client.as_ref(), cfg.kube.as_ref()).await {
            Ok(targets) => changed |= agents.reconcile(targets) > 0,
            Err(e) => eprintln!("cnictl aggregator: agent discovery failed: {e:#}"),
        }
        let token = read_token(&cfg).unwrap_or_else(|e| {
            eprintln!("cnictl aggregator: {e:#}");
            None
        });
        let puller = Puller::new(cfg.timeout, token);
        let summary = agents
            .pull_round(&puller, cfg.concurrency, Some(&shared.metrics))
            .await;
        shared
            .metrics
            .round(summary.up, summary.unreachable, started.elapsed());
        publish_status(&shared, &agents);
        // An agent turning unreachable (or back) changes the served
        // findings even when no snapshot changed.
        let findings = agents.findings();
        changed |= findings != served_findings;
        served_findings = findings;
        if changed || summary.changed > 0 || summary.transitions > 0 {
            analyse(&state, &k8s, &agents).await;
        }
        first = false;
        tokio::time::sleep(cfg.refresh).await;
    }
}

fn publish_status(shared: &Shared, agents: &Agents) {
    if let Ok(mut a) = shared.agents.write() {
        *a = agents.statuses();
    }
    if let Ok(mut f) = shared.findings.write() {
        *f = agents.findings();
    }
}

async fn analyse(state: &AppState, k8s: &K8s, agents: &Agents) {
    let (k8s, stored, extra) = (k8s.clone(), agents.stored(), agents.findings());
    let slot = Arc::new(Mutex::new(Some((k8s, stored))));
    let loader: Loader = Arc::new(move || {
        let (k8s, stored) = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or_else(|| "the aggregated snapshot was already analysed".to_string())?;
        let (snap, bad) = assemble(k8s, stored, "aggregator");
        for (node, e) in bad {
            eprintln!("cnictl aggregator: {node}: {e}");
        }
        Ok(snap)
    });
    let st = state.clone();
    let _ = tokio::task::spawn_blocking(move || st.refresh_blocking_with(&loader, extra)).await;
}

/// What `bundle --kube` wrote and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleOutcome {
    pub nodes_written: Vec<String>,
    /// `(agent target, node if known, reason)`.
    pub failed: Vec<(String, Option<String>, String)>,
}

/// `cnictl bundle --kube -o DIR`: one round of pulls plus the API objects,
/// written as a bundle. Nodes that fail are listed, the rest are kept;
/// `progress` shows a bar (the caller passes `stderr.is_terminal()`).
pub async fn write_bundle(
    cfg: &AggregatorConfig,
    out: &Path,
    progress: bool,
) -> anyhow::Result<BundleOutcome> {
    let client = match &cfg.kube {
        Some(opts) => Some(kubeapi::client(opts).await?),
        None => None,
    };
    let k8s = read_k8s(cfg, client.as_ref()).await?;
    let targets = discover(&cfg.discovery, client.as_ref(), cfg.kube.as_ref()).await?;
    let mut agents = Agents::default();
    agents.reconcile(targets);
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(agents.by_target.len() as u64);
        bar.set_message("pulling agents");
        bar
    });
    let puller = Puller::new(cfg.timeout, read_token(cfg)?);
    let mut done = BTreeMap::new();
    let jobs: Vec<String> = agents.by_target.keys().cloned().collect();
    let mut stream = futures::stream::iter(jobs)
        .map(|t| {
            let p = puller.clone();
            async move {
                let r = p.pull(&t, None).await;
                (t, r)
            }
        })
        .buffer_unordered(cfg.concurrency.max(1));
    while let Some((target, pulled)) = stream.next().await {
        if let Some(b) = &bar {
            b.inc(1);
        }
        done.insert(target, pulled);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut outcome = BundleOutcome::default();
    let mut snap = ClusterSnapshot::new(format!("bundle:{}", out.display()));
    snap.collected_at = Some(now_rfc3339());
    snap.k8s = k8s;
    for (target, pulled) in done {
        let node = agents.by_target.get(&target).and_then(|a| a.node.clone());
        match pulled {
            Pulled::Changed(_, name, stored) => match stored.decode() {
                Ok(n) => {
                    outcome.nodes_written.push(name.clone());
                    snap.nodes.insert(name, n);
                }
                Err(e) => outcome
                    .failed
                    .push((target, Some(name), format!("decode: {e}"))),
            },
            Pulled::NotModified => outcome.failed.push((target, node, "unexpected 304".into())),
            Pulled::Failed(code, msg) => {
                outcome
                    .failed
                    .push((target, node, format!("{code}: {msg}")))
            }
        }
    }
    let dir = out.to_path_buf();
    tokio::task::spawn_blocking(move || cnictl_collect::write::write_dir(&snap, &dir))
        .await
        .context("bundle writer panicked")?
        .with_context(|| format!("writing bundle {}", out.display()))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(targets: &[&str]) -> Agents {
        let mut a = Agents::default();
        a.reconcile(targets.iter().map(|t| (t.to_string(), None)).collect());
        a
    }

    fn node(name: &str) -> Stored {
        let n = NodeSnapshot {
            name: name.to_string(),
            ..NodeSnapshot::default()
        };
        Stored {
            bytes: Bytes::from(serde_json::to_vec(&n).unwrap_or_default()),
            gzip: false,
        }
    }

    #[test]
    fn failure_keeps_the_last_snapshot_and_reports_it() {
        let mut a = agents(&["10.0.0.1:9641"]);
        let mut s = RoundSummary::default();
        let agent = a.by_target.get_mut("10.0.0.1:9641").expect("agent");
        apply(
            agent,
            Pulled::Changed("\"e1\"".into(), "node-1".into(), node("node-1")),
            1.0,
            &mut s,
            None,
        );
        assert_eq!((s.up, s.changed, s.transitions), (1, 1, 1));
        let mut s = RoundSummary::default();
        let agent = a.by_target.get_mut("10.0.0.1:9641").expect("agent");
        apply(
            agent,
            Pulled::Failed("timeout", "no answer".into()),
            2.0,
            &mut s,
            None,
        );
        assert_eq!((s.up, s.unreachable, s.transitions), (0, 1, 1));
        assert_eq!(a.stored().len(), 1, "the stale snapshot stays");
        let f = a.findings();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "agent-unreachable");
        assert_eq!(f[0].node.as_deref(), Some("node-1"));
        assert!(f[0].summary.contains("stale"), "{}", f[0].summary);
        assert_eq!(f[0].evidence, vec!["timeout: no answer".to_string()]);
        let agent = a.by_target.get_mut("10.0.0.1:9641").expect("agent");
        apply(
            agent,
            Pulled::NotModified,
            3.0,
            &mut RoundSummary::default(),
            None,
        );
        assert!(a.findings().is_empty());
    }

    #[test]
    fn reconcile_keeps_known_agents_and_counts_changes() {
        let mut a = agents(&["a:1", "b:1"]);
        let agent = a.by_target.get_mut("a:1").expect("agent");
        apply(
            agent,
            Pulled::Changed(String::new(), "node-a".into(), node("node-a")),
            1.0,
            &mut RoundSummary::default(),
            None,
        );
        let changed = a.reconcile(vec![
            ("a:1".into(), None),
            ("c:1".into(), Some("node-c".into())),
        ]);
        assert_eq!(changed, 2, "b left, c arrived");
        let names: Vec<String> = a.stored().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["node-a"]);
        assert_eq!(
            a.reconcile(vec![("a:1".into(), None), ("c:1".into(), None)]),
            0
        );
    }

    #[test]
    fn http_failures_have_bounded_codes() {
        assert_eq!(http_code(StatusCode::UNAUTHORIZED), "http_401");
        assert_eq!(http_code(StatusCode::BAD_GATEWAY), "http_5xx");
        assert_eq!(http_code(StatusCode::IM_A_TEAPOT), "http_other");
    }
}
