//! Queries on a compiled [`Dataplane`]: names ↔ ids for nodes, pods and
//! namespaces, and the collected entries a hop points into (for renderers
//! and analyzers). No compiling here; see `build/`.

use std::net::IpAddr;

use cnictl_model::{Link, Route, VirtualService};

use crate::tables::Dataplane;
use crate::types::{NodeId, NsId, PodId};

impl Dataplane {
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).map(|&i| NodeId(i))
    }

    pub fn node_name(&self, node: NodeId) -> &str {
        &self.nodes[node.0 as usize].name
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node's main underlay address (Kubernetes InternalIP first).
    pub fn node_ip(&self, node: NodeId) -> Option<IpAddr> {
        self.nodes[node.0 as usize].primary_ip
    }

    /// The node whose underlay-facing device holds `ip`.
    pub fn node_by_ip(&self, ip: IpAddr) -> Option<NodeId> {
        self.underlay
            .get(&ip)
            .map(|(ns, _)| NodeId(self.ns[ns.0 as usize].node))
    }

    /// Where a packet from outside the cluster addressed to a node's
    /// underlay address `ip` enters: the device holding it.
    pub fn underlay_entry(&self, ip: IpAddr) -> Option<crate::Ingress> {
        let &(ns, link) = self.underlay.get(&ip)?;
        Some(crate::Ingress::Device { ns, link })
    }

    pub fn pod_id(&self, key: &str) -> Option<PodId> {
        self.pod_by_key.get(key).map(|&i| PodId(i))
    }

    /// Pods with this bare name (`web-1`), in any namespace, sorted by key.
    pub fn pods_named(&self, name: &str) -> Vec<PodId> {
        let ids = self.pod_by_name.get(name).into_iter().flatten();
        let mut v: Vec<PodId> = ids.map(|&i| PodId(i)).collect();
        v.sort_by(|a, b| self.pod_key(*a).cmp(self.pod_key(*b)));
        v
    }

    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<PodId> {
        self.pod_by_ip.get(&ip).map(|&i| PodId(i))
    }

    pub fn pod_key(&self, pod: PodId) -> &str {
        &self.pods[pod.0 as usize].key
    }

    pub fn pod_ips(&self, pod: PodId) -> &[IpAddr] {
        &self.pods[pod.0 as usize].ips
    }

    pub fn pod_node(&self, pod: PodId) -> NodeId {
        NodeId(self.pods[pod.0 as usize].node)
    }

    /// True when the pod's own netns was collected (not inferred).
    pub fn pod_collected(&self, pod: PodId) -> bool {
        self.pods[pod.0 as usize].ns.is_some()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The root namespace of a node.
    pub fn root_ns(&self, node: NodeId) -> NsId {
        self.nodes[node.0 as usize].root
    }

    /// The node a namespace belongs to.
    pub fn ns_node(&self, ns: NsId) -> NodeId {
        NodeId(self.ns[ns.0 as usize].node)
    }

    /// The pod whose netns this is (None for a node's root namespace).
    pub fn ns_pod(&self, ns: NsId) -> Option<PodId> {
        self.ns[ns.0 as usize].pod.map(PodId)
    }

    /// A device of a namespace by name, as an ingress point.
    pub fn device(&self, ns: NsId, name: &str) -> Option<crate::Ingress> {
        let link = *self.ns[ns.0 as usize].by_name.get(name)?;
        Some(crate::Ingress::Device { ns, link })
    }

    /// The link of a namespace (as collected).
    pub fn link(&self, ns: NsId, link: u32) -> Option<&Link> {
        self.ns.get(ns.0 as usize)?.links.get(link as usize)
    }

    /// A route of a namespace (collected or synthesized from addresses).
    pub fn route(&self, ns: NsId, route: u32) -> Option<&Route> {
        self.ns.get(ns.0 as usize)?.routes.get(route as usize)
    }

    /// The IPVS virtual services of a namespace (empty when not collected).
    pub fn virtual_services(&self, ns: NsId) -> &[VirtualService] {
        &self.ns[ns.0 as usize].ipvs
    }

    /// Whether the namespace's rules are the assumed kernel defaults.
    pub fn rules_assumed(&self, ns: NsId) -> bool {
        self.ns[ns.0 as usize].rules_default
    }
}
