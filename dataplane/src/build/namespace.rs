//! Compiles one namespace: its links, addresses, routes and rules, and —
//! for a node's root namespace — neighbours, FDB, IPVS and sysctls.

use std::net::IpAddr;

use cnictl_model::{Addr, Link, NodeSnapshot, Route};
use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::{links, neighbours, routes};
use crate::tables::Namespace;

/// What one namespace is compiled from. `extra` carries the node-wide
/// sections (rules, neighbours, FDB, IPVS, sysctls); empty for pods.
pub(super) struct NamespaceSource<'a> {
    pub node: u32,
    pub pod: Option<u32>,
    pub links: &'a [Link],
    pub addrs: &'a [Addr],
    pub routes: &'a [Route],
    pub extra: &'a NodeSnapshot,
}

/// Pod netns carry no node-wide sections.
static NO_EXTRA: std::sync::LazyLock<NodeSnapshot> =
    std::sync::LazyLock::new(NodeSnapshot::default);

impl<'a> NamespaceSource<'a> {
    pub(super) fn root(node: u32, snap: &'a NodeSnapshot) -> Self {
        NamespaceSource {
            node,
            pod: None,
            links: &snap.links,
            addrs: &snap.addrs,
            routes: &snap.routes,
            extra: snap,
        }
    }

    pub(super) fn pod(node: u32, pod: u32, pn: &'a cnictl_model::PodNetns) -> Self {
        NamespaceSource {
            node,
            pod: Some(pod),
            links: &pn.links,
            addrs: &pn.addrs,
            routes: &pn.routes,
            extra: &NO_EXTRA,
        }
    }
}

pub(super) fn compile(src: NamespaceSource<'_>) -> Namespace {
    let extra = src.extra;
    let by_name = links::by_name(src.links);
    let (local, addr_nets) = index_addrs(src.addrs, src.links, &by_name);
    let (all_routes, synthesized_from) = routes::with_local(src.routes, src.addrs);
    let neighs = extra.neighbours.clone().unwrap_or_default();
    let fdb = extra.fdb.clone().unwrap_or_default();
    let ipvs = extra.ipvs.clone().unwrap_or_default();
    let (rules, rules_default) = routes::rules_for(extra, src.pod.is_some());
    let (fdb_idx, fdb_zero) = neighbours::index_fdb(&fdb, &by_name);
    Namespace {
        node: src.node,
        pod: src.pod,
        links: src.links.to_vec(),
        devices: links::compile_devices(src.links, &by_name, extra),
        local,
        next_hops: routes::compile_next_hops(&all_routes, &by_name),
        tables: routes::build_tables(&all_routes),
        routes: all_routes,
        synthesized_from,
        rules,
        rules_default,
        neigh_idx: neighbours::index_neighbours(&neighs, &by_name),
        neighs,
        neigh_collected: extra.neighbours.is_some(),
        fdb,
        fdb_idx,
        fdb_zero,
        fdb_collected: extra.fdb.is_some(),
        ipvs_idx: neighbours::index_ipvs(&ipvs),
        ipvs,
        nf: extra
            .netfilter
            .as_ref()
            .map(|n| std::sync::Arc::new(crate::nf::Ruleset::compile(n))),
        ip_forward: extra.sysctl("net.ipv4.ip_forward").map(|v| v.trim() != "0"),
        bridge_netfilter: links::bridge_netfilter(extra),
        segment_owners: FxHashMap::default(),
        addr_nets,
        by_name,
    }
}

/// Local address → link, and (link, address with prefix), the link found by
/// name or else by ifindex.
fn index_addrs(
    addrs: &[Addr],
    links: &[Link],
    by_name: &FxHashMap<String, u32>,
) -> (FxHashMap<IpAddr, u32>, Vec<(u32, IpNet)>) {
    let by_index: FxHashMap<u32, u32> = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.ifindex, i as u32))
        .collect();
    let mut local = FxHashMap::default();
    let mut addr_nets = Vec::new();
    for a in addrs {
        let Some(&li) = by_name.get(&a.dev).or_else(|| by_index.get(&a.ifindex)) else {
            continue;
        };
        local.entry(a.addr.addr()).or_insert(li);
        addr_nets.push((li, a.addr));
    }
    (local, addr_nets)
}
