//! `Dataplane::new`: compiles a snapshot once into lookup structures — per
//! namespace LPM tables, sorted rules, links by name, neighbours by (dev, ip),
//! FDB by (dev, mac), local addresses, segment owners — plus cluster-wide
//! maps (underlay IP → node, pod IP → pod).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cnictl_model::{
    ClusterSnapshot, FdbEntry, IpvsProto, Link, Neigh, NodeSnapshot, PodNetns, Protocol, Route,
    RouteType, Rule, Scope, VirtualService, VxlanInfo,
};
use ipnet::IpNet;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::lpm::Lpm;
use crate::types::{NodeId, NsId, Owner, PodId};

/// Calico's link-local gateway, answered by proxy ARP on the host veth.
pub const CALICO_GW_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 1, 1));
const CALICO_GW_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));

pub type Mac = [u8; 6];

/// Device kinds the forwarding engine treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Loopback,
    Bridge,
    Veth,
    Vxlan,
    Ipip,
    /// A device that never carries traffic off-node (dummy, kube-ipvs0).
    Dummy,
    Other,
}

/// What sits at the other end of a veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    None,
    Dev(NsId, u32),
    /// A pod whose netns was not collected (found by its `/32 dev caliX` route).
    Pod(PodId),
}

#[derive(Debug, Clone)]
pub(crate) struct LinkC {
    pub kind: Kind,
    pub master: Option<u32>,
    pub peer: Peer,
    pub mac: Option<Mac>,
    pub mtu: u32,
    pub proxy_arp: bool,
    pub ports: Vec<u32>,
    /// Carries a node address onto the underlay (eth0, even when it is a
    /// veth into a lab's switch namespace).
    pub underlay: bool,
    /// Effective `rp_filter`: max(conf.all, conf.<dev>); 0 when not collected.
    pub rp_filter: u8,
}

/// A compiled next hop: the device resolved to a link index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CNh {
    pub gw: Option<IpAddr>,
    /// `Err(())` when the route names a device the namespace lacks.
    pub dev: Result<Option<u32>, ()>,
    pub onlink: bool,
}

/// One network namespace, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Ns {
    pub node: u32,
    pub pod: Option<u32>,
    pub links: Vec<Link>,
    pub l: Vec<LinkC>,
    pub by_name: FxHashMap<String, u32>,
    /// Local address → the link holding it.
    pub local: FxHashMap<IpAddr, u32>,
    /// Routes as collected, then any synthesized (local routes from addresses).
    pub routes: Vec<Route>,
    pub synthesized_from: usize,
    pub nh: Vec<Vec<CNh>>,
    pub tables: Vec<(u32, Lpm)>,
    pub rules: Vec<Rule>,
    pub rules_default: bool,
    pub neighs: Vec<Neigh>,
    pub neigh_idx: FxHashMap<(u32, IpAddr), u32>,
    pub neigh_collected: bool,
    pub fdb: Vec<FdbEntry>,
    /// (device or bridge link, MAC) → FDB entry.
    pub fdb_idx: FxHashMap<(u32, Mac), u32>,
    /// Device → its all-zero-MAC default entry (lowest dst, for determinism).
    pub fdb_zero: FxHashMap<u32, u32>,
    pub fdb_collected: bool,
    pub ipvs: Vec<VirtualService>,
    pub ipvs_idx: FxHashMap<(IpAddr, u16, u8), u32>,
    /// `Some(false)` when forwarding is off (pod netns: assumed off).
    pub ip_forward: Option<bool>,
    /// (bridge link, IP) → who owns the IP on that bridge's segment, and the port.
    pub seg: FxHashMap<(u32, IpAddr), (Option<u32>, Owner)>,
    /// (link, address with prefix) for connected-subnet checks.
    pub addr_nets: Vec<(u32, IpNet)>,
}

#[derive(Debug, Clone)]
pub(crate) struct NodeDp {
    pub name: String,
    pub root: NsId,
    pub primary_ip: Option<IpAddr>,
}

