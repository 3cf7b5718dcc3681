//! Expected state: what every node's dataplane should hold, derived once per
//! snapshot from the Kubernetes objects and the nodes' own announcements.
//!
//! Sources, in the order they are trusted:
//! - pod CIDRs: `spec.podCIDRs` (Flannel, bridge, Cilium with Kubernetes
//!   IPAM), Cilium's `ipv4-pod-cidr` annotation, and for Calico the IPAM
//!   blocks: a Calico node's blocks are its own `blackhole … proto bird`
//!   routes; for a node without a dump (or one not loaded, as when an agent
//!   checks only its own node) its confirmed BlockAffinities when the
//!   bundle has them, else a peer's `proto bird` routes via that node's IP.
//! - node underlay IP: the first InternalIP (else Flannel's `public-ip`, else
//!   Calico's `IPv4Address`); the underlay subnet is the node's own address
//!   holding that IP (else Calico's annotation prefix).
//! - VTEPs: Flannel's `backend-data` VtepMAC and the VTEP IP (the pod CIDR's
//!   network address, as Flannel assigns it to flannel.1); Calico VXLAN's
//!   tunnel address and tunnel MAC annotations.
//! - the service CIDR: given, or inferred from the ClusterIPs (see
//!   [`infer_service_cidr`]).
//!
//! Building is O(nodes + pods + services + blackhole scan); every lookup a
//! per-node check needs is a hash probe, so a node's checks cost
//! O(its routes + nodes).

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use cnictl_model::{
    cidr, ClusterSnapshot, EndpointSlice, IpvsProto, K8sNode, NodeSnapshot, Pod, Protocol,
    RouteType, Service,
};
use ipnet::IpNet;

use crate::checks::fib::FastMap as HashMap;
use crate::cni::{Ipam, NextHop};
use crate::infer::{self, CniModel, Inference};

/// Felix's route protocol number (Calico without BIRD programs `proto 80`).
pub const PROTO_FELIX: Protocol = Protocol(80);

/// Knobs the caller may know better than the snapshot.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The cluster's service CIDR (`--service-cluster-ip-range`); inferred
    /// from the ClusterIPs when `None`.
    pub service_cidr: Option<IpNet>,
}

/// Where a node's pod CIDR came from (printed in evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrSource {
    /// `spec.podCIDRs`.
    PodCidr,
    /// Cilium's `network.cilium.io/ipv4-pod-cidr` annotation.
    CiliumAnnotation,
    /// The node's own `blackhole` block route (Calico IPAM block).
    CalicoBlock,
    /// A confirmed Calico BlockAffinity (the node's dump has no blocks,
    /// or was not loaded: an agent checking only its own node).
    CalicoAffinity,
    /// A peer's `proto bird` route via this node's IP (node has no dump).
    CalicoPeerRoute { seen_on: String },
}

/// One pod CIDR or IPAM block owned by a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodCidr {
    pub net: IpNet,
    pub source: CidrSource,
}

/// The node's underlay address and the subnet it sits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underlay {
    pub ip: IpAddr,
    /// `None` when the node's addresses are unknown.
    pub net: Option<IpNet>,
    pub dev: Option<String>,
}

/// A VXLAN tunnel endpoint as peers must program it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vtep {
    pub ip: IpAddr,
    pub mac: Option<String>,
}

/// What the cluster expects of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeExpect {
    pub name: String,
    pub model: CniModel,
    pub internal_ips: Vec<IpAddr>,
    pub underlay: Option<Underlay>,
    pub pod_cidrs: Vec<PodCidr>,
    pub vtep: Option<Vtep>,
    /// Calico VXLAN / IPIP tunnel address from the annotations.
    pub tunnel_addr: Option<IpAddr>,
    /// Whether the snapshot holds this node's dataplane dump.
    pub has_dump: bool,
    /// The CNI annotations naming the node's transport address (Flannel's
    /// `public-ip`, Calico's `IPv4Address`), key and value as written.
    pub address_annotations: Vec<(&'static str, String)>,
}

impl NodeExpect {
    pub fn ip(&self) -> Option<IpAddr> {
        self.underlay.as_ref().map(|u| u.ip)
    }

