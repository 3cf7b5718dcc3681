//! The namespace lab's plan (`cnictl lab`): every name, address, MAC, veth
//! name and Kubernetes object of a lab with N nodes × M pods per node.
//!
//! One source for both sides of a lab: lab/lab.sh builds its namespaces
//! from this plan (through `cnictl lab plan --format shell`) and the lab's
//! k8s/*.json are these objects written by the bundle writer. The lab keeps
//! its own small fixed numbering (underlay 192.0.2.0/24, node n at
//! 192.0.2.(10+n), pod CIDR 10.244.n.0/24) rather than [`crate::Plan`]'s,
//! which widens its ranges with cluster size: recorded fixtures and the live
//! tests depend on the lab's names. Nodes and pods count from 1 here, as in
//! the shell.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use cnictl_model::k8s::{Endpoint, EndpointPort};
use cnictl_model::{ContainerPort, EndpointSlice, K8s, K8sNode, Pod, Service, ServicePort};
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

pub use crate::lab_policy::LabPolicies;
pub use crate::lab_services::KubeProxyMode;
use crate::lab_services::WEB_NODE_PORT;
use crate::plan::v4;
use crate::GenModel;

/// The models a namespace lab can build (no IPIP: the lab kernel lacks it).
pub const LAB_MODELS: [GenModel; 4] = [
    GenModel::FlannelVxlan,
    GenModel::FlannelHostGw,
    GenModel::CalicoBgp,
    GenModel::CalicoVxlan,
];

/// The node pod-cidr-overlap widens, and to what: node-3's /24 becomes a
/// /23 that also covers node-2's.
const OVERLAP_NODE: u32 = 3;
const OVERLAP_CIDR: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 0);

/// node-address-mismatch: Docker's default bridge address, which a node
/// with Docker installed holds on docker0 and interface autodetection can
/// pick as the node's address.
const DOCKER0_IP: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 1);

/// Why a lab cannot be planned (the text is what `lab up` prints).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabError {
    #[error("unknown model '{0}' (one of: flannel-vxlan flannel-host-gw calico-bgp calico-vxlan)")]
    UnknownModel(String),
    #[error("--nodes must be 2..50")]
    Nodes,
    #[error("--pods must be 1..50")]
    Pods,
    #[error("prefix must be 'cnl' followed by up to 8 of [a-z0-9], got '{0}'")]
    Prefix(String),
    #[error("--dual-stack is built for flannel-host-gw, flannel-vxlan (one underlay subnet) and calico-bgp only, not {0}")]
    DualStack(String),
    #[error("--dual-stack calico-bgp: at most {0} pods per node (their IPv6 addresses fill one /122 block)")]
    DualStackPods(u32),
    #[error("--cross-subnet is built for calico-vxlan and flannel-vxlan only, not {0}")]
    CrossSubnet(String),
    #[error("--direct-routing is a flannel-vxlan option, not {0}")]
    DirectRouting(String),
    #[error("--reflectors {0}: calico-bgp only, and fewer than the {1} nodes")]
    Reflectors(u32, u32),
}

/// A lab: its shape plus the faults that change its objects or BIRD config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabPlan {
    #[serde(with = "model_name")]
    pub model: GenModel,
    pub nodes: u32,
    pub pods_per_node: u32,
    pub prefix: String,
    #[serde(default)]
    pub faults: LabFaults,
    /// How kube-proxy programs the Services (a state file from before the
    /// flag existed reads as iptables, what those labs ran).
    #[serde(default)]
    pub kube_proxy: KubeProxyMode,
    /// NetworkPolicies the lab's policy agent programs (`lab up
    /// --policies`); None: no policy agent runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<LabPolicies>,
    /// IPv6 beside IPv4 (`lab up --dual-stack`): see [`crate::lab_v6`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dual_stack: bool,
    /// Two underlay subnets joined by the underlay namespace (`lab up
    /// --cross-subnet`, implied by `--direct-routing`): see
    /// [`crate::lab_vxlan`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cross_subnet: bool,
    /// Flannel VXLAN with `"DirectRouting": true` (`lab up flannel-vxlan
    /// --direct-routing`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct_routing: bool,
    /// Route reflectors (calico-bgp `--reflectors N`: nodes 1..=N), 0 for
    /// the node-to-node mesh; see [`crate::lab_rr`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reflectors: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Fault effects beyond the kernel: what `lab break` changes in the
