//! One analysis of one snapshot: everything the endpoints serve, computed
//! once in a background task so requests only read it. Nothing here decides
//! anything about the dataplane: it calls the analyzers and the reference
//! dataplane and indexes their answers for the API.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cnictl_analyzers::expected::{Expected, NodeExpect};
use cnictl_analyzers::infer::{self, Inference};
use cnictl_analyzers::{checks, hints, reach, Finding, Report, Severity};
use cnictl_dataplane::Dataplane;
use cnictl_model::{ClusterSnapshot, NodeSnapshot};
use ipnet::IpNet;
use serde::Serialize;

/// At most this many failing node pairs are listed (metrics and API); the
/// per-node counts stay exact.
pub const FAILING_PAIRS_CAP: usize = 50;

/// The result of analysing one snapshot.
#[derive(Debug)]
pub struct Analysis {
    pub snapshot: Arc<ClusterSnapshot>,
    pub inference: Inference,
    pub report: Report,
    pub dataplane: Dataplane,
    /// One per node (dump or `nodes.json`), sorted by name.
    pub nodes: Vec<NodeSummary>,
    /// Node name → index into `nodes`.
    node_index: HashMap<String, usize>,
    /// Node name → indices into `report.findings`.
    node_findings: HashMap<String, Vec<usize>>,
    pub reachability: Reachability,
    pub duration: Duration,
    /// Wall-clock end of the analysis (shell-side clock, for metrics only).
    pub finished_at: SystemTime,
}

/// A node at a glance: what `/api/v1/nodes` lists and the overview shows.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    pub name: String,
    pub model: String,
    pub pod_cidrs: Vec<IpNet>,
    pub underlay_ip: Option<IpAddr>,
    pub underlay_dev: Option<String>,
    pub vtep_ip: Option<IpAddr>,
    pub vtep_mac: Option<String>,
    pub tunnel_addr: Option<IpAddr>,
    /// False when only `k8s/nodes.json` knows the node (no dump).
    pub has_dump: bool,
    pub ready: Option<bool>,
    pub counts: NodeCounts,
    pub findings: SeverityCounts,
    /// Other nodes whose pods this node's pods cannot reach (per the
    /// reference dataplane); `None` when the node has no pod to probe from.
    pub unreachable_peers: Option<usize>,
}

/// Table sizes of one node; `None` where the section was not collected.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeCounts {
    pub routes: usize,
    pub neighbours: Option<usize>,
    pub fdb_entries: Option<usize>,
    pub pods: usize,
    pub ipvs_virtual_services: Option<usize>,
    pub ipvs_real_servers: Option<usize>,
    pub bgp_peers: Option<usize>,
    pub bgp_established: Option<usize>,
}

/// Findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl SeverityCounts {
    pub fn add(&mut self, s: Severity) {
        match s {
            Severity::Error => self.error += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
    }
}

pub use cnictl_analyzers::reach::{FailingPair, Reachability};

impl Analysis {
    /// Analyses a snapshot: model inference, checks, dataplane compilation,
    /// node summaries and the pairwise reachability probes.
    pub fn run(snapshot: ClusterSnapshot) -> Analysis {
        Analysis::run_with(snapshot, Vec::new())
    }

    /// [`Analysis::run`] plus findings the caller knows of that no check
    /// can see in a snapshot (the aggregator's `agent-unreachable`), so
    /// they are served, filtered and counted like every other finding.
    pub fn run_with(snapshot: ClusterSnapshot, extra: Vec<Finding>) -> Analysis {
        let started = Instant::now();
        let inference = infer::infer(&snapshot);
        let mut report = checks::run(&snapshot);
        if !extra.is_empty() {
            report.findings.extend(extra);
            checks::sort_findings(&mut report.findings);
        }
        let dataplane = hints::dataplane_inferred(&snapshot, &inference);
        let reachability = reach::node_pairs(&dataplane, FAILING_PAIRS_CAP);
        let nodes = summarize(&snapshot, &report, &reachability);
        let node_index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let node_findings = index_findings(&report.findings);
        Analysis {
            snapshot: Arc::new(snapshot),
            inference,
            report,
            dataplane,
            nodes,
            node_index,
            node_findings,
            reachability,
            duration: started.elapsed(),
            finished_at: SystemTime::now(),
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeSummary> {
        self.node_index.get(name).map(|&i| &self.nodes[i])
    }

    /// The findings about one node (cluster-wide ones excluded).
    pub fn findings_of<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.node_findings
            .get(node)
            .into_iter()
            .flatten()
            .map(|&i| &self.report.findings[i])
    }

    pub fn counts_by_severity(&self) -> SeverityCounts {
        let mut c = SeverityCounts::default();
        for f in &self.report.findings {
            c.add(f.severity);
        }
        c
    }
}

fn index_findings(findings: &[Finding]) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        if let Some(n) = &f.node {
            out.entry(n.clone()).or_default().push(i);
        }
    }
    out
}

