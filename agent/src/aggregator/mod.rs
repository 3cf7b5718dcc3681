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

mod agents;
mod bundle;
mod pull;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cnictl_analyzers::finding::Finding;
use cnictl_httpkit::Limits;
use cnictl_model::{ClusterSnapshot, K8s};
use serde::Serialize;
use tokio::net::TcpListener;

pub use agents::{AgentStatus, Agents, RoundSummary};
pub use bundle::{write_bundle, BundleOutcome};
pub use pull::{Puller, Stored, COLLECTED_AT};

use crate::kube::{self as kubeapi, KubeOptions};
use crate::metrics::AggregatorMetrics;
use crate::util::now_rfc3339;
use watch::{spawn_watches, RELIST_EVERY};

/// Loads the aggregated snapshot inside the frontend's refresh (so a
/// panic while parsing is caught like one in the analysis).
pub type SnapshotLoader = Arc<dyn Fn() -> Result<ClusterSnapshot, String> + Send + Sync>;

/// What analyses and serves the aggregated cluster: in `cnictl serve
/// --kube` the exporter's HTTP surface, wired by the cli, so this crate
/// serves only `/api/v1/agents` itself and needs no exporter.
pub trait Frontend: Send + Sync + 'static {
    /// The routes serving the analysis (merged with `/api/v1/agents`).
    fn router(&self) -> Router;
    /// Runs `load`, analyses the snapshot with `extra` findings and serves
    /// it (blocking: called on a blocking thread).
    fn refresh(&self, load: &SnapshotLoader, extra: Vec<Finding>);
    /// The aggregator's own series (OpenMetrics text), once per pull
    /// round, to serve on `/metrics` after the analysis' series (required:
    /// a frontend that dropped them would hide unreachable agents).
    fn publish_metrics(&self, openmetrics: String);
    /// Once per pull round: the oldest of the agents' last collections
    /// (Unix seconds), which dates the served data even when nothing
    /// changed and so nothing was re-analysed.
    fn data_collected(&self, unix_secs: f64);
}

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
            // A token is short: bounded, and a FIFO or device is refused.
            cnictl_collect::files::read_text(p, 64 * 1024)
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
    snap.collected_at = Some(oldest_collection(&stored).unwrap_or_else(now_rfc3339));
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

/// The oldest of the agents' last collections: the age of the data as a
/// whole (a stale node's snapshot makes all of it that old).
fn oldest_collection(stored: &[(String, Stored)]) -> Option<String> {
    stored
        .iter()
        .filter_map(|(_, s)| s.collected_at.as_deref())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok().map(|d| (d, t)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, t)| t.to_string())
}

fn unix_secs(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|d| d.timestamp() as f64)
}

struct Shared {
    agents: RwLock<Vec<AgentStatus>>,
    findings: RwLock<Vec<Finding>>,
    metrics: AggregatorMetrics,
}

/// Runs the aggregator on `cfg.listen` until Ctrl-C / SIGTERM.
pub async fn run_aggregator(
    cfg: AggregatorConfig,
    frontend: Arc<dyn Frontend>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    run_aggregator_on(listener, cfg, frontend, cnictl_httpkit::shutdown_signal()).await
}

