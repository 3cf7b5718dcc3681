//! `/metrics`: rendered once per refresh into OpenMetrics text, normalised
//! into both exposition formats ([`cnictl_httpkit::Exposition`]), then
//! served as cached bytes so a scrape never waits on analysis. Labels are
//! typed label sets over bounded sets (finding codes, severities and
//! refresh error codes as enums; node names, capped peer and pair lists).
//! See the README ("Serve") for every metric.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use cnictl_analyzers::pipeline::NodeSummary;
use cnictl_analyzers::{Finding, Severity};
use cnictl_model::NodeSnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::{RefreshError, Served, Status};

/// Peer address → the cluster node that owns it.
type NodeByIp = BTreeMap<std::net::IpAddr, String>;

/// Per node, at most this many `cnictl_bgp_session_up` series: all peers
/// when a node has this many or fewer, else only the sessions that are not
/// Established (a 1,000-node full mesh would otherwise emit 1M series).
pub const BGP_PEER_SERIES_CAP: usize = 16;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    code: String,
    severity: SeverityLabel,
    node: String,
}

/// A finding's severity as a label value (`error`, `warning`, `info`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct SeverityLabel(Severity);

impl EncodeLabelValue for SeverityLabel {
    fn encode(&self, enc: &mut LabelValueEncoder) -> std::fmt::Result {
        std::fmt::Write::write_str(enc, self.0.as_str())
    }
}

