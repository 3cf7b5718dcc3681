//! Node summaries: one node at a glance, as `/api/v1/nodes` lists it and
//! the UI's overview shows it, from the expected state, the dump's table
//! sizes, the findings and the reachability probes.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use cnictl_model::{ClusterSnapshot, NodeSnapshot};
use ipnet::IpNet;
use serde::Serialize;

use super::Analysis;
use crate::expected::NodeExpect;
use crate::reach::Reachability;
use crate::Severity;

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

/// Builds the per-node summaries, sorted by name: every node the expected
/// state knows, then dumped nodes it does not (no `nodes.json` entry).
pub(super) fn summarize(a: &Analysis, reach: &Reachability) -> Vec<NodeSummary> {
    let sev = severities(a);
    let sev_of = |name: &str| sev.get(name).copied().unwrap_or_default();
    let snap = a.snapshot();
    let mut out: Vec<NodeSummary> = a
        .expected
        .iter()
        .map(|e| summary_of(snap, e, sev_of(&e.name), reach))
        .collect();
    let known: HashSet<&str> = a.expected.iter().map(|e| e.name.as_str()).collect();
    for (name, node) in &snap.nodes {
        if !known.contains(name.as_str()) {
            out.push(bare_summary(a, node, sev_of(name)));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn severities(a: &Analysis) -> HashMap<&str, SeverityCounts> {
    let mut sev: HashMap<&str, SeverityCounts> = HashMap::new();
    for f in &a.report().findings {
        if let Some(n) = &f.node {
            sev.entry(n.as_str()).or_default().add(f.severity);
        }
    }
    sev
}

fn summary_of(
    snap: &ClusterSnapshot,
    e: &NodeExpect,
    findings: SeverityCounts,
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
        findings,
        unreachable_peers: reach.unreachable.get(&e.name).copied(),
    }
}

/// A dumped node the expected state does not know (no `nodes.json` entry).
fn bare_summary(a: &Analysis, node: &NodeSnapshot, findings: SeverityCounts) -> NodeSummary {
    let model = a
        .inference()
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
        findings,
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
    let bgp = n.bgp.as_ref();
    let bgp_peers = bgp.map(|b| b.protocols.iter().filter(|p| p.is_bgp()).count());
    let bgp_established = bgp.map(|b| {
        b.protocols
            .iter()
            .filter(|p| p.is_bgp() && p.is_established())
            .count()
    });
    let ipvs = n.ipvs.as_ref();
    NodeCounts {
        routes: n.routes.len(),
        neighbours: n.neighbours.as_ref().map(Vec::len),
        fdb_entries: n.fdb.as_ref().map(Vec::len),
        pods,
        ipvs_virtual_services: ipvs.map(Vec::len),
        ipvs_real_servers: ipvs.map(|v| v.iter().map(|s| s.reals.len()).sum()),
        bgp_peers,
        bgp_established,
    }
}