/// Kubernetes objects (pod-cidr-overlap, service-cidr-overlap) and in BIRD's
/// config (bgp-route-missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabFaults {
    /// A node whose `spec.podCIDR` overlaps another node's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr_overlap: Option<NodeCidr>,
    /// ClusterIP of an extra Service `default/legacy` inside a pod CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_service_ip: Option<Ipv4Addr>,
    /// BIRD on `node` rejects the block announced by `peer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bird_reject: Option<NodePair>,
    /// The same on the IPv6 session (bgp-route-missing-v6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bird_reject6: Option<NodePair>,
    /// ipam-leaked-affinity: `node` also holds an affinity for `peer`'s
    /// block (BIRD blackholes and announces it there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_affinity: Option<NodePair>,
    /// service-stale-backend: web's pod on `peer` is gone, but `node`'s
    /// kube-proxy still sends to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_backend: Option<NodePair>,
    /// service-no-backends: every endpoint of default/api is not ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_backends: bool,
    /// service-rules-missing: this node's kube-proxy has no rules for web.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_missing: Option<u32>,
    /// masquerade-missing: this node's CNI egress masquerade rule is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masquerade_missing: Option<u32>,
    /// nodeport-local: web's externalTrafficPolicy is Local, and this
    /// node's web pod is not ready (the node has no local endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodeport_local: Option<u32>,
    /// node-address-mismatch: this node's Flannel picked docker0's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_address: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCidr {
    pub node: u32,
    pub cidr: Ipv4Net,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePair {
    pub node: u32,
    pub peer: u32,
}

/// A Service of the lab and, when it has a selector, the pod index it selects.
struct LabService {
    name: &'static str,
    ip: Ipv4Addr,
    port: u16,
    target: u16,
    selects: Option<(&'static str, Option<u32>)>,
    /// NodePort Services: the port, and whether externalTrafficPolicy is Local.
    node_port: Option<(u16, bool)>,
}

impl LabPlan {
    /// A healthy lab, checked against the limits `lab up` enforces.
    pub fn new(model: &str, nodes: u32, pods: u32, prefix: &str) -> Result<LabPlan, LabError> {
        let model = lab_model(model)?;
        if !(2..=50).contains(&nodes) {
            return Err(LabError::Nodes);
        }
        if !(1..=50).contains(&pods) {
            return Err(LabError::Pods);
        }
        check_prefix(prefix)?;
        Ok(LabPlan {
            model,
            nodes,
            pods_per_node: pods,
            prefix: prefix.to_string(),
            faults: LabFaults::default(),
            kube_proxy: KubeProxyMode::default(),
            policies: None,
            dual_stack: false,
            cross_subnet: false,
            direct_routing: false,
            reflectors: 0,
        })
    }

    /// The same lab with kube-proxy in `mode`.
    pub fn with_kube_proxy(mut self, mode: KubeProxyMode) -> LabPlan {
        self.kube_proxy = mode;
        self
    }

    pub fn node_indices(&self) -> impl Iterator<Item = u32> {
        1..=self.nodes
    }

    pub fn pod_indices(&self) -> impl Iterator<Item = u32> {
        1..=self.pods_per_node
    }

    pub fn is_calico(&self) -> bool {
        matches!(self.model, GenModel::CalicoBgp | GenModel::CalicoVxlan)
    }

    // ---- names

    pub fn ul_ns(&self) -> String {
        format!("{}-ul", self.prefix)
    }

    pub fn node_ns(&self, n: u32) -> String {
        format!("{}-node-{n}", self.prefix)
    }

    pub fn node_name(&self, n: u32) -> String {
        format!("node-{n}")
    }

    pub fn pod_name(&self, n: u32, p: u32) -> String {
        format!("{}-{n}", pod_app(p))
    }

    pub fn pod_ns(&self, n: u32, p: u32) -> String {
        format!("{}-{}", self.node_ns(n), self.pod_name(n, p))
    }