    /// The node's IP of the same family as `net` (dual-stack clusters
    /// route IPv6 pod CIDRs via the node's IPv6 InternalIP).
    pub fn ip_for(&self, net: &IpNet) -> Option<IpAddr> {
        let v6 = matches!(net, IpNet::V6(_));
        self.ip().filter(|ip| ip.is_ipv6() == v6).or_else(|| {
            self.internal_ips
                .iter()
                .copied()
                .find(|ip| ip.is_ipv6() == v6)
        })
    }

    /// `node/node-2 podCIDR 10.244.2.0/24 InternalIP 192.0.2.12`, for evidence.
    pub fn describe(&self) -> String {
        let mut s = format!("node/{}", self.name);
        for c in &self.pod_cidrs {
            let label = match &c.source {
                CidrSource::PodCidr => "podCIDR".to_string(),
                CidrSource::CiliumAnnotation => "cilium podCIDR".to_string(),
                CidrSource::CalicoBlock => "block".to_string(),
                CidrSource::CalicoAffinity => "block (affinity)".to_string(),
                CidrSource::CalicoPeerRoute { seen_on } => format!("block (seen on {seen_on})"),
            };
            s.push_str(&format!(" {label} {}", c.net));
        }
        match self.internal_ips.first() {
            Some(ip) => s.push_str(&format!(" InternalIP {ip}")),
            None => {
                if let Some(u) = &self.underlay {
                    s.push_str(&format!(" node IP {}", u.ip));
                }
            }
        }
        if let Some(v) = &self.vtep {
            s.push_str(&format!(" VTEP {}", v.ip));
            if let Some(mac) = &v.mac {
                s.push_str(&format!(" VtepMAC {mac}"));
            }
        }
        s
    }
}

/// The service range and whether it was inferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCidr {
    pub net: IpNet,
    pub inferred: bool,
}

/// One Service port on one ClusterIP: an IPVS virtual server kube-proxy
/// must program on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortExpect {
    /// `namespace/name`.
    pub service: String,
    pub proto: IpvsProto,
    pub ip: IpAddr,
    pub port: u16,
    pub port_name: Option<String>,
    /// Ready endpoints (IP, target port); `None` when EndpointSlices were
    /// not collected.
    pub endpoints: Option<BTreeSet<(IpAddr, u16)>>,
}

impl ServicePortExpect {
    /// `svc/ns/name TCP 10.96.0.10:53`, for evidence.
    pub fn describe(&self) -> String {
        format!(
            "svc/{} {} {}:{}",
            self.service,
            proto_name(self.proto),
            self.ip,
            self.port
        )
    }
}

fn proto_name(p: IpvsProto) -> &'static str {
    match p {
        IpvsProto::Tcp => "TCP",
        IpvsProto::Udp => "UDP",
        IpvsProto::Sctp => "SCTP",
        IpvsProto::Fwmark => "FWM",
    }
}

/// The expected state of a whole cluster, indexed for per-node checks.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub inference: Inference,
    /// Sorted by name.
    pub nodes: Vec<NodeExpect>,
    by_name: HashMap<String, usize>,
    by_ip: HashMap<IpAddr, usize>,
    by_vtep_ip: HashMap<IpAddr, usize>,
    pub service_cidr: Option<ServiceCidr>,
    /// Why there is no service CIDR, when there is none.
    pub service_cidr_note: Option<String>,
    /// `None` when `k8s/services.json` was not collected.
    pub services: Option<Vec<ServicePortExpect>>,
    svc_index: HashMap<(IpvsProto, IpAddr, u16), usize>,
    pub endpoint_slices_collected: bool,
    /// Pod CIDRs that overlap another node's: their routes are ambiguous,
    /// so route checks leave them to `pod-cidr-overlap`.
    pub contested: HashSet<IpNet>,
    pods_by_ip: HashMap<IpAddr, &'a Pod>,
    pods_by_node: HashMap<&'a str, Vec<&'a Pod>>,
    /// Flannel VXLAN's `DirectRouting`, as the routes show it (`None`:
    /// cannot tell; see [`crate::direct_routing`]).
    pub flannel_direct_routing: Option<bool>,
    /// The BGP sessions Calico's custom resources configure; `None` when
    /// they were not collected (a full mesh is then assumed).
    pub bgp_topology: Option<crate::bgptopo::BgpTopology>,
    /// The snapshot's Kubernetes objects (Calico's IPAM objects among
    /// them), for the checks that compare them with the routes.
    pub k8s: &'a cnictl_model::K8s,
}

