//! `cnictl agent`: one per node (a DaemonSet). Collects its node's
//! dataplane on an interval and, debounced, on netlink change
//! notifications; runs the per-node checks against the cluster's expected
//! state; serves the NodeSnapshot (`/api/v1/node`, with ETag), the findings
//! (`/api/v1/findings`), `/metrics`, `/healthz` and `/readyz`.
//!
//! The snapshot and findings are only served to callers whose bearer token
//! the API accepts and who may `get` the path (see [`crate::auth`]);
//! `insecure_no_auth` turns that off for local labs, loudly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cnictl_analyzers::pipeline::NodeReport;
use cnictl_collect::live::{collect, LiveOptions};
use cnictl_httpkit::{ApiError, Limits, Precompressed};
use cnictl_model::{K8s, NodeSnapshot};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::auth::{bearer, Authenticator, CacheTtl, Verdict};
use crate::kube::{self as kubeapi, KubeOptions};
use crate::metrics::AgentMetrics;
use crate::util::{etag, now_rfc3339, unix_now};

/// Default agent port (the aggregator serves on 9640).
pub const DEFAULT_AGENT_PORT: u16 = 9641;

/// Where the agent learns the cluster's expected state.
#[derive(Debug, Clone)]
pub enum ExpectedSource {
    /// The Kubernetes API (`--kube`), re-read every `k8s_refresh`.
    Kube(KubeOptions),
    /// A bundle's `k8s/` directory (tests and labs).
    Bundle(PathBuf),
    /// No expected state: the snapshot is served, checks see an empty cluster.
    None,
}

/// Everything [`run_agent`] needs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub listen: SocketAddr,
    /// What to collect and from which namespace (`node_name` names the node).
    pub live: LiveOptions,
    /// Full re-collection period, whatever the notifications say.
    pub interval: Duration,
    /// Quiet time after a netlink notification before collecting, so a
    /// burst of changes (a CNI programming a new node) costs one collection.
    pub debounce: Duration,
    /// Listen to netlink notifications at all.
    pub watch_netlink: bool,
    pub expected: ExpectedSource,
    /// How often the expected state is re-read from the API.
    pub k8s_refresh: Duration,
    /// The API client for TokenReview / SubjectAccessReview; `None` only
    /// together with `insecure_no_auth`.
    pub auth_kube: Option<KubeOptions>,
    pub auth_ttl: CacheTtl,
    /// Serve the snapshot and findings to anyone: local labs only.
    pub insecure_no_auth: bool,
    /// Serve `/metrics` without a token (Prometheus usually has none for
    /// node agents; the metrics hold counts, not the dataplane).
    pub open_metrics: bool,
}

impl AgentConfig {
    /// Defaults for a node: port 9641 on all addresses, 30 s interval, 2 s
    /// debounce, netlink notifications on, the API for expected state and
    /// authentication.
    pub fn new(live: LiveOptions, kube: KubeOptions) -> Self {
        AgentConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_AGENT_PORT)),
            live,
            interval: Duration::from_secs(30),
            debounce: Duration::from_secs(2),
            watch_netlink: true,
            expected: ExpectedSource::Kube(kube.clone()),
            k8s_refresh: Duration::from_secs(300),
            auth_kube: Some(kube),
            auth_ttl: CacheTtl::default(),
            insecure_no_auth: false,
            open_metrics: true,
        }
    }
}

/// The findings document of `/api/v1/findings` (the pipeline's per-node
/// report).
pub type NodeFindings = NodeReport;

/// What the last collection published, pre-serialized.
struct Published {
    node_name: String,
    /// The node's JSON, also gzip-compressed: ~16x smaller for a node with
    /// 1,000 routes, which is what a 1,000-node aggregator pulls.
    node: Precompressed,
    node_etag: String,
    findings_json: Bytes,
    collected_at: String,
}

struct Shared {
    published: RwLock<Option<Arc<Published>>>,
    k8s: RwLock<Arc<K8s>>,
    metrics: AgentMetrics,
    auth: Option<Authenticator>,
    open_metrics: bool,
    /// Set while collections fail, so the recovery is logged once.
    collect_failing: AtomicBool,
}

/// Runs the agent on `cfg.listen` until Ctrl-C / SIGTERM.
pub async fn run_agent(cfg: AgentConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    run_agent_on(listener, cfg, cnictl_httpkit::shutdown_signal()).await
}

