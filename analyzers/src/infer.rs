//! CNI model detection: which dataplane model each node runs, and the
//! evidence (devices, routes, annotations, BGP state) that decided it.
//!
//! Detection reads only what the node shows. The order of the rules below
//! matters because models share devices: Calico IPIP nodes may also have
//! cali* veths and BIRD (so tunnel devices are looked at first), and Flannel
//! host-gw looks like a plain bridge except for its annotations.

use cnictl_model::{ClusterSnapshot, K8sNode, Link, NodeSnapshot, Protocol, Route};
use serde::{Deserialize, Serialize};

pub use crate::cni::model::{
    CniModel, CALICO_IPIP_ADDR, CALICO_IPV4_ADDRESS, CALICO_VXLAN_ADDR, CALICO_VXLAN_MAC,
    CILIUM_POD_CIDR, FLANNEL_BACKEND_DATA, FLANNEL_BACKEND_TYPE, FLANNEL_PUBLIC_IP,
};

/// One node's model and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeModel {
    pub node: String,
    pub model: CniModel,
    /// Human-readable facts that decided it (`link flannel.1 vxlan id 1 dstport 8472`).
    pub evidence: Vec<String>,
}

/// The cluster's model (`mixed` when nodes disagree) and each node's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inference {
    pub model: CniModel,
    /// Sorted by node name.
    pub per_node: Vec<NodeModel>,
}

impl Inference {
    pub fn node(&self, name: &str) -> Option<&NodeModel> {
        self.per_node
            .binary_search_by(|n| n.node.as_str().cmp(name))
            .ok()
            .map(|i| &self.per_node[i])
    }
}

/// Infers every node's model and the cluster's. Nodes that appear only in
/// `k8s/nodes.json` are judged on their annotations; `unknown` nodes do not
/// make the cluster `mixed` (a node without a dump is not a disagreement).
pub fn infer(snap: &ClusterSnapshot) -> Inference {
    let mut per_node: Vec<NodeModel> = snap
        .nodes
        .values()
        .map(|n| infer_node(n, snap.k8s.node(&n.name)))
        .collect();
    for k in &snap.k8s.nodes {
        if !snap.nodes.contains_key(&k.name) {
            per_node.push(infer_from_annotations(k));
        }
    }
    per_node.sort_by(|a, b| a.node.cmp(&b.node));
    Inference {
        model: cluster_model(&per_node),
        per_node,
    }
}

/// The cluster verdict: the one model all known nodes agree on.
pub fn cluster_model(per_node: &[NodeModel]) -> CniModel {
    let mut known = per_node
        .iter()
        .map(|n| n.model)
        .filter(|m| *m != CniModel::Unknown);
    match known.next() {
        Some(first) if known.all(|m| m == first) => first,
        Some(_) => CniModel::Mixed,
        None => CniModel::Unknown,
    }
}

/// Device and route facts gathered in one pass over a node's tables.
#[derive(Default)]
struct Signals<'a> {
    flannel_vxlan: Option<&'a Link>,
    cni_bridge: Option<&'a Link>,
    docker0: Option<&'a Link>,
    tunl0: Option<&'a Link>,
    calico_vxlan: Option<&'a Link>,
    cilium_host: Option<&'a Link>,
    cilium_vxlan: Option<&'a Link>,
    weave: Option<&'a Link>,
    weave_vxlan: Option<&'a Link>,
    cali_veths: usize,
    lxc_veths: usize,
    bird_routes: usize,
    bird_via_tunl0: usize,
    bird_blackholes: usize,
    flannel_onlink_routes: usize,
    /// Non-default routes via a gateway on a connected subnet (host-gw).
    host_gw_routes: usize,
    bgp_peers: usize,
}

fn gather<'a>(node: &'a NodeSnapshot) -> Signals<'a> {
    let mut s = Signals::default();
    for l in &node.links {
        link_signal(&mut s, l);
    }
    let connected: Vec<ipnet::IpNet> = node
        .addrs
        .iter()
        .filter(|a| a.scope == "global" && a.addr.prefix_len() < a.addr.max_prefix_len())
        .map(|a| a.addr.trunc())
        .collect();
    for r in &node.routes {
        route_signal(&mut s, r, node);
        if is_host_gw_route(r, &connected) {
            s.host_gw_routes += 1;
        }
    }
    if let Some(bgp) = &node.bgp {
        s.bgp_peers = bgp.protocols.iter().filter(|p| p.is_bgp()).count();
    }
    s
}

