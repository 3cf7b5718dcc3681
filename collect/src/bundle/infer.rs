//! A bundle without `k8s/` (only node dumps, as `lab/collect-node.sh`
//! writes them): the Kubernetes objects that the dataplane itself shows are
//! inferred, and every inference is said in a [`Notice`].
//!
//! - nodes: one per `nodes/<node>/` dump, named by its directory;
//! - a node's address (InternalIP): the global addresses of the device its
//!   main-table default route leaves by;
//! - its pod CIDR: the connected route (`proto kernel scope link`) of a
//!   bridge (cni0, cbr0; not docker0), as Flannel and the bridge plugin
//!   set it up; Calico nodes have none (Calico IPAM), their blocks are read
//!   from the blackhole routes by the analysis as usual;
//! - pods: one per `pods/<namespace>_<pod>/` dump, with its netns's
//!   global addresses.
//!
//! Services, EndpointSlices and NetworkPolicies, and pods without a dump,
//! cannot be told from a dataplane: they stay "not collected", and the
//! checks that need them are skipped (`cnictl_analyzers::inferred`).

use std::net::IpAddr;

use cnictl_model::{ClusterSnapshot, K8sNode, NodeSnapshot, Notice, Pod, RouteType, Scope};
use ipnet::IpNet;

/// Fills `snap.k8s` from its node dumps and says so.
pub(super) fn infer_k8s(snap: &mut ClusterSnapshot) {
    let mut said = Vec::new();
    for node in snap.nodes.values() {
        let k = k8s_node(node);
        said.push(describe(&k));
        snap.k8s.pods.extend(pods(node));
        snap.k8s.nodes.push(k);
    }
    let pods = snap.k8s.pods.len();
    let message = format!(
        "no k8s/ in the bundle: inferred from the node dumps {}; {pods} pod(s) from pods/<namespace>_<pod>/ dumps. Services, endpoints, NetworkPolicies and pods without a dump are unknown: checks that need them are skipped. Run lab/collect-k8s.sh (kubectl) to add k8s/",
        said.join("; ")
    );
    snap.notices
        .insert(0, Notice::new(Notice::K8S_INFERRED, "k8s/", message));
}

fn describe(k: &K8sNode) -> String {
    let list = |v: Vec<String>| match v.is_empty() {
        true => "none".to_string(),
        false => v.join(", "),
    };
    format!(
        "node {} (address {}, pod CIDR {})",
        k.name,
        list(k.internal_ips.iter().map(ToString::to_string).collect()),
        list(k.pod_cidrs.iter().map(ToString::to_string).collect()),
    )
}

fn k8s_node(node: &NodeSnapshot) -> K8sNode {
    K8sNode {
        name: node.name.clone(),
        internal_ips: node_ips(node),
        pod_cidrs: pod_cidrs(node),
        annotations: Default::default(),
        ready: None,
        labels: Default::default(),
    }
}

/// The global addresses of the default route's device, IPv4 first.
fn node_ips(node: &NodeSnapshot) -> Vec<IpAddr> {
    let mut devs: Vec<&str> = node
        .routes
        .iter()
        .filter(|r| r.table == cnictl_model::route::TABLE_MAIN && r.dst.prefix_len() == 0)
        .filter(|r| r.route_type == RouteType::Unicast)
        .filter_map(|r| r.dev.as_deref())
        .collect();
    devs.dedup();
    let mut ips: Vec<IpAddr> = node
        .addrs
        .iter()
        .filter(|a| devs.contains(&a.dev.as_str()) && a.scope == "global")
        .map(|a| a.addr.addr())
        .collect();
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips.dedup();
    ips
}

/// Connected routes of bridges other than Docker's.
fn pod_cidrs(node: &NodeSnapshot) -> Vec<IpNet> {
    let bridges: Vec<&str> = node
        .links
        .iter()
        .filter(|l| l.is_kind("bridge") && l.name != "docker0")
        .map(|l| l.name.as_str())
        .collect();
    let mut out: Vec<IpNet> = node
        .routes
        .iter()
        .filter(|r| r.table == cnictl_model::route::TABLE_MAIN && r.scope == Scope::LINK)
        .filter(|r| r.protocol == cnictl_model::Protocol::KERNEL)
        .filter(|r| r.dev.as_deref().is_some_and(|d| bridges.contains(&d)))
        .filter(|r| !is_link_local_net(&r.dst))
        .map(|r| r.dst)
        .collect();
    out.dedup();
    out
}

fn is_link_local_net(n: &IpNet) -> bool {
    match n {
        IpNet::V4(v4) => v4.addr().is_link_local(),
        IpNet::V6(v6) => (v6.addr().segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// A pod per named pod netns dump, holding its global addresses.
fn pods(node: &NodeSnapshot) -> Vec<Pod> {
    node.pods
        .values()
        .filter(|pn| pn.namespace != "netns")
        .map(|pn| Pod {
            namespace: pn.namespace.clone(),
            name: pn.name.clone(),
            node: Some(node.name.clone()),
            ips: pn
                .addrs
                .iter()
                .filter(|a| a.scope == "global")
                .map(|a| a.addr.addr())
                .collect(),
            phase: "Running".into(),
            ..Pod::default()
        })
        .collect()
}