/// How a pod whose netns was not collected is attached to its node.
#[derive(Debug, Clone)]
pub(crate) struct PodDp {
    pub key: String,
    pub node: u32,
    pub ips: Vec<IpAddr>,
    pub ns: Option<NsId>,
    /// Host side device in the node's root ns (caliX, or its bridge port).
    pub host_dev: Option<u32>,
    /// The bridge it hangs off (inferred from the bridge's subnet).
    pub bridge: Option<u32>,
    /// Inferred default gateway (169.254.1.1 or the bridge address).
    pub gw: Option<IpAddr>,
}

/// The compiled reference dataplane of one snapshot.
#[derive(Debug, Clone)]
pub struct Dataplane {
    pub(crate) nodes: Vec<NodeDp>,
    pub(crate) ns: Vec<Ns>,
    pub(crate) pods: Vec<PodDp>,
    pub(crate) node_by_name: FxHashMap<String, u32>,
    pub(crate) pod_by_key: FxHashMap<String, u32>,
    /// Bare pod name → pods of that name in any namespace.
    pub(crate) pod_by_name: FxHashMap<String, Vec<u32>>,
    pub(crate) pod_by_ip: FxHashMap<IpAddr, u32>,
    /// Node addresses on underlay-facing devices → (root ns, link).
    pub(crate) underlay: FxHashMap<IpAddr, (NsId, u32)>,
}

pub(crate) fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn kind_of(l: &Link) -> Kind {
    match l.kind.as_deref() {
        Some("bridge") => Kind::Bridge,
        Some("veth") => Kind::Veth,
        Some("vxlan") => Kind::Vxlan,
        Some("ipip") => Kind::Ipip,
        Some("dummy") => Kind::Dummy,
        _ if l.link_type.as_deref() == Some("loopback") || l.name == "lo" => Kind::Loopback,
        _ if l.name == "tunl0" => Kind::Ipip,
        _ if l.name.starts_with("cali") || l.name.starts_with("veth") => Kind::Veth,
        _ if l.name == "kube-ipvs0" => Kind::Dummy,
        _ => Kind::Other,
    }
}

/// `net.ipv4.conf.<dev>.<key>` as a number; sysctl prints dots in device
/// names as slashes (`flannel/1`), so both spellings are tried.
fn dev_sysctl(node: &NodeSnapshot, dev: &str, key: &str) -> Option<u8> {
    let slashed = format!("net.ipv4.conf.{}.{key}", dev.replace('.', "/"));
    let v = node
        .sysctl(&slashed)
        .or_else(|| node.sysctl(&format!("net.ipv4.conf.{dev}.{key}")))?;
    v.trim().parse().ok()
}

/// Physical NICs, and veths that are not pod-facing (a lab node's eth0 is a
/// veth into the switch namespace): no master, not named like a CNI veth.
fn is_underlay_link(l: &Link, kind: Kind) -> bool {
    match kind {
        Kind::Other => true,
        Kind::Veth => {
            l.master.is_none() && !l.name.starts_with("cali") && !l.name.starts_with("veth")
        }
        _ => false,
    }
}

/// Sort key making route choice independent of snapshot order: among routes
/// with the same table and prefix the lowest metric wins, then a stable order.
fn route_rank(r: &Route) -> (u32, RouteType, Option<IpAddr>, Option<&str>, u8) {
    (
        r.metric,
        r.route_type,
        r.gateway,
        r.dev.as_deref(),
        r.scope.0,
    )
}