fn link_signal<'a>(s: &mut Signals<'a>, l: &'a Link) {
    let name = l.name.as_str();
    match name {
        "tunl0" => s.tunl0 = Some(l),
        "vxlan.calico" => s.calico_vxlan = Some(l),
        "cilium_host" => s.cilium_host = Some(l),
        "cilium_vxlan" => s.cilium_vxlan = Some(l),
        "weave" => s.weave = Some(l),
        "vxlan-6784" | "datapath" => s.weave_vxlan = Some(l),
        "cni0" | "cbr0" if l.is_kind("bridge") => s.cni_bridge = Some(l),
        "docker0" if l.is_kind("bridge") => s.docker0 = Some(l),
        _ if name.starts_with("flannel.") && l.is_kind("vxlan") => s.flannel_vxlan = Some(l),
        _ if name.starts_with("cali") && l.is_kind("veth") => s.cali_veths += 1,
        _ if name.starts_with("lxc") && name != "lxc_health" => s.lxc_veths += 1,
        _ => {}
    }
}

fn route_signal(s: &mut Signals<'_>, r: &Route, node: &NodeSnapshot) {
    if r.protocol == Protocol::BIRD {
        s.bird_routes += 1;
        if r.route_type == cnictl_model::RouteType::Blackhole {
            s.bird_blackholes += 1;
        }
        if crate::checks::fib::paths(r).any(|(_, dev)| dev == Some("tunl0")) {
            s.bird_via_tunl0 += 1;
        }
    }
    if r.onlink {
        if let Some(dev) = &r.dev {
            if dev.starts_with("flannel.") && node.link(dev).is_some() {
                s.flannel_onlink_routes += 1;
            }
        }
    }
}

fn is_host_gw_route(r: &Route, connected: &[ipnet::IpNet]) -> bool {
    r.route_type == cnictl_model::RouteType::Unicast
        && r.dst.prefix_len() > 0
        && r.protocol != Protocol::BIRD
        && !r.onlink
        && r.gateway
            .is_some_and(|gw| connected.iter().any(|n| n.contains(&gw)))
}

/// Infers one node's model from its own tables and its Kubernetes object.
pub fn infer_node(node: &NodeSnapshot, k8s: Option<&K8sNode>) -> NodeModel {
    let s = gather(node);
    let backend = k8s.and_then(|k| k.annotation(FLANNEL_BACKEND_TYPE));
    let mut evidence = Vec::new();
    let model = decide(&s, backend, &mut evidence);
    let node = node.name.clone();
    NodeModel {
        node,
        model,
        evidence,
    }
}

/// The first rule that recognises the node, in precedence order.
fn decide(s: &Signals<'_>, flannel_backend: Option<&str>, ev: &mut Vec<String>) -> CniModel {
    decide_cilium(s, ev)
        .or_else(|| decide_weave(s, ev))
        .or_else(|| decide_calico(s, ev))
        .unwrap_or_else(|| decide_flannel_or_bridge(s, flannel_backend, ev))
}

fn decide_cilium(s: &Signals<'_>, ev: &mut Vec<String>) -> Option<CniModel> {
    let host = s.cilium_host?;
    ev.push(format!("link {} (cilium)", host.name));
    if s.lxc_veths > 0 {
        ev.push(format!("{} lxc* endpoint veths", s.lxc_veths));
    }
    Some(match s.cilium_vxlan {
        Some(v) => {
            ev.push(format!("link {}{}", v.name, vxlan_desc(v)));
            CniModel::CiliumVxlan
        }
        None => {
            ev.push("no cilium_vxlan device: native routing".into());
            CniModel::CiliumNative
        }
    })
}

fn decide_weave(s: &Signals<'_>, ev: &mut Vec<String>) -> Option<CniModel> {
    let bridge = s.weave?;
    ev.push(format!("link {} bridge", bridge.name));
    if let Some(v) = s.weave_vxlan {
        ev.push(format!("link {} (weave fast datapath)", v.name));
    }
    ev.push(format!("not modelled: {}", crate::cni::WEAVE_NOT_MODELLED));
    Some(CniModel::Weave)
}

