//! Check: policy-not-enforced
//!
//! The NetworkPolicies deny a connection between two pods (the source's
//! egress or the destination's ingress), yet the reference dataplane
//! delivers its first packet: nothing on the path enforces the policy.
//! One finding per node that should have enforced it (the destination's
//! node for an ingress denial, the source's for an egress denial), listing
//! the pairs. An intended denial that the dataplane enforces is no finding.

use std::collections::BTreeMap;

use super::policy::{node_of, pair_text, Disagreement};
use super::Out;
use crate::code::Code;
use crate::finding::Severity;
use crate::policy::{DataplaneVerdict, PolicyMatrix};

pub(crate) const CODE: Code = Code::PolicyNotEnforced;
const EVIDENCE_MAX: usize = 10;

pub(crate) fn check(m: &PolicyMatrix, cells: &[Disagreement], out: &mut Out) {
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in cells.iter().filter(|d| delivered(m, d)) {
        let v = m.pair(d.probe, d.src, d.dst);
        let enforcer = if v.ingress.allowed { d.src } else { d.dst };
        let node = node_of(m, enforcer).unwrap_or("?").to_string();
        let side = if v.ingress.allowed {
            &v.egress
        } else {
            &v.ingress
        };
        let line = format!(
            "{}: denied by {}",
            pair_text(m, d),
            side.selected_by.join(", ")
        );
        by_node.entry(node).or_default().push(line);
    }
    for (node, pairs) in by_node {
        let summary = format!("{} pod connections the NetworkPolicies deny are delivered: the policy is not enforced on {node}", pairs.len());
        let evidence = pairs.into_iter().take(EVIDENCE_MAX).collect();
        let info = CODE.info();
        out.push(
            CODE,
            Severity::Error,
            Some(&node),
            summary,
            evidence,
            info.hint.to_string(),
        );
    }
}

fn delivered(m: &PolicyMatrix, d: &Disagreement) -> bool {
    m.cell(d.probe, d.src, d.dst).dataplane == DataplaneVerdict::Delivered
}