    /// The node-side veth, named as the CNI plugin would name it: Calico
    /// "cali" + 11 hex of the workload id, the bridge plugin "veth" + 8 hex.
    pub fn host_veth(&self, n: u32, p: u32) -> String {
        if self.is_calico() {
            let id = format!("default.{}", self.pod_name(n, p));
            format!("cali{}", hash_hex(&id, 11))
        } else {
            format!("veth{}", hash_hex(&self.pod_ns(n, p), 8))
        }
    }

    /// BIRD's name for the session to node n.
    pub fn mesh_name(&self, n: u32) -> String {
        self.session_name(n)
    }

    // ---- addresses

    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, 1)
    }

    /// node-address-mismatch: the address docker0 holds on the node.
    pub fn docker0_ip(&self) -> Ipv4Addr {
        DOCKER0_IP
    }

    /// The address node n tells its peers to use: its node IP, or
    /// docker0's once node-address-mismatch was injected there.
    pub fn public_ip(&self, n: u32) -> Ipv4Addr {
        match self.faults.node_address {
            Some(f) if f == n => DOCKER0_IP,
            _ => self.node_ip(n),
        }
    }

    /// 192.0.2.(10+n); with `--cross-subnet` even nodes sit on the second
    /// underlay subnet instead, 198.51.100.(10+n).
    pub fn node_ip(&self, n: u32) -> Ipv4Addr {
        match self.in_second_subnet(n) {
            true => Ipv4Addr::new(198, 51, 100, byte(10 + n)),
            false => Ipv4Addr::new(192, 0, 2, byte(10 + n)),
        }
    }

    pub fn node_mac(&self, n: u32) -> String {
        format!("52:54:00:00:02:{:02x}", 10 + n)
    }

    pub fn vtep_ip(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::new(10, 244, byte(n), 0)
    }

    /// Flannel's VtepMAC, or Calico's VXLANTunnelMACAddr (calico-node
    /// picks a random locally administered MAC; the lab's is fixed).
    pub fn vtep_mac(&self, n: u32) -> String {
        match self.model {
            GenModel::CalicoVxlan => format!("66:ca:0a:f4:{n:02x}:00"),
            _ => format!("0e:f1:0a:f4:{n:02x}:00"),
        }
    }

    /// The pod range every pod routes through its gateway.
    pub fn pod_range(&self) -> Ipv4Net {
        // Cannot fail: a literal prefix length of 16 (only > 32 is rejected).
        Ipv4Net::new(Ipv4Addr::new(10, 244, 0, 0), 16).expect("valid /16")
    }

    /// Node n's /24 as the kernel routes it (Flannel's lease).
    pub fn pod_cidr(&self, n: u32) -> Ipv4Net {
        net(self.vtep_ip(n), 24)
    }

    /// Node n's `spec.podCIDR` (pod-cidr-overlap widens one).
    pub fn node_pod_cidr(&self, n: u32) -> Ipv4Net {
        match self.faults.pod_cidr_overlap {
            Some(o) if o.node == n => o.cidr,
            _ => self.pod_cidr(n),
        }
    }

    /// Calico: node n's IPAM block.
    pub fn calico_block(&self, n: u32) -> Ipv4Net {
        net(self.vtep_ip(n), 26)
    }

    /// Flannel's cni0 bridge address, the pods' gateway.
    pub fn cni0_ip(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::new(10, 244, byte(n), 1)
    }

    pub fn cni0_mac(&self, n: u32) -> String {
        format!("0a:58:0a:f4:{n:02x}:01")
    }

    pub fn pod_ip(&self, n: u32, p: u32) -> Ipv4Addr {
        Ipv4Addr::new(10, 244, byte(n), byte(1 + p))
    }

    pub fn pod_mac(&self, n: u32, p: u32) -> String {
        format!("0a:58:0a:f4:{n:02x}:{:02x}", 1 + p)
    }

    /// The pods' MTU: VXLAN leaves 50 bytes for its header.
    pub fn pod_mtu(&self) -> u32 {
        if matches!(self.model, GenModel::FlannelVxlan | GenModel::CalicoVxlan) {
            1450
        } else {
            1500
        }
    }

    // ---- faults

    /// A fault on node s involves its peer t = s+1 and a third node w = t+1
    /// (both wrapping around).
    ///
    /// With route reflectors the peer is one s has a session with: the
    /// first reflector for a client, the first client for a reflector.
    pub fn peers(&self, s: u32) -> (u32, u32) {
        if self.reflectors > 0 {
            let t = if self.is_reflector(s) {
                self.reflectors + 1
            } else {
                1
            };
            let w = (1..=self.nodes).find(|&w| w != s && w != t).unwrap_or(t);
            return (t, w);
        }
        let t = s % self.nodes + 1;
        (t, t % self.nodes + 1)
    }

    /// next-hop-not-adjacent: a gateway for node n's pods off every subnet.
    pub fn offlink_ip(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, byte(10 + n))
    }

    /// route-shadowed: a more specific blackhole inside node n's pods.
    pub fn shadow_net(&self, n: u32) -> Ipv4Net {
        net(self.vtep_ip(n), if self.is_calico() { 27 } else { 25 })
    }

    /// service-cidr-overlap: a ClusterIP inside node n's pod CIDR (for
    /// Calico inside its /26 block, the node's pod range there).
    pub fn service_overlap_ip(&self, n: u32) -> Ipv4Addr {
        let host = if self.is_calico() { 50 } else { 250 };
        Ipv4Addr::new(10, 244, byte(n), host)
    }

    /// pod-cidr-overlap: the node whose podCIDR is widened, and to what.
    pub fn overlap(&self) -> NodeCidr {
        NodeCidr {
            node: OVERLAP_NODE,
            cidr: net(OVERLAP_CIDR, 23),
        }
    }

    /// Records what `fault` injected on node s changes outside the kernel.
    pub fn apply_fault(&mut self, fault: &str, s: u32) {
        match fault {
            "pod-cidr-overlap" => self.faults.pod_cidr_overlap = Some(self.overlap()),
            "service-cidr-overlap" => {
                self.faults.extra_service_ip = Some(self.service_overlap_ip(s));
            }
            "node-address-mismatch" => self.faults.node_address = Some(s),
            "bgp-route-missing" => {
                let peer = self.peers(s).0;
                self.faults.bird_reject = Some(NodePair { node: s, peer });
            }
            "bgp-route-missing-v6" => {
                let peer = self.peers(s).0;
                self.faults.bird_reject6 = Some(NodePair { node: s, peer });
            }
            "ipam-leaked-affinity" => {
                let peer = self.peers(s).0;
                self.faults.leaked_affinity = Some(NodePair { node: s, peer });
            }
            _ => self.apply_service_fault(fault, s),
        }
    }

    // ---- Kubernetes objects

    /// The lab's Nodes, Pods, Services and EndpointSlices.
    pub fn k8s(&self) -> K8s {
        let pods = self.k8s_pods();
        let (network_policies, namespaces) = self.policy_objects(&pods);
        K8s {
            nodes: self.node_indices().map(|n| self.k8s_node(n)).collect(),
            pods,
            services: Some(self.services().iter().map(k8s_service).collect()),
            endpoint_slices: Some(self.slices()),
            network_policies,
            namespaces,
            calico: self.calico_objects(),
        }
    }

    fn k8s_node(&self, n: u32) -> K8sNode {
        let mut pod_cidrs = if self.is_calico() {
            Vec::new()
        } else {
            vec![IpNet::V4(self.node_pod_cidr(n))]
        };
        let mut internal_ips = vec![v4(self.node_ip(n))];
        if self.dual_stack {
            internal_ips.push(IpAddr::V6(self.node_ip6(n)));
            if !self.is_calico() {
                pod_cidrs.push(IpNet::V6(self.pod_cidr6(n)));
            }
        }
        let mut node = K8sNode {
            name: self.node_name(n),
            internal_ips,
            pod_cidrs,
            annotations: self.node_annotations(n),
            ready: Some(true),
            labels: Default::default(),
        };
        self.mark_reflector(&mut node, n);
        node
    }

    /// The CNI's node annotations, as flanneld / calico-node write them.
    fn node_annotations(&self, n: u32) -> BTreeMap<String, String> {
        let ip = self.public_ip(n);
        let pairs = match self.model {
            GenModel::FlannelVxlan => {
                let data = format!("{{\"VNI\":1,\"VtepMAC\":\"{}\"}}", self.vtep_mac(n));
                flannel_annotations("vxlan", data, ip)
            }
            GenModel::FlannelHostGw => flannel_annotations("host-gw", "null".into(), ip),
            GenModel::CalicoVxlan => self.calico_vxlan_annotations(n),
            _ => vec![("projectcalico.org/IPv4Address", format!("{ip}/24"))],
        };
        let pairs = pairs.into_iter().chain(self.v6_annotations(n));
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Node by node: its workload pods, then the CNI's DaemonSet pod.
    fn k8s_pods(&self) -> Vec<Pod> {
        let mut pods = Vec::new();
        for n in self.node_indices() {
            for p in self.pod_indices().filter(|&p| !self.pod_gone(n, p)) {
                let ip = self.pod_ip(n, p);
                let name = self.pod_name(n, p);
                let mut pod = pod("default", name, n, ip, pod_app(p), false);
                if self.dual_stack {
                    pod.ips.push(IpAddr::V6(self.pod_ip6(n, p)));
                }
                self.policy_pod(&mut pod, p);
                pods.push(pod);
            }
            pods.push(self.cni_daemon_pod(n));
        }
        pods
    }

    /// The CNI's own DaemonSet pod on node n (hostNetwork).
    fn cni_daemon_pod(&self, n: u32) -> Pod {
        let suffix = hash_hex(&format!("ds/node-{n}"), 5);
        let (ns, stem, app) = if self.is_calico() {
            ("kube-system", "calico-node", "calico-node")
        } else {
            ("kube-flannel", "kube-flannel-ds", "flannel")
        };
        let name = format!("{stem}-{suffix}");
        let mut pod = pod(ns, name, n, self.node_ip(n), app.to_string(), true);
        if self.dual_stack {
            pod.ips.push(IpAddr::V6(self.node_ip6(n)));
        }
        pod
    }

    /// default/kubernetes, default/web (pods p=1), default/api (p=2, with
    /// two pods per node or more) and service-cidr-overlap's default/legacy.
    fn services(&self) -> Vec<LabService> {
        let mut all = vec![
            LabService::new("kubernetes", [10, 96, 0, 1], 443, 6443, None),
            LabService::new("web", [10, 96, 100, 10], 80, 8080, Some(("web", Some(1))))
                .node_port(WEB_NODE_PORT, self.faults.nodeport_local.is_some()),
        ];
        if self.pods_per_node >= 2 {
            let api = Some(("api", Some(2)));
            all.push(LabService::new("api", [10, 96, 200, 20], 8080, 8080, api));
        }
        if let Some(ip) = self.faults.extra_service_ip {
            let legacy = Some(("legacy", None));
            all.push(LabService::new("legacy", ip.octets(), 80, 8080, legacy));
        }
        all
    }

    /// One EndpointSlice per Service with endpoints: the API server on
    /// node-1, and every node's pod of the selected index.
    fn slices(&self) -> Vec<EndpointSlice> {
        let api_server = Endpoint {
            addresses: vec![v4(self.node_ip(1))],
            ready: true,
            node: None,
            pod: None,
        };
        let mut out = vec![slice("kubernetes", "kubernetes", vec![api_server], 6443)];
        for svc in self.services() {
            if let Some((_, Some(p))) = svc.selects {
                let name = format!(
                    "{}-{}",
                    svc.name,
                    hash_hex(&format!("slice/{}", svc.name), 5)
                );
                let endpoints = self
                    .node_indices()
                    .filter(|&n| !self.pod_gone(n, p))
                    .map(|n| self.endpoint(n, p))
                    .collect();
                out.push(slice(svc.name, &name, endpoints, svc.target));
            }
        }
        out
    }

    pub(crate) fn endpoint(&self, n: u32, p: u32) -> Endpoint {
        Endpoint {
            addresses: vec![v4(self.pod_ip(n, p))],
            ready: self.endpoint_ready(n, p),
            node: Some(self.node_name(n)),
            pod: Some(format!("default/{}", self.pod_name(n, p))),
        }
    }
}