impl Dataplane {
    /// Compiles the snapshot. Never fails: what is missing is recorded and
    /// reported by the traces that need it.
    pub fn new(snap: &ClusterSnapshot) -> Dataplane {
        let mut dp = Dataplane {
            nodes: Vec::with_capacity(snap.nodes.len()),
            ns: Vec::new(),
            pods: Vec::new(),
            node_by_name: FxHashMap::default(),
            pod_by_key: FxHashMap::default(),
            pod_by_name: FxHashMap::default(),
            pod_by_ip: FxHashMap::default(),
            underlay: FxHashMap::default(),
        };
        // Compiling a node's tables is independent work: spread it over cores.
        let list: Vec<(&String, &NodeSnapshot)> = snap.nodes.iter().collect();
        let roots: Vec<Ns> = list
            .par_iter()
            .enumerate()
            .map(|(i, (_, node))| {
                compile_ns(i as u32, None, &node.links, &node.addrs, &node.routes, node)
            })
            .collect();
        for (i, ((name, node), ns)) in list.into_iter().zip(roots).enumerate() {
            dp.add_node(i as u32, name, node, ns, snap);
        }
        dp.add_k8s_pods(snap);
        dp.attach_inferred_pods();
        dp.build_segments();
        for (i, p) in dp.pods.iter().enumerate() {
            let name = p.key.rsplit_once('/').map_or(p.key.as_str(), |(_, n)| n);
            dp.pod_by_name
                .entry(name.to_string())
                .or_default()
                .push(i as u32);
        }
        dp
    }

    fn add_node(
        &mut self,
        idx: u32,
        name: &str,
        node: &NodeSnapshot,
        ns: Ns,
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
        let rns = &mut self.ns[root.0 as usize];
        for (ip, &link) in &rns.local {
            if is_underlay_link(&rns.links[link as usize], rns.l[link as usize].kind)
                && !ip.is_loopback()
                || k8s_ips.contains(ip)
            {
                self.underlay.insert(*ip, (root, link));
                rns.l[link as usize].underlay = true;
            }
        }
        // Kubernetes InternalIP first, else the lowest underlay IPv4 address.
        let mut own: Vec<IpAddr> = rns
            .local
            .iter()
            .filter(|(_, l)| rns.l[**l as usize].underlay)
            .map(|(ip, _)| *ip)
            .collect();
        own.sort();
        let primary_ip = k8s_ips
            .first()
            .copied()
            .or_else(|| own.iter().find(|ip| ip.is_ipv4()).or(own.first()).copied());
        self.nodes.push(NodeDp {
            name: name.to_string(),
            root,
            primary_ip,
        });
        for (key, pn) in &node.pods {
            self.add_pod_netns(idx, root, key, pn);
        }
    }

    fn add_pod_netns(&mut self, node: u32, root: NsId, key: &str, pn: &PodNetns) {
        let pod = self.pods.len() as u32;
        let nsid = NsId(self.ns.len() as u32);
        let mut ns = compile_ns(
            node,
            Some(pod),
            &pn.links,
            &pn.addrs,
            &pn.routes,
            &NodeSnapshot::default(),
        );
        ns.ip_forward = Some(false);
        // Cross-link veth peers with the node's root namespace by ifindex.
        for (i, link) in pn.links.iter().enumerate() {
            let Some(peer_if) = link.peer_ifindex else {
                continue;
            };
            let root_ns = &mut self.ns[root.0 as usize];
            if let Some(j) = root_ns.links.iter().position(|l| l.ifindex == peer_if) {
                root_ns.l[j].peer = Peer::Dev(nsid, i as u32);
                ns.l[i].peer = Peer::Dev(root, j as u32);
            }
        }
        let ips: Vec<IpAddr> = {
            let mut v: Vec<IpAddr> = ns
                .local
                .keys()
                .filter(|ip| !ip.is_loopback())
                .copied()
                .collect();
            v.sort();
            v
        };
        self.ns.push(ns);
        for ip in &ips {
            self.pod_by_ip.insert(*ip, pod);
        }
        self.pod_by_key.insert(key.to_string(), pod);
        self.pods.push(PodDp {
            key: key.to_string(),
            node,
            ips,
            ns: Some(nsid),
            host_dev: None,
            bridge: None,
            gw: None,
        });
    }

    fn add_k8s_pods(&mut self, snap: &ClusterSnapshot) {
        for p in &snap.k8s.pods {
            if p.host_network {
                continue;
            }
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
            self.pods.push(PodDp {
                key,
                node,
                ips: p.ips.clone(),
                ns: None,
                host_dev: None,
                bridge: None,
                gw: None,
            });
        }
    }

