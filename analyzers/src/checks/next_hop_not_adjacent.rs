//! Check: next-hop-not-adjacent
//!
//! Host-gw style models (flannel-host-gw, bridge, cilium-native; calico-bgp
//! for its kernel routes) send pod traffic unencapsulated to a next hop
//! resolved by ARP on the underlay, so the peer's node IP must be on a
//! subnet this node is directly connected to, and so must the route's
//! gateway. A peer on another subnet gets no route (Flannel skips it); a
//! route forced with `onlink` to a gateway off every connected subnet ARPs
//! into the void: error.

use cnictl_model::Route;

use super::remote::{self, peer_evidence, Issue, Verdict};
use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::NextHopNotAdjacent;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for v in cx.route_verdicts(CODE, out) {
        if let Issue::NotAdjacent { route } = &v.issue {
            not_adjacent(cx, v, *route, out);
        }
    }
}

fn not_adjacent(cx: &NodeCx<'_>, v: &Verdict<'_>, route: Option<&Route>, out: &mut Out) {
    let mut evidence = vec![peer_evidence(v), addresses(cx)];
    evidence.extend(route.map(render::route));
    let (node, peer) = (cx.name(), &v.peer.name);
    let hint = format!(
        "on {node}: ip route replace {}; if the nodes really are on different segments, switch to an encapsulating backend (flannel vxlan, calico ipip/vxlan, cilium tunnel) for {node} <-> {peer}",
        v.expected_route(),
    );
    out.push(
        CODE,
        Severity::Error,
        Some(node),
        summary(cx, v, route),
        evidence,
        hint,
    )
    .peers = vec![v.peer.name.clone()];
}

fn summary(cx: &NodeCx<'_>, v: &Verdict<'_>, route: Option<&Route>) -> String {
    match route {
        Some(r) if remote::adjacent(cx, v.peer) => format!(
            "{} routes {}'s pod CIDR {} {}, a next hop on no subnet {} is connected to ({} needs {})",
            cx.name(),
            v.peer.name,
            v.cidr.net,
            gateways(r),
            cx.name(),
            cx.model,
            v.expected_route()
        ),
        _ => format!(
            "{}'s node IP {} is not on a subnet {} is connected to; {} needs L2 adjacency for {}",
            v.peer.name,
            v.peer.ip().map_or_else(|| "?".to_string(), |ip| ip.to_string()),
            cx.name(),
            cx.model,
            v.cidr.net
        ),
    }
}

/// `node-1 addresses: 192.0.2.11/24 dev eth0, …`.
fn addresses(cx: &NodeCx<'_>) -> String {
    let global = cx.node.addrs.iter().filter(|a| a.scope == "global");
    let mut subnets: Vec<String> = global
        .map(|a| format!("{} dev {}", a.addr, a.dev))
        .collect();
    subnets.sort();
    format!("{} addresses: {}", cx.name(), subnets.join(", "))
}

/// `via 198.51.100.12` (every path's gateway).
fn gateways(r: &Route) -> String {
    let gws: Vec<String> = r
        .paths()
        .iter()
        .filter_map(|p| p.gateway)
        .map(|g| format!("via {g}"))
        .collect();
    gws.join(" + ")
}
