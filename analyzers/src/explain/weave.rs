//! Weave beyond the bridge: a pod's packet to another node leaves through
//! the weave bridge into the weave router's datapath (fast datapath in the
//! kernel's Open vSwitch module, or sleeve in userspace), which cnictl does
//! not model. The trace is kept up to the bridge and the answer is
//! `unknown`, naming that, instead of a confident drop or delivery.

use cnictl_model::ClusterSnapshot;

use super::resolve::Endpoint;
use super::{Explanation, UnknownInfo, Verdict};
use crate::cni::WEAVE_NOT_MODELLED;
use crate::infer::{self, CniModel};

fn is_weave(snap: &ClusterSnapshot, node: &str) -> bool {
    let Some(n) = snap.nodes.get(node) else {
        return false;
    };
    let k = snap.k8s.nodes.iter().find(|k| k.name == node);
    infer::infer_node(n, k).model == CniModel::Weave
}

/// Ends a cross-node answer from a Weave node at the weave bridge.
pub(super) fn apply(snap: &ClusterSnapshot, src: &Endpoint, dst: &Endpoint, ex: &mut Explanation) {
    let Some(node) = src.node.as_deref() else {
        return;
    };
    if dst.node.as_deref() == Some(node) || !is_weave(snap, node) {
        return;
    }
    let on_bridge = |h: &super::HopJson| {
        h.node == node
            && (h.in_dev.as_deref() == Some("weave") || h.out_dev.as_deref() == Some("weave"))
    };
    let cut = match ex.hops.iter().position(on_bridge) {
        Some(i) => i + 1,
        None => ex.hops.iter().take_while(|h| h.node == node).count(),
    };
    ex.hops.truncate(cut.max(1));
    let hop = ex.hops.last().map_or(0, |h| h.index);
    ex.verdict = Verdict::Unknown;
    ex.drop = None;
    ex.disposition = String::new();
    ex.unknown = Some(UnknownInfo {
        hop,
        node: node.to_string(),
        reason: format!("beyond the weave bridge: {WEAVE_NOT_MODELLED}"),
    });
}