impl<'a> Expected<'a> {
    pub fn build(snap: &'a ClusterSnapshot) -> Self {
        Self::build_with(snap, &Options::default())
    }

    pub fn build_with(snap: &'a ClusterSnapshot, opts: &Options) -> Self {
        let inference = infer::infer(snap);
        let mut nodes: Vec<NodeExpect> = inference
            .per_node
            .iter()
            .map(|nm| node_expect(snap, &nm.node, nm.model))
            .collect();
        fill_peer_blocks(snap, &mut nodes);
        let flannel_direct_routing = crate::direct_routing::flannel_direct_routing(snap, &nodes);
        let (service_cidr, service_cidr_note) = service_cidr(snap, opts);
        let services = snap
            .k8s
            .services
            .as_ref()
            .map(|s| service_ports(s, snap.k8s.endpoint_slices.as_deref()));
        let mut exp = Expected {
            inference,
            nodes,
            by_name: HashMap::default(),
            by_ip: HashMap::default(),
            by_vtep_ip: HashMap::default(),
            service_cidr,
            service_cidr_note,
            services,
            svc_index: HashMap::default(),
            endpoint_slices_collected: snap.k8s.endpoint_slices.is_some(),
            contested: HashSet::new(),
            pods_by_ip: HashMap::default(),
            pods_by_node: HashMap::default(),
            flannel_direct_routing,
            bgp_topology: crate::bgptopo::BgpTopology::from_k8s(&snap.k8s),
            k8s: &snap.k8s,
        };
        exp.index(snap);
        exp
    }

    fn index(&mut self, snap: &'a ClusterSnapshot) {
        self.contested = contested(&self.nodes);
        self.index_nodes();
        if let Some(svcs) = &self.services {
            for (i, s) in svcs.iter().enumerate() {
                self.svc_index.insert((s.proto, s.ip, s.port), i);
            }
        }
        for pod in snap.k8s.pods.iter().filter(|p| is_live(p)) {
            self.index_pod(pod);
        }
    }

    /// Nodes by name, by node IP (InternalIPs, underlay, then advertised
    /// addresses) and by VTEP or tunnel IP; the first node wins an address.
    fn index_nodes(&mut self) {
        for (i, n) in self.nodes.iter().enumerate() {
            self.by_name.insert(n.name.clone(), i);
            // Last, the addresses the node advertises (a wrong one is
            // what its peers then dial: their findings name the node).
            let ips = n
                .internal_ips
                .iter()
                .copied()
                .chain(n.underlay.as_ref().map(|u| u.ip))
                .chain(n.advertised_ips());
            for ip in ips {
                self.by_ip.entry(ip).or_insert(i);
            }
            let tunnel_ips = n
                .vtep
                .as_ref()
                .map(|v| v.ip)
                .into_iter()
                .chain(n.tunnel_addr);
            for ip in tunnel_ips {
                self.by_vtep_ip.entry(ip).or_insert(i);
            }
        }
    }

    fn index_pod(&mut self, pod: &'a Pod) {
        for ip in &pod.ips {
            self.pods_by_ip.insert(*ip, pod);
        }
        if let Some(node) = &pod.node {
            let on_node = self.pods_by_node.entry(node.as_str()).or_default();
            on_node.push(pod);
        }
    }

    /// The cluster model (`mixed` when nodes disagree).
    pub fn model(&self) -> CniModel {
        self.inference.model
    }

    pub fn node(&self, name: &str) -> Option<&NodeExpect> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    /// The node whose underlay IP / InternalIP this is.
    pub fn node_by_ip(&self, ip: IpAddr) -> Option<&NodeExpect> {
        self.by_ip.get(&ip).map(|&i| &self.nodes[i])
    }

    /// The node whose VTEP (or tunnel) IP this is.
    pub fn node_by_vtep_ip(&self, ip: IpAddr) -> Option<&NodeExpect> {
        self.by_vtep_ip.get(&ip).map(|&i| &self.nodes[i])
    }

    pub fn service(&self, proto: IpvsProto, ip: IpAddr, port: u16) -> Option<&ServicePortExpect> {
        let svcs = self.services.as_ref()?;
        self.svc_index.get(&(proto, ip, port)).map(|&i| &svcs[i])
    }

    /// The live (non-hostNetwork, not finished) pod holding this IP.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<&'a Pod> {
        self.pods_by_ip.get(&ip).copied()
    }

    /// Live pods scheduled on the node (any order).
    pub fn pods_on(&self, node: &str) -> &[&'a Pod] {
        self.pods_by_node.get(node).map_or(&[], Vec::as_slice)
    }
}

