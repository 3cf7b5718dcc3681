//! The aggregator's memory of its agents: who is up, who stopped
//! answering (and since when), their last good snapshots, and the
//! `agent-unreachable` findings that follow.

use std::collections::BTreeMap;

use cnictl_analyzers::finding::{Finding, Severity};
use futures::StreamExt;
use serde::Serialize;

use super::pull::{Pulled, Puller, Stored};
use crate::metrics::AggregatorMetrics;
use crate::util::unix_now;

/// One agent as the aggregator last saw it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStatus {
    pub target: String,
    /// The node it reported (or discovery said) it runs on.
    pub node: Option<String>,
    /// `up` or `unreachable`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Bounded error code of the last failure (`connect`, `timeout`,
    /// `http_401`, `decode`…).
    pub last_error: Option<String>,
    pub last_error_message: Option<String>,
    /// Unix seconds of the last successful pull.
    pub last_success: Option<f64>,
    #[serde(skip)]
    etag: Option<String>,
    #[serde(skip)]
    pub(super) stored: Option<Stored>,
}

impl AgentStatus {
    /// Unix seconds of the agent's last collection, as it reported it.
    pub fn collected_at(&self) -> Option<f64> {
        super::unix_secs(self.stored.as_ref()?.collected_at.as_deref()?)
    }

    pub(super) fn new(target: String, node: Option<String>) -> Self {
        AgentStatus {
            target,
            node,
            state: "unreachable",
            consecutive_failures: 0,
            last_error: None,
            last_error_message: None,
            last_success: None,
            etag: None,
            stored: None,
        }
    }
}

/// The aggregator's memory: every agent, keyed by target.
#[derive(Default)]
pub struct Agents {
    pub(super) by_target: BTreeMap<String, AgentStatus>,
}

/// What one round changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundSummary {
    pub up: usize,
    pub unreachable: usize,
    pub changed: usize,
    /// Agents that changed state (up ↔ unreachable) or appeared/left.
    pub transitions: usize,
}

impl Agents {
    /// Makes the known set equal `targets` (discovery result), keeping what
    /// is known about agents that stay.
    pub fn reconcile(&mut self, targets: Vec<(String, Option<String>)>) -> usize {
        let before = self.by_target.len();
        let mut next = BTreeMap::new();
        let mut kept = 0;
        for (target, node) in targets {
            let status = match self.by_target.remove(&target) {
                Some(s) => {
                    kept += 1;
                    s
                }
                None => AgentStatus::new(target.clone(), node),
            };
            next.insert(target, status);
        }
        let added = next.len() - kept;
        self.by_target = next;
        (before - kept) + added
    }

