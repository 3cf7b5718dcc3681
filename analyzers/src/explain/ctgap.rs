//! A reply that crosses a node its request did not. Conntrack there has no
//! entry for the connection, so the reply is INVALID (an ICMP echo reply
//! with no echo, a TCP segment that is no SYN), and rules matching INVALID
//! decide it: kube-proxy's KUBE-FORWARD drops it. The engine traces every
//! reply as ESTABLISHED, so a delivered reply through such a node with
//! such a rule is `unknown`, naming the node and the rule, never a
//! confident "delivered" the kernel would not give.

use std::collections::BTreeSet;

use cnictl_model::netfilter::{CtState, Expr, Match};
use cnictl_model::ClusterSnapshot;

use super::{Explanation, UnknownInfo, Verdict};

/// Turns a delivered reply into `unknown` when it crosses a node the
/// request did not and that node has a rule matching INVALID.
pub(crate) fn mark(snap: &ClusterSnapshot, fwd: &Explanation, back: &mut Explanation) {
    if back.verdict != Verdict::Delivered {
        return;
    }
    let seen: BTreeSet<&str> = fwd.hops.iter().map(|h| h.node.as_str()).collect();
    let first_new = back.hops.iter().find(|h| !seen.contains(h.node.as_str()));
    let Some(hop) = first_new else { return };
    let Some(rule) = invalid_rule(snap, &hop.node) else {
        return;
    };
    let node = hop.node.clone();
    let reason = format!(
        "the reply crosses {node}, which the request did not: conntrack there has no entry for the connection, so the reply is INVALID, and {node}'s rule `{rule}` matches INVALID packets (cnictl traces replies as established)"
    );
    back.unknown = Some(UnknownInfo {
        hop: hop.index,
        node,
        reason,
    });
    back.verdict = Verdict::Unknown;
    back.disposition = "unknown".into();
}

/// The first rule on `node` that matches conntrack state INVALID.
fn invalid_rule(snap: &ClusterSnapshot, node: &str) -> Option<String> {
    let nf = snap.nodes.get(node)?.netfilter.as_ref()?;
    let rules = nf
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules);
    let matches = |e: &Expr| matches!(e, Expr::Match(Match::CtState { states, neg: false }) if states.contains(&CtState::Invalid));
    let hit = rules.into_iter().find(|r| r.exprs.iter().any(matches))?;
    Some(hit.text.clone())
}
