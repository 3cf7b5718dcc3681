//! Check: bgp-session-down
//!
//! Every BGP protocol BIRD runs (Calico's node-to-node mesh or route
//! reflector sessions) must be Established. A session that is not stops the
//! exchange of pod blocks with that peer, so its routes go missing or stale:
//! error. Skipped on a BIRD-routed node without bird-protocols.txt.
//!
//! Which sessions should exist comes from Calico's BGPConfiguration and
//! BGPPeers when collected (`bgptopo`: route reflectors, ToR peers): each
//! of those must be configured in BIRD and Established, and a session
//! Calico would not configure is not judged. Without those objects a full
//! mesh is assumed from the sessions BIRD shows: every one must be up.

use std::collections::BTreeSet;
use std::net::IpAddr;

use cnictl_model::{Bgp, BgpProtocol};

use super::{render, NodeCx, Out};
use crate::bgptopo::BgpTopology;
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
    let want = match &cx.exp.bgp_topology {
        Some(BgpTopology::Unknown(why)) => {
            let reason = format!(
                "expected BGP sessions unknown ({why}): only the sessions BIRD runs are checked"
            );
            out.skip(CODE, Some(cx.name()), reason);
            None
        }
        Some(t) => t.of(cx.name()),
        None => None,
    };
    let down = bgp
        .protocols
        .iter()
        .filter(|p| p.is_bgp() && !p.is_established())
        .filter(|p| want.is_none_or(|w| p.neighbor_address.is_some_and(|ip| w.contains(&ip))));
    for p in down {
        session(cx, p, out);
    }
    if let Some(want) = want {
        unconfigured(cx, bgp, want, out);
    }
}

/// Sessions Calico's objects call for that BIRD does not run at all.
fn unconfigured(cx: &NodeCx<'_>, bgp: &Bgp, want: &BTreeSet<IpAddr>, out: &mut Out) {
    let have: BTreeSet<IpAddr> = bgp
        .protocols
        .iter()
        .filter(|p| p.is_bgp())
        .filter_map(|p| p.neighbor_address)
        .collect();
    for ip in want.difference(&have) {
        let peer_node = cx.exp.node_by_ip(*ip);
        let peer = peer_node.map_or_else(|| ip.to_string(), |n| format!("{} ({ip})", n.name));
        let summary = format!(
            "BGP session on {} to {peer} is not configured in BIRD (Calico's BGPPeers call for it)",
            cx.name()
        );
        let mut evidence = vec![format!(
            "birdc show protocols: no BGP protocol with neighbor {ip}"
        )];
        evidence.extend(peer_node.map(NodeExpect::describe));
        let hint = format!("on {}: check calico-node's confd (BIRD config) sees the BGPPeer and the peer's labels; kubectl get bgppeers.crd.projectcalico.org -o yaml", cx.name());
        out.push(
            CODE,
            Severity::Error,
            Some(cx.name()),
            summary,
            evidence,
            hint,
        )
        .peers = peer_node.map(|n| n.name.clone()).into_iter().collect();
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