impl LabService {
    fn new(
        name: &'static str,
        ip: [u8; 4],
        port: u16,
        target: u16,
        selects: Option<(&'static str, Option<u32>)>,
    ) -> Self {
        let ip = Ipv4Addr::from(ip);
        LabService {
            name,
            ip,
            port,
            target,
            selects,
            node_port: None,
        }
    }

    fn node_port(self, port: u16, local: bool) -> Self {
        LabService {
            node_port: Some((port, local)),
            ..self
        }
    }

    fn port_name(&self) -> &'static str {
        port_name(self.name)
    }
}

/// Parses and checks a lab model name.
pub fn lab_model(name: &str) -> Result<GenModel, LabError> {
    LAB_MODELS
        .into_iter()
        .find(|m| m.as_str() == name)
        .ok_or_else(|| LabError::UnknownModel(name.to_string()))
}

/// A prefix is "cnl" plus up to 8 of [a-z0-9]: every namespace the lab
/// creates or deletes carries it, so nothing else can match.
pub fn check_prefix(prefix: &str) -> Result<(), LabError> {
    let rest = prefix.strip_prefix("cnl").unwrap_or("!");
    let ok = rest.len() <= 8
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then_some(())
        .ok_or_else(|| LabError::Prefix(prefix.to_string()))
}

