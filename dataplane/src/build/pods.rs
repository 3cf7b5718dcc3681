//! Pods: collected pod netns (veth peers cross-linked with the node by
//! ifindex), Kubernetes pods without a netns, and how the latter attach to
//! their node — by a `/32 dev <veth> scope link` route (a routed veth, as
//! CNIs with routed pods program) or by a bridge whose subnet holds their IP.

use std::net::IpAddr;

use cnictl_model::route::TABLE_MAIN;
use cnictl_model::{ClusterSnapshot, PodNetns, Route, RouteType};
use rustc_hash::FxHashMap;

use super::namespace::{self, NamespaceSource};
use crate::hints::{Hints, PodAttachment};
use crate::tables::{Dataplane, LinkKind, Namespace, Peer, PodEntry};
use crate::types::{NsId, PodId};

/// Pod IP → the host-side veth a `/32` route names, per node.
type RoutedVeths = FxHashMap<IpAddr, u32>;

impl Dataplane {
    pub(super) fn add_pod_netns(&mut self, node: u32, root: NsId, key: &str, pn: &PodNetns) {
        let pod = self.pods.len() as u32;
        let nsid = NsId(self.ns.len() as u32);
        let mut ns = namespace::compile(NamespaceSource::pod(node, pod, pn));
        ns.ip_forward = Some(false);
        self.link_veth_peers(root, nsid, &mut ns, pn);
        // The pod's addresses: not loopback, and not the link-local
        // address every IPv6 interface has (pods on other links may share it).
        let mut ips: Vec<IpAddr> = ns
            .local
            .keys()
            .filter(|ip| !ip.is_loopback() && !is_link_local(**ip))
            .copied()
            .collect();
        ips.sort();
        self.ns.push(ns);
        for ip in &ips {
            self.pod_by_ip.insert(*ip, pod);
        }
        self.pod_by_key.insert(key.to_string(), pod);
        self.pods
            .push(pod_entry(key.to_string(), node, ips, Some(nsid)));
    }

    /// Cross-links veth peers with the node's root namespace by ifindex; a
    /// macvlan/ipvlan child instead names its parent there (its
    /// `link_index`) and puts the pod's addresses on the underlay.
    fn link_veth_peers(&mut self, root: NsId, nsid: NsId, ns: &mut Namespace, pn: &PodNetns) {
        let root_ns = &mut self.ns[root.0 as usize];
        for (i, link) in pn.links.iter().enumerate() {
            let Some(peer_if) = link.peer_ifindex else {
                continue;
            };
            let Some(j) = root_ns.links.iter().position(|l| l.ifindex == peer_if) else {
                continue;
            };
            if ns.devices[i].kind == LinkKind::Macvlan {
                ns.devices[i].lower = Some((root, j as u32));
                ns.devices[i].underlay = true;
                continue;
            }
            root_ns.devices[j].peer = Peer::Dev(nsid, i as u32);
            ns.devices[i].peer = Peer::Dev(root, j as u32);
        }
        let on_wire = ns
            .local
            .iter()
            .filter(|(_, &l)| ns.devices[l as usize].kind == LinkKind::Macvlan);
        for (ip, &l) in on_wire.filter(|(ip, _)| !ip.is_loopback() && !is_link_local(**ip)) {
            self.underlay.insert(*ip, (nsid, l));
        }
    }

    pub(super) fn add_k8s_pods(&mut self, snap: &ClusterSnapshot) {
        for p in snap.k8s.pods.iter().filter(|p| !p.host_network) {
            let key = p.key();
            if let Some(&idx) = self.pod_by_key.get(&key) {
                for ip in &p.ips {
                    self.pod_by_ip.entry(*ip).or_insert(idx);
                }
                continue;
            }
            let Some(&node) = p.node.as_ref().and_then(|n| self.node_by_name.get(n)) else {
                continue;
            };
            let idx = self.pods.len() as u32;
            for ip in &p.ips {
                self.pod_by_ip.insert(*ip, idx);
            }
            self.pod_by_key.insert(key.clone(), idx);
            self.pods.push(pod_entry(key, node, p.ips.clone(), None));
        }
    }

    /// Finds each pod's host side: pairs collected pod netns without a peer
    /// ifindex by their host route, and attaches the others by route or
    /// bridge subnet; routed host veths take the hint's proxy ARP when the
    /// sysctl was not collected.
    pub(super) fn attach_inferred_pods(&mut self, hints: &Hints) {
        let attachments: Vec<Option<PodAttachment>> = self
            .nodes
            .iter()
            .map(|n| hints.node(&n.name).copied())
            .collect();
        let routed: Vec<RoutedVeths> = (0..self.nodes.len())
            .map(|n| routed_veths(&self.ns[self.nodes[n].root.0 as usize]))
            .collect();
        for (n, veths) in routed.iter().enumerate() {
            self.default_proxy_arp(n, veths, attachments[n]);
        }
        for p in 0..self.pods.len() {
            let node = self.pods[p].node as usize;
            self.attach_pod(p, &routed[node], attachments[node]);
        }
    }

