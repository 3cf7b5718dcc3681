//! The nodes a request's path can start and end on, from the Kubernetes
//! objects alone: the source's node, the destination's, and for a Service
//! every node holding one of its endpoints. `explain` on a large bundle
//! loads only these nodes' dumps and keeps the answer only when the path
//! stayed on them and was delivered (anything else — a drop, an unknown, a
//! hop elsewhere — is asked again of the whole bundle), so loading less
//! never changes an answer.

use std::collections::BTreeSet;
use std::net::IpAddr;

use cnictl_model::K8s;

/// The nodes `src` → `dst` starts and ends on; `None` when the objects
/// cannot tell (an address no pod or node has, Services not collected).
pub fn endpoint_nodes(k8s: &K8s, src: &str, dst: &str) -> Option<BTreeSet<String>> {
    let mut nodes = BTreeSet::new();
    for spec in [src, dst] {
        nodes.extend(nodes_of(k8s, spec)?);
    }
    Some(nodes)
}

fn nodes_of(k8s: &K8s, spec: &str) -> Option<Vec<String>> {
    if let Some(rest) = spec.strip_prefix("svc/") {
        return service_nodes(k8s, rest.rsplit_once(':').map_or(rest, |(k, _)| k));
    }
    if let Some(rest) = spec.strip_prefix("node/") {
        return Some(vec![rest
            .rsplit_once(':')
            .map_or(rest, |(n, _)| n)
            .to_string()]);
    }
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return ip_node(k8s, ip).map(|n| vec![n]);
    }
    let pod = match spec.split_once('/') {
        Some(_) => k8s.pods.iter().find(|p| p.key() == spec),
        None => unique(k8s.pods.iter().filter(|p| p.name == spec)),
    };
    pod.and_then(|p| p.node.clone()).map(|n| vec![n])
}

/// The only item, if exactly one.
fn unique<T>(mut it: impl Iterator<Item = T>) -> Option<T> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// The node of the pod or node holding `ip`.
fn ip_node(k8s: &K8s, ip: IpAddr) -> Option<String> {
    let pod = k8s
        .pods
        .iter()
        .find(|p| !p.host_network && p.ips.contains(&ip));
    let node = || {
        k8s.nodes
            .iter()
            .find(|n| n.internal_ips.contains(&ip))
            .map(|n| n.name.clone())
    };
    pod.and_then(|p| p.node.clone()).or_else(node)
}

/// Every node with an endpoint of the Service `key` (`ns/name`).
fn service_nodes(k8s: &K8s, key: &str) -> Option<Vec<String>> {
    let (ns, name) = key.split_once('/')?;
    let slices = k8s.endpoint_slices.as_ref()?;
    let mine = slices
        .iter()
        .filter(|s| s.namespace == ns && s.service.as_deref() == Some(name));
    let endpoints = mine.flat_map(|s| &s.endpoints);
    endpoints.map(|e| e.node.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::{K8sNode, Pod};

    #[test]
    fn pods_nodes_and_addresses_name_their_nodes() {
        let mut k = K8s::default();
        let mut n = K8sNode::default();
        (n.name, n.internal_ips) = ("node-2".into(), vec!["192.0.2.12".parse().unwrap()]);
        k.nodes.push(n);
        let mut p = Pod::default();
        (p.namespace, p.name, p.node) = ("default".into(), "web-1".into(), Some("node-1".into()));
        p.ips = vec!["10.244.1.2".parse().unwrap()];
        k.pods.push(p);
        let want = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        assert_eq!(
            endpoint_nodes(&k, "web-1", "192.0.2.12"),
            want(&["node-1", "node-2"])
        );
        assert_eq!(
            endpoint_nodes(&k, "10.244.1.2", "node/node-3:30080"),
            want(&["node-1", "node-3"])
        );
        assert_eq!(endpoint_nodes(&k, "web-1", "8.8.8.8"), None);
        assert_eq!(
            endpoint_nodes(&k, "web-1", "svc/default/api"),
            None,
            "no slices"
        );
    }
}
