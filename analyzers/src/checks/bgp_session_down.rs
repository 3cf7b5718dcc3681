//! Check: bgp-session-down
//!
//! Every BGP protocol BIRD runs (Calico's node-to-node mesh or route
//! reflector sessions) must be Established. A session that is not stops the
//! exchange of pod blocks with that peer, so its routes go missing or stale:
//! error. Skipped on a BIRD-routed node without bird-protocols.txt.

use cnictl_model::BgpProtocol;

use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::expected::NodeExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::BgpSessionDown;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(bgp) = &cx.node.bgp else {
        if cx.model.uses_bird() {
            out.skip_missing(CODE, cx.name(), Input::BirdProtocols, "BGP session checks");
        }
        return;
    };
    let down = bgp
        .protocols
        .iter()
        .filter(|p| p.is_bgp() && !p.is_established());
    for p in down {
        session(cx, p, out);
    }
}

/// One BGP session that is not Established.
fn session(cx: &NodeCx<'_>, p: &BgpProtocol, out: &mut Out) {
    let peer_node = p.neighbor_address.and_then(|ip| cx.exp.node_by_ip(ip));
    let peer = p.neighbor_address.map(|ip| match peer_node {
        Some(n) => format!("{} ({ip})", n.name),
        None => ip.to_string(),
    });
    let state = p.bgp_state.clone().unwrap_or_else(|| p.state.clone());
    let info = if p.info.is_empty() {
        String::new()
    } else {
        format!(" ({})", p.info.trim())
    };
    let summary = format!(
        "BGP session {} on {} to {} is {state}{info}",
        p.name,
        cx.name(),
        peer.as_deref().unwrap_or("?"),
    );
    let mut evidence = vec![render::bird_protocol(p)];
    evidence.extend(peer_node.map(NodeExpect::describe));
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint(cx, p),
    )
    .peers = peer_node.map(|n| n.name.clone()).into_iter().collect();
}

fn hint(cx: &NodeCx<'_>, p: &BgpProtocol) -> String {
    let nc = p
        .neighbor_address
        .map_or_else(String::new, |ip| format!(" (nc -zv {ip} 179)"));
    let (node, session) = (cx.name(), &p.name);
    format!("on {node}: birdc show protocols all {session}; check BIRD (calico-node) runs on the peer and TCP 179 is open between them{nc}")
}