    fn default_proxy_arp(&mut self, node: usize, veths: &RoutedVeths, hint: Option<PodAttachment>) {
        let Some(on) = hint.and_then(|a| a.proxy_arp()) else {
            return;
        };
        let root = &mut self.ns[self.nodes[node].root.0 as usize];
        for &dev in veths.values() {
            root.devices[dev as usize].proxy_arp.get_or_insert(on);
        }
    }

    fn attach_pod(&mut self, p: usize, routed: &RoutedVeths, hint: Option<PodAttachment>) {
        if let Some(ns) = self.pods[p].ns {
            self.pair_by_host_route(ns, routed);
            return;
        }
        let root = self.nodes[self.pods[p].node as usize].root;
        let Some(&ip) = self.pods[p].ips.first() else {
            return;
        };
        if let Some(&dev) = routed.get(&ip) {
            let gateway = hint.and_then(|a| a.gateway_for(ip));
            self.attach_routed(p, root, dev, gateway);
        } else if let Some((bridge, gateway)) = self.bridge_for(root, ip) {
            self.pods[p].bridge = Some(bridge);
            self.pods[p].gateway = Some(gateway);
        }
    }

    fn attach_routed(&mut self, p: usize, root: NsId, dev: u32, gateway: Option<IpAddr>) {
        self.pods[p].host_dev = Some(dev);
        self.pods[p].gateway = gateway;
        let d = &mut self.ns[root.0 as usize].devices[dev as usize];
        if d.peer == Peer::None {
            d.peer = Peer::Pod(PodId(p as u32));
        }
    }

    /// A collected pod netns whose veth has no peer ifindex (older
    /// iproute2): pair it with the host veth its `/32` host route names.
    fn pair_by_host_route(&mut self, ns: NsId, routed: &RoutedVeths) {
        let pns = &self.ns[ns.0 as usize];
        let root = self.nodes[pns.node as usize].root;
        let found = pns.local.iter().find_map(|(ip, &link)| {
            let unpaired = pns.devices[link as usize].peer == Peer::None
                && pns.devices[link as usize].kind != LinkKind::Loopback;
            unpaired
                .then(|| routed.get(ip).map(|&dev| (link, dev)))
                .flatten()
        });
        let Some((link, dev)) = found else { return };
        if self.ns[root.0 as usize].devices[dev as usize].peer != Peer::None {
            return;
        }
        self.ns[ns.0 as usize].devices[link as usize].peer = Peer::Dev(root, dev);
        self.ns[root.0 as usize].devices[dev as usize].peer = Peer::Dev(ns, link);
    }

    /// The bridge in `root` whose subnet holds `ip` (longest prefix, then
    /// lowest address), with the bridge address.
    fn bridge_for(&self, root: NsId, ip: IpAddr) -> Option<(u32, IpAddr)> {
        let ns = &self.ns[root.0 as usize];
        let mut best: Option<(u8, u32, IpAddr)> = None;
        for (addr, &link) in &ns.local {
            if ns.device(link).kind != LinkKind::Bridge {
                continue;
            }
            for a in ns.addrs_of(link) {
                let better = best
                    .is_none_or(|b| a.prefix_len() > b.0 || (a.prefix_len() == b.0 && *addr < b.2));
                if a.contains(&ip) && a.addr() == *addr && better {
                    best = Some((a.prefix_len(), link, *addr));
                }
            }
        }
        best.map(|b| (b.1, b.2))
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn pod_entry(key: String, node: u32, ips: Vec<IpAddr>, ns: Option<NsId>) -> PodEntry {
    PodEntry {
        key,
        node,
        ips,
        ns,
        host_dev: None,
        bridge: None,
        gateway: None,
    }
}

/// Host routes (`/32`, `/128`) of table main without a gateway, whose
/// device is a veth: a routed pod attachment.
fn routed_veths(ns: &Namespace) -> RoutedVeths {
    ns.routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| routed_veth(ns, i, r).map(|dev| (r.dst.addr(), dev)))
        .collect()
}

fn routed_veth(ns: &Namespace, i: usize, r: &Route) -> Option<u32> {
    let host = r.dst.prefix_len() == r.dst.max_prefix_len();
    if !host || r.table != TABLE_MAIN || r.route_type != RouteType::Unicast || r.gateway.is_some() {
        return None;
    }
    match ns.next_hops[i].first().map(|h| h.dev) {
        Some(Ok(Some(dev))) if ns.device(dev).kind == LinkKind::Veth => Some(dev),
        _ => None,
    }
}
