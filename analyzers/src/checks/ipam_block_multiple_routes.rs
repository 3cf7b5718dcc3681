//! Check: ipam-block-multiple-routes
//!
//! A pod block must be routed to the one node that holds it. A multipath
//! route (BIRD's kernel protocol has `merge paths on`, so two peers
//! announcing the same block become ECMP) whose next hops are two or more
//! cluster nodes sends each flow to whichever the hash picks: those hashed
//! to a node without the block's pods are dropped there (its blackhole)
//! or detoured. Error. Only prefixes that are a block (a live
//! BlockAffinity, or holding a pod's IP) are judged.

use std::collections::BTreeSet;

use cnictl_model::Route;

use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;
use crate::ipam::BlockOwners;

pub(crate) const CODE: Code = Code::IpamBlockMultipleRoutes;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for r in cx.node.routes.iter().filter(|r| r.nexthops.len() > 1) {
        let nodes: BTreeSet<&str> = r
            .nexthops
            .iter()
            .filter_map(|h| cx.exp.node_by_ip(h.gateway?))
            .map(|n| n.name.as_str())
            .collect();
        if nodes.len() < 2 {
            continue;
        }
        let owners = BlockOwners::of(cx.exp.k8s, r.dst);
        if owners.owners().is_empty() {
            continue;
        }
        report(cx, r, &nodes, &owners, out);
    }
}

fn report(cx: &NodeCx<'_>, r: &Route, nodes: &BTreeSet<&str>, owners: &BlockOwners, out: &mut Out) {
    let list: Vec<&str> = nodes.iter().copied().collect();
    let owned: Vec<String> = owners.owners().into_iter().collect();
    let summary = format!(
        "{} routes block {} to {} nodes ({}); it belongs to {}",
        cx.name(),
        r.dst,
        list.len(),
        list.join(", "),
        owned.join(", ")
    );
    let wrong: Vec<&str> = list
        .iter()
        .copied()
        .filter(|n| !owned.iter().any(|o| o == n))
        .collect();
    let evidence = vec![
        render::route(r),
        format!(
            "next hops to nodes without the block's pods: {}",
            wrong.join(", ")
        ),
    ];
    let hint = format!(
        "on {}: birdc show route {} all (which peers announce it); fix the announcing node that does not hold the block (a leaked affinity: ipam-leaked-affinity there)",
        cx.name(),
        r.dst
    );
    // Every node routed to, owner and wrong ones: a leaked affinity (on a
    // wrong node, about the owner) is then found as the cause.
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint,
    )
    .peers = list.into_iter().map(str::to_string).collect();
}
