//! The NetworkPolicy pass shared by policy-not-enforced and policy-drift:
//! every ordered pod pair, for every (protocol, port) the policies name,
//! through the intent evaluator and the reference dataplane (the matrix
//! of `cnictl matrix`), and the cells where the two disagree. It needs the
//! engine, so the analysis pipeline runs it once the dataplane is built.
//!
//! Cost: pods² × probes first-packet traces, so it runs up to
//! [`MAX_PODS`] policed pods and is skipped above (the matrix command
//! answers any size on demand).

use cnictl_dataplane::Dataplane;
use cnictl_model::ClusterSnapshot;

use super::{policy_drift, policy_not_enforced, Out};
use crate::code::Code;
use crate::policy::{self, PolicyMatrix};

pub(crate) const MAX_PODS: usize = 400;

/// One disagreeing cell: source and destination pod indices, the probe.
pub(crate) struct Disagreement {
    pub src: usize,
    pub dst: usize,
    pub probe: usize,
}

/// Runs both policy checks on `snap` through `dp`.
pub(crate) fn run(snap: &ClusterSnapshot, dp: &Dataplane, out: &mut Out) {
    if snap.k8s.network_policies.is_none() || snap.nodes.is_empty() {
        return;
    }
    let policed = snap.k8s.pods.iter().filter(|p| !p.host_network).count();
    if policed > MAX_PODS {
        for code in [Code::PolicyNotEnforced, Code::PolicyDrift] {
            let why = format!("{policed} pods: over the {MAX_PODS}-pod bound of the pairwise policy comparison (cnictl matrix answers it)");
            out.skip(code, None, why);
        }
        return;
    }
    let probes = policy::probes(&snap.k8s);
    let Some(m) = policy::build(&snap.k8s, Some(dp), probes) else {
        return;
    };
    let cells = disagreements(&m);
    policy_not_enforced::check(&m, &cells, out);
    policy_drift::check(snap, dp, &m, &cells, out);
}

fn disagreements(m: &PolicyMatrix) -> Vec<Disagreement> {
    let n = m.pod_count();
    let mut out = Vec::new();
    for probe in 0..m.results.len() {
        for src in 0..n {
            for dst in (0..n).filter(|&d| d != src) {
                if m.cell(probe, src, dst).disagrees() {
                    out.push(Disagreement { src, dst, probe });
                }
            }
        }
    }
    out
}

/// `ns/a → ns/b (TCP 8080)` for evidence lines.
pub(crate) fn pair_text(m: &PolicyMatrix, d: &Disagreement) -> String {
    let probe = m.results[d.probe].probe.label();
    format!("{} → {} ({probe})", m.pod_key(d.src), m.pod_key(d.dst))
}

/// The node a pod runs on, for grouping findings.
pub(crate) fn node_of<'a>(m: &'a PolicyMatrix, pod: usize) -> Option<&'a str> {
    m.index.pods()[pod].node.as_deref()
}
