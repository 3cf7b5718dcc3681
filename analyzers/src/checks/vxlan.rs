//! VXLAN state toward every peer VTEP, shared by vxlan-fdb-missing,
//! vxlan-neigh-missing and vxlan-fdb-mismatch. Flannel (and Calico VXLAN)
//! program, per peer, a permanent neighbour entry `VTEP-IP → VTEP-MAC` on
//! the VXLAN device and an FDB entry `VTEP-MAC → dst node-IP`; the kernel
//! needs both to encapsulate. Indexing is O(entries), each peer O(1).
//!
//! A dual-stack Flannel VXLAN node has a second device for IPv6,
//! flannel-v6.1, with the same per-peer entries in that family (flanneld
//! v0.25 pkg/backend/vxlan/vxlan_network.go, read at 067ed7f): the VTEP IP
//! is the network address of the peer's IPv6 pod CIDR, the MAC its
//! `backend-v6-data` VtepMAC, the FDB `dst` its `public-ipv6`. [`state6`]
//! reads that device.

use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_model::{FdbEntry, Link, Neigh};

use super::NodeCx;
use crate::cni;
use crate::expected::NodeExpect;

/// What the node holds for one peer VTEP.
#[derive(Debug)]
pub(crate) struct PeerVtep<'a> {
    pub peer: &'a NodeExpect,
    pub vtep_ip: IpAddr,
    /// The underlay IP the VTEP MAC's FDB entry must name (the peer's
    /// node IP of the device's family).
    pub dst: Option<IpAddr>,
    /// Evidence naming where the expectation comes from when the peer's
    /// own description does not (flannel-v6.1: its IPv6 annotations).
    pub source: Option<String>,
    /// The MAC the peer's VTEP has (annotation, its dump, or our neighbour entry).
    pub mac: Option<String>,
    pub neigh: Option<NeighState<'a>>,
    pub fdb: Option<FdbState<'a>>,
}

impl PeerVtep<'_> {
    /// The peer as evidence: its description, and where this device's
    /// expectation comes from when that differs.
    pub fn evidence(&self) -> Vec<String> {
        let mut v = vec![self.peer.describe()];
        v.extend(self.source.clone());
        v
    }
}

#[derive(Debug)]
pub(crate) enum NeighState<'a> {
    Ok,
    Missing,
    Unusable(&'a Neigh),
    WrongMac(&'a Neigh),
}

#[derive(Debug)]
pub(crate) enum FdbState<'a> {
    Ok,
    Missing,
    /// Unknown MAC: no annotation, no dump, no neighbour entry.
    MacUnknown,
    /// The VTEP MAC's entry points at another underlay IP.
    WrongDst(Vec<&'a FdbEntry>),
    /// The peer's IP is reached through a MAC that is not its VTEP's.
    StaleMac(Vec<&'a FdbEntry>),
}

#[derive(Debug)]
pub(crate) struct VxlanState<'a> {
    pub dev: &'a Link,
    pub peers: Vec<PeerVtep<'a>>,
}

pub(crate) fn state<'e>(cx: &NodeCx<'e>) -> Option<VxlanState<'e>> {
    let dev = cni::vxlan_dev(cx.node, cx.model)?;
    let neigh = cx
        .node
        .neighbours
        .as_ref()
        .map(|ns| index_neigh(ns, &dev.name));
    let fdb = cx.node.fdb.as_ref().map(|es| FdbIndex::new(es, &dev.name));
    let peers = cx
        .exp
        .nodes
        .iter()
        .filter(|p| p.name != cx.node.name)
        .filter(|p| {
            !p.pod_cidrs
                .iter()
                .any(|c| cx.exp.contested.contains(&c.net))
        })
        .filter(|p| !maybe_direct(cx, p, &dev.name))
        .filter_map(|p| {
            let v = p.vtep.as_ref()?;
            let want = Want {
                vtep_ip: v.ip,
                mac: v.mac.clone(),
                dst: p.ip(),
                source: None,
            };
            peer(p, want, neigh.as_ref(), fdb.as_ref())
        })
        .collect();
    Some(VxlanState { dev, peers })
}

/// A dual-stack Flannel VXLAN node's flannel-v6.1 toward every peer with
/// an IPv6 pod CIDR (`None`: not Flannel VXLAN, or no such device).
pub(crate) fn state6<'e>(cx: &NodeCx<'e>) -> Option<VxlanState<'e>> {
    if cx.model != crate::infer::CniModel::FlannelVxlan {
        return None;
    }
    let dev = cx.link(cni::model::FLANNEL_V6_DEV)?;
    let neigh = cx
        .node
        .neighbours
        .as_ref()
        .map(|ns| index_neigh(ns, &dev.name));
    let fdb = cx.node.fdb.as_ref().map(|es| FdbIndex::new(es, &dev.name));
    let peers = cx
        .exp
        .nodes
        .iter()
        .filter(|p| p.name != cx.node.name)
        // DirectRouting writes no entries for an on-link peer (IPv6 too):
        // unless the routes show it off, such a peer is left out.
        .filter(|p| cx.exp.flannel_direct_routing == Some(false) || !super::remote::adjacent(cx, p))
        .filter_map(|p| {
            let c = p.pod_cidrs.iter().find(|c| c.net.addr().is_ipv6())?;
            if cx.exp.contested.contains(&c.net) {
                return None;
            }
            let want = want6(cx, p, c.net);
            peer(p, want, neigh.as_ref(), fdb.as_ref())
        })
        .collect();
    Some(VxlanState { dev, peers })
}

