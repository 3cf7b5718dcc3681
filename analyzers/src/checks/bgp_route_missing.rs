//! Check: bgp-route-missing
//!
//! On a BIRD-routed node (calico-bgp, calico-ipip) every other node's block
//! must be in BIRD's table (learned from the peer) and exported to the
//! kernel as a `proto bird` route. Not learned: the peer does not announce
//! it or the session is down. Learned but not in the kernel: the kernel
//! protocol's export filter or a kernel error dropped it. Either way the
//! block is unreachable from this node: error. Skipped without
//! bird-protocols.txt / bird-routes.txt.

use cnictl_model::{BgpRoute, Protocol};
use ipnet::IpNet;

use super::fib::FastMap;
use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::BgpRouteMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if !cx.model.uses_bird() {
        return;
    }
    let Some(bgp) = &cx.node.bgp else {
        out.skip_missing(CODE, cx.name(), Input::BirdProtocols, "BGP route checks");
        return;
    };
    let Some(routes) = &bgp.routes else {
        out.skip_missing(CODE, cx.name(), Input::BirdRoutes, "BGP route checks");
        return;
    };
    let mut by_prefix: FastMap<IpNet, &BgpRoute> = FastMap::default();
    for r in routes {
        by_prefix.entry(r.prefix.trunc()).or_insert(r);
    }
    for peer in cx.exp.nodes.iter().filter(|p| p.name != cx.node.name) {
        for c in &peer.pod_cidrs {
            match by_prefix.get(&c.net) {
                None => not_learned(cx, peer, c.net, out),
                Some(_) => in_kernel(cx, peer, c.net, routes, out),
            }
        }
    }
}

fn not_learned(cx: &NodeCx<'_>, peer: &crate::expected::NodeExpect, net: IpNet, out: &mut Out) {
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        format!("BIRD on {} has not learned {}'s block {net}", cx.name(), peer.name),
        vec![peer.describe(), format!("birdc show route for {net}: no route")],
        format!(
            "on {}: birdc show protocols (is the session to {} up?); on {}: birdc show route export <session> — restart calico-node on {} if the block is not announced",
            cx.name(),
            peer.name,
            peer.name,
            peer.name
        ),
    )
    .peers = learned_via(cx, peer);
}

/// The block's owner and, when Calico's objects say this node has no
/// session with it (route reflectors), the cluster nodes it learns blocks
/// through: a session down to one of them explains the missing block.
fn learned_via(cx: &NodeCx<'_>, peer: &crate::expected::NodeExpect) -> Vec<String> {
    let mut names = vec![peer.name.clone()];
    let topo = cx.exp.bgp_topology.as_ref();
    let Some(want) = topo.and_then(|t| t.of(cx.name())) else {
        return names;
    };
    let via: Vec<&str> = want
        .iter()
        .filter_map(|ip| cx.exp.node_by_ip(*ip))
        .map(|n| n.name.as_str())
        .collect();
    if !via.contains(&peer.name.as_str()) {
        names.extend(via.into_iter().map(str::to_string));
    }
    names
}

fn in_kernel(
    cx: &NodeCx<'_>,
    peer: &crate::expected::NodeExpect,
    net: IpNet,
    routes: &[BgpRoute],
    out: &mut Out,
) {
    if cx.fib.any_exact(&net, |r| r.protocol == Protocol::BIRD) {
        return;
    }
    let summary = format!(
        "BIRD on {} has {}'s block {net} but the kernel has no proto bird route for it",
        cx.name(),
        peer.name
    );
    let hint = format!("on {}: birdc show protocols all kernel1 (export filter, errors); birdc configure / restart calico-node to re-export", cx.name());
    let evidence = kernel_evidence(cx, peer, net, routes);
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint,
    )
    .peers = vec![peer.name.clone()];
}

/// BIRD's routes for the block, and what the kernel has instead.
fn kernel_evidence(
    cx: &NodeCx<'_>,
    peer: &crate::expected::NodeExpect,
    net: IpNet,
    routes: &[BgpRoute],
) -> Vec<String> {
    let mut evidence = vec![peer.describe()];
    let mut lines: Vec<String> = routes
        .iter()
        .filter(|r| r.prefix.trunc() == net)
        .map(render::bird_route)
        .collect();
    lines.sort();
    evidence.extend(lines);
    evidence.push(format!("no kernel route {net} proto bird"));
    evidence.extend(cx.fib.exact(&net).iter().map(|r| render::route(r)));
    evidence
}
