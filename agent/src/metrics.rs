//! The agent's and the aggregator's own metrics (prometheus-client, typed
//! label sets over bounded sets: result and error codes as static strings,
//! severities and agent states as enums, finding codes — never a node or
//! peer name, so an agent's series count does not grow with the cluster).

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::auth::Verdict;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    code: String,
    severity: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: AgentState,
}

/// An agent as the aggregator counts it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum AgentState {
    Up,
    Unreachable,
}

impl EncodeLabelValue for AgentState {
    fn encode(&self, enc: &mut LabelValueEncoder) -> std::fmt::Result {
        let name = match self {
            AgentState::Up => "up",
            AgentState::Unreachable => "unreachable",
        };
        std::fmt::Write::write_str(enc, name)
    }
}

/// Node-level metrics of `cnictl agent`.
pub struct AgentMetrics {
    registry: Registry,
    collections: Family<ResultLabels, Counter>,
    collect_errors: Family<ErrorLabels, Counter>,
    duration: Gauge<f64, AtomicU64>,
    last_success: Gauge<f64, AtomicU64>,
    findings: Family<FindingLabels, Gauge>,
    netlink: Counter,
    auth: Family<ResultLabels, Counter>,
    k8s_errors: Family<ErrorLabels, Counter>,
    /// Serializes findings updates (clear + set) against rendering.
    lock: Mutex<()>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        let mut m = AgentMetrics {
            collections: Family::default(),
            collect_errors: Family::default(),
            duration: Gauge::default(),
            last_success: Gauge::default(),
            findings: Family::default(),
            netlink: Counter::default(),
            auth: Family::default(),
            k8s_errors: Family::default(),
            lock: Mutex::new(()),
            registry: Registry::default(),
        };
        m.register_collection();
        m.register_inputs();
        m
    }
}

impl AgentMetrics {
    /// The collection's series: results, errors, timing, findings.
    fn register_collection(&mut self) {
        let r = &mut self.registry;
        let collections = self.collections.clone();
        r.register(
            "cnictl_agent_collections",
            "Node collections by result",
            collections,
        );
        let errors = self.collect_errors.clone();
        r.register(
            "cnictl_agent_collect_errors",
            "Failed collections by error code",
            errors,
        );
        r.register(
            "cnictl_agent_collect_duration_seconds",
            "Duration of the last successful collection and checks",
            self.duration.clone(),
        );
        r.register(
            "cnictl_agent_last_success_timestamp_seconds",
            "Unix time of the last successful collection",
            self.last_success.clone(),
        );
        let findings = self.findings.clone();
        r.register(
            "cnictl_agent_findings",
            "Findings on this node by code and severity",
            findings,
        );
    }

    /// What the agent hears: netlink, API callers, the expected state.
    fn register_inputs(&mut self) {
        let r = &mut self.registry;
        let netlink = self.netlink.clone();
        r.register(
            "cnictl_agent_netlink_events",
            "Netlink notification datagrams received",
            netlink,
        );
        let auth = self.auth.clone();
        r.register(
            "cnictl_agent_auth_requests",
            "API requests by authentication result",
            auth,
        );
        r.register(
            "cnictl_agent_k8s_errors",
            "Failed reads of the expected state by error code",
            self.k8s_errors.clone(),
        );
    }
}

impl AgentMetrics {
    pub(crate) fn collected(&self, took: Duration, counts: &[(String, &'static str)], now: f64) {
        self.collections
            .get_or_create(&ResultLabels { result: "ok" })
            .inc();
        self.duration.set(took.as_secs_f64());
        self.last_success.set(now);
        let _guard = self.lock.lock();
        self.findings.clear();
        for (code, severity) in counts {
            self.findings
                .get_or_create(&FindingLabels {
                    code: code.clone(),
                    severity,
                })
                .inc();
        }
    }

    pub(crate) fn collect_failed(&self, code: &'static str) {
        self.collections
            .get_or_create(&ResultLabels { result: "error" })
            .inc();
        self.collect_errors
            .get_or_create(&ErrorLabels { error_code: code })
            .inc();
    }

    pub(crate) fn netlink_events(&self, n: u64) {
        self.netlink.inc_by(n);
    }

    pub(crate) fn auth(&self, verdict: Verdict) {
        self.auth
            .get_or_create(&ResultLabels {
                result: verdict.as_str(),
            })
            .inc();
    }

    pub(crate) fn k8s_failed(&self, code: &'static str) {
        self.k8s_errors
            .get_or_create(&ErrorLabels { error_code: code })
            .inc();
    }

    /// OpenMetrics text (served normalised, see `cnictl_httpkit::exposition`).
    pub fn render(&self) -> String {
        let _guard = self.lock.lock();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The aggregator's pull metrics: agents by state, pulls by result, and
/// per agent (one series per node, like the exporter's per-node gauges)
/// whether it answered and when it last collected.
pub struct AggregatorMetrics {
    registry: Registry,
    agents: Family<StateLabels, Gauge>,
    pulls: Family<ResultLabels, Counter>,
    refresh: Gauge<f64, AtomicU64>,
    agent_up: Family<AgentLabels, Gauge>,
    agent_collected: Family<AgentLabels, Gauge<f64, AtomicU64>>,
    /// Serializes the per-agent families' clear + set against rendering.
    lock: Mutex<()>,
}

/// One agent: its node (or, before it answered and without API
/// discovery, its address).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    node: String,
}

impl Default for AggregatorMetrics {
    fn default() -> Self {
        let mut m = AggregatorMetrics {
            registry: Registry::default(),
            agents: Family::default(),
            pulls: Family::default(),
            refresh: Gauge::default(),
            agent_up: Family::default(),
            agent_collected: Family::default(),
            lock: Mutex::new(()),
        };
        m.register();
        m
    }
}

impl AggregatorMetrics {
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "cnictl_aggregator_agents",
            "Agents by state (up, unreachable)",
            self.agents.clone(),
        );
        r.register(
            "cnictl_aggregator_pulls",
            "Agent pulls by result (ok, not_modified, error codes)",
            self.pulls.clone(),
        );
        r.register(
            "cnictl_aggregator_refresh_duration_seconds",
            "Duration of the last full pull of every agent",
            self.refresh.clone(),
        );
        r.register(
            "cnictl_aggregator_agent_up",
            "1 when the node's agent answered the last pull, 0 when it did not",
            self.agent_up.clone(),
        );
        r.register(
            "cnictl_aggregator_agent_collected_timestamp_seconds",
            "Unix time of the node agent's last collection (as it reported it)",
            self.agent_collected.clone(),
        );
    }

    pub(crate) fn round(&self, agents: &[crate::aggregator::AgentStatus], took: Duration) {
        let up = agents.iter().filter(|a| a.state == "up").count();
        for (state, n) in [
            (AgentState::Up, up),
            (AgentState::Unreachable, agents.len() - up),
        ] {
            self.agents
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.refresh.set(took.as_secs_f64());
        let _guard = self.lock.lock();
        self.agent_up.clear();
        self.agent_collected.clear();
        for a in agents {
            let labels = AgentLabels {
                node: a.node.clone().unwrap_or_else(|| a.target.clone()),
            };
            self.agent_up
                .get_or_create(&labels)
                .set(i64::from(a.state == "up"));
            if let Some(t) = a.collected_at() {
                self.agent_collected.get_or_create(&labels).set(t);
            }
        }
    }

    pub(crate) fn pull(&self, result: &'static str) {
        self.pulls.get_or_create(&ResultLabels { result }).inc();
    }

    /// OpenMetrics text.
    pub fn render(&self) -> String {
        let _guard = self.lock.lock();
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