fn decide_calico(s: &Signals<'_>, ev: &mut Vec<String>) -> Option<CniModel> {
    if let Some(v) = s.calico_vxlan {
        ev.push(format!("link {}{}", v.name, vxlan_desc(v)));
        push_calico_facts(s, ev);
        return Some(CniModel::CalicoVxlan);
    }
    if s.bird_via_tunl0 > 0 {
        ev.push(format!(
            "{} proto bird routes via tunl0 (ipip) onlink",
            s.bird_via_tunl0
        ));
        push_calico_facts(s, ev);
        return Some(CniModel::CalicoIpip);
    }
    if s.cali_veths == 0 && s.bird_routes == 0 && s.bgp_peers == 0 {
        return None;
    }
    push_calico_facts(s, ev);
    Some(CniModel::CalicoBgp)
}

fn push_calico_facts(s: &Signals<'_>, ev: &mut Vec<String>) {
    if s.cali_veths > 0 {
        ev.push(format!("{} cali* veths", s.cali_veths));
    }
    if s.bird_routes > 0 {
        ev.push(format!(
            "{} proto bird routes ({} blackhole blocks)",
            s.bird_routes, s.bird_blackholes
        ));
    }
    if s.bgp_peers > 0 {
        ev.push(format!("BIRD with {} BGP protocols", s.bgp_peers));
    }
}

fn decide_flannel_or_bridge(
    s: &Signals<'_>,
    backend: Option<&str>,
    ev: &mut Vec<String>,
) -> CniModel {
    if let Some(b) = backend {
        ev.push(format!("annotation {FLANNEL_BACKEND_TYPE}={b}"));
    }
    match s.flannel_vxlan {
        Some(v) => flannel_vxlan(s, v, ev),
        None => decide_by_bridge(s, backend, ev),
    }
}

fn flannel_vxlan(s: &Signals<'_>, v: &Link, ev: &mut Vec<String>) -> CniModel {
    ev.push(format!("link {}{}", v.name, vxlan_desc(v)));
    if s.flannel_onlink_routes > 0 {
        let n = s.flannel_onlink_routes;
        ev.push(format!("{n} routes via {} onlink", v.name));
    }
    CniModel::FlannelVxlan
}

/// No flannel.* device: the bridge and Flannel's backend annotation decide.
fn decide_by_bridge(s: &Signals<'_>, backend: Option<&str>, ev: &mut Vec<String>) -> CniModel {
    match (s.cni_bridge, backend) {
        (Some(br), Some("host-gw")) => bridged(
            s,
            format!("bridge {}", br.name),
            CniModel::FlannelHostGw,
            ev,
        ),
        (_, Some("vxlan")) => {
            ev.push("flannel backend vxlan but no flannel.* vxlan device".into());
            CniModel::FlannelVxlan
        }
        (Some(br), _) => bridged(
            s,
            format!("bridge {} without flannel annotations", br.name),
            CniModel::Bridge,
            ev,
        ),
        (None, Some("host-gw")) => CniModel::FlannelHostGw,
        (None, None) if s.docker0.is_some() => {
            ev.push("bridge docker0 and no CNI device: Docker's bridge network".into());
            CniModel::DockerBridge
        }
        _ => {
            ev.push("no CNI device (cni0, flannel.*, cali*, tunl0, cilium_host, weave)".into());
            CniModel::Unknown
        }
    }
}

fn bridged(s: &Signals<'_>, fact: String, model: CniModel, ev: &mut Vec<String>) -> CniModel {
    ev.push(fact);
    push_host_gw(s, ev);
    model
}

fn push_host_gw(s: &Signals<'_>, ev: &mut Vec<String>) {
    if s.host_gw_routes > 0 {
        ev.push(format!(
            "{} routes via gateways on a connected subnet (host-gw)",
            s.host_gw_routes
        ));
    }
}

fn vxlan_desc(l: &Link) -> String {
    match &l.vxlan {
        Some(v) => format!(" vxlan id {} dstport {}", v.vni, v.port),
        None => " vxlan".to_string(),
    }
}

/// A node without a dump: only Flannel says its model in annotations.
fn infer_from_annotations(k: &K8sNode) -> NodeModel {
    let mut evidence = vec!["no dataplane dump for this node".to_string()];
    let model = match k.annotation(FLANNEL_BACKEND_TYPE) {
        Some(b) => {
            evidence.push(format!("annotation {FLANNEL_BACKEND_TYPE}={b}"));
            match b {
                "vxlan" => CniModel::FlannelVxlan,
                "host-gw" => CniModel::FlannelHostGw,
                _ => CniModel::Unknown,
            }
        }
        None => CniModel::Unknown,
    };
    NodeModel {
        node: k.name.clone(),
        model,
        evidence,
    }
}
