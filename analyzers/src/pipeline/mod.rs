//! The analysis pipeline: everything cnictl knows about one snapshot, built
//! once and then only read. The CLI, the exporter, the aggregator and the
//! node agent all go through it, so a question asked of `cnictl explain`
//! and of `/api/v1/explain` gets the same document.
//!
//! Each stage runs once per snapshot: model inference (inside the expected
//! state), the expected state, the checks, the reference dataplane. The
//! pairwise reachability probes and the node summaries are computed on
//! first use (a one-shot `cnictl explain` never pays for N² probes; the
//! exporter asks for them in its background task, see [`Analysis::warm`]).
//!
//! Pure like the rest of the crate: no clock. Shells that report how long
//! an analysis took, or when it finished, measure it themselves and keep
//! the numbers beside the value.

mod node;
mod summary;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cnictl_dataplane::Dataplane;
use cnictl_model::ClusterSnapshot;

use crate::expected::{Expected, NodeExpect};
use crate::explain::{self, ExplainError, ExplainRequest, Explanation};
use crate::infer::Inference;
use crate::reach::{self, Reachability};
use crate::{checks, hints, Finding, Report};

pub use node::NodeReport;
pub use summary::{NodeCounts, NodeSummary, SeverityCounts};

/// At most this many failing node pairs are listed (metrics and API); the
/// per-node counts stay exact.
pub const FAILING_PAIRS_CAP: usize = 50;

/// The result of analysing one snapshot.
#[derive(Debug)]
pub struct Analysis {
    snapshot: Arc<ClusterSnapshot>,
    inference: Inference,
    /// The expected state's per-node part (what the summaries show).
    expected: Vec<NodeExpect>,
    report: Report,
    dataplane: Dataplane,
    /// Node name → indices into `report.findings`.
    node_findings: HashMap<String, Vec<usize>>,
    /// Reachability and the summaries built on it, on first use.
    derived: OnceLock<Derived>,
}

/// What is computed on first use.
#[derive(Debug)]
struct Derived {
    reachability: Reachability,
    /// One per node (dump or `nodes.json`), sorted by name.
    nodes: Vec<NodeSummary>,
    /// Node name → index into `nodes`.
    node_index: HashMap<String, usize>,
}

impl Analysis {
    /// Analyses a snapshot: expected state (with model inference), checks
    /// and the reference dataplane.
    pub fn new(snapshot: Arc<ClusterSnapshot>) -> Analysis {
        Analysis::with_findings(snapshot, Vec::new())
    }

    /// [`Analysis::new`] plus findings the caller knows of that no check
    /// can see in a snapshot (the aggregator's `agent-unreachable`), so
    /// they are served, filtered and counted like every other finding.
    pub fn with_findings(snapshot: Arc<ClusterSnapshot>, extra: Vec<Finding>) -> Analysis {
        let (inference, expected, mut report) = check(&snapshot, extra);
        let dataplane = dataplane(&snapshot, &inference);
        checks::run_dataplane(&snapshot, &dataplane, &mut report);
        let node_findings = index_findings(&report.findings);
        Analysis {
            snapshot,
            inference,
            expected,
            report,
            dataplane,
            node_findings,
            derived: OnceLock::new(),
        }
    }

    /// Computes what is otherwise computed on first use (reachability,
    /// node summaries), so later readers never wait for it.
    pub fn warm(&self) -> &Self {
        self.derived();
        self
    }

    pub fn snapshot(&self) -> &Arc<ClusterSnapshot> {
        &self.snapshot
    }

