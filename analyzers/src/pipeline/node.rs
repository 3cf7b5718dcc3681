//! The node agent's part of the pipeline: one node's checks against the
//! expected state of the cluster's API objects (the rest of the cluster is
//! known only through them), without the cluster-wide checks, the
//! dataplane or the probes a whole-cluster [`super::Analysis`] runs.

use cnictl_model::{ClusterSnapshot, K8s, NodeSnapshot, SCHEMA};
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::expected::Expected;
use crate::{Finding, Skipped};

/// The findings document a node agent serves (`/api/v1/findings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub schema: String,
    pub node: String,
    pub model: String,
    pub collected_at: String,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
}

impl NodeReport {
    /// Checks `node` against the expected state of `k8s`; `collected_at`
    /// is the caller's wall-clock time of the collection (RFC 3339).
    pub fn build(k8s: &K8s, node: NodeSnapshot, collected_at: &str) -> NodeReport {
        let name = node.name.clone();
        let mut snap = ClusterSnapshot::new(format!("agent:{name}"));
        snap.collected_at = Some(collected_at.to_string());
        snap.k8s = k8s.clone();
        snap.nodes.insert(name.clone(), node);
        let exp = Expected::build(&snap);
        let (findings, skipped) = match snap.nodes.get(&name) {
            Some(n) => checks::run_node(&exp, n),
            None => (Vec::new(), Vec::new()),
        };
        NodeReport {
            schema: SCHEMA.to_string(),
            node: name,
            model: exp.model().as_str().to_string(),
            collected_at: collected_at.to_string(),
            findings,
            skipped,
        }
    }
}