/// The service CIDR: given, or inferred from the ClusterIPs (with a note
/// when it cannot be).
fn service_cidr(snap: &ClusterSnapshot, opts: &Options) -> (Option<ServiceCidr>, Option<String>) {
    let inferred = false;
    match opts.service_cidr {
        Some(net) => (Some(ServiceCidr { net, inferred }), None),
        None => infer_service_cidr(snap.k8s.services.as_deref().unwrap_or_default()),
    }
}

/// Pod CIDRs of one node that overlap a pod CIDR of another node.
fn contested(nodes: &[NodeExpect]) -> HashSet<IpNet> {
    let (nets, owner): (Vec<IpNet>, Vec<usize>) = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.pod_cidrs.iter().map(move |c| (c.net, i)))
        .unzip();
    let mut out = HashSet::new();
    for (a, b) in crate::checks::overlap::overlapping_pairs(&nets) {
        if owner[a] != owner[b] {
            out.insert(nets[a]);
            out.insert(nets[b]);
        }
    }
    out
}

/// A pod that has its own netns and still holds its IPs.
pub fn is_live(p: &Pod) -> bool {
    !p.host_network && !p.ips.is_empty() && !matches!(p.phase.as_str(), "Succeeded" | "Failed")
}

fn node_expect(snap: &ClusterSnapshot, name: &str, model: CniModel) -> NodeExpect {
    let k8s = snap.k8s.node(name);
    let dump = snap.nodes.get(name);
    let internal_ips = k8s.map(|k| k.internal_ips.clone()).unwrap_or_default();
    let underlay = underlay(k8s, dump, &internal_ips);
    let pod_cidrs = pod_cidrs(k8s, dump, model);
    let tunnel_addr = k8s.and_then(|k| k.annotation(tunnel_annotation(model))?.parse().ok());
    let vtep = vtep(k8s, dump, model, &pod_cidrs, tunnel_addr);
    let address_annotations = address_annotations(k8s);
    NodeExpect {
        name: name.to_string(),
        model,
        internal_ips,
        underlay,
        pod_cidrs,
        vtep,
        tunnel_addr,
        has_dump: dump.is_some(),
        address_annotations,
    }
}

impl NodeExpect {
    /// The addresses the node's annotations advertise to its peers
    /// (Flannel's public-ip, Calico's IPv4Address without its prefix).
    pub fn advertised_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let addr = |v: &String| v.split('/').next()?.parse().ok();
        self.address_annotations
            .iter()
            .filter_map(move |(_, v)| addr(v))
    }
}

fn address_annotations(k8s: Option<&K8sNode>) -> Vec<(&'static str, String)> {
    let keys = [infer::FLANNEL_PUBLIC_IP, infer::CALICO_IPV4_ADDRESS];
    let Some(k) = k8s else { return Vec::new() };
    let found = keys
        .into_iter()
        .filter_map(|key| Some((key, k.annotation(key)?)));
    found.map(|(key, v)| (key, v.to_string())).collect()
}

fn underlay(
    k8s: Option<&K8sNode>,
    dump: Option<&NodeSnapshot>,
    internal_ips: &[IpAddr],
) -> Option<Underlay> {
    let calico_addr: Option<IpNet> = k8s
        .and_then(|k| k.annotation(infer::CALICO_IPV4_ADDRESS))
        .and_then(|s| s.parse().ok());
    let ip = internal_ips
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(internal_ips.first())
        .copied()
        .or_else(|| {
            k8s.and_then(|k| k.annotation(infer::FLANNEL_PUBLIC_IP))
                .and_then(|s| s.parse().ok())
        })
        .or(calico_addr.map(|n| n.addr()))?;
    let own = dump.and_then(|d| d.addrs.iter().find(|a| a.addr.addr() == ip));
    let (net, dev) = match own {
        Some(a) => (Some(a.addr.trunc()), Some(a.dev.clone())),
        None => (
            calico_addr.filter(|n| n.addr() == ip).map(|n| n.trunc()),
            None,
        ),
    };
    Some(Underlay { ip, net, dev })
}