    /// Pulls every agent, `concurrency` at a time.
    pub async fn pull_round(
        &mut self,
        puller: &Puller,
        concurrency: usize,
        metrics: Option<&AggregatorMetrics>,
    ) -> RoundSummary {
        let jobs: Vec<(String, Option<String>)> = self
            .by_target
            .values()
            .map(|a| (a.target.clone(), a.etag.clone()))
            .collect();
        let results: Vec<(String, Pulled)> = futures::stream::iter(jobs)
            .map(|(target, etag)| async move {
                let pulled = puller.pull(&target, etag.as_deref()).await;
                (target, pulled)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut summary = RoundSummary::default();
        let now = unix_now();
        for (target, pulled) in results {
            if let Some(agent) = self.by_target.get_mut(&target) {
                apply(agent, pulled, now, &mut summary, metrics);
            }
        }
        summary
    }

    /// Every agent's status, sorted by target.
    pub fn statuses(&self) -> Vec<AgentStatus> {
        self.by_target.values().cloned().collect()
    }

    /// The latest snapshot of every node that ever answered (stale ones
    /// included), unparsed, with its node name. Cheap: the bytes are shared.
    pub fn stored(&self) -> Vec<(String, Stored)> {
        self.by_target
            .values()
            .filter_map(|a| Some((a.node.clone()?, a.stored.clone()?)))
            .collect()
    }

    /// `agent-unreachable` findings, one per agent that did not answer.
    pub fn findings(&self) -> Vec<Finding> {
        self.by_target
            .values()
            .filter(|a| a.state != "up")
            .map(unreachable_finding)
            .collect()
    }
}

pub(super) fn apply(
    agent: &mut AgentStatus,
    pulled: Pulled,
    now: f64,
    summary: &mut RoundSummary,
    metrics: Option<&AggregatorMetrics>,
) {
    let was_up = agent.state == "up";
    if matches!(pulled, Pulled::Changed(..)) {
        summary.changed += 1;
    }
    let result = record(agent, pulled, now);
    if let Some(m) = metrics {
        m.pull(result);
    }
    let up = agent.state == "up";
    if up {
        summary.up += 1;
    } else {
        summary.unreachable += 1;
    }
    if was_up != up {
        summary.transitions += 1;
    }
    // Found again, or lost (once: also an agent that never answered).
    if (up && !was_up) || (!up && agent.consecutive_failures == 1) {
        log_transition(agent, up);
    }
}

/// An agent lost (with why) or found again.
fn log_transition(agent: &AgentStatus, up: bool) {
    let node = agent.node.as_deref().unwrap_or("");
    if up {
        tracing::info!(target_addr = %agent.target, node, "agent reachable");
    } else {
        tracing::warn!(
            target_addr = %agent.target,
            node,
            error_code = agent.last_error.as_deref().unwrap_or(""),
            error = agent.last_error_message.as_deref().unwrap_or(""),
            "agent unreachable"
        );
    }
}

/// Updates the agent from one pull; the pull's result code.
fn record(agent: &mut AgentStatus, pulled: Pulled, now: f64) -> &'static str {
    match pulled {
        Pulled::Changed(etag, node, stored) => {
            agent.etag = (!etag.is_empty()).then_some(etag);
            agent.node = Some(node);
            agent.stored = Some(stored);
            mark_up(agent, now);
            "ok"
        }
        Pulled::NotModified(collected_at) => {
            if let (Some(s), Some(t)) = (agent.stored.as_mut(), collected_at) {
                s.collected_at = Some(t);
            }
            mark_up(agent, now);
            "not_modified"
        }
        Pulled::Failed(code, message) => {
            agent.state = "unreachable";
            agent.consecutive_failures = agent.consecutive_failures.saturating_add(1);
            agent.last_error = Some(code.to_string());
            agent.last_error_message = Some(message);
            code
        }
    }
}

fn mark_up(agent: &mut AgentStatus, now: f64) {
    agent.state = "up";
    agent.consecutive_failures = 0;
    agent.last_error = None;
    agent.last_error_message = None;
    agent.last_success = Some(now);
}

fn unreachable_finding(a: &AgentStatus) -> Finding {
    let node = a.node.clone();
    let stale = if a.stored.is_some() {
        "its last good snapshot is still shown (stale)"
    } else {
        "the node has never been collected"
    };
    Finding {
        code: cnictl_analyzers::Code::AgentUnreachable,
        severity: Severity::Warning,
        node: node.clone(),
        summary: format!(
            "the cnictl agent at {} ({}) did not answer {} pull(s) in a row: {stale}",
            a.target,
            node.as_deref().unwrap_or("unknown node"),
            a.consecutive_failures
        ),
        evidence: vec![format!(
            "{}: {}",
            a.last_error.as_deref().unwrap_or("error"),
            a.last_error_message.as_deref().unwrap_or("")
        )],
        hint: unreachable_hint(a),
        peers: Vec::new(),
    }
}

/// Where to look: the agent pod on that node, and its port.
fn unreachable_hint(a: &AgentStatus) -> String {
    format!(
        "kubectl -n <namespace> get pods -o wide --field-selector spec.nodeName={} (is the agent running and its port {} reachable from the aggregator?)",
        a.node.as_deref().unwrap_or("<node>"),
        a.target.rsplit(':').next().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::super::pull::http_code;
    use super::*;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use cnictl_model::NodeSnapshot;

    fn agents(targets: &[&str]) -> Agents {
        let mut a = Agents::default();
        a.reconcile(targets.iter().map(|t| (t.to_string(), None)).collect());
        a
    }

    fn node(name: &str) -> Stored {
        let n = NodeSnapshot {
            name: name.to_string(),
            ..NodeSnapshot::default()
        };
        Stored {
            bytes: Bytes::from(serde_json::to_vec(&n).unwrap_or_default()),
            gzip: false,
            collected_at: Some("2026-01-01T00:00:00Z".into()),
        }
    }

    #[test]
    fn failure_keeps_the_last_snapshot_and_reports_it() {
        let mut a = agents(&["10.0.0.1:9641"]);
        let mut s = RoundSummary::default();
        let agent = a.by_target.get_mut("10.0.0.1:9641").expect("agent");
        apply(
            agent,
            Pulled::Changed("\"e1\"".into(), "node-1".into(), node("node-1")),
            1.0,
            &mut s,
            None,
        );
        assert_eq!((s.up, s.changed, s.transitions), (1, 1, 1));
        let mut s = RoundSummary::default();
        let agent = a.by_target.get_mut("10.0.0.1:9641").expect("agent");
        apply(
            agent,
            Pulled::Failed("timeout", "no answer".into()),
            2.0,
            &mut s,
            None,
        );
        assert_eq!((s.up, s.unreachable, s.transitions), (0, 1, 1));
        assert_eq!(a.stored().len(), 1, "the stale snapshot stays");
        let f = a.findings();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "agent-unreachable");
        assert_eq!(f[0].node.as_deref(), Some("node-1"));
        assert!(f[0].summary.contains("stale"), "{}", f[0].summary);
        assert_eq!(f[0].evidence, vec!["timeout: no answer".to_string()]);
        let agent = a.by_target.get_mut("10.0.0.1:9641").expect("agent");
        apply(
            agent,
            Pulled::NotModified(Some("2026-01-01T00:01:00Z".into())),
            3.0,
            &mut RoundSummary::default(),
            None,
        );
        assert!(a.findings().is_empty());
        let (_, s) = &a.stored()[0];
        assert_eq!(
            s.collected_at.as_deref(),
            Some("2026-01-01T00:01:00Z"),
            "a 304 renews the collection time"
        );
    }

    #[test]
    fn reconcile_keeps_known_agents_and_counts_changes() {
        let mut a = agents(&["a:1", "b:1"]);
        let agent = a.by_target.get_mut("a:1").expect("agent");
        apply(
            agent,
            Pulled::Changed(String::new(), "node-a".into(), node("node-a")),
            1.0,
            &mut RoundSummary::default(),
            None,
        );
        let changed = a.reconcile(vec![
            ("a:1".into(), None),
            ("c:1".into(), Some("node-c".into())),
        ]);
        assert_eq!(changed, 2, "b left, c arrived");
        let names: Vec<String> = a.stored().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["node-a"]);
        assert_eq!(
            a.reconcile(vec![("a:1".into(), None), ("c:1".into(), None)]),
            0
        );
    }

    #[test]
    fn http_failures_have_bounded_codes() {
        assert_eq!(http_code(StatusCode::UNAUTHORIZED), "http_401");
        assert_eq!(http_code(StatusCode::BAD_GATEWAY), "http_5xx");
        assert_eq!(http_code(StatusCode::IM_A_TEAPOT), "http_other");
    }
}
