//! Check: vxlan-neigh-missing
//!
//! Every remote VTEP IP (the peer's flannel.1 / vxlan.calico address) needs
//! a permanent neighbour entry on the local VXLAN device giving the peer's
//! VTEP MAC: the device is NOARP, so without it the route via the VTEP IP
//! cannot be resolved and traffic to the peer's pods is dropped: error.
//! Skipped without ip-neigh.json.

use super::vxlan::NeighState;
use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::VxlanNeighMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(st) = cx.vxlan() else {
        return;
    };
    if cx.node.neighbours.is_none() {
        out.skip_missing(CODE, cx.name(), Input::IpNeigh, "VXLAN neighbour checks");
        return;
    }
    for p in &st.peers {
        let bad = match &p.neigh {
            Some(NeighState::Missing) => None,
            Some(NeighState::Unusable(n)) => Some(*n),
            _ => continue,
        };
        let mac = p.mac.as_deref().unwrap_or("<peer VTEP MAC>");
        let mut evidence = vec![p.peer.describe(), render::link(st.dev)];
        match bad {
            Some(n) => evidence.push(render::neigh(n)),
            None => evidence.push(format!(
                "no `ip neigh` entry {} dev {}",
                p.vtep_ip, st.dev.name
            )),
        }
        out.push(
            CODE,
            Severity::Error,
            Some(cx.name()),
            format!(
                "{} has no usable neighbour entry for {}'s VTEP {} on {}",
                cx.name(),
                p.peer.name,
                p.vtep_ip,
                st.dev.name
            ),
            evidence,
            format!(
                "on {}: ip neigh replace {} lladdr {mac} dev {} nud permanent (or restart the CNI agent there)",
                cx.name(),
                p.vtep_ip,
                st.dev.name
            ),
        );
    }
}