fn pod_cidrs(k8s: Option<&K8sNode>, dump: Option<&NodeSnapshot>, model: CniModel) -> Vec<PodCidr> {
    let ipam = model.profile().map(|p| p.ipam);
    if ipam == Some(Ipam::CalicoBlocks) {
        let blocks = dump.map(own_calico_blocks).unwrap_or_default();
        if !blocks.is_empty() {
            return blocks;
        }
    }
    let Some(k) = k8s else {
        return Vec::new();
    };
    let mut out: Vec<PodCidr> = k
        .pod_cidrs
        .iter()
        .map(|n| PodCidr {
            net: n.trunc(),
            source: CidrSource::PodCidr,
        })
        .collect();
    if ipam == Some(Ipam::PodCidrOrCiliumAnnotation) {
        out.extend(cilium_pod_cidr(k));
    }
    out
}

/// Cilium's `ipv4-pod-cidr` annotation, unless `spec.podCIDRs` has it.
fn cilium_pod_cidr(k: &K8sNode) -> Option<PodCidr> {
    let net = k
        .annotation(infer::CILIUM_POD_CIDR)?
        .parse::<IpNet>()
        .ok()?
        .trunc();
    let known = k.pod_cidrs.iter().any(|p| p.trunc() == net);
    let source = CidrSource::CiliumAnnotation;
    (!known).then_some(PodCidr { net, source })
}

/// Calico IPAM blocks affine to the node: its own blackhole block routes.
fn own_calico_blocks(d: &NodeSnapshot) -> Vec<PodCidr> {
    let mut blocks: Vec<IpNet> = d
        .routes
        .iter()
        .filter(|r| {
            r.route_type == RouteType::Blackhole
                && (r.protocol == Protocol::BIRD || r.protocol == PROTO_FELIX)
        })
        .map(|r| r.dst.trunc())
        .collect();
    blocks.sort();
    blocks.dedup();
    blocks
        .into_iter()
        .map(|net| PodCidr {
            net,
            source: CidrSource::CalicoBlock,
        })
        .collect()
}

/// Calico nodes without a dump (or without blocks): learn their blocks from
/// the first dumped peers' `proto bird` routes via their IP. Scans at most
/// two nodes' routes, so the cost stays O(routes of one node).
fn fill_peer_blocks(snap: &ClusterSnapshot, nodes: &mut [NodeExpect]) {
    fill_affinity_blocks(snap, nodes);
    let wanted = blockless(nodes);
    if wanted.is_empty() || !nodes.iter().any(|n| n.model.is_calico()) {
        return;
    }
    for (i, (blocks, seen_on)) in learned_blocks(snap, nodes, &wanted) {
        let source = CidrSource::CalicoPeerRoute { seen_on };
        nodes[i].pod_cidrs = blocks
            .into_iter()
            .map(|net| PodCidr {
                net,
                source: source.clone(),
            })
            .collect();
    }
}

/// Blockless Calico nodes take their confirmed BlockAffinities: the IPAM
/// truth, which needs no other node's dump (before a peer's routes, which
/// miss exactly the block a broken peer lacks).
fn fill_affinity_blocks(snap: &ClusterSnapshot, nodes: &mut [NodeExpect]) {
    let Some(affinities) = snap.k8s.calico.block_affinities.as_deref() else {
        return;
    };
    let wanted: HashMap<&str, usize> = blockless(nodes)
        .into_values()
        .map(|i| (nodes[i].name.as_str(), i))
        .collect();
    let mut found: std::collections::BTreeMap<usize, BTreeSet<IpNet>> = Default::default();
    for a in affinities
        .iter()
        .filter(|a| a.state == "confirmed" && !a.deleted)
    {
        if let Some(&i) = wanted.get(a.node.as_str()) {
            found.entry(i).or_default().insert(a.cidr.trunc());
        }
    }
    // As a peer's routes do: the blocks replace a podCIDR Calico ignores.
    for (i, blocks) in found {
        let source = CidrSource::CalicoAffinity;
        let cidrs = blocks.into_iter().map(|net| PodCidr {
            net,
            source: source.clone(),
        });
        nodes[i].pod_cidrs = cidrs.collect();
    }
}

/// Calico (or unknown) nodes without their own blocks, by node IP.
fn blockless(nodes: &[NodeExpect]) -> HashMap<IpAddr, usize> {
    let own_blocks = |n: &NodeExpect| {
        n.pod_cidrs.iter().any(|c| {
            matches!(
                c.source,
                CidrSource::CalicoBlock | CidrSource::CalicoAffinity
            )
        })
    };
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.model.is_calico() || n.model == CniModel::Unknown)
        .filter(|(_, n)| !own_blocks(n))
        .filter_map(|(i, n)| Some((n.ip()?, i)))
        .collect()
}