/// [`run_agent`] on a bound listener until `shutdown` resolves (tests).
pub async fn run_agent_on(
    listener: TcpListener,
    cfg: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let auth = authenticator(&cfg).await?;
    let shared = Arc::new(Shared {
        published: RwLock::new(None),
        k8s: RwLock::new(Arc::new(K8s::default())),
        metrics: AgentMetrics::default(),
        auth,
        open_metrics: cfg.open_metrics,
        collect_failing: AtomicBool::new(false),
    });
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(%addr, node = ?cfg.live.node_name, interval = ?cfg.interval, "agent listening");
    let tasks = spawn_loops(&shared, cfg);
    let result = axum::serve(cnictl_httpkit::HeadLimit(listener), router(shared))
        .with_graceful_shutdown(shutdown)
        .await;
    for t in tasks {
        t.abort();
    }
    result.with_context(|| format!("agent server on {addr} failed"))
}

/// The background loops: expected state, netlink (when asked), collection.
fn spawn_loops(shared: &Arc<Shared>, cfg: AgentConfig) -> Vec<tokio::task::JoinHandle<()>> {
    let wake = Arc::new(Notify::new());
    let (s, w) = (shared.clone(), wake.clone());
    let mut tasks = vec![tokio::spawn(expected_loop(s, cfg.clone(), w))];
    if cfg.watch_netlink {
        let (s, w) = (shared.clone(), wake.clone());
        tasks.push(tokio::spawn(netlink_loop(s, cfg.clone(), w)));
    }
    tasks.push(tokio::spawn(collect_loop(shared.clone(), cfg, wake)));
    tasks
}

async fn authenticator(cfg: &AgentConfig) -> anyhow::Result<Option<Authenticator>> {
    if cfg.insecure_no_auth {
        tracing::warn!(
            "--insecure-no-auth: the node's dataplane snapshot and findings are served to ANY \
             caller without authentication. Use only in a local lab."
        );
        return Ok(None);
    }
    let opts = cfg.auth_kube.as_ref().context(
        "the agent's API needs the Kubernetes API to authenticate callers (--kube), \
         or --insecure-no-auth for a local lab",
    )?;
    let client = kubeapi::client(opts)
        .await
        .context("building the client for TokenReview / SubjectAccessReview")?;
    Ok(Some(Authenticator::new(client, cfg.auth_ttl)))
}

fn router(shared: Arc<Shared>) -> Router {
    let protected = Router::new()
        .route("/api/v1/node", get(node))
        .route("/api/v1/findings", get(findings));
    let protected = if shared.open_metrics {
        protected
    } else {
        protected.route("/metrics", get(metrics))
    };
    let protected = protected.layer(middleware::from_fn_with_state(shared.clone(), authorize));
    let open = Router::new()
        .route("/healthz", get(cnictl_httpkit::healthz))
        .route("/readyz", get(readyz));
    let open = if shared.open_metrics {
        open.route("/metrics", get(metrics))
    } else {
        open
    };
    cnictl_httpkit::bounded(protected.merge(open).with_state(shared), Limits::default())
}

/// Bearer token → TokenReview → SubjectAccessReview (cached).
async fn authorize(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let Some(auth) = &shared.auth else {
        return next.run(req).await;
    };
    let verdict = match bearer(req.headers().get(header::AUTHORIZATION)) {
        None => Verdict::Unauthenticated,
        Some(token) => auth.check(token, req.uri().path()).await,
    };
    shared.metrics.auth(verdict);
    match refusal(verdict, req.uri().path()) {
        None => next.run(req).await,
        Some(e) => e.into_response(),
    }
}

/// Why a request is refused; `None` when it may proceed.
fn refusal(verdict: Verdict, path: &str) -> Option<ApiError> {
    let (status, code, message) = match verdict {
        Verdict::Allowed => return None,
        Verdict::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a bearer token the Kubernetes API accepts is required".to_string(),
        ),
        Verdict::Forbidden => (
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the caller may not get {path}"),
        ),
        Verdict::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "auth_unavailable",
            "the Kubernetes API did not answer the token or access review".to_string(),
        ),
    };
    Some(ApiError::new(status, code, message))
}

fn current(shared: &Shared) -> Option<Arc<Published>> {
    shared.published.read().ok().and_then(|p| p.clone())
}

fn not_ready() -> Response {
    ApiError::not_ready("the node has not been collected yet").into_response()
}

