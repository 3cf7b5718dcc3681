//! Netfilter in an explanation: every hook the packet passed and what its
//! rules did (`netfilter` in the JSON, `--verbose` in text), and the
//! `unknown` verdict's object when a rule could not be evaluated.

use cnictl_dataplane::{Dataplane, Disposition, HookEval, NfRuleText, Trace};
use serde::Serialize;

/// One rule evaluated at a hook, and whether it matched (`None`: it could
/// not be evaluated but could not change the path either, e.g. a LOG rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleJson {
    #[serde(flatten)]
    pub rule: NfRuleText,
    pub matched: Option<bool>,
}

/// One netfilter hook the packet passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookJson {
    /// The hop (1-based, in `hops`) the hook follows.
    pub after_hop: usize,
    pub node: String,
    pub netns: Option<String>,
    pub hook: &'static str,
    /// accept | drop | reject | unknown | not-collected | not-evaluated.
    pub verdict: &'static str,
    /// Every rule evaluated, in order (with `--verbose`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated: Option<Vec<RuleJson>>,
}

/// Where and why the verdict is `unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownInfo {
    /// The hop (in `hops`) where the answer stops being known.
    pub hop: usize,
    pub node: String,
    /// What could not be evaluated and what would decide it.
    pub reason: String,
}

/// The hooks of `trace` as JSON; `verbose` keeps the rules evaluated.
pub(crate) fn hooks_json(dp: &Dataplane, t: &Trace, base: usize, verbose: bool) -> Vec<HookJson> {
    let one = |e| hook_json(dp, e, base, verbose);
    t.netfilter.iter().map(one).collect()
}

fn hook_json(dp: &Dataplane, e: &HookEval, base: usize, verbose: bool) -> HookJson {
    let pod = dp.ns_pod(e.ns);
    HookJson {
        after_hop: base + e.after_hop,
        node: dp.node_name(dp.ns_node(e.ns)).to_string(),
        netns: pod.map(|p| dp.pod_key(p).to_string()),
        hook: e.hook.ip_hook_name(),
        verdict: hook_verdict(dp, e),
        evaluated: e
            .evaluated
            .as_ref()
            .filter(|_| verbose)
            .map(|v| rules_json(dp, e, v)),
    }
}

fn hook_verdict(dp: &Dataplane, e: &HookEval) -> &'static str {
    match (&e.evaluated, e.action) {
        (None, _) if dp.ns_pod(e.ns).is_some() => "not-evaluated",
        (None, _) => "not-collected",
        (Some(_), None) => "accept",
        (Some(_), Some(a)) => a.as_str(),
    }
}

fn rules_json(
    dp: &Dataplane,
    e: &HookEval,
    visits: &[cnictl_dataplane::nf::Visit],
) -> Vec<RuleJson> {
    visits
        .iter()
        .filter_map(|v| {
            Some(RuleJson {
                rule: dp.nf_rule_text(e.ns, v.rule)?,
                matched: v.matched,
            })
        })
        .collect()
}

/// The `unknown` object of a trace that ended `unknown`.
pub(crate) fn unknown_info(dp: &Dataplane, trace: &Trace, base: usize) -> Option<UnknownInfo> {
    if !matches!(
        trace.disposition,
        Disposition::Unknown | Disposition::InsufficientInfo
    ) {
        return None;
    }
    let last = trace.hops.last()?;
    let reason = match trace.notes.first() {
        Some(n) => n.clone(),
        None => format!(
            "{}: collect it (README \"Bundles\") and explain again",
            dp.reason_text(trace.reason)
        ),
    };
    Some(UnknownInfo {
        hop: base + trace.hops.len(),
        node: dp.node_name(dp.ns_node(last.ns)).to_string(),
        reason,
    })
}

/// Nodes on the path whose netfilter rules were not collected: their
/// verdicts assume no rules, which the user must know.
pub(crate) fn not_collected_note(dp: &Dataplane, trace: &Trace) -> Option<String> {
    let mut nodes: Vec<&str> = trace
        .netfilter
        .iter()
        .filter(|e| e.evaluated.is_none() && dp.ns_pod(e.ns).is_none())
        .map(|e| dp.node_name(dp.ns_node(e.ns)))
        .collect();
    nodes.dedup();
    nodes.sort_unstable();
    nodes.dedup();
    (!nodes.is_empty()).then(|| {
        format!(
            "netfilter rules not collected on {}: their hooks are assumed to accept (collect iptables-save.txt / nft-ruleset.json)",
            nodes.join(", ")
        )
    })
}