/// The blocks the first two dumped nodes route via each wanted node's IP,
/// each node's from the first dump that names it.
fn learned_blocks(
    snap: &ClusterSnapshot,
    nodes: &[NodeExpect],
    wanted: &HashMap<IpAddr, usize>,
) -> HashMap<usize, (BTreeSet<IpNet>, String)> {
    let mut found: HashMap<usize, (BTreeSet<IpNet>, String)> = HashMap::default();
    for dump in snap.nodes.values().take(2) {
        for (gw, dst) in peer_routes(dump) {
            let Some(&i) = wanted.get(&gw).filter(|&&i| nodes[i].name != dump.name) else {
                continue;
            };
            let e = found
                .entry(i)
                .or_insert_with(|| (BTreeSet::new(), dump.name.clone()));
            if e.1 == dump.name {
                e.0.insert(dst.trunc());
            }
        }
    }
    found
}

/// (peer node IP, block) pairs a node learned: its kernel's `proto bird`
/// routes and, when collected, BIRD's own table (which still has a block
/// whose kernel route went missing). Host routes are borrowed IPs, not blocks.
fn peer_routes(dump: &NodeSnapshot) -> impl Iterator<Item = (IpAddr, IpNet)> + '_ {
    let kernel = dump
        .routes
        .iter()
        .filter(|r| r.protocol == Protocol::BIRD && r.route_type == RouteType::Unicast)
        .filter_map(|r| Some((r.gateway?, r.dst)));
    let bird = dump
        .bgp
        .iter()
        .flat_map(|b| b.routes.iter().flatten())
        .filter(|r| r.kind == "unicast")
        .filter_map(|r| Some((r.bgp_next_hop.or(r.via)?, r.prefix)));
    kernel
        .chain(bird)
        .filter(|(_, dst)| dst.prefix_len() < dst.max_prefix_len())
}

/// The annotation naming a node's tunnel address (Calico IPIP's when the
/// model is unknown: a dump-less Calico node).
fn tunnel_annotation(model: CniModel) -> &'static str {
    model
        .profile()
        .map_or(infer::CALICO_IPIP_ADDR, |p| p.tunnel_annotation())
}

/// The node's VTEP, for models whose routes point at a peer's VTEP: the
/// address its VXLAN device holds, else the one the model derives.
fn vtep(
    k8s: Option<&K8sNode>,
    dump: Option<&NodeSnapshot>,
    model: CniModel,
    pod_cidrs: &[PodCidr],
    tunnel_addr: Option<IpAddr>,
) -> Option<Vtep> {
    let profile = model.profile()?;
    let ip = match profile.next_hop {
        NextHop::VtepOnlink => pod_cidrs.first().map(|c| c.net.network()),
        NextHop::TunnelAddrOnlink => tunnel_addr,
        _ => return None,
    };
    let link = dump.and_then(|d| profile.vxlan_dev(d));
    let ip = link.and_then(|l| dev_addr(dump?, &l.name)).or(ip)?;
    let mac = k8s
        .and_then(|k| k.annotation(infer::FLANNEL_BACKEND_DATA))
        .and_then(flannel_vtep_mac)
        .or_else(|| {
            let calico = k8s?.annotation(infer::CALICO_VXLAN_MAC)?;
            cidr::normalize_mac(calico)
        })
        .or_else(|| link.and_then(|l| l.mac.clone()));
    Some(Vtep { ip, mac })
}

/// The first address the node's device holds.
fn dev_addr(dump: &NodeSnapshot, dev: &str) -> Option<IpAddr> {
    let a = dump.addrs.iter().find(|a| a.dev == dev)?;
    Some(a.addr.addr())
}

/// Reads `VtepMAC` out of Flannel's `backend-data` annotation.
pub fn flannel_vtep_mac(backend_data: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(backend_data).ok()?;
    cidr::normalize_mac(v.get("VtepMAC")?.as_str()?)
}

