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
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}
