//! Check: wrong-next-hop
//!
//! The route to a peer's pod CIDR exists but its next hop is not the peer:
//! another node's IP or VTEP, the wrong device (underlay instead of the
//! tunnel), or a local delivery. The peer's pods are unreachable from this
//! node (or reached through a node that may drop them): error.

use cnictl_model::Route;

use super::remote::{peer_evidence, Issue, Verdict};
use super::{missing_pod_route, render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::WrongNextHop;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for v in cx.route_verdicts(CODE, out) {
        if let Issue::Wrong { route } = &v.issue {
            wrong(cx, v, route, out);
        }
    }
}

fn wrong(cx: &NodeCx<'_>, v: &Verdict<'_>, route: &Route, out: &mut Out) {
    let expected = v.expected_route();
    let (node, peer, net, hop) = (cx.name(), &v.peer.name, v.cidr.net, describe_hop(cx, route));
    let summary = format!("{node} routes {peer}'s pod CIDR {net} {hop}, expected {expected}");
    let evidence = vec![peer_evidence(v), render::route(route)];
    out.push(
        CODE,
        Severity::Error,
        Some(node),
        summary,
        evidence,
        missing_pod_route::hint(cx, &expected),
    )
    .peers = vec![v.peer.name.clone()];
}

/// `via 192.0.2.13 (node-3) dev eth0`: names the node a wrong gateway is.
fn describe_hop(cx: &NodeCx<'_>, r: &Route) -> String {
    if r.route_type != cnictl_model::RouteType::Unicast {
        return format!("as {} ({})", r.route_type, render::route(r));
    }
    let mut parts = Vec::new();
    for p in r.paths() {
        let mut s = String::new();
        if let Some(gw) = p.gateway {
            s.push_str(&format!("via {gw}"));
            let owner = cx.exp.node_by_ip(gw).or_else(|| cx.exp.node_by_vtep_ip(gw));
            if let Some(n) = owner {
                s.push_str(&format!(" ({})", n.name));
            }
        }
        if let Some(d) = &p.dev {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("dev {d}"));
        }
        parts.push(s);
    }
    parts.join(" + ")
}