/// Infers the service CIDR from the ClusterIPs, per address family (IPv4
/// first): the smallest prefix covering every ClusterIP of that family,
/// provided it has at most 20 host bits (kube-apiserver's limit: /12 for
/// IPv4, /108 for IPv6). A wider cover means the ClusterIPs do not come
/// from one range, and nothing is inferred. The inferred range can be
/// narrower than the real one; it never reports an overlap that is not there.
pub fn infer_service_cidr(services: &[Service]) -> (Option<ServiceCidr>, Option<String>) {
    let ips: Vec<IpAddr> = services
        .iter()
        .flat_map(|s| s.cluster_ips.iter().copied())
        .collect();
    let v4: Vec<IpAddr> = ips.iter().copied().filter(IpAddr::is_ipv4).collect();
    let fam = if v4.is_empty() { ips } else { v4 };
    let (Some(&lo), Some(&hi)) = (fam.iter().min(), fam.iter().max()) else {
        return (None, Some("no Service has a ClusterIP".into()));
    };
    let cover = covering_prefix(lo, hi);
    if cover.max_prefix_len() - cover.prefix_len() > 20 {
        let note =
            format!("ClusterIPs span {cover}, wider than a service range can be (20 host bits)");
        return (None, Some(note));
    }
    (
        Some(ServiceCidr {
            net: cover,
            inferred: true,
        }),
        None,
    )
}

/// The smallest prefix holding both addresses (same family).
pub fn covering_prefix(lo: IpAddr, hi: IpAddr) -> IpNet {
    let (a, b, max) = match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), 32u8)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128u8),
        (a, _) => return IpNet::new(a, 0).unwrap_or_else(|_| cidr::host(a)),
    };
    let diff = a ^ b;
    let common = if diff == 0 {
        u32::from(max)
    } else {
        diff.leading_zeros() - (128 - u32::from(max))
    };
    let len = u8::try_from(common).unwrap_or(max);
    IpNet::new(lo, len).map_or_else(|_| cidr::host(lo), |n| n.trunc())
}

fn service_ports(services: &[Service], slices: Option<&[EndpointSlice]>) -> Vec<ServicePortExpect> {
    let by_svc = slices_by_service(slices.unwrap_or_default());
    let mut out = Vec::new();
    for svc in services.iter().filter(|s| s.service_type != "ExternalName") {
        let own = by_svc
            .get(&(svc.namespace.as_str(), svc.name.as_str()))
            .map_or(&[][..], Vec::as_slice);
        for ip in &svc.cluster_ips {
            let ports = svc
                .ports
                .iter()
                .filter_map(|p| Some((ipvs_proto(&p.protocol)?, p)));
            out.extend(ports.map(|(proto, port)| ServicePortExpect {
                service: svc.key(),
                proto,
                ip: *ip,
                port: port.port,
                port_name: port.name.clone(),
                endpoints: slices.map(|_| ready_endpoints(own, *ip, port)),
            }));
        }
    }
    out
}

type SlicesByService<'s> = HashMap<(&'s str, &'s str), Vec<&'s EndpointSlice>>;

/// EndpointSlices keyed by their Service's (namespace, name).
fn slices_by_service(slices: &[EndpointSlice]) -> SlicesByService<'_> {
    let mut by_svc: SlicesByService<'_> = HashMap::default();
    for s in slices {
        let Some(svc) = &s.service else { continue };
        by_svc.entry((&s.namespace, svc)).or_default().push(s);
    }
    by_svc
}

fn ipvs_proto(p: &str) -> Option<IpvsProto> {
    match p.to_ascii_uppercase().as_str() {
        "TCP" => Some(IpvsProto::Tcp),
        "UDP" => Some(IpvsProto::Udp),
        "SCTP" => Some(IpvsProto::Sctp),
        _ => None,
    }
}

/// Ready endpoint (IP, target port) pairs of one Service port, from the
/// slices of the ClusterIP's address family whose port has the same name.
fn ready_endpoints(
    slices: &[&EndpointSlice],
    cluster_ip: IpAddr,
    port: &cnictl_model::ServicePort,
) -> BTreeSet<(IpAddr, u16)> {
    let mut out = BTreeSet::new();
    for s in slices {
        let Some(p) = s
            .ports
            .iter()
            .find(|p| p.name == port.name && p.protocol.eq_ignore_ascii_case(&port.protocol))
        else {
            continue;
        };
        for e in s.endpoints.iter().filter(|e| e.ready) {
            for a in e
                .addresses
                .iter()
                .filter(|a| a.is_ipv4() == cluster_ip.is_ipv4())
            {
                out.insert((*a, p.port));
            }
        }
    }
    out
}