    /// For pods without a collected netns: find the host side from the node
    /// (Calico `/32 dev caliX`, or a bridge whose subnet holds the pod IP).
    fn attach_inferred_pods(&mut self) {
        let mut host_routes: Vec<FxHashMap<IpAddr, u32>> =
            vec![FxHashMap::default(); self.nodes.len()];
        for (n, node) in self.nodes.iter().enumerate() {
            let ns = &self.ns[node.root.0 as usize];
            for (i, r) in ns.routes.iter().enumerate() {
                let host = r.dst.prefix_len() == r.dst.max_prefix_len();
                if host
                    && r.table == cnictl_model::route::TABLE_MAIN
                    && r.route_type == RouteType::Unicast
                    && r.gateway.is_none()
                {
                    if let Some(Ok(Some(dev))) = ns.nh[i].first().map(|h| h.dev) {
                        if ns.l[dev as usize].kind == Kind::Veth {
                            host_routes[n].insert(r.dst.addr(), dev);
                        }
                    }
                }
            }
        }
        for p in 0..self.pods.len() {
            if let Some(ns) = self.pods[p].ns {
                self.pair_by_host_route(ns, &host_routes[self.pods[p].node as usize]);
                continue;
            }
            let node = self.pods[p].node as usize;
            let root = self.nodes[node].root;
            let Some(&ip) = self.pods[p].ips.first() else {
                continue;
            };
            if let Some(&dev) = host_routes[node].get(&ip) {
                let gw = if ip.is_ipv4() {
                    CALICO_GW_V4
                } else {
                    CALICO_GW_V6
                };
                self.pods[p].host_dev = Some(dev);
                self.pods[p].gw = Some(gw);
                let l = &mut self.ns[root.0 as usize].l[dev as usize];
                if l.peer == Peer::None {
                    l.peer = Peer::Pod(PodId(p as u32));
                }
                continue;
            }
            if let Some((bridge, gw)) = self.bridge_for(root, ip) {
                self.pods[p].bridge = Some(bridge);
                self.pods[p].gw = Some(gw);
            }
        }
    }

    /// A collected pod netns whose veth has no peer ifindex (older
    /// iproute2): pair it with the host veth its `/32` host route names.
    fn pair_by_host_route(&mut self, ns: NsId, host_routes: &FxHashMap<IpAddr, u32>) {
        let pns = &self.ns[ns.0 as usize];
        let root = self.nodes[pns.node as usize].root;
        let found = pns.local.iter().find_map(|(ip, &link)| {
            let unpaired = pns.l[link as usize].peer == Peer::None
                && pns.l[link as usize].kind != Kind::Loopback;
            unpaired
                .then(|| host_routes.get(ip).map(|&dev| (link, dev)))
                .flatten()
        });
        let Some((link, dev)) = found else { return };
        if self.ns[root.0 as usize].l[dev as usize].peer != Peer::None {
            return;
        }
        self.ns[ns.0 as usize].l[link as usize].peer = Peer::Dev(root, dev);
        self.ns[root.0 as usize].l[dev as usize].peer = Peer::Dev(ns, link);
    }

    /// The bridge in `root` whose subnet holds `ip`, with the bridge address.
    fn bridge_for(&self, root: NsId, ip: IpAddr) -> Option<(u32, IpAddr)> {
        let ns = &self.ns[root.0 as usize];
        let mut best: Option<(u8, u32, IpAddr)> = None;
        for (addr, &link) in &ns.local {
            if ns.l[link as usize].kind != Kind::Bridge {
                continue;
            }
            for a in ns_addrs_of(ns, link) {
                if a.contains(&ip)
                    && a.addr() == *addr
                    && best.is_none_or(|b| {
                        a.prefix_len() > b.0 || (a.prefix_len() == b.0 && *addr < b.2)
                    })
                {
                    best = Some((a.prefix_len(), link, *addr));
                }
            }
        }
        best.map(|b| (b.1, b.2))
    }

