//! What a policy agent computes from the Kubernetes objects before it
//! writes a rule: the pods a policy selects, the pods a peer names, the
//! container ports a named port resolves to. Shared by the Felix and
//! kube-router generators so both read the objects the same way, with the
//! selector semantics of [`cnictl_model::netpol::LabelSelector::matches`]
//! (the one the intent evaluator uses too).
//!
//! Like both agents, only pods that have an IPv4 address, are not
//! host-network and have not finished are "actionable" (kube-router's
//! `isNetPolActionable`; Felix has no workload endpoint for the others).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use cnictl_model::netpol::{LabelSelector, NetworkPolicy, Peer, NAMESPACE_NAME_LABEL};
use cnictl_model::{K8s, Pod};

type Labels = BTreeMap<String, String>;

/// The cluster as a policy agent sees it.
pub(crate) struct Cluster<'a> {
    pub k8s: &'a K8s,
    namespaces: BTreeMap<String, Labels>,
}

impl<'a> Cluster<'a> {
    pub fn new(k8s: &'a K8s) -> Self {
        Cluster {
            k8s,
            namespaces: namespace_labels(k8s),
        }
    }

    pub fn policies(&self) -> &'a [NetworkPolicy] {
        self.k8s.network_policies.as_deref().unwrap_or(&[])
    }

    /// Pods that get policy: an IPv4 address, not host-network, running.
    pub fn pods(&self) -> impl Iterator<Item = &'a Pod> + '_ {
        self.k8s.pods.iter().filter(|p| actionable(p))
    }

    /// The pods of `node` that get policy.
    pub fn local_pods(&self, node: &'a str) -> impl Iterator<Item = &'a Pod> + '_ {
        self.pods().filter(move |p| p.node.as_deref() == Some(node))
    }

    /// The pods `policy.spec.podSelector` selects (its namespace only).
    pub fn selected(&self, policy: &NetworkPolicy) -> Vec<&'a Pod> {
        let sel = &policy.pod_selector;
        let in_ns = |p: &&Pod| p.namespace == policy.namespace;
        self.pods()
            .filter(in_ns)
            .filter(|p| sel.matches(&p.labels))
            .collect()
    }

    /// The pods a `podSelector`/`namespaceSelector` peer names (none for an
    /// ipBlock peer).
    pub fn peer_pods(&self, policy: &NetworkPolicy, peer: &Peer) -> Vec<&'a Pod> {
        let Peer::Pods {
            pod_selector,
            namespace_selector,
        } = peer
        else {
            return Vec::new();
        };
        let everyone = LabelSelector::default();
        let pods = pod_selector.as_ref().unwrap_or(&everyone);
        let in_scope = |p: &Pod| match namespace_selector {
            None => p.namespace == policy.namespace,
            Some(ns) => ns.matches(self.namespace_labels(&p.namespace)),
        };
        let picked = self
            .pods()
            .filter(|p| in_scope(p) && pods.matches(&p.labels));
        picked.collect()
    }

    pub fn namespace_labels(&self, ns: &str) -> &Labels {
        static EMPTY: Labels = Labels::new();
        self.namespaces.get(ns).unwrap_or(&EMPTY)
    }
}

/// The port `name` resolves to on `pod` for `protocol` (upper case).
pub(crate) fn named_port(pod: &Pod, name: &str, protocol: &str) -> Option<u16> {
    let same = |c: &&cnictl_model::ContainerPort| {
        c.name.as_deref() == Some(name) && c.protocol.eq_ignore_ascii_case(protocol)
    };
    pod.container_ports.iter().find(same).map(|c| c.port)
}

/// A pod's IPv4 address (the lab and these generators are IPv4 only).
pub(crate) fn ipv4(pod: &Pod) -> Option<Ipv4Addr> {
    pod.ips.iter().find_map(|ip| match ip {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    })
}

fn actionable(p: &Pod) -> bool {
    let done = matches!(p.phase.as_str(), "Succeeded" | "Failed");
    !p.host_network && !done && ipv4(p).is_some()
}

/// Every namespace's labels: the objects, plus the automatic name label
/// (which the API server sets on every namespace) for namespaces only pods
/// mention.
fn namespace_labels(k8s: &K8s) -> BTreeMap<String, Labels> {
    let mut out: BTreeMap<String, Labels> = BTreeMap::new();
    for n in k8s.namespaces.iter().flatten() {
        let mut labels = n.labels.clone();
        labels.insert(NAMESPACE_NAME_LABEL.into(), n.name.clone());
        out.insert(n.name.clone(), labels);
    }
    for p in &k8s.pods {
        let auto = Labels::from([(NAMESPACE_NAME_LABEL.to_string(), p.namespace.clone())]);
        out.entry(p.namespace.clone()).or_insert(auto);
    }
    out
}
