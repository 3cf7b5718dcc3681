//! VXLAN state toward every peer VTEP, shared by vxlan-fdb-missing,
//! vxlan-neigh-missing and vxlan-fdb-mismatch. Flannel (and Calico VXLAN)
//! program, per peer, a permanent neighbour entry `VTEP-IP → VTEP-MAC` on
//! the VXLAN device and an FDB entry `VTEP-MAC → dst node-IP`; the kernel
//! needs both to encapsulate. Indexing is O(entries), each peer O(1).

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
    /// The MAC the peer's VTEP has (annotation, its dump, or our neighbour entry).
    pub mac: Option<String>,
    pub neigh: Option<NeighState<'a>>,
    pub fdb: Option<FdbState<'a>>,
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
    let neigh: Option<HashMap<IpAddr, Vec<&Neigh>>> = cx.node.neighbours.as_ref().map(|ns| {
        let mut m: HashMap<IpAddr, Vec<&Neigh>> = HashMap::new();
        for n in ns.iter().filter(|n| n.dev == dev.name) {
            m.entry(n.dst).or_default().push(n);
        }
        m
    });
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
        .filter_map(|p| peer(p, neigh.as_ref(), fdb.as_ref()))
        .collect();
    Some(VxlanState { dev, peers })
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
    neigh: Option<&HashMap<IpAddr, Vec<&'a Neigh>>>,
    fdb: Option<&FdbIndex<'a>>,
) -> Option<PeerVtep<'a>> {
    let vtep = p.vtep.as_ref()?;
    let entries = neigh.map(|m| m.get(&vtep.ip).map_or(&[][..], Vec::as_slice));
    let neigh_state = entries.map(|es| neigh_state(es, vtep.mac.as_deref()));
    let mac = vtep.mac.clone().or_else(|| {
        entries?
            .iter()
            .find(|n| n.is_usable())
            .and_then(|n| n.lladdr.clone())
    });
    let fdb_state = fdb.map(|f| fdb_state(f, mac.as_deref(), p.ip()));
    Some(PeerVtep {
        peer: p,
        vtep_ip: vtep.ip,
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
