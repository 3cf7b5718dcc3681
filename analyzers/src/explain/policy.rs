//! Explain's `policy` section: what the NetworkPolicies intend for this
//! connection (the source's egress, the destination's ingress, each with
//! the rules that allowed it or the policies that denied it), and whether
//! the dataplane agrees. A drop that *is* the intended denial is no fault:
//! its finding code is cleared and its reason names the policy.

use cnictl_model::ClusterSnapshot;
use serde::Serialize;

use super::{Endpoint, EndpointKind, Explanation, Verdict};
use crate::policy::{Endpoint as PolicyEnd, PairVerdict, PolicyIndex, Probe, Side};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyJson {
    /// TCP | UDP | SCTP | ICMP (ICMP: only rules without ports allow it).
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// allowed | denied.
    pub intended: &'static str,
    pub egress: SideJson,
    pub ingress: SideJson,
    /// Where the verdict rests on implementation-defined behaviour.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    /// `false` when the dataplane does otherwise than intended; `None`
    /// when its verdict is unknown or the drop is not about policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agrees: Option<bool>,
    /// One line saying how intent and dataplane disagree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideJson {
    /// The pod whose policies decide this side (`ns/name`), or the address.
    pub subject: String,
    pub isolated: bool,
    pub allowed: bool,
    pub selected_by: Vec<String>,
    /// `ns/policy ingress[0]`.
    pub allowed_by: Vec<String>,
    /// The side in one sentence.
    pub line: String,
}

/// The policy section when policies were collected and the destination is
/// a pod or an address (a Service's policy is its backend pod's: explain
/// the backend with its target port).
pub(crate) fn section(snap: &ClusterSnapshot, ex: &Explanation) -> Option<PolicyJson> {
    let index = PolicyIndex::new(&snap.k8s)?;
    if ex.dst.kind == EndpointKind::Service {
        return None;
    }
    let probe = probe(ex);
    let (src, dst) = (end(&index, &ex.src), end(&index, &ex.dst));
    let v = index.pair(src, dst, &probe);
    let mut p = intent(&v, &probe, &name(&ex.src), &name(&ex.dst));
    compare(&mut p, &v, ex);
    Some(p)
}

/// The section from a pair's verdict, before any dataplane comparison.
fn intent(v: &PairVerdict, probe: &Probe, sname: &str, dname: &str) -> PolicyJson {
    let to = format!("to {dname}");
    let from = format!("from {sname}");
    PolicyJson {
        protocol: probe.protocol.clone().unwrap_or_default(),
        port: probe.port,
        intended: if v.allowed() { "allowed" } else { "denied" },
        egress: side_json(&v.egress, "egress from", sname, probe, &to),
        ingress: side_json(&v.ingress, "ingress to", dname, probe, &from),
        assumptions: v
            .assumptions
            .iter()
            .map(|a| a.describe().to_string())
            .collect(),
        agrees: None,
        disagreement: None,
    }
}

/// `explain` with no dataplane (manifests, a bundle of k8s/ alone): the
/// policy section and an `unknown` verdict that says why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentOnly {
    pub schema: &'static str,
    pub verdict: Verdict,
    pub src: String,
    pub dst: String,
    pub unknown: String,
    pub policy: PolicyJson,
}

/// Answers SRC → DST from the policies alone. SRC and DST are `ns/name`,
/// a unique pod name, or an IP; `namespace` qualifies bare names.
pub fn intent_only(
    k8s: &cnictl_model::K8s,
    (src, dst): (&str, &str),
    namespace: Option<&str>,
    probe: &Probe,
) -> Result<IntentOnly, String> {
    let index =
        PolicyIndex::new(k8s).ok_or("no NetworkPolicies collected (k8s/networkpolicies.json)")?;
    let (s, sname) = lookup(&index, src, namespace)?;
    let (d, dname) = lookup(&index, dst, namespace)?;
    let v = index.pair(s, d, probe);
    Ok(IntentOnly {
        schema: cnictl_model::SCHEMA,
        verdict: Verdict::Unknown,
        src: sname.clone(),
        dst: dname.clone(),
        unknown: "no node dumps: only what the NetworkPolicies intend is known, not what the dataplane does".into(),
        policy: intent(&v, probe, &sname, &dname),
    })
}

fn lookup(
    index: &PolicyIndex,
    spec: &str,
    namespace: Option<&str>,
) -> Result<(PolicyEnd, String), String> {
    if let Ok(ip) = spec.parse() {
        return Ok((index.endpoint_of_ip(ip), spec.to_string()));
    }
    let pods = index.pods();
    let (ns, name) = match (spec.split_once('/'), namespace) {
        (Some((ns, name)), _) => (Some(ns), name),
        (None, ns) => (ns, spec),
    };
    let hit = |p: &&cnictl_model::Pod| p.name == name && ns.is_none_or(|ns| p.namespace == ns);
    let hits: Vec<usize> = (0..pods.len()).filter(|&i| hit(&pods[i])).collect();
    match hits.as_slice() {
        [i] => Ok((PolicyEnd::Pod(*i), pods[*i].key())),
        [] => Err(format!(
            "unknown pod {spec:?} (not among the {} policed pods)",
            pods.len()
        )),
        _ => Err(format!(
            "pod name {spec:?} is in several namespaces: give ns/name or -n"
        )),
    }
}

