//! The compiled dataplane: what [`crate::build`] produces from a snapshot and
//! the engine reads while forwarding — per namespace LPM tables, sorted
//! rules, devices, neighbours by (dev, ip), FDB by (dev, mac), local
//! addresses, segment owners — plus cluster-wide maps (underlay IP → node,
//! pod IP → pod). Lookups used on the hot path live here, next to the data.

use std::net::IpAddr;

use cnictl_model::{FdbEntry, Link, Neigh, Route, Rule, VirtualService, VxlanInfo};
use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::lpm::Lpm;
use crate::types::{NsId, Owner};

pub type Mac = [u8; 6];

/// Device kinds the forwarding engine treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    Loopback,
    Bridge,
    Veth,
    Vxlan,
    Ipip,
    /// A device that never carries traffic off-node (dummy, kube-ipvs0).
    Dummy,
    /// A macvlan or ipvlan child: its own address on its parent's wire
    /// ([`Device::lower`]), never reached from the parent itself.
    Macvlan,
    Other,
    /// Not collected ([`cnictl_model::Link::KIND_UNKNOWN`]): forwarding
    /// through it is answered "unknown".
    Unknown,
}

/// What sits at the other end of a veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    None,
    Dev(NsId, u32),
    /// A pod whose netns was not collected (found by the `/32 dev X scope
    /// link` route to its host-side veth).
    Pod(crate::types::PodId),
}

/// The engine's view of one link: what forwarding needs, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub kind: LinkKind,
    pub master: Option<u32>,
    pub peer: Peer,
    pub mac: Option<Mac>,
    pub mtu: u32,
    /// `net.ipv4.conf.<dev>.proxy_arp`; `None` when not collected (a
    /// routed-attachment hint may fill it in).
    pub proxy_arp: Option<bool>,
    pub ports: Vec<u32>,
    /// Carries a node address onto the underlay (eth0, even when it is a
    /// veth into a lab's switch namespace).
    pub underlay: bool,
    /// Effective `rp_filter`: max(conf.all, conf.<dev>); 0 when not collected.
    pub rp_filter: u8,
    /// A macvlan/ipvlan child's parent device (the node's, for a pod's).
    pub lower: Option<(NsId, u32)>,
}

impl Device {
    pub(crate) fn answers_proxy_arp(&self) -> bool {
        self.proxy_arp == Some(true)
    }
}

/// A compiled next hop: the device resolved to a link index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompiledNextHop {
    pub gateway: Option<IpAddr>,
    /// `Err(())` when the route names a device the namespace lacks.
    pub dev: Result<Option<u32>, ()>,
    pub onlink: bool,
}

/// `net.bridge.bridge-nf-call-ip{,6}tables`: bridged frames traverse the
/// IP netfilter hooks (br_netfilter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BridgeNetfilter {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl BridgeNetfilter {
    pub(crate) fn applies_to(self, dst: IpAddr) -> bool {
        match dst {
            IpAddr::V4(_) => self.ipv4,
            IpAddr::V6(_) => self.ipv6,
        }
    }
}

/// One network namespace, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    pub node: u32,
    pub pod: Option<u32>,
    pub links: Vec<Link>,
    pub devices: Vec<Device>,
    pub by_name: FxHashMap<String, u32>,
    /// Local address → the link holding it.
    pub local: FxHashMap<IpAddr, u32>,
    /// Routes as collected, then any synthesized (local routes from addresses).
    pub routes: Vec<Route>,
    pub synthesized_from: usize,
    pub next_hops: Vec<Vec<CompiledNextHop>>,
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
    /// The node's netfilter rules, compiled (root namespaces; `None` when
    /// not collected, and for pod netns, whose rules are not collected).
    pub nf: Option<std::sync::Arc<crate::nf::Ruleset>>,
    /// `Some(false)` when forwarding is off (pod netns: assumed off).
    pub ip_forward: Option<bool>,
    pub bridge_netfilter: BridgeNetfilter,
    /// (bridge link, IP) → who owns the IP on that bridge's segment, and the port.
    pub segment_owners: FxHashMap<(u32, IpAddr), (Option<u32>, Owner)>,
    /// (link, address with prefix) for connected-subnet checks.
    pub addr_nets: Vec<(u32, IpNet)>,
}