impl EncodeLabelValue for RefreshError {
    fn encode(&self, enc: &mut LabelValueEncoder) -> std::fmt::Result {
        std::fmt::Write::write_str(enc, self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

/// A BGP session: the node, the peer's address (or protocol name) and
/// the cluster node that address belongs to (`""` for a router outside
/// the cluster, such as a top-of-rack route reflector).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    node: String,
    peer: String,
    peer_node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PairLabels {
    src_node: String,
    dst_node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error_code: RefreshError,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type NodeGauge = Family<NodeLabels, Gauge>;

/// An info-style metric as a gauge fixed at 1 (the `kube_*_info`
/// convention): parsed alike by Prometheus' text and OpenMetrics parsers
/// and by promtool, which rejects the OpenMetrics `info` type.
fn info<
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
>(
    labels: L,
) -> Family<L, Gauge> {
    let fam = Family::<L, Gauge>::default();
    fam.get_or_create(&labels).set(1);
    fam
}
type FloatGauge = Gauge<f64, AtomicU64>;
/// Reads one per-node number from a summary (`None`: not collected).
type NodeValue = fn(&NodeSummary) -> Option<usize>;

/// Renders the whole metrics text for the current state.
pub fn render(
    current: Option<&Served>,
    status: &Status,
    errors: &BTreeMap<RefreshError, u64>,
) -> String {
    let mut reg = Registry::with_prefix("cnictl");
    register_process(&mut reg, status, errors);
    if let Some(a) = current {
        register_analysis(&mut reg, a);
    }
    let mut out = String::new();
    // Writing into a String cannot fail; an empty body would be the only effect.
    let _ = encode(&mut out, &reg);
    out
}

fn register_process(reg: &mut Registry, status: &Status, errors: &BTreeMap<RefreshError, u64>) {
    reg.register(
        "build_info",
        "cnictl version (always 1)",
        info(VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        }),
    );
    register_errors(reg, errors);
    register_refresh(reg, status);
    if let Some(t) = status.data_time {
        let g = FloatGauge::default();
        g.set(t.at);
        reg.register(
            "snapshot_collected_timestamp_seconds",
            "Unix time the served data were collected (README Operating cnictl: timestamps)",
            g,
        );
    }
}

fn register_errors(reg: &mut Registry, errors: &BTreeMap<RefreshError, u64>) {
    let errs = Family::<ErrorLabels, Counter>::default();
    for code in [RefreshError::Load, RefreshError::Panic] {
        let n = errors.get(&code).copied().unwrap_or(0);
        errs.get_or_create(&ErrorLabels { error_code: code })
            .inc_by(n);
    }
    reg.register("analysis_errors", "Failed refreshes by error code", errs);
}

fn register_refresh(reg: &mut Registry, status: &Status) {
    let last = FloatGauge::default();
    last.set(status.last_success.unwrap_or(0.0));
    reg.register(
        "last_success_timestamp_seconds",
        "Unix time of the last successful analysis (0: none yet)",
        last,
    );
    let failing = Gauge::<i64>::default();
    failing.set(i64::from(status.last_error.is_some()));
    reg.register(
        "last_refresh_failed",
        "1 while the most recent refresh failed (the last good analysis is still served)",
        failing,
    );
}

fn register_analysis(reg: &mut Registry, a: &Served) {
    let dur = FloatGauge::default();
    dur.set(a.duration.as_secs_f64());
    reg.register(
        "analysis_duration_seconds",
        "Wall time of the last successful analysis",
        dur,
    );
    reg.register(
        "model_info",
        "The CNI model cnictl recognised for the cluster (always 1)",
        info(ModelLabels {
            model: a.model().to_string(),
        }),
    );
    let nodes = Gauge::<i64>::default();
    nodes.set(a.nodes().len() as i64);
    reg.register(
        "nodes",
        "Nodes known (dumped or listed in nodes.json)",
        nodes,
    );
    register_findings(reg, a);
    register_tables(reg, a);
    register_bgp(reg, a);
    register_pairs(reg, a);
}

fn register_findings(reg: &mut Registry, a: &Served) {
    let report = a.report();
    let all = finding_family(report.findings.iter());
    reg.register(
        "findings",
        "Current findings by code, severity and node (an empty node for cluster-wide ones)",
        all,
    );
    let roots = report.groups.iter().map(|g| &report.findings[g.root]);
    reg.register(
        "root_cause_findings",
        "Current findings that are root causes (each other finding is a consequence of one), by code, severity and node",
        finding_family(roots),
    );
    let symptoms = report.groups.iter().flat_map(|g| &g.symptoms);
    let symptoms = symptoms.map(|s| &report.findings[s.finding]);
    reg.register(
        "symptom_findings",
        "Current findings explained by a root cause finding, by code, severity and node",
        finding_family(symptoms),
    );
}

/// Findings counted by code, severity and node.
fn finding_family<'a>(findings: impl Iterator<Item = &'a Finding>) -> Family<FindingLabels, Gauge> {
    let fam = Family::<FindingLabels, Gauge>::default();
    for f in findings {
        fam.get_or_create(&FindingLabels {
            code: f.code.as_str().to_string(),
            severity: SeverityLabel(f.severity),
            node: f.node.clone().unwrap_or_default(),
        })
        .inc();
    }
    fam
}

/// A per-node gauge over the summaries; `None` values are omitted (section
/// not collected), so absence and zero stay distinct.
fn node_gauge(a: &Served, value: impl Fn(&NodeSummary) -> Option<usize>) -> NodeGauge {
    let fam = NodeGauge::default();
    for n in a.nodes().iter().filter(|n| n.has_dump) {
        if let Some(v) = value(n) {
            fam.get_or_create(&NodeLabels {
                node: n.name.clone(),
            })
            .set(v as i64);
        }
    }
    fam
}

/// The per-node table gauges: name, help, value.
const TABLES: [(&str, &str, NodeValue); 9] = [
    ("node_routes", "Routes in all tables of the node", |n| {
        Some(n.counts.routes)
    }),
    ("node_neighbours", "Neighbour entries of the node", |n| {
        n.counts.neighbours
    }),
    ("node_fdb_entries", "Bridge FDB entries of the node", |n| {
        n.counts.fdb_entries
    }),
    (
        "node_pods",
        "Pods scheduled on the node (host-network excluded)",
        |n| Some(n.counts.pods),
    ),
    (
        "ipvs_virtual_services",
        "IPVS virtual services on the node",
        |n| n.counts.ipvs_virtual_services,
    ),
    (
        "ipvs_real_servers",
        "IPVS real servers on the node, over all virtual services",
        |n| n.counts.ipvs_real_servers,
    ),
    (
        "node_unreachable_peers",
        "Other nodes whose pods this node's pods cannot reach (reference dataplane probe)",
        |n| n.unreachable_peers,
    ),
    (
        "bgp_peers",
        "BGP protocols configured in the node's BGP daemon",
        |n| n.counts.bgp_peers,
    ),
    (
        "bgp_peers_established",
        "BGP protocols in state Established",
        |n| n.counts.bgp_established,
    ),
];

fn register_tables(reg: &mut Registry, a: &Served) {
    for (name, help, f) in TABLES {
        reg.register(name, help, node_gauge(a, f));
    }
}

fn register_bgp(reg: &mut Registry, a: &Served) {
    let fam = Family::<PeerLabels, Gauge>::default();
    let owners = node_by_ip(a);
    for node in a.snapshot().nodes.values() {
        for (peer, up) in session_series(node) {
            let peer_node = peer
                .parse()
                .ok()
                .and_then(|ip| owners.get(&ip).cloned())
                .unwrap_or_default();
            fam.get_or_create(&PeerLabels {
                node: node.name.clone(),
                peer,
                peer_node,
            })
            .set(i64::from(up));
        }
    }
    reg.register(
        "bgp_session_up",
        "1 when the BGP session is Established (capped per node, down sessions first)",
        fam,
    );
}

/// Every node's underlay and tunnel addresses, which is what its BGP
/// peers dial.
fn node_by_ip(a: &Served) -> NodeByIp {
    let mut out = NodeByIp::new();
    for n in a.nodes() {
        for ip in [n.underlay_ip, n.tunnel_addr, n.vtep_ip]
            .into_iter()
            .flatten()
        {
            out.entry(ip).or_insert_with(|| n.name.clone());
        }
    }
    out
}

/// The (peer, up) pairs one node exports, capped by [`BGP_PEER_SERIES_CAP`].
fn session_series(node: &NodeSnapshot) -> Vec<(String, bool)> {
    let Some(bgp) = &node.bgp else {
        return Vec::new();
    };
    let mut all: Vec<(String, bool)> = bgp
        .protocols
        .iter()
        .filter(|p| p.is_bgp())
        .map(|p| {
            let peer = p
                .neighbor_address
                .map_or_else(|| p.name.clone(), |ip| ip.to_string());
            (peer, p.is_established())
        })
        .collect();
    if all.len() > BGP_PEER_SERIES_CAP {
        all.retain(|(_, up)| !up);
    }
    all.sort_by(|x, y| (x.1, &x.0).cmp(&(y.1, &y.0)));
    all.truncate(BGP_PEER_SERIES_CAP);
    all
}

fn register_pairs(reg: &mut Registry, a: &Served) {
    let fam = Family::<PairLabels, Gauge>::default();
    for p in &a.reachability().failing_pairs {
        fam.get_or_create(&PairLabels {
            src_node: p.src.clone(),
            dst_node: p.dst.clone(),
        })
        .set(1);
    }
    reg.register(
        "pod_path_down",
        "1 for an ordered node pair whose pod-to-pod probe is dropped (the first 50 pairs)",
        fam,
    );
    let trunc = Gauge::<i64>::default();
    trunc.set(i64::from(a.reachability().truncated()));
    reg.register(
        "pod_path_down_capped",
        "1 when more node pairs fail than cnictl_pod_path_down lists",
        trunc,
    );
    let total = Gauge::<i64>::default();
    total.set(a.reachability().failing_total as i64);
    reg.register(
        "failing_node_pairs",
        "Ordered node pairs whose pod-to-pod probe is dropped, in total",
        total,
    );
}