    /// Per bridge: which port (and whose namespace) owns each IP on its
    /// segment, so bridged ARP/FDB resolution is one hash lookup.
    fn build_segments(&mut self) {
        let mut adds: Vec<(NsId, u32, IpAddr, Option<u32>, Owner)> = Vec::new();
        for (n, ns) in self.ns.iter().enumerate() {
            let nsid = NsId(n as u32);
            for (b, lc) in ns.l.iter().enumerate() {
                if lc.kind != Kind::Bridge {
                    continue;
                }
                for (ip, &link) in &ns.local {
                    if link == b as u32 {
                        adds.push((
                            nsid,
                            b as u32,
                            *ip,
                            None,
                            Owner::Bridge {
                                ns: nsid,
                                link: b as u32,
                            },
                        ));
                    }
                }
                for &port in &lc.ports {
                    match ns.l[port as usize].peer {
                        Peer::Dev(pns, plink) => {
                            for (ip, &l) in &self.ns[pns.0 as usize].local {
                                if l == plink {
                                    adds.push((
                                        nsid,
                                        b as u32,
                                        *ip,
                                        Some(port),
                                        Owner::Dev {
                                            ns: pns,
                                            link: plink,
                                        },
                                    ));
                                }
                            }
                        }
                        Peer::Pod(pod) => {
                            for ip in &self.pods[pod.0 as usize].ips {
                                adds.push((nsid, b as u32, *ip, Some(port), Owner::Pod(pod)));
                            }
                        }
                        Peer::None => {}
                    }
                }
            }
        }
        for (p, pod) in self.pods.iter().enumerate() {
            if let (Some(b), None) = (pod.bridge, pod.ns) {
                let root = self.nodes[pod.node as usize].root;
                for ip in &pod.ips {
                    adds.push((root, b, *ip, pod.host_dev, Owner::Pod(PodId(p as u32))));
                }
            }
        }
        for (ns, b, ip, port, owner) in adds {
            self.ns[ns.0 as usize]
                .seg
                .entry((b, ip))
                .or_insert((port, owner));
        }
    }

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

    pub fn pod_id(&self, key: &str) -> Option<PodId> {
        self.pod_by_key.get(key).map(|&i| PodId(i))
    }

    /// Pods with this bare name (`web-1`), in any namespace, sorted by key.
    pub fn pods_named(&self, name: &str) -> Vec<PodId> {
        let mut v: Vec<PodId> = self
            .pod_by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| PodId(i))
            .collect();
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

fn ns_addrs_of(ns: &Ns, link: u32) -> impl Iterator<Item = &IpNet> + '_ {
    ns.addr_nets
        .iter()
        .filter(move |(l, _)| *l == link)
        .map(|(_, n)| n)
}

