//! Routes and rules: next hops resolved to link indices, one LPM per table,
//! rules sorted by priority, and the local table rebuilt from addresses
//! when it was not dumped.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use cnictl_model::route::TABLE_LOCAL;
use cnictl_model::{Addr, NodeSnapshot, Protocol, Route, RouteType, Rule, Scope};
use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::lpm::Lpm;
use crate::tables::CompiledNextHop;

/// The routes as collected, followed by local routes synthesized from the
/// addresses when table local was not dumped; and where the synthesized
/// ones start.
pub(super) fn with_local(routes: &[Route], addrs: &[Addr]) -> (Vec<Route>, usize) {
    let mut all: Vec<Route> = routes.to_vec();
    let synthesized_from = all.len();
    if !routes.iter().any(|r| r.table == TABLE_LOCAL) {
        all.extend(synthesize_local(addrs));
    }
    (all, synthesized_from)
}

/// The node's rules, or the kernel defaults when not collected (a pod netns
/// always gets the defaults, which are then not "assumed": pods keep them).
pub(super) fn rules_for(extra: &NodeSnapshot, is_pod: bool) -> (Vec<Rule>, bool) {
    match &extra.rules {
        Some(r) if !is_pod => (sorted_rules(Rule::with_v6_defaults(r.clone())), false),
        _ => {
            let mut d = Rule::defaults_v4();
            d.extend(Rule::defaults_v6());
            (sorted_rules(d), !is_pod)
        }
    }
}

/// Rules by priority; equal priorities in a stable, content-based order so
/// the result does not depend on dump order.
fn sorted_rules(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by_cached_key(|r| (r.priority, r.to_string()));
    rules
}

/// The kernel derives table local from addresses; when it was not dumped,
/// rebuild the `local` entries so local delivery still works.
fn synthesize_local(addrs: &[Addr]) -> Vec<Route> {
    let mut out: Vec<Route> = addrs
        .iter()
        .map(|a| local_route(IpNet::from(a.addr.addr()), &a.dev, Some(a.addr.addr())))
        .collect();
    let loopback = IpNet::V4(ipnet::Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8));
    out.push(local_route(loopback, "lo", None));
    out
}

fn local_route(dst: IpNet, dev: &str, prefsrc: Option<IpAddr>) -> Route {
    let mut r = Route::unicast(dst);
    r.table = TABLE_LOCAL;
    r.route_type = RouteType::Local;
    r.dev = Some(dev.into());
    r.protocol = Protocol::KERNEL;
    r.scope = Scope::HOST;
    r.prefsrc = prefsrc;
    r
}

pub(super) fn compile_next_hops(
    routes: &[Route],
    by_name: &FxHashMap<String, u32>,
) -> Vec<Vec<CompiledNextHop>> {
    routes.iter().map(|r| next_hops_of(r, by_name)).collect()
}

fn next_hops_of(r: &Route, by_name: &FxHashMap<String, u32>) -> Vec<CompiledNextHop> {
    let dev = |d: &Option<String>| match d {
        None => Ok(None),
        Some(n) => by_name.get(n).map(|&i| Some(i)).ok_or(()),
    };
    if r.nexthops.is_empty() {
        return vec![CompiledNextHop {
            gateway: r.gateway,
            dev: dev(&r.dev),
            onlink: r.onlink,
        }];
    }
    r.nexthops
        .iter()
        .map(|h| CompiledNextHop {
            gateway: h.gateway,
            dev: dev(&h.dev),
            onlink: h.onlink || r.onlink,
        })
        .collect()
}

/// One LPM per table over the best route of each (table, prefix).
pub(super) fn build_tables(routes: &[Route]) -> Vec<(u32, Lpm)> {
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