/// The packet's protocol and port (ICMP: only a rule without ports
/// allows it).
fn probe(ex: &Explanation) -> Probe {
    match (ex.packet.proto.as_str(), ex.packet.dport) {
        ("tcp", Some(port)) => Probe::new("TCP", port),
        ("udp", Some(port)) => Probe::new("UDP", port),
        (other, _) => Probe {
            protocol: Some(other.to_ascii_uppercase()),
            port: None,
        },
    }
}

fn end(index: &PolicyIndex, e: &Endpoint) -> PolicyEnd {
    let pod = e.pod.as_deref().and_then(|k| k.split_once('/'));
    match pod.and_then(|(ns, name)| index.pod_index(ns, name)) {
        Some(i) => PolicyEnd::Pod(i),
        None => PolicyEnd::Ip(e.ip),
    }
}

fn name(e: &Endpoint) -> String {
    e.pod.clone().unwrap_or_else(|| e.ip.to_string())
}

fn side_json(s: &Side, what: &str, subject: &str, probe: &Probe, peer: &str) -> SideJson {
    let line = match (s.isolated, s.allowed) {
        (false, _) => format!(
            "{what} {subject}: open (no policy selects it for {})",
            direction(what)
        ),
        (true, true) => format!(
            "{what} {subject}: allowed by {}",
            join(s.allowed_by.iter().map(ToString::to_string))
        ),
        (true, false) => format!(
            "{what} {subject}: denied: selected by {}, no rule allows {} {peer}",
            s.selected_by.join(", "),
            probe.label()
        ),
    };
    SideJson {
        subject: subject.to_string(),
        isolated: s.isolated,
        allowed: s.allowed,
        selected_by: s.selected_by.clone(),
        allowed_by: s.allowed_by.iter().map(ToString::to_string).collect(),
        line,
    }
}

fn direction(what: &str) -> &'static str {
    if what.starts_with("egress") {
        "egress"
    } else {
        "ingress"
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Intent against the dataplane's verdict. A drop counts as policy only at
/// a netfilter rule in a policy agent's chain; any other drop is a fault
/// of its own and says nothing about policy enforcement.
fn compare(p: &mut PolicyJson, v: &PairVerdict, ex: &Explanation) {
    let at_policy = policy_drop(ex);
    let (agrees, line) = match (ex.verdict, v.allowed(), at_policy) {
        (Verdict::Delivered, true, _) => (Some(true), None),
        (Verdict::Delivered, false, _) => (
            Some(false),
            Some("the policies deny this connection but the dataplane delivers it: the policy is not enforced on this path (is the policy agent running on the nodes it crosses?)".to_string()),
        ),
        (Verdict::Dropped, false, true) => (Some(true), None),
        (Verdict::Dropped, true, true) => (
            Some(false),
            Some("the policies allow this connection but a policy rule of the dataplane drops it: the agent's rules are stale or belong to another policy set".to_string()),
        ),
        _ => (None, None),
    };
    p.agrees = agrees;
    p.disagreement = line;
}

/// Whether the trace's drop happened at a policy agent's rule.
pub(crate) fn policy_drop(ex: &Explanation) -> bool {
    let Some(d) = &ex.drop else { return false };
    let hop = ex.hops.iter().find(|h| h.index == d.hop);
    let nf = hop.and_then(|h| h.netfilter.as_ref());
    nf.is_some_and(|nf| crate::checks::nf::is_policy_chain(&nf.chain))
}

/// A drop in a policy agent's chain is about policy, not the firewall
/// fault `netfilter-forward-drop`: an intended denial names the policy and
/// carries no code; a drop of what the policies allow is `policy-drift`;
/// without the policies, the reason says what would decide it.
pub(crate) fn relabel_drop(ex: &mut Explanation) {
    if !policy_drop(ex) {
        return;
    }
    let Some(p) = &ex.policy else {
        if let Some(d) = ex.drop.as_mut() {
            d.code = None;
            d.finding = None;
            d.reason += " (a NetworkPolicy agent's rule: k8s/networkpolicies.json would tell whether the policies intend it)";
            d.hint = "a NetworkPolicy agent (Calico felix, kube-router) drops it: collect k8s/networkpolicies.json and k8s/namespaces.json (lab/collect-k8s.sh) to tell an intended denial from a stale rule".into();
        }
        return;
    };
    if p.intended == "allowed" {
        if let Some(d) = ex.drop.as_mut() {
            d.code = Some(crate::Code::PolicyDrift);
            d.finding = None;
            d.hint = crate::Code::PolicyDrift.info().hint.to_string();
        }
        return;
    }
    let why = [&p.egress, &p.ingress]
        .into_iter()
        .find(|s| !s.allowed)
        .map(|s| s.line.clone())
        .unwrap_or_default();
    if let Some(d) = ex.drop.as_mut() {
        d.code = None;
        d.finding = None;
        d.reason = format!("NetworkPolicy (intended): {why}");
        d.hint = "intended by the NetworkPolicies; to allow it, add a rule to the policy that selects the denying side".into();
    }
}