    pub fn inference(&self) -> &Inference {
        &self.inference
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    pub fn dataplane(&self) -> &Dataplane {
        &self.dataplane
    }

    /// The cluster's model name (`check`'s `model`).
    pub fn model(&self) -> &str {
        &self.report.model
    }

    pub fn reachability(&self) -> &Reachability {
        &self.derived().reachability
    }

    /// One summary per node (dump or `nodes.json`), sorted by name.
    pub fn nodes(&self) -> &[NodeSummary] {
        &self.derived().nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeSummary> {
        let d = self.derived();
        d.node_index.get(name).map(|&i| &d.nodes[i])
    }

    /// The findings about one node (cluster-wide ones excluded).
    pub fn findings_of<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.node_findings
            .get(node)
            .into_iter()
            .flatten()
            .map(|&i| &self.report.findings[i])
    }

    pub fn counts_by_severity(&self) -> SeverityCounts {
        let mut c = SeverityCounts::default();
        for f in &self.report.findings {
            c.add(f.severity);
        }
        c
    }

    /// Explains one path through the reference dataplane. A drop carries
    /// the `check` finding that names the same fault, so every shell
    /// returns the same document (README "Explain").
    pub fn explain(&self, req: &ExplainRequest) -> Result<Explanation, ExplainError> {
        let mut ex = explain::explain(&self.snapshot, &self.dataplane, req)?;
        self.attach_finding(&mut ex);
        Ok(ex)
    }

    /// The finding about the drop (`explain::matching_finding`), on the
    /// way out and on the way back (`--reverse`). A drop on a node without
    /// a dump gets none: no check ran there.
    fn attach_finding(&self, ex: &mut Explanation) {
        if let Some(back) = ex.reverse.as_deref_mut() {
            self.attach_finding(back);
        }
        let collected = |d: &explain::DropInfo| self.snapshot.nodes.contains_key(&d.node);
        let findings = &self.report.findings;
        let found = ex
            .drop
            .as_ref()
            .filter(|d| collected(d))
            .and(explain::matching_finding(ex, findings))
            .and_then(|f| findings.iter().position(|g| std::ptr::eq(f, g)));
        if let Some(d) = ex.drop.as_mut() {
            d.finding = found.map(|i| findings[i].clone());
            d.root_cause = found.and_then(|i| explain::root_cause_in(&self.report, i));
        }
    }

    fn derived(&self) -> &Derived {
        self.derived.get_or_init(|| {
            let reachability = reach::node_pairs(&self.dataplane, FAILING_PAIRS_CAP);
            let nodes = summary::summarize(self, &reachability);
            let node_index = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect();
            Derived {
                reachability,
                nodes,
                node_index,
            }
        })
    }
}

/// The expected state (inference included) and the checks against it,
/// plus the caller's extra findings in the report's order.
fn check(snap: &ClusterSnapshot, extra: Vec<Finding>) -> (Inference, Vec<NodeExpect>, Report) {
    let exp = Expected::build(snap);
    let mut report = checks::run_expected(&exp, snap);
    if !extra.is_empty() {
        report.findings.extend(extra);
        checks::sort_findings(&mut report.findings);
        report.regroup();
    }
    (exp.inference, exp.nodes, report)
}

/// The one place the reference dataplane is compiled for an analysis, with
/// the hints the inferred CNI model gives it.
fn dataplane(snap: &ClusterSnapshot, inference: &Inference) -> Dataplane {
    hints::dataplane_inferred(snap, inference)
}

fn index_findings(findings: &[Finding]) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        if let Some(n) = &f.node {
            out.entry(n.clone()).or_default().push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_gen::{generate, GenModel, GenSpec};

    fn analysis(nodes: usize) -> Analysis {
        let spec = GenSpec::new(GenModel::FlannelVxlan, nodes);
        Analysis::new(Arc::new(generate(&spec).expect("generate")))
    }

    #[test]
    fn one_value_answers_every_shell() {
        let a = analysis(4);
        assert_eq!(a.nodes().len(), 4);
        assert_eq!(a.model(), a.inference().model.as_str());
        assert_eq!(a.reachability().failing_total, 0);
        assert!(a.node("node-1").is_some_and(|n| n.has_dump));
        assert_eq!(a.counts_by_severity().error, 0);
    }

    #[test]
    fn explain_attaches_the_finding_of_the_drop() {
        let spec = GenSpec::new(GenModel::FlannelVxlan, 3);
        let mut snap = generate(&spec).expect("generate");
        let node = snap.nodes.get_mut("node-1").expect("node-1");
        node.fdb = Some(Vec::new());
        let a = Analysis::new(Arc::new(snap));
        let pods: Vec<String> = a
            .snapshot()
            .k8s
            .pods
            .iter()
            .filter(|p| !p.host_network && p.node.as_deref() != Some("node-1"))
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        let src = a
            .snapshot()
            .k8s
            .pods
            .iter()
            .find(|p| !p.host_network && p.node.as_deref() == Some("node-1"))
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .expect("a pod on node-1");
        let ex = a
            .explain(&ExplainRequest::new(&src, &pods[0]))
            .expect("explains");
        let drop = ex.drop.expect("dropped without an FDB");
        let finding = drop.finding.expect("finding attached");
        assert_eq!(Some(finding.code), drop.code);
    }
}
