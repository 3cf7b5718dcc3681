//! Findings: the stable contract that users script against and metrics count.

use serde::{Deserialize, Serialize};

use crate::code::Code;

pub use crate::code::Severity;

/// One problem found in the dataplane. `code` is one of the documented,
/// stable finding codes (README "Finding codes"), serialized as its string; `evidence` holds the exact
/// entries involved, printed as `ip`/`bridge`/`ipvsadm`/`birdc` would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    /// The node the finding is about; `None` for cluster-wide findings.
    pub node: Option<String>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub hint: String,
    /// The other nodes the finding concerns: a BGP peer, the node whose pod
    /// CIDR a route is for, the peers a firewall rule cuts off. Root-cause
    /// grouping relates findings through it ([`crate::rootcause`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

/// A check that could not run (fully) for lack of input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The check (finding code) that was skipped.
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub reason: String,
}

/// Everything `check` reports: the `check --output json` document (README "Exit codes" and "Finding codes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub model: String,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
    /// Every finding in exactly one group: a root cause and the findings it
    /// explains (README "Root causes"). Indices into `findings`.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// What the checks do not cover for this cluster's model (e.g. Weave's
    /// router): said so a clean report is not over-read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One root cause and its consequences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Index of the root finding in the report's `findings`.
    pub root: usize,
    pub symptoms: Vec<Symptom>,
}

/// A finding explained by its group's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symptom {
    /// Index in the report's `findings`.
    pub finding: usize,
    /// How the root causes it, in a few words.
    pub because: String,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Recomputes [`Report::groups`] after the findings changed.
    pub fn regroup(&mut self) {
        self.groups = crate::rootcause::group(&self.findings);
    }

    /// How many findings are root causes (the rest are their symptoms).
    pub fn root_count(&self) -> usize {
        self.groups.len()
    }

    /// The root cause of finding `i` when it is a symptom.
    pub fn root_of(&self, i: usize) -> Option<usize> {
        let mut symptoms = self
            .groups
            .iter()
            .flat_map(|g| g.symptoms.iter().map(move |s| (s.finding, g.root)));
        symptoms.find(|&(f, _)| f == i).map(|(_, root)| root)
    }

    /// Keeps the findings `keep` accepts, remapping the groups: a kept
    /// symptom whose root was dropped becomes a root of its own.
    pub fn retain(&mut self, keep: impl Fn(&Finding) -> bool) {
        let kept: Vec<bool> = self.findings.iter().map(&keep).collect();
        let new_index = renumber(&kept);
        self.groups = std::mem::take(&mut self.groups)
            .into_iter()
            .flat_map(|g| regroup_kept(g, &new_index))
            .collect();
        self.groups.sort_by_key(|g| g.root);
        let mut flags = kept.into_iter();
        self.findings.retain(|_| flags.next().unwrap_or(false));
    }
}

/// Old index → new index for the kept entries.
fn renumber(kept: &[bool]) -> Vec<Option<usize>> {
    let mut next = 0;
    let mut out = Vec::with_capacity(kept.len());
    for &k in kept {
        out.push(k.then_some(next));
        next += usize::from(k);
    }
    out
}

/// One group after filtering: itself renumbered, or its kept symptoms
/// as roots of their own when the root went.
fn regroup_kept(g: Group, new_index: &[Option<usize>]) -> Vec<Group> {
    let symptoms = g
        .symptoms
        .into_iter()
        .filter_map(|s| new_index[s.finding].map(|finding| Symptom { finding, ..s }));
    match new_index[g.root] {
        Some(root) => vec![Group {
            root,
            symptoms: symptoms.collect(),
        }],
        None => symptoms
            .map(|s| Group {
                root: s.finding,
                symptoms: Vec::new(),
            })
            .collect(),
    }
}
