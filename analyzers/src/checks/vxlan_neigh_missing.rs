//! Check: vxlan-neigh-missing
//!
//! Every remote VTEP IP (the peer's flannel.1 / vxlan.calico address) needs
//! a permanent neighbour entry on the local VXLAN device giving the peer's
//! VTEP MAC: the device is NOARP, so without it the route via the VTEP IP
//! cannot be resolved and traffic to the peer's pods is dropped: error.
//! Skipped without ip-neigh.json.

use cnictl_model::{Link, Neigh};

use super::vxlan::{NeighState, PeerVtep};
use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::VxlanNeighMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if cx.vxlan().is_none() {
        return;
    }
    if cx.node.neighbours.is_none() {
        out.skip_missing(CODE, cx.name(), Input::IpNeigh, "VXLAN neighbour checks");
        return;
    }
    for (st, p) in cx.vxlan_peers() {
        let bad = match &p.neigh {
            Some(NeighState::Missing) => None,
            Some(NeighState::Unusable(n)) => Some(*n),
            _ => continue,
        };
        peer(cx, st.dev, p, bad, out);
    }
}

/// One peer VTEP without a usable neighbour entry (`bad`: the unusable one).
fn peer(cx: &NodeCx<'_>, dev: &Link, p: &PeerVtep<'_>, bad: Option<&Neigh>, out: &mut Out) {
    let mut evidence = p.evidence();
    evidence.push(render::link(dev));
    evidence.push(match bad {
        Some(n) => render::neigh(n),
        None => format!("no `ip neigh` entry {} dev {}", p.vtep_ip, dev.name),
    });
    let summary = format!(
        "{} has no usable neighbour entry for {}'s VTEP {} on {}",
        cx.name(),
        p.peer.name,
        p.vtep_ip,
        dev.name
    );
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint(cx, dev, p),
    )
    .peers = vec![p.peer.name.clone()];
}

fn hint(cx: &NodeCx<'_>, dev: &Link, p: &PeerVtep<'_>) -> String {
    let mac = p.mac.as_deref().unwrap_or("<peer VTEP MAC>");
    format!(
        "on {}: ip neigh replace {} lladdr {mac} dev {} nud permanent (or restart the CNI agent there)",
        cx.name(),
        p.vtep_ip,
        dev.name
    )
}
