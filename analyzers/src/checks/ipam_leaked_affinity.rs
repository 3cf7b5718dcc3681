//! Check: ipam-leaked-affinity
//!
//! A `blackhole <block> proto bird` route is Calico's static route for a
//! block the node holds (confd renders one per affine block). When the
//! block's pods live on another node — or, with no pods in it, its live
//! BlockAffinity names another node — the affinity leaked or went stale:
//! the node drops whatever it sends to that block (its own pods' traffic
//! and anything it forwards) and BIRD announces the block as if it were
//! the owner. Error. Without pods in the block and without
//! `k8s/blockaffinities.json` nothing says who owns it: no finding.

use std::collections::BTreeSet;

use cnictl_model::Route;

use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;
use crate::ipam::{is_block_blackhole, BlockOwners};

pub(crate) const CODE: Code = Code::IpamLeakedAffinity;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if !cx.model.uses_bird() {
        return;
    }
    let k8s = cx.exp.k8s;
    for r in cx.node.routes.iter().filter(|r| is_block_blackhole(r)) {
        let owners = BlockOwners::of(k8s, r.dst);
        if owners.foreign_to(cx.name()) == Some(true) {
            leaked(cx, r, &owners, out);
        }
    }
}

fn leaked(cx: &NodeCx<'_>, r: &Route, owners: &BlockOwners, out: &mut Out) {
    let block = r.dst;
    let to: BTreeSet<String> = owners.owners();
    let names: Vec<&str> = to.iter().map(String::as_str).collect();
    let summary = format!(
        "{} blackholes block {block}, which belongs to {}: its traffic to those pods is dropped there",
        cx.name(),
        names.join(", ")
    );
    let mut evidence = vec![render::route(r)];
    if !owners.pod_nodes.is_empty() {
        let pods = owners.pod_nodes.iter().cloned().collect::<Vec<_>>();
        evidence.push(format!("pods in {block} run on {}", pods.join(", ")));
    }
    match &owners.affinity_nodes {
        Some(a) if a.is_empty() => evidence.push(format!("no live BlockAffinity for {block}")),
        Some(a) => {
            let a = a.iter().cloned().collect::<Vec<_>>();
            evidence.push(format!("BlockAffinity {block} → {}", a.join(", ")));
        }
        None => {}
    }
    let hint = format!(
        "on {}: birdc show route {block} all (static blackhole from a leaked affinity); kubectl get blockaffinities.crd.projectcalico.org | grep {}; release the block's affinity for {} (calicoctl ipam check, then release) so confd drops the route",
        cx.name(),
        cx.name(),
        cx.name()
    );
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint,
    )
    .peers = to.into_iter().collect();
}