/// Builds the per-node summaries from the expected state and the tables.
fn summarize(snap: &ClusterSnapshot, report: &Report, reach: &Reachability) -> Vec<NodeSummary> {
    let exp = Expected::build(snap);
    let mut sev: HashMap<&str, SeverityCounts> = HashMap::new();
    for f in &report.findings {
        if let Some(n) = &f.node {
            sev.entry(n.as_str()).or_default().add(f.severity);
        }
    }
    let mut out: Vec<NodeSummary> = exp
        .nodes
        .iter()
        .map(|e| summary_of(snap, e, sev.get(e.name.as_str()).copied(), reach))
        .collect();
    for (name, node) in &snap.nodes {
        if exp.node(name).is_none() {
            out.push(bare_summary(node, &exp, sev.get(name.as_str()).copied()));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn summary_of(
    snap: &ClusterSnapshot,
    e: &NodeExpect,
    sev: Option<SeverityCounts>,
    reach: &Reachability,
) -> NodeSummary {
    let dump = snap.nodes.get(&e.name);
    NodeSummary {
        name: e.name.clone(),
        model: e.model.as_str().to_string(),
        pod_cidrs: e.pod_cidrs.iter().map(|c| c.net).collect(),
        underlay_ip: e.ip(),
        underlay_dev: e.underlay.as_ref().and_then(|u| u.dev.clone()),
        vtep_ip: e.vtep.as_ref().map(|v| v.ip),
        vtep_mac: e.vtep.as_ref().and_then(|v| v.mac.clone()),
        tunnel_addr: e.tunnel_addr,
        has_dump: dump.is_some(),
        ready: snap.k8s.node(&e.name).and_then(|k| k.ready),
        counts: dump
            .map(|d| counts(d, pods_on(snap, &e.name)))
            .unwrap_or_default(),
        findings: sev.unwrap_or_default(),
        unreachable_peers: reach.unreachable.get(&e.name).copied(),
    }
}

/// A dumped node the expected state does not know (no `nodes.json` entry).
fn bare_summary(
    node: &NodeSnapshot,
    exp: &Expected<'_>,
    sev: Option<SeverityCounts>,
) -> NodeSummary {
    let model = exp
        .inference
        .node(&node.name)
        .map_or("unknown", |m| m.model.as_str());
    NodeSummary {
        name: node.name.clone(),
        model: model.to_string(),
        pod_cidrs: Vec::new(),
        underlay_ip: None,
        underlay_dev: None,
        vtep_ip: None,
        vtep_mac: None,
        tunnel_addr: None,
        has_dump: true,
        ready: None,
        counts: counts(node, node.pods.len()),
        findings: sev.unwrap_or_default(),
        unreachable_peers: None,
    }
}

fn pods_on(snap: &ClusterSnapshot, node: &str) -> usize {
    snap.k8s
        .pods
        .iter()
        .filter(|p| !p.host_network && p.node.as_deref() == Some(node))
        .count()
}

fn counts(n: &NodeSnapshot, pods: usize) -> NodeCounts {
    let bgp_peers = n
        .bgp
        .as_ref()
        .map(|b| b.protocols.iter().filter(|p| p.is_bgp()).count());
    let bgp_established = n.bgp.as_ref().map(|b| {
        b.protocols
            .iter()
            .filter(|p| p.is_bgp() && p.is_established())
            .count()
    });
    NodeCounts {
        routes: n.routes.len(),
        neighbours: n.neighbours.as_ref().map(Vec::len),
        fdb_entries: n.fdb.as_ref().map(Vec::len),
        pods,
        ipvs_virtual_services: n.ipvs.as_ref().map(Vec::len),
        ipvs_real_servers: n
            .ipvs
            .as_ref()
            .map(|v| v.iter().map(|s| s.reals.len()).sum()),
        bgp_peers,
        bgp_established,
    }
}