/// The app label (and name stem) of pod index p on every node.
pub fn pod_app(p: u32) -> String {
    match p {
        1 => "web".into(),
        2 => "api".into(),
        3 => "db".into(),
        4 => "cache".into(),
        _ => format!("app{p}"),
    }
}

fn flannel_annotations(kind: &str, data: String, ip: Ipv4Addr) -> Vec<(&'static str, String)> {
    vec![
        ("flannel.alpha.coreos.com/backend-data", data),
        ("flannel.alpha.coreos.com/backend-type", kind.into()),
        (
            "flannel.alpha.coreos.com/kube-subnet-manager",
            "true".into(),
        ),
        ("flannel.alpha.coreos.com/public-ip", ip.to_string()),
    ]
}

/// A Running pod with label app=`app` and container port 8080/TCP.
fn pod(ns: &str, name: String, n: u32, ip: Ipv4Addr, app: String, host_network: bool) -> Pod {
    Pod {
        namespace: ns.into(),
        name,
        node: Some(format!("node-{n}")),
        ips: vec![v4(ip)],
        host_network,
        phase: "Running".into(),
        labels: BTreeMap::from([("app".to_string(), app)]),
        // Every lab pod declares the port its listener uses, as the shell
        // lab wrote it (lab/testdata/k8s); policies name it `http`.
        container_ports: vec![ContainerPort {
            name: None,
            port: 8080,
            protocol: "TCP".into(),
        }],
        ..Pod::default()
    }
}

