//! Check: cni-model-mixed
//!
//! All nodes of a cluster must run the same dataplane model: a VXLAN node
//! and a host-gw node (or Calico and Flannel) program incompatible routes
//! for each other, so pods across the two groups may not reach each other.
//! Nodes whose model is unknown do not count. Warning (a migration can be
//! deliberate); the route checks say which pairs actually break.

use std::collections::BTreeMap;

use cnictl_model::ClusterSnapshot;

use super::Out;
use crate::code::Code;
use crate::expected::Expected;
use crate::finding::Severity;
use crate::infer::{CniModel, NodeModel};

pub(crate) const CODE: Code = Code::CniModelMixed;

pub(crate) fn check(exp: &Expected<'_>, _snap: &ClusterSnapshot, out: &mut Out) {
    if exp.model() != CniModel::Mixed {
        return;
    }
    let known: Vec<&NodeModel> = exp
        .inference
        .per_node
        .iter()
        .filter(|n| n.model != CniModel::Unknown)
        .collect();
    let summary = format!(
        "nodes run different CNI models: {}",
        groups(&known).join(", ")
    );
    let evidence = known.iter().map(|n| node_evidence(n)).collect();
    out.push(
        CODE,
        Severity::Warning,
        None,
        summary,
        super::render::capped(evidence, 20),
        HINT.into(),
    );
}

const HINT: &str = "run one CNI configuration on every node (one file in /etc/cni/net.d, one backend in the CNI's ConfigMap), then restart its agent on the odd nodes";

/// `flannel-vxlan (2 nodes: node-1, node-2)` per model.
fn groups(known: &[&NodeModel]) -> Vec<String> {
    let mut groups: BTreeMap<CniModel, Vec<&str>> = BTreeMap::new();
    for n in known {
        groups.entry(n.model).or_default().push(&n.node);
    }
    groups.iter().map(|(m, ns)| group(*m, ns)).collect()
}

/// `flannel-vxlan (2 nodes: node-1, node-2)`.
fn group(m: CniModel, ns: &[&str]) -> String {
    let plural = if ns.len() == 1 { "" } else { "s" };
    format!("{m} ({} node{plural}: {})", ns.len(), first(ns))
}

fn node_evidence(n: &NodeModel) -> String {
    format!(
        "node/{} model {}: {}",
        n.node,
        n.model,
        n.evidence.join("; ")
    )
}

fn first(ns: &[&str]) -> String {
    let mut s = ns.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if ns.len() > 5 {
        s.push_str(", …");
    }
    s
}
