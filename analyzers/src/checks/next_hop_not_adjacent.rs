//! Check: next-hop-not-adjacent
//!
//! Host-gw style models (flannel-host-gw, bridge, cilium-native) send pod
//! traffic unencapsulated to the peer's node IP as the L2 next hop, so every
//! peer must be on a subnet this node is directly connected to. A peer on
//! another subnet gets no route (Flannel skips it) or one the kernel
//! cannot resolve: error.

use super::remote::{peer_evidence, Issue};
use super::{render, NodeCx, Out};
use crate::finding::Severity;

pub(crate) const CODE: &str = "next-hop-not-adjacent";

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if cx.route_checks_skipped(CODE, out) {
        return;
    }
    for v in cx.remote() {
        let Issue::NotAdjacent { route } = &v.issue else {
            continue;
        };
        let mut evidence = vec![peer_evidence(v)];
        let mut subnets: Vec<String> = cx
            .node
            .addrs
            .iter()
            .filter(|a| a.scope == "global")
            .map(|a| format!("{} dev {}", a.addr, a.dev))
            .collect();
        subnets.sort();
        evidence.push(format!("{} addresses: {}", cx.name(), subnets.join(", ")));
        if let Some(r) = route {
            evidence.push(render::route(r));
        }
        let ip = v
            .peer
            .ip()
            .map_or_else(|| "?".to_string(), |ip| ip.to_string());
        out.push(
            CODE,
            Severity::Error,
            Some(cx.name()),
            format!(
                "{}'s node IP {ip} is not on a subnet {} is connected to; {} needs L2 adjacency for {}",
                v.peer.name,
                cx.name(),
                cx.model,
                v.cidr.net
            ),
            evidence,
            format!(
                "put the nodes on one L2 segment, or switch to an encapsulating backend (flannel vxlan, calico ipip/vxlan, cilium tunnel) for {} <-> {}",
                cx.name(),
                v.peer.name
            ),
        );
    }
}