/// [`run_aggregator`] on a bound listener until `shutdown` resolves.
pub async fn run_aggregator_on(
    listener: TcpListener,
    cfg: AggregatorConfig,
    frontend: Arc<dyn Frontend>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let client = match &cfg.kube {
        Some(opts) => Some(kubeapi::client(opts).await?),
        None => None,
    };
    let shared = Arc::new(Shared {
        agents: RwLock::new(Vec::new()),
        findings: RwLock::new(Vec::new()),
        metrics: AggregatorMetrics::default(),
    });
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(%addr, discovery = ?cfg.discovery, refresh = ?cfg.refresh, "aggregator listening");
    // Bounded as a whole: /api/v1/agents too, not only the frontend's routes.
    let app = Router::new()
        .route("/api/v1/agents", get(agents_api))
        .with_state(shared.clone())
        .merge(frontend.router());
    let app = cnictl_httpkit::bounded(app, cfg.limits);
    let refresher = tokio::spawn(refresh_loop(frontend, shared, cfg, client));
    let result = axum::serve(cnictl_httpkit::HeadLimit(listener), app)
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

/// Discover → pull → (when anything changed) analyse, every `refresh`.
async fn refresh_loop(
    frontend: Arc<dyn Frontend>,
    shared: Arc<Shared>,
    cfg: AggregatorConfig,
    client: Option<kube::Client>,
) {
    let mut round = Rounds::new(cfg, client);
    loop {
        let started = Instant::now();
        let mut changed = round.relist().await;
        changed |= round.discover().await;
        let summary = round.pull(&shared.metrics).await;
        shared
            .metrics
            .round(&round.agents.statuses(), started.elapsed());
        if let Some(t) = oldest_collection(&round.agents.stored()).and_then(|t| unix_secs(&t)) {
            frontend.data_collected(t);
        }
        frontend.publish_metrics(shared.metrics.render());
        publish_status(&shared, &round.agents);
        changed |= round.findings_changed();
        if changed || summary.changed > 0 || summary.transitions > 0 {
            analyse(&frontend, &round.k8s, &round.agents).await;
        }
        tokio::time::sleep(round.cfg.refresh).await;
    }
}

/// What the refresh loop carries from one round to the next.
struct Rounds {
    cfg: AggregatorConfig,
    client: Option<kube::Client>,
    agents: Agents,
    k8s: K8s,
    /// True until the first round analysed.
    first: bool,
    served_findings: Vec<Finding>,
    /// Raised by the watches: the objects are re-listed only then (and at
    /// least every RELIST_EVERY), not on every refresh.
    dirty: Arc<AtomicBool>,
    listed_at: Option<Instant>,
}

impl Rounds {
    fn new(cfg: AggregatorConfig, client: Option<kube::Client>) -> Self {
        let dirty = Arc::new(AtomicBool::new(true));
        if let (Some(c), Some(opts)) = (&client, &cfg.kube) {
            spawn_watches(c.clone(), opts.clone(), dirty.clone());
        }
        Rounds {
            cfg,
            client,
            agents: Agents::default(),
            k8s: K8s::default(),
            first: true,
            served_findings: Vec::new(),
            dirty,
            listed_at: None,
        }
    }

    /// Re-reads the API objects when due; true when they changed (or on
    /// the first round).
    async fn relist(&mut self) -> bool {
        let first = std::mem::replace(&mut self.first, false);
        let stale = self.listed_at.is_none_or(|t| t.elapsed() >= RELIST_EVERY);
        let due = self.dirty.swap(false, Ordering::SeqCst) || stale || self.cfg.kube.is_none();
        if !due {
            return first;
        }
        match read_k8s(&self.cfg, self.client.as_ref()).await {
            Ok(next) => {
                let changed = next != self.k8s;
                self.k8s = next;
                self.listed_at = Some(Instant::now());
                first || changed
            }
            Err(e) => {
                self.dirty.store(true, Ordering::SeqCst);
                tracing::error!(error = format!("{e:#}"), "reading the API objects failed");
                first
            }
        }
    }

    /// Reconciles the agent set with discovery; true when it changed.
    async fn discover(&mut self) -> bool {
        let cfg = &self.cfg;
        match discover(&cfg.discovery, self.client.as_ref(), cfg.kube.as_ref()).await {
            Ok(targets) => self.agents.reconcile(targets) > 0,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "agent discovery failed");
                false
            }
        }
    }

    /// Pulls every agent once (the token is re-read: it rotates).
    async fn pull(&mut self, metrics: &AggregatorMetrics) -> agents::RoundSummary {
        let token = read_token(&self.cfg).unwrap_or_else(|e| {
            tracing::error!(error = format!("{e:#}"), "reading the agent token failed");
            None
        });
        let puller = Puller::new(self.cfg.timeout, token);
        self.agents
            .pull_round(&puller, self.cfg.concurrency, Some(metrics))
            .await
    }

    /// An agent turning unreachable (or back) changes the served findings
    /// even when no snapshot changed.
    fn findings_changed(&mut self) -> bool {
        let findings = self.agents.findings();
        let changed = findings != self.served_findings;
        self.served_findings = findings;
        changed
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

async fn analyse(frontend: &Arc<dyn Frontend>, k8s: &K8s, agents: &Agents) {
    let (k8s, stored, extra) = (k8s.clone(), agents.stored(), agents.findings());
    let slot = Arc::new(Mutex::new(Some((k8s, stored))));
    let loader: SnapshotLoader = Arc::new(move || {
        let (k8s, stored) = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or_else(|| "the aggregated snapshot was already analysed".to_string())?;
        let (snap, bad) = assemble(k8s, stored, "aggregator");
        for (node, e) in bad {
            tracing::error!(node, error = %e, "an agent's snapshot does not parse");
        }
        Ok(snap)
    });
    let fe = frontend.clone();
    let _ = tokio::task::spawn_blocking(move || fe.refresh(&loader, extra)).await;
}
