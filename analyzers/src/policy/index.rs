//! Policies compiled once against the pods: which pods each policy selects
//! and which pods each rule's peers are, as bitsets over the pod list, so
//! a million-pair matrix is word operations, not selector evaluations.

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_model::netpol::{Peer, PolicyRule, NAMESPACE_NAME_LABEL};
use cnictl_model::{K8s, NetworkPolicy, Pod, PolicyType};
use fixedbitset::FixedBitSet;
use ipnet::IpNet;

type Labels = BTreeMap<String, String>;

/// One end of a connection: a policed pod (its index in
/// [`PolicyIndex::pods`]) or an address that is no policed pod (outside
/// the cluster, a node, a host-network pod).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Pod(usize),
    Ip(IpAddr),
}

pub struct PolicyIndex<'a> {
    pub(crate) pods: Vec<&'a Pod>,
    pub(crate) policies: Vec<Compiled<'a>>,
    /// Per pod: the policies isolating it, per direction.
    pub(crate) ingress_of: Vec<Vec<usize>>,
    pub(crate) egress_of: Vec<Vec<usize>>,
    /// `false` when `namespaces.json` was not collected: namespace labels
    /// other than `kubernetes.io/metadata.name` are then unknown.
    pub namespaces_known: bool,
    /// Each node's addresses (nodes.json), for the own-node exemption.
    node_ips: BTreeMap<&'a str, &'a [IpAddr]>,
}

pub(crate) struct Compiled<'a> {
    pub(crate) policy: &'a NetworkPolicy,
    pub(crate) ingress: Vec<CompiledRule<'a>>,
    pub(crate) egress: Vec<CompiledRule<'a>>,
}

impl<'a> Compiled<'a> {
    pub(crate) fn rules(&self, dir: PolicyType) -> &[CompiledRule<'a>] {
        match dir {
            PolicyType::Ingress => &self.ingress,
            PolicyType::Egress => &self.egress,
        }
    }
}

pub(crate) struct CompiledRule<'a> {
    pub(crate) rule: &'a PolicyRule,
    /// Pods the peers match (every pod when the rule has no peers).
    pub(crate) pods: FixedBitSet,
    /// Pods matched only through an `ipBlock` (an implementation choice).
    pub(crate) by_block: FixedBitSet,
}

impl<'a> PolicyIndex<'a> {
    /// `None` when NetworkPolicies were not collected.
    pub fn new(k8s: &'a K8s) -> Option<Self> {
        let policies = k8s.network_policies.as_ref()?;
        let pods: Vec<&Pod> = k8s.pods.iter().filter(|p| policed(p)).collect();
        let ns = namespace_labels(k8s);
        let compiled: Vec<Compiled> = policies.iter().map(|p| compile(p, &pods, &ns)).collect();
        let (ingress_of, egress_of) = isolation(policies, &pods);
        Some(PolicyIndex {
            pods,
            policies: compiled,
            ingress_of,
            egress_of,
            namespaces_known: k8s.namespaces.is_some(),
            node_ips: k8s
                .nodes
                .iter()
                .map(|n| (n.name.as_str(), n.internal_ips.as_slice()))
                .collect(),
        })
    }

    /// Whether `ip` is an address of the node pod `p` runs on.
    pub(crate) fn on_own_node(&self, p: usize, ip: IpAddr) -> bool {
        let node = self.pods[p]
            .node
            .as_deref()
            .and_then(|n| self.node_ips.get(n));
        node.is_some_and(|ips| ips.contains(&ip))
    }

    pub fn pods(&self) -> &[&'a Pod] {
        &self.pods
    }

    /// The endpoint for a pod `ns/name` or an address.
    pub fn pod_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.pods
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)
    }

    /// A policed pod owning `ip`, else the address itself.
    pub fn endpoint_of_ip(&self, ip: IpAddr) -> Endpoint {
        match self.pods.iter().position(|p| p.ips.contains(&ip)) {
            Some(i) => Endpoint::Pod(i),
            None => Endpoint::Ip(ip),
        }
    }

    pub(crate) fn isolating(&self, pod: usize, dir: PolicyType) -> &[usize] {
        match dir {
            PolicyType::Ingress => &self.ingress_of[pod],
            PolicyType::Egress => &self.egress_of[pod],
        }
    }

    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }
}