/// Compiles one namespace's links, addresses, routes, rules, neighbours,
/// FDB, IPVS and sysctls (the last four from `node`, empty for pods).
fn compile_ns(
    node: u32,
    pod: Option<u32>,
    links: &[Link],
    addrs: &[cnictl_model::Addr],
    routes: &[Route],
    extra: &NodeSnapshot,
) -> Ns {
    let by_name: FxHashMap<String, u32> = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.clone(), i as u32))
        .collect();
    let by_index: FxHashMap<u32, u32> = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.ifindex, i as u32))
        .collect();
    let mut l: Vec<LinkC> = links
        .iter()
        .map(|lk| LinkC {
            kind: kind_of(lk),
            master: None,
            peer: Peer::None,
            mac: lk.mac.as_deref().and_then(parse_mac),
            mtu: if lk.mtu == 0 { 1500 } else { lk.mtu },
            proxy_arp: lk.name.starts_with("cali")
                || dev_sysctl(extra, &lk.name, "proxy_arp") == Some(1),
            ports: Vec::new(),
            underlay: false,
            rp_filter: dev_sysctl(extra, "all", "rp_filter")
                .unwrap_or(0)
                .max(dev_sysctl(extra, &lk.name, "rp_filter").unwrap_or(0)),
        })
        .collect();
    for (i, lk) in links.iter().enumerate() {
        if let Some(m) = lk.master.as_ref().and_then(|m| by_name.get(m)) {
            l[i].master = Some(*m);
            l[*m as usize].ports.push(i as u32);
        }
    }
    let mut local = FxHashMap::default();
    let mut addr_nets = Vec::new();
    for a in addrs {
        let Some(&li) = by_name.get(&a.dev).or_else(|| by_index.get(&a.ifindex)) else {
            continue;
        };
        local.entry(a.addr.addr()).or_insert(li);
        addr_nets.push((li, a.addr));
    }
    let mut all_routes: Vec<Route> = routes.to_vec();
    let synthesized_from = all_routes.len();
    if !routes
        .iter()
        .any(|r| r.table == cnictl_model::route::TABLE_LOCAL)
    {
        all_routes.extend(synthesize_local(addrs));
    }
    let nh: Vec<Vec<CNh>> = all_routes.iter().map(|r| compile_nh(r, &by_name)).collect();
    let tables = build_tables(&all_routes);
    let (rules, rules_default) = match &extra.rules {
        Some(r) if pod.is_none() => (sorted_rules(r.clone()), false),
        _ => {
            let mut d = Rule::defaults_v4();
            d.extend(defaults_v6());
            (sorted_rules(d), pod.is_none())
        }
    };
    let neighs = extra.neighbours.clone().unwrap_or_default();
    let mut neigh_idx = FxHashMap::default();
    for (i, n) in neighs.iter().enumerate() {
        if let Some(&li) = by_name.get(&n.dev) {
            let e = neigh_idx.entry((li, n.dst)).or_insert(i as u32);
            if !neighs[*e as usize].is_usable() && n.is_usable() {
                *e = i as u32;
            }
        }
    }
    let fdb = extra.fdb.clone().unwrap_or_default();
    let (fdb_idx, fdb_zero) = index_fdb(&fdb, &by_name);
    let ipvs = extra.ipvs.clone().unwrap_or_default();
    let mut ipvs_idx = FxHashMap::default();
    for (i, vs) in ipvs.iter().enumerate() {
        let proto = match vs.proto {
            IpvsProto::Tcp => 6,
            IpvsProto::Udp => 17,
            IpvsProto::Sctp => 132,
            IpvsProto::Fwmark => continue,
        };
        if let Some(vip) = vs.vip {
            ipvs_idx.entry((vip, vs.port, proto)).or_insert(i as u32);
        }
    }
    let ip_forward = extra.sysctl("net.ipv4.ip_forward").map(|v| v.trim() != "0");
    Ns {
        node,
        pod,
        links: links.to_vec(),
        l,
        by_name,
        local,
        routes: all_routes,
        synthesized_from,
        nh,
        tables,
        rules,
        rules_default,
        neighs,
        neigh_idx,
        neigh_collected: extra.neighbours.is_some(),
        fdb,
        fdb_idx,
        fdb_zero,
        fdb_collected: extra.fdb.is_some(),
        ipvs,
        ipvs_idx,
        ip_forward,
        seg: FxHashMap::default(),
        addr_nets,
    }
}

fn defaults_v6() -> Vec<Rule> {
    Rule::defaults_v4()
        .into_iter()
        .filter(|r| r.priority != 32767)
        .map(|mut r| {
            r.family = "inet6".into();
            r
        })
        .collect()
}

/// Rules by priority; equal priorities in a stable, content-based order so
/// the result does not depend on dump order.
fn sorted_rules(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by_cached_key(|r| (r.priority, r.to_string()));
    rules
}