#[derive(Debug, Clone)]
pub(crate) struct NodeEntry {
    pub name: String,
    pub root: NsId,
    pub primary_ip: Option<IpAddr>,
}

/// A pod and, when its netns was not collected, how it attaches to its node.
#[derive(Debug, Clone)]
pub(crate) struct PodEntry {
    pub key: String,
    pub node: u32,
    pub ips: Vec<IpAddr>,
    pub ns: Option<NsId>,
    /// Host side device in the node's root ns (a routed veth, or its bridge port).
    pub host_dev: Option<u32>,
    /// The bridge it hangs off (inferred from the bridge's subnet).
    pub bridge: Option<u32>,
    /// Inferred default gateway (a routed-attachment hint or the bridge address).
    pub gateway: Option<IpAddr>,
}

/// The compiled reference dataplane of one snapshot.
#[derive(Debug, Clone)]
pub struct Dataplane {
    pub(crate) nodes: Vec<NodeEntry>,
    pub(crate) ns: Vec<Namespace>,
    pub(crate) pods: Vec<PodEntry>,
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

impl Namespace {
    pub(crate) fn table(&self, id: u32) -> Option<&Lpm> {
        self.tables.iter().find(|(t, _)| *t == id).map(|(_, l)| l)
    }

    pub(crate) fn vxlan_of(&self, link: u32) -> Option<&VxlanInfo> {
        self.links.get(link as usize)?.vxlan.as_ref()
    }

    pub(crate) fn device(&self, link: u32) -> &Device {
        &self.devices[link as usize]
    }

    /// The usable neighbour entry for `ip` on `dev`, if any.
    pub(crate) fn usable_neigh(&self, dev: u32, ip: IpAddr) -> Option<u32> {
        self.neigh_idx
            .get(&(dev, ip))
            .copied()
            .filter(|&n| self.neighs[n as usize].is_usable())
    }

    pub(crate) fn neigh_mac(&self, neigh: u32) -> Option<Mac> {
        self.neighs[neigh as usize]
            .lladdr
            .as_deref()
            .and_then(parse_mac)
    }

    /// The FDB entry for `mac` on `dev` (a bridge or a VXLAN device).
    pub(crate) fn fdb_for(&self, dev: u32, mac: Option<Mac>) -> Option<u32> {
        mac.and_then(|m| self.fdb_idx.get(&(dev, m)).copied())
    }

    /// The port an FDB entry names.
    pub(crate) fn fdb_port(&self, fdb: u32) -> Option<u32> {
        self.by_name.get(&self.fdb[fdb as usize].dev).copied()
    }

    /// True when `ip` lies in a subnet of an address on `dev`.
    pub(crate) fn on_subnet(&self, dev: u32, ip: IpAddr) -> bool {
        self.addr_nets
            .iter()
            .any(|(l, n)| *l == dev && n.contains(&ip))
    }

    /// Whether `link` holds `ip`. `local` keeps the first link per address,
    /// but a link-local address repeats across links (Calico's host veths
    /// all hold fe80::ecee:eeff:feee:eeee, from their shared MAC): each of
    /// them owns it on its own link.
    pub(crate) fn holds(&self, link: u32, ip: IpAddr) -> bool {
        self.local.get(&ip) == Some(&link) || self.addrs_of(link).any(|n| n.addr() == ip)
    }

    /// The addresses (with prefix) configured on `link`.
    pub(crate) fn addrs_of(&self, link: u32) -> impl Iterator<Item = &IpNet> + '_ {
        self.addr_nets
            .iter()
            .filter(move |(l, _)| *l == link)
            .map(|(_, n)| n)
    }
}