fn k8s_service(s: &LabService) -> Service {
    let selector = s
        .selects
        .map(|(app, _)| ("app".to_string(), app.to_string()));
    let (service_type, policy) = match s.node_port {
        Some((_, local)) => ("NodePort", Some(if local { "Local" } else { "Cluster" })),
        None => ("ClusterIP", None),
    };
    Service {
        namespace: "default".into(),
        name: s.name.into(),
        service_type: service_type.into(),
        cluster_ips: vec![IpAddr::V4(s.ip)],
        ports: vec![ServicePort {
            name: Some(s.port_name().into()),
            protocol: "TCP".into(),
            port: s.port,
            target_port: Some(s.target.to_string()),
            node_port: s.node_port.map(|(p, _)| p),
        }],
        selector: selector.into_iter().collect(),
        external_traffic_policy: policy.map(String::from),
        ..Default::default()
    }
}

fn slice(service: &str, name: &str, endpoints: Vec<Endpoint>, port: u16) -> EndpointSlice {
    EndpointSlice {
        namespace: "default".into(),
        name: name.into(),
        service: Some(service.into()),
        address_type: "IPv4".into(),
        endpoints,
        ports: vec![EndpointPort {
            name: Some(port_name(service).into()),
            protocol: "TCP".into(),
            port,
        }],
    }
}

/// The API server's port is "https", every other "http".
fn port_name(service: &str) -> &'static str {
    if service == "kubernetes" {
        "https"
    } else {
        "http"
    }
}

/// Callers pass literal prefix lengths (23 to 27): `Ipv4Net::new` rejects
/// only lengths over 32, so the `expect` cannot fire.
fn net(ip: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net::new(ip, len).expect("prefix length ≤ 32")
}

/// An address octet; node and pod indices are at most 50 (checked by
/// [`LabPlan::new`], the only constructor), so 10 + n and 1 + p always fit
/// and the `expect` cannot fire.
fn byte(v: u32) -> u8 {
    u8::try_from(v).expect("lab indices fit an octet")
}

