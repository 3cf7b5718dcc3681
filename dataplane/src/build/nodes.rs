//! Nodes: the root namespace, which devices face the underlay, the node's
//! primary address, and its collected pod netns.

use std::net::IpAddr;

use cnictl_model::{ClusterSnapshot, NodeSnapshot};

use crate::tables::{Dataplane, LinkKind, Namespace, NodeEntry};
use crate::types::NsId;

impl Dataplane {
    pub(super) fn add_node(
        &mut self,
        idx: u32,
        name: &str,
        node: &NodeSnapshot,
        ns: Namespace,
        snap: &ClusterSnapshot,
    ) {
        let root = NsId(self.ns.len() as u32);
        self.ns.push(ns);
        self.node_by_name.insert(name.to_string(), idx);
        let k8s_ips = snap
            .k8s
            .node(name)
            .map(|n| n.internal_ips.clone())
            .unwrap_or_default();
        self.link_shims(root);
        self.mark_underlay(root, &k8s_ips);
        let primary_ip = self.primary_ip(root, &k8s_ips);
        self.nodes.push(NodeEntry {
            name: name.to_string(),
            root,
            primary_ip,
        });
        for (key, pn) in &node.pods {
            self.add_pod_netns(idx, root, key, pn);
        }
    }

    /// A macvlan/ipvlan device of the node itself (a shim) hangs off a
    /// device of the same namespace.
    fn link_shims(&mut self, root: NsId) {
        let ns = &mut self.ns[root.0 as usize];
        for i in 0..ns.devices.len() {
            let parent = ns.links[i]
                .peer_ifindex
                .filter(|_| ns.links[i].peer_netnsid.is_none());
            let parent = parent.and_then(|p| ns.links.iter().position(|l| l.ifindex == p));
            if ns.devices[i].kind == LinkKind::Macvlan {
                ns.devices[i].lower = parent.map(|j| (root, j as u32));
            }
        }
    }

    /// Node addresses on underlay-facing devices (and the Kubernetes
    /// InternalIPs wherever they sit) go into the cluster's underlay map.
    fn mark_underlay(&mut self, root: NsId, k8s_ips: &[IpAddr]) {
        let rns = &mut self.ns[root.0 as usize];
        let facing: Vec<bool> = (0..rns.devices.len() as u32)
            .map(|l| faces_underlay(rns, l))
            .collect();
        for (ip, &link) in &rns.local {
            if facing[link as usize] && !ip.is_loopback() || k8s_ips.contains(ip) {
                self.underlay.insert(*ip, (root, link));
                rns.devices[link as usize].underlay = true;
            }
        }
    }

    /// Kubernetes InternalIP first, else the lowest underlay IPv4 address.
    fn primary_ip(&self, root: NsId, k8s_ips: &[IpAddr]) -> Option<IpAddr> {
        let rns = &self.ns[root.0 as usize];
        let mut own: Vec<IpAddr> = rns
            .local
            .iter()
            .filter(|(_, l)| rns.devices[**l as usize].underlay)
            .map(|(ip, _)| *ip)
            .collect();
        own.sort();
        k8s_ips
            .first()
            .copied()
            .or_else(|| own.iter().find(|ip| ip.is_ipv4()).or(own.first()).copied())
    }
}

/// Physical NICs, and veths that carry a node address (a lab node's eth0 is
/// a veth into the switch namespace): no master and a routable address. A
/// pod-facing veth is enslaved to a bridge or holds only link-local
/// addresses (routed attachments).
fn faces_underlay(ns: &Namespace, link: u32) -> bool {
    let dev = ns.device(link);
    match dev.kind {
        LinkKind::Other | LinkKind::Macvlan => true,
        LinkKind::Veth => dev.master.is_none() && ns.addrs_of(link).any(|a| routable(a.addr())),
        _ => false,
    }
}

fn routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}