async fn node(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(p) = current(&shared) else {
        return not_ready();
    };
    let (body, gzip) = p.node.pick(&headers);
    // Each representation has its own entity tag (RFC 9110 8.8.3).
    let tag = if gzip {
        format!("{}-gzip\"", p.node_etag.trim_end_matches('"'))
    } else {
        p.node_etag.clone()
    };
    let common = node_headers(&p, tag.clone());
    if if_none_match(&headers, &tag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let encoding = if gzip { "gzip" } else { "identity" };
    let mut res = (
        StatusCode::OK,
        common,
        [(header::CONTENT_TYPE, cnictl_httpkit::JSON)],
        body,
    )
        .into_response();
    if gzip {
        res.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(encoding),
        );
    }
    res
}

/// The headers of both a 200 and a 304: the representation's tag, the
/// node and when it was collected.
fn node_headers(p: &Published, tag: String) -> [(header::HeaderName, String); 4] {
    [
        (header::ETAG, tag),
        (header::VARY, "accept-encoding".to_string()),
        (
            header::HeaderName::from_static(crate::aggregator::NODE_HEADER),
            p.node_name.clone(),
        ),
        (
            header::HeaderName::from_static(crate::aggregator::COLLECTED_AT),
            p.collected_at.clone(),
        ),
    ]
}

/// True when `If-None-Match` names `tag` (or `*`).
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

async fn findings(State(shared): State<Arc<Shared>>) -> Response {
    match current(&shared) {
        None => not_ready(),
        Some(p) => (
            [(header::CONTENT_TYPE, cnictl_httpkit::JSON)],
            p.findings_json.clone(),
        )
            .into_response(),
    }
}

/// `/metrics` in the negotiated format (rendered per scrape: an agent's
/// series are a few dozen).
async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    cnictl_httpkit::Exposition::new(&shared.metrics.render()).respond(&headers)
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    match current(&shared) {
        Some(_) => Json(serde_json::json!({"ready": true})).into_response(),
        None => not_ready(),
    }
}

/// Collects on every tick and, after `debounce`, on every wake-up.
async fn collect_loop(shared: Arc<Shared>, cfg: AgentConfig, wake: Arc<Notify>) {
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = wake.notified() => tokio::time::sleep(cfg.debounce).await,
        }
        collect_once(&shared, &cfg.live).await;
    }
}

/// One collection + checks, published atomically.
async fn collect_once(shared: &Arc<Shared>, live: &LiveOptions) {
    let started = Instant::now();
    let k8s = shared.k8s.read().map(|k| k.clone()).unwrap_or_default();
    let opts = live.clone();
    let job = tokio::task::spawn_blocking(move || publish(&opts, &k8s)).await;
    match job {
        Ok(Ok((published, counts))) => {
            let took = started.elapsed();
            if shared.collect_failing.swap(false, Ordering::Relaxed) {
                tracing::info!(node = %published.node_name, "collection recovered");
            }
            if took >= SLOW_COLLECTION {
                tracing::warn!(node = %published.node_name, seconds = took.as_secs_f64(), "slow collection");
            }
            shared.metrics.collected(took, &counts, unix_now());
            if let Ok(mut p) = shared.published.write() {
                *p = Some(Arc::new(published));
            }
        }
        Ok(Err(e)) => collect_failed(shared, e.code(), &e.to_string()),
        Err(_) => collect_failed(shared, "panic", "the collection panicked"),
    }
}

/// A collection and its checks slower than this are logged as a warning.
const SLOW_COLLECTION: Duration = Duration::from_secs(10);

fn collect_failed(shared: &Shared, code: &'static str, message: &str) {
    shared.collect_failing.store(true, Ordering::Relaxed);
    shared.metrics.collect_failed(code);
    tracing::error!(error_code = code, error = message, "collection failed");
}