/// The first `len` hex digits of SHA-1(`s`): the lab's names hash with
/// `sha1sum`, so earlier recordings keep their veth and object names. A
/// naming scheme, not a security boundary.
fn hash_hex(s: &str, len: usize) -> String {
    let digest = Sha1::digest(s.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..len].to_string()
}

/// [`GenModel`] as its name in the lab's state file.
mod model_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::GenModel;

    pub fn serialize<S: Serializer>(m: &GenModel, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GenModel, D::Error> {
        let name = String::deserialize(d)?;
        super::lab_model(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(model: &str) -> LabPlan {
        LabPlan::new(model, 3, 2, "cnlrf1").expect("valid lab")
    }

    #[test]
    fn hash_matches_sha1sum() {
        assert_eq!(hash_hex("", 40), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let long = "x".repeat(100);
        assert_eq!(hash_hex(&long, 12), "50e483690ec4");
    }

    #[test]
    fn names_are_the_recorded_ones() {
        let f = lab("flannel-vxlan");
        assert_eq!(f.host_veth(1, 1), "veth99cef5e9");
        assert_eq!(f.host_veth(1, 2), "veth4671e8e2");
        assert_eq!(f.pod_ns(2, 2), "cnlrf1-node-2-api-2");
        assert_eq!(f.mesh_name(2), "Mesh_192_0_2_12");
        let c = lab("calico-bgp");
        assert_eq!(c.host_veth(1, 1), "cali0761ccbeace");
        assert_eq!(c.calico_block(3).to_string(), "10.244.3.0/26");
        assert_eq!(c.shadow_net(1).to_string(), "10.244.1.0/27");
    }

    #[test]
    fn addresses_and_macs() {
        let f = lab("flannel-host-gw");
        assert_eq!(f.node_ip(3).to_string(), "192.0.2.13");
        assert_eq!(f.node_mac(3), "52:54:00:00:02:0d");
        assert_eq!(f.vtep_mac(2), "0e:f1:0a:f4:02:00");
        assert_eq!(f.pod_ip(2, 2).to_string(), "10.244.2.3");
        assert_eq!(f.pod_mac(2, 2), "0a:58:0a:f4:02:03");
        assert_eq!(f.peers(3), (1, 2));
        assert_eq!(pod_app(7), "app7");
    }

    #[test]
    fn object_names_hash_like_the_shell() {
        let k = lab("flannel-vxlan").k8s();
        let pods: Vec<&str> = k.pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(pods[2], "kube-flannel-ds-430e6");
        let slices = k.endpoint_slices.expect("slices");
        let names: Vec<&str> = slices.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["kubernetes", "web-f8e2c", "api-25a9d"]);
    }

    #[test]
    fn faults_change_objects() {
        let mut f = lab("flannel-vxlan");
        f.apply_fault("pod-cidr-overlap", 1);
        f.apply_fault("service-cidr-overlap", 2);
        let k = f.k8s();
        assert_eq!(k.nodes[2].pod_cidrs[0].to_string(), "10.244.2.0/23");
        let svc = k.services.expect("services");
        assert_eq!(svc[3].cluster_ips[0].to_string(), "10.244.2.250");
        let mut c = lab("calico-bgp");
        c.apply_fault("bgp-route-missing", 2);
        assert_eq!(c.faults.bird_reject, Some(NodePair { node: 2, peer: 3 }));
    }

    #[test]
    fn limits() {
        assert_eq!(
            LabPlan::new("calico-ipip", 3, 2, "cnl"),
            Err(LabError::UnknownModel("calico-ipip".into()))
        );
        assert_eq!(
            LabPlan::new("calico-bgp", 1, 2, "cnl"),
            Err(LabError::Nodes)
        );
        assert_eq!(
            LabPlan::new("calico-bgp", 3, 51, "cnl"),
            Err(LabError::Pods)
        );
        assert!(LabPlan::new("calico-bgp", 3, 2, "cnl-x").is_err());
        assert!(LabPlan::new("calico-bgp", 3, 2, "xcnl").is_err());
        assert!(LabPlan::new("calico-bgp", 3, 2, "cnlabcdefgh").is_ok());
        assert!(LabPlan::new("calico-bgp", 3, 2, "cnlabcdefghi").is_err());
    }
}