/// Host-network pods share the node's network namespace, so no policy
/// agent polices them as pods; finished pods have no network.
fn policed(p: &Pod) -> bool {
    !p.host_network && !matches!(p.phase.as_str(), "Succeeded" | "Failed")
}

/// Every namespace's labels: the collected objects, plus the automatic
/// name label for namespaces only pods or policies mention.
fn namespace_labels(k8s: &K8s) -> BTreeMap<String, Labels> {
    let mut out: BTreeMap<String, Labels> = BTreeMap::new();
    for n in k8s.namespaces.iter().flatten() {
        out.insert(n.name.clone(), n.labels.clone());
    }
    let mentioned = k8s.pods.iter().map(|p| &p.namespace);
    let policies = k8s.network_policies.iter().flatten().map(|p| &p.namespace);
    for name in mentioned.chain(policies) {
        out.entry(name.clone()).or_insert_with(|| name_label(name));
    }
    out
}

fn name_label(name: &str) -> Labels {
    Labels::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())])
}

fn selects(p: &NetworkPolicy, pod: &Pod) -> bool {
    pod.namespace == p.namespace && p.pod_selector.matches(&pod.labels)
}

/// Per pod, the policies isolating it for ingress and for egress.
fn isolation(policies: &[NetworkPolicy], pods: &[&Pod]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let mut ingress = vec![Vec::new(); pods.len()];
    let mut egress = vec![Vec::new(); pods.len()];
    for (pi, p) in policies.iter().enumerate() {
        for i in (0..pods.len()).filter(|&i| selects(p, pods[i])) {
            if p.has_type(PolicyType::Ingress) {
                ingress[i].push(pi);
            }
            if p.has_type(PolicyType::Egress) {
                egress[i].push(pi);
            }
        }
    }
    (ingress, egress)
}

fn compile<'a>(p: &'a NetworkPolicy, pods: &[&Pod], ns: &BTreeMap<String, Labels>) -> Compiled<'a> {
    let rules = |rules: &'a [PolicyRule]| -> Vec<CompiledRule<'a>> {
        rules.iter().map(|r| compile_rule(p, r, pods, ns)).collect()
    };
    Compiled {
        policy: p,
        ingress: rules(&p.ingress),
        egress: rules(&p.egress),
    }
}

fn compile_rule<'a>(
    p: &NetworkPolicy,
    rule: &'a PolicyRule,
    pods: &[&Pod],
    ns: &BTreeMap<String, Labels>,
) -> CompiledRule<'a> {
    let mut set = FixedBitSet::with_capacity(pods.len());
    let mut by_block = FixedBitSet::with_capacity(pods.len());
    for (i, pod) in pods.iter().enumerate() {
        let (hit, block_only) = peers_match(p, &rule.peers, pod, ns);
        set.set(i, hit);
        by_block.set(i, block_only);
    }
    CompiledRule {
        rule,
        pods: set,
        by_block,
    }
}

/// Whether `pod` is one of the peers, and whether only an ipBlock said so.
fn peers_match(
    p: &NetworkPolicy,
    peers: &[Peer],
    pod: &Pod,
    ns: &BTreeMap<String, Labels>,
) -> (bool, bool) {
    if peers.is_empty() {
        return (true, false);
    }
    if peers.iter().any(|peer| selector_peer(p, peer, pod, ns)) {
        return (true, false);
    }
    let block = peers
        .iter()
        .any(|peer| pod.ips.iter().any(|ip| block_has(peer, *ip)));
    (block, block)
}

fn selector_peer(p: &NetworkPolicy, peer: &Peer, pod: &Pod, ns: &BTreeMap<String, Labels>) -> bool {
    let Peer::Pods {
        pod_selector,
        namespace_selector,
    } = peer
    else {
        return false;
    };
    let ns_ok = match namespace_selector {
        None => pod.namespace == p.namespace,
        Some(s) => ns.get(&pod.namespace).is_some_and(|l| s.matches(l)),
    };
    ns_ok && pod_selector.as_ref().is_none_or(|s| s.matches(&pod.labels))
}

/// Whether an `ipBlock` peer holds `ip` (inside `cidr`, outside `except`).
pub(crate) fn block_has(peer: &Peer, ip: IpAddr) -> bool {
    let Peer::IpBlock { cidr, except } = peer else {
        return false;
    };
    cidr.contains(&ip) && !except.iter().any(|e: &IpNet| e.contains(&ip))
}
