//! Check: policy-drift
//!
//! The NetworkPolicies allow a connection between two pods, but a policy
//! agent's rule drops it (the drop happens in a felix or kube-router
//! policy chain, see `explain::policy`): the agent's rules or ipsets do
//! not match the policies. A drop anywhere else (a route, a firewall) is
//! another fault with its own finding, so it is not reported here.

use std::collections::BTreeMap;

use cnictl_dataplane::Dataplane;
use cnictl_model::ClusterSnapshot;

use super::policy::{pair_text, Disagreement};
use super::Out;
use crate::code::Code;
use crate::explain::{self, ExplainRequest};
use crate::finding::Severity;
use crate::policy::{DataplaneVerdict, PolicyMatrix};

pub(crate) const CODE: Code = Code::PolicyDrift;
const EVIDENCE_MAX: usize = 10;

pub(crate) fn check(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    m: &PolicyMatrix,
    cells: &[Disagreement],
    out: &mut Out,
) {
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let dropped = cells
        .iter()
        .filter(|d| m.cell(d.probe, d.src, d.dst).dataplane == DataplaneVerdict::Dropped);
    for d in dropped {
        if let Some((node, rule)) = policy_drop(snap, dp, m, d) {
            by_node
                .entry(node)
                .or_default()
                .push(format!("{}: dropped by {rule}", pair_text(m, d)));
        }
    }
    for (node, pairs) in by_node {
        let summary = format!(
            "{} pod connections the NetworkPolicies allow are dropped by a policy rule on {node}",
            pairs.len()
        );
        let evidence = pairs.into_iter().take(EVIDENCE_MAX).collect();
        out.push(
            CODE,
            Severity::Warning,
            Some(&node),
            summary,
            evidence,
            CODE.info().hint.to_string(),
        );
    }
}

/// The drop's node and rule when a policy agent's chain dropped the pair.
fn policy_drop(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    m: &PolicyMatrix,
    d: &Disagreement,
) -> Option<(String, String)> {
    let probe = &m.results[d.probe].probe;
    let mut req = ExplainRequest::new(m.pod_key(d.src), m.pod_key(d.dst));
    req.port = probe.port;
    req.proto = match probe.protocol.as_deref() {
        Some("UDP") => Some(cnictl_dataplane::Proto::Udp),
        Some("TCP") => Some(cnictl_dataplane::Proto::Tcp),
        _ => None,
    };
    let ex = explain::explain(snap, dp, &req).ok()?;
    if !explain::policy::policy_drop(&ex) {
        return None;
    }
    let drop = ex.drop.as_ref()?;
    let hop = ex.hops.iter().find(|h| h.index == drop.hop)?;
    let nf = hop.netfilter.as_ref()?;
    // The rule as iptables-save prints it, so explain attaches this
    // finding to the drop that names the same rule.
    let chain = format!("{} {} chain {}", nf.family, nf.table, nf.chain);
    let rule = nf
        .rule
        .as_ref()
        .map_or(chain, |r| format!("{} {}: {r}", nf.family, nf.table));
    Some((drop.node.clone(), rule))
}