/// Node `p`'s IPv6 VTEP as its annotations publish it.
fn want6(cx: &NodeCx<'_>, p: &NodeExpect, net: ipnet::IpNet) -> Want {
    let k8s = cx.exp.k8s.node(&p.name);
    let ann = |key| k8s.and_then(|k| k.annotation(key));
    let mac = ann(cni::model::FLANNEL_BACKEND_V6_DATA).and_then(crate::expected::flannel_vtep_mac);
    let public = ann(cni::model::FLANNEL_PUBLIC_IPV6).and_then(|v| v.parse().ok());
    let dst = public.or_else(|| p.ip_for(&net));
    let show = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    let source = format!(
        "node/{} IPv6 VTEP {} VtepMAC {} (backend-v6-data) public-ipv6 {}",
        p.name,
        net.network(),
        show(mac.clone()),
        show(dst.map(|d| d.to_string()))
    );
    Want {
        vtep_ip: net.network(),
        mac,
        dst,
        source: Some(source),
    }
}

fn index_neigh<'a>(ns: &'a [Neigh], dev: &str) -> HashMap<IpAddr, Vec<&'a Neigh>> {
    let mut m: HashMap<IpAddr, Vec<&Neigh>> = HashMap::new();
    for n in ns.iter().filter(|n| n.dev == dev) {
        m.entry(n.dst).or_default().push(n);
    }
    m
}

/// What the node should hold for one peer VTEP.
struct Want {
    vtep_ip: IpAddr,
    mac: Option<String>,
    dst: Option<IpAddr>,
    source: Option<String>,
}

/// Flannel writes no neighbour or FDB entry for a peer it routes directly
/// (DirectRouting, an on-link peer): such a peer is left out unless the
/// setting is known off or the node's route to it goes via the peer's VTEP
/// on the VXLAN device anyway (then the kernel needs both entries).
fn maybe_direct(cx: &NodeCx<'_>, p: &NodeExpect, dev: &str) -> bool {
    if cx.model != crate::infer::CniModel::FlannelVxlan
        || cx.exp.flannel_direct_routing == Some(false)
        || !super::remote::adjacent(cx, p)
    {
        return false;
    }
    let vtep = p.vtep.as_ref().map(|v| v.ip);
    let via_vtep = |r: &cnictl_model::Route| {
        super::fib::paths(r).any(|(gw, d)| d == Some(dev) && gw.is_some() && gw == vtep)
    };
    let over_vxlan = p.pod_cidrs.iter().any(|c| match cx.fib.lookup(&c.net) {
        super::fib::Lookup::Route(r) => via_vtep(r),
        _ => false,
    });
    !over_vxlan
}

struct FdbIndex<'a> {
    by_mac: HashMap<&'a str, Vec<&'a FdbEntry>>,
    by_dst: HashMap<IpAddr, Vec<&'a FdbEntry>>,
}

impl<'a> FdbIndex<'a> {
    fn new(entries: &'a [FdbEntry], dev: &str) -> Self {
        let mut by_mac: HashMap<&str, Vec<&FdbEntry>> = HashMap::new();
        let mut by_dst: HashMap<IpAddr, Vec<&FdbEntry>> = HashMap::new();
        for e in entries.iter().filter(|e| e.dev == dev && !e.is_all_zero()) {
            by_mac.entry(e.mac.as_str()).or_default().push(e);
            if let Some(d) = e.dst {
                by_dst.entry(d).or_default().push(e);
            }
        }
        FdbIndex { by_mac, by_dst }
    }
}

fn peer<'a>(
    p: &'a NodeExpect,
    want: Want,
    neigh: Option<&HashMap<IpAddr, Vec<&'a Neigh>>>,
    fdb: Option<&FdbIndex<'a>>,
) -> Option<PeerVtep<'a>> {
    let entries = neigh.map(|m| m.get(&want.vtep_ip).map_or(&[][..], Vec::as_slice));
    let neigh_state = entries.map(|es| neigh_state(es, want.mac.as_deref()));
    let mac = want.mac.or_else(|| {
        entries?
            .iter()
            .find(|n| n.is_usable())
            .and_then(|n| n.lladdr.clone())
    });
    let fdb_state = fdb.map(|f| fdb_state(f, mac.as_deref(), want.dst));
    Some(PeerVtep {
        peer: p,
        vtep_ip: want.vtep_ip,
        dst: want.dst,
        source: want.source,
        mac,
        neigh: neigh_state,
        fdb: fdb_state,
    })
}

fn neigh_state<'a>(es: &[&'a Neigh], mac: Option<&str>) -> NeighState<'a> {
    let usable: Vec<&&Neigh> = es.iter().filter(|n| n.is_usable()).collect();
    if usable.is_empty() {
        return match es.first() {
            Some(n) => NeighState::Unusable(n),
            None => NeighState::Missing,
        };
    }
    match mac {
        Some(m) if !usable.iter().any(|n| n.lladdr.as_deref() == Some(m)) => {
            NeighState::WrongMac(usable[0])
        }
        _ => NeighState::Ok,
    }
}

fn fdb_state<'a>(f: &FdbIndex<'a>, mac: Option<&str>, node_ip: Option<IpAddr>) -> FdbState<'a> {
    let Some(mac) = mac else {
        return FdbState::MacUnknown;
    };
    let for_mac = f.by_mac.get(mac).map_or(&[][..], Vec::as_slice);
    if for_mac
        .iter()
        .any(|e| node_ip.map_or(e.dst.is_some(), |ip| e.dst == Some(ip)))
    {
        return FdbState::Ok;
    }
    if !for_mac.is_empty() {
        return FdbState::WrongDst(for_mac.to_vec());
    }
    let stale = node_ip
        .and_then(|ip| f.by_dst.get(&ip))
        .map(|v| v.to_vec())
        .unwrap_or_default();
    if stale.is_empty() {
        FdbState::Missing
    } else {
        FdbState::StaleMac(stale)
    }
}