/// The per-node result for metrics: findings by (code, severity).
pub(crate) type Counts = Vec<(String, &'static str)>;

/// Why a collection failed (bounded codes for the metric label).
#[derive(Debug, thiserror::Error)]
enum CollectError {
    #[error("{0}")]
    Live(#[from] cnictl_collect::live::LiveError),
    #[error("cannot serialize the snapshot: {0}")]
    Encode(#[from] serde_json::Error),
}

impl CollectError {
    fn code(&self) -> &'static str {
        match self {
            CollectError::Live(_) => "collect",
            CollectError::Encode(_) => "encode",
        }
    }
}

/// Blocking: collect the node, run its checks, serialize both.
fn publish(live: &LiveOptions, k8s: &K8s) -> Result<(Published, Counts), CollectError> {
    let collected = collect(live)?;
    let collected_at = now_rfc3339();
    let node_json = serde_json::to_vec(&collected.node)?;
    let report = check_node(k8s, collected.node, &collected_at);
    let counts = report
        .findings
        .iter()
        .map(|f| (f.code.to_string(), f.severity.as_str()))
        .collect();
    Ok((
        Published {
            node_name: report.node.clone(),
            node_etag: etag(&node_json),
            node: Precompressed::new(node_json),
            findings_json: Bytes::from(serde_json::to_vec(&report)?),
            collected_at,
        },
        counts,
    ))
}

/// The node's checks against the expected state of `k8s` (the rest of the
/// cluster is known only through the API objects).
pub fn check_node(k8s: &K8s, node: NodeSnapshot, collected_at: &str) -> NodeFindings {
    NodeReport::build(k8s, node, collected_at)
}

/// Keeps the expected state fresh; the first success triggers a
/// collection so findings do not wait for the next tick.
async fn expected_loop(shared: Arc<Shared>, cfg: AgentConfig, wake: Arc<Notify>) {
    let mut cfg = cfg;
    if let ExpectedSource::Kube(opts) = &mut cfg.expected {
        // Only this node's pods: see `KubeOptions::pods_on_node`.
        if opts.pods_on_node.is_none() {
            opts.pods_on_node.clone_from(&cfg.live.node_name);
        }
    }
    let Ok(client) = expected_client(&shared, &cfg.expected).await else {
        return;
    };
    loop {
        let k8s = match (&cfg.expected, &client) {
            (ExpectedSource::Kube(opts), Some(c)) => kubeapi::read_cluster_with(c, opts)
                .await
                .map_err(|e| (e.code(), e.to_string())),
            (ExpectedSource::Bundle(dir), _) => read_bundle_k8s(dir.clone()).await,
            _ => return,
        };
        install_expected(&shared, k8s, &wake);
        if matches!(cfg.expected, ExpectedSource::Bundle(_)) {
            return;
        }
        tokio::time::sleep(cfg.k8s_refresh).await;
    }
}

/// The API client for the expected state (`None` for other sources);
/// `Err` when it cannot be built (counted and said).
async fn expected_client(
    shared: &Shared,
    source: &ExpectedSource,
) -> Result<Option<kube::Client>, ()> {
    let ExpectedSource::Kube(opts) = source else {
        return Ok(None);
    };
    kubeapi::client(opts).await.map(Some).map_err(|e| {
        shared.metrics.k8s_failed(e.code());
        tracing::error!(error_code = e.code(), error = %e, "cannot read the cluster's expected state");
    })
}

/// Publishes a fresh expected state (and wakes the collector), or counts
/// why it could not be read.
fn install_expected(shared: &Shared, k8s: Result<K8s, (&'static str, String)>, wake: &Notify) {
    match k8s {
        Ok(k8s) => {
            if let Ok(mut slot) = shared.k8s.write() {
                *slot = Arc::new(k8s);
            }
            wake.notify_one();
        }
        Err((code, message)) => {
            shared.metrics.k8s_failed(code);
            tracing::warn!(error_code = code, error = %message, "reading the expected state failed");
        }
    }
}

async fn read_bundle_k8s(dir: PathBuf) -> Result<K8s, (&'static str, String)> {
    tokio::task::spawn_blocking(move || crate::util::read_k8s_dir(&dir))
        .await
        .map_err(|_| ("panic", "bundle reader panicked".to_string()))?
        .map_err(|e| ("bundle", e))
}

/// Subscribes to netlink notifications; on failure the agent keeps its
/// interval collection and says why.
async fn netlink_loop(shared: Arc<Shared>, cfg: AgentConfig, wake: Arc<Notify>) {
    let netns = cfg.live.netns.clone();
    let socket = match tokio::task::spawn_blocking(move || crate::notify::subscribe(netns.as_ref()))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, interval = ?cfg.interval, "netlink notifications unavailable; collecting on the interval only");
            return;
        }
        Err(_) => return,
    };
    let metrics = &shared.metrics;
    if let Err(e) = crate::notify::listen(socket, wake, |n| metrics.netlink_events(n)).await {
        tracing::warn!(error = %e, interval = ?cfg.interval, "netlink notifications stopped; collecting on the interval only");
    }
}