/// The kernel derives table local from addresses; when it was not dumped,
/// rebuild the `local` entries so local delivery still works.
fn synthesize_local(addrs: &[cnictl_model::Addr]) -> Vec<Route> {
    let mut out: Vec<Route> = addrs
        .iter()
        .map(|a| {
            let mut r = Route::unicast(IpNet::from(a.addr.addr()));
            r.table = cnictl_model::route::TABLE_LOCAL;
            r.route_type = RouteType::Local;
            r.dev = Some(a.dev.clone());
            r.protocol = Protocol::KERNEL;
            r.scope = Scope::HOST;
            r.prefsrc = Some(a.addr.addr());
            r
        })
        .collect();
    out.push({
        let mut r = Route::unicast(IpNet::V4(ipnet::Ipv4Net::new_assert(
            Ipv4Addr::new(127, 0, 0, 0),
            8,
        )));
        r.table = cnictl_model::route::TABLE_LOCAL;
        r.route_type = RouteType::Local;
        r.dev = Some("lo".into());
        r.protocol = Protocol::KERNEL;
        r.scope = Scope::HOST;
        r
    });
    out
}

fn compile_nh(r: &Route, by_name: &FxHashMap<String, u32>) -> Vec<CNh> {
    let dev = |d: &Option<String>| match d {
        None => Ok(None),
        Some(n) => by_name.get(n).map(|&i| Some(i)).ok_or(()),
    };
    if r.nexthops.is_empty() {
        return vec![CNh {
            gw: r.gateway,
            dev: dev(&r.dev),
            onlink: r.onlink,
        }];
    }
    r.nexthops
        .iter()
        .map(|h| CNh {
            gw: h.gateway,
            dev: dev(&h.dev),
            onlink: h.onlink || r.onlink,
        })
        .collect()
}

/// One LPM per table over the best route of each (table, prefix).
fn build_tables(routes: &[Route]) -> Vec<(u32, Lpm)> {
    let mut best: BTreeMap<u32, FxHashMap<IpNet, u32>> = BTreeMap::new();
    for (i, r) in routes.iter().enumerate() {
        let slot = best
            .entry(r.table)
            .or_default()
            .entry(r.dst.trunc())
            .or_insert(i as u32);
        if route_rank(r) < route_rank(&routes[*slot as usize]) {
            *slot = i as u32;
        }
    }
    best.into_iter().map(|(t, m)| (t, Lpm::build(m))).collect()
}

fn index_fdb(
    fdb: &[FdbEntry],
    by_name: &FxHashMap<String, u32>,
) -> (FxHashMap<(u32, Mac), u32>, FxHashMap<u32, u32>) {
    let mut idx: FxHashMap<(u32, Mac), u32> = FxHashMap::default();
    let mut zero: FxHashMap<u32, u32> = FxHashMap::default();
    for (i, e) in fdb.iter().enumerate() {
        let Some(mac) = parse_mac(&e.mac) else {
            continue;
        };
        let Some(&dev) = by_name.get(&e.dev) else {
            continue;
        };
        if e.is_all_zero() {
            let slot = zero.entry(dev).or_insert(i as u32);
            if e.dst < fdb[*slot as usize].dst {
                *slot = i as u32;
            }
            continue;
        }
        // Bridge entries are looked up by (bridge, mac); VXLAN ones by (dev, mac).
        let key_dev = e
            .master
            .as_ref()
            .and_then(|m| by_name.get(m))
            .copied()
            .unwrap_or(dev);
        let slot = idx.entry((key_dev, mac)).or_insert(i as u32);
        if (fdb[*slot as usize].dst.is_none() && e.dst.is_some())
            || (e.dst.is_some() && e.dst < fdb[*slot as usize].dst)
        {
            *slot = i as u32;
        }
        if key_dev != dev {
            idx.entry((dev, mac)).or_insert(i as u32);
        }
    }
    (idx, zero)
}

impl Ns {
    pub(crate) fn table(&self, id: u32) -> Option<&Lpm> {
        self.tables.iter().find(|(t, _)| *t == id).map(|(_, l)| l)
    }
}

/// Keeps `VxlanInfo` in scope for doc links; the engine reads it from links.
pub(crate) fn vxlan_of(ns: &Ns, link: u32) -> Option<&VxlanInfo> {
    ns.links.get(link as usize)?.vxlan.as_ref()
}
