//! Calico Felix's rules for Kubernetes NetworkPolicies on one node: the
//! `cali-pi-*` / `cali-po-*` policy chains, the `cali40s:*` selector and
//! `cali40n:*` named-port ipsets, and the policy part of each workload's
//! `cali-tw-*` / `cali-fw-*` chain ([`Tiers`], rendered by
//! [`crate::lab_felix`]).
//!
//! Modelled on Felix v3.28: `felix/rules/policy.go`
//! (`PolicyToIptablesChains`, `ProtoRuleToIptablesRules` with its
//! match-block builder for negated CIDRs, `CalculateRuleMatch`,
//! `CombineMatchAndActionsForProtoRule`: an allow rule sets the accept mark
//! 0x10000 and a second rule RETURNs on it; trailing RETURNs stripped; the
//! chain's first rule carries `Policy NS/knp.default.NAME ingress|egress`,
//! an empty chain a rule with that comment alone), `felix/rules/
//! endpoints.go` (`endpointIptablesChain`: per tier `Start of tier
//! default` clears the pass mark 0x20000, each policy is jumped to while
//! 0x20000 is clear and `Return if policy accepted` on 0x10000, then `Drop
//! if no policies passed packet`; ingress policies on the to-workload
//! chain, egress on the from-workload chain, policies inlined one by one),
//! `felix/hashutils` (`GetLengthLimitedID`) for chain names, and
//! libcalico-go's Kubernetes conversion (`knp.default.` policy names in
//! tier `default`, one Calico rule per port × peer, selectors in Calico's
//! syntax with `projectcalico.org/orchestrator == 'k8s'`, namespace
//! selectors on `pcns.` labels, ipBlock as `nets` / `notNets`). Scratch
//! mark bits 0x40000/0x80000 as Felix's defaults.
//!
//! Names back to policies (what explain reads):
//! - chain `cali-pi-` / `cali-po-` + the policy's Felix name
//!   `NS/knp.default.NAME`, which never fits 28 characters, so `_` +
//!   base64url(sha256(`NS/knp.default.NAME`))[:19]: [`policy_chain`]
//!   computes it from the objects; the chain's first rule says it in
//!   clear (`-m comment --comment "Policy default/knp.default.allow-api
//!   ingress"`), which [`policy_in_comment`] reads back.
//! - ipset `cali40s:` + base64url(sha224("s:" + selector)) cut to 31
//!   characters, the selector being the peer's in Calico syntax; named-port
//!   sets `cali40n:` likewise over selector, protocol and port name. Their
//!   members are pod IPs (`ip,tcp:PORT` for named ports).
//!
//! Approximations: the selector text (hence a set's hash) is written as
//! the converter would write it, not normalised through Calico's selector
//! parser, so set names need not equal a real cluster's; policy groups
//! (newer Felix puts several policies sharing a selector in a
//! `cali-IGP-`/`cali-EGP-` chain) are not made, every policy is inlined.

use std::collections::BTreeMap;

use cnictl_model::netpol::{
    LabelSelector, NetworkPolicy, Operator, Peer, PolicyPort, PolicyType, PortRef,
};
use cnictl_model::{K8s, Pod};
use data_encoding::BASE64URL_NOPAD;
use ipnet::IpNet;
use sha2::{Digest, Sha224, Sha256};

use crate::agent_rules::{GenIpSet, SetRole};
use crate::lab_felix::{commented_owned, rule, Rule};
use crate::netpol_select::{ipv4, named_port, Cluster};

const ACCEPT: &str = "0x10000/0x10000";
const SCRATCH: &str = "0x40000/0x40000";

/// The policy chains a workload's endpoint chains jump to, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tiers {
    pub ingress: Vec<String>,
    pub egress: Vec<String>,
}

/// Felix's policy state for one node.
#[derive(Default)]
pub(crate) struct FelixPolicy {
    pub chains: Vec<(String, Vec<Rule>)>,
    pub sets: Vec<GenIpSet>,
    /// Per workload (pod key): its tiers.
    pub tiers: BTreeMap<String, Tiers>,
}

/// Felix's name of a Kubernetes policy.
fn felix_name(p: &NetworkPolicy) -> String {
    format!("{}/knp.default.{}", p.namespace, p.name)
}

/// `cali-pi-…` (ingress) or `cali-po-…` (egress) for policy `ns/name`.
pub fn policy_chain(dir: PolicyType, ns: &str, name: &str) -> String {
    let prefix = match dir {
        PolicyType::Ingress => "cali-pi-",
        PolicyType::Egress => "cali-po-",
    };
    length_limited(prefix, &format!("{ns}/knp.default.{name}"), 28)
}

/// `hashutils.GetLengthLimitedID`.
fn length_limited(prefix: &str, suffix: &str, max: usize) -> String {
    let total = prefix.len() + suffix.len();
    if total > max || (total == max && suffix.starts_with('_')) {
        let hash = BASE64URL_NOPAD.encode(&Sha256::digest(suffix.as_bytes()));
        return format!("{prefix}_{}", &hash[..max - 1 - prefix.len()]);
    }
    format!("{prefix}{suffix}")
}

/// The policy (`ns/name`) and direction a Felix policy-chain comment
/// (`Policy ns/knp.default.name ingress`) names.
pub fn policy_in_comment(comment: &str) -> Option<(String, PolicyType)> {
    let rest = comment.strip_prefix("Policy ")?;
    let (id, dir) = rest.rsplit_once(' ')?;
    let (ns, name) = id.split_once("/knp.default.")?;
    let dir = match dir {
        "ingress" => PolicyType::Ingress,
        "egress" => PolicyType::Egress,
        _ => return None,
    };
    Some((format!("{ns}/{name}"), dir))
}

/// Felix's chains and ipsets for the policies that select the workloads
/// of `node`.
pub(crate) fn node_policy(k8s: &K8s, node: &str) -> FelixPolicy {
    let cluster = Cluster::new(k8s);
    let mut policies: Vec<&NetworkPolicy> = cluster.policies().iter().collect();
    policies.sort_by_key(|p| felix_name(p));
    let mut out = FelixPolicy::default();
    let local: Vec<&Pod> = cluster.local_pods(node).collect();
    for p in policies {
        let selected = cluster.selected(p);
        let here: Vec<&&Pod> = local
            .iter()
            .filter(|l| selected.iter().any(|s| s.key() == l.key()))
            .collect();
        if here.is_empty() {
            continue;
        }
        for dir in [PolicyType::Ingress, PolicyType::Egress] {
            if !p.has_type(dir) {
                continue;
            }
            let chain = policy_chain(dir, &p.namespace, &p.name);
            let rules = Renderer {
                cluster: &cluster,
                policy: p,
                dir,
                sets: &mut out.sets,
            }
            .chain();
            out.chains.push((chain.clone(), rules));
            for pod in &here {
                let t = out.tiers.entry(pod.key()).or_default();
                match dir {
                    PolicyType::Ingress => t.ingress.push(chain.clone()),
                    PolicyType::Egress => t.egress.push(chain.clone()),
                }
            }
        }
    }
    out
}

/// Renders one policy's chain of one direction.
struct Renderer<'a, 'b> {
    cluster: &'a Cluster<'a>,
    policy: &'a NetworkPolicy,
    dir: PolicyType,
    sets: &'b mut Vec<GenIpSet>,
}

/// Where the peer of a rule is: an ipset, a CIDR with exceptions, or
/// anywhere.
enum PeerMatch {
    Any,
    Set(String),
    Net(IpNet, Vec<IpNet>),
}

impl Renderer<'_, '_> {
    fn chain(mut self) -> Vec<Rule> {
        let mut rules = Vec::new();
        for r in self.policy.rules(self.dir) {
            let peers: Vec<PeerMatch> = match r.peers.is_empty() {
                true => vec![PeerMatch::Any],
                false => r.peers.iter().map(|p| self.peer(p)).collect(),
            };
            let ports: Vec<Option<&PolicyPort>> = match r.ports.is_empty() {
                true => vec![None],
                false => r.ports.iter().map(Some).collect(),
            };
            for port in &ports {
                for (peer, spec) in peers
                    .iter()
                    .zip(r.peers.iter().map(Some).chain(std::iter::repeat(None)))
                {
                    rules.extend(self.rule(peer, spec, *port));
                }
            }
        }
        finish(rules, &self.comment())
    }

    fn comment(&self) -> String {
        format!("Policy {} {}", felix_name(self.policy), self.dir.as_str())
    }

    fn peer(&mut self, p: &Peer) -> PeerMatch {
        match p {
            Peer::IpBlock { cidr, except } => PeerMatch::Net(*cidr, except.clone()),
            Peer::Pods { .. } => {
                let text = peer_selector(self.policy, p);
                let pods = self.cluster.peer_pods(self.policy, p);
                let members = pods
                    .iter()
                    .filter_map(|p| ipv4(p))
                    .map(|ip| ip.to_string())
                    .collect();
                PeerMatch::Set(self.set("s", &text, "hash:ip", members, SetRole::Peer))
            }
        }
    }

    /// An ipset (added once) named as Felix names it.
    fn set(
        &mut self,
        kind: &str,
        key: &str,
        ty: &'static str,
        members: Vec<String>,
        role: SetRole,
    ) -> String {
        let id = format!(
            "{kind}:{}",
            BASE64URL_NOPAD.encode(&Sha224::digest(format!("{kind}:{key}").as_bytes()))
        );
        let name: String = format!("cali40{id}").chars().take(31).collect();
        if !self.sets.iter().any(|s| s.name == name) {
            self.sets.push(GenIpSet {
                name: name.clone(),
                kind: ty,
                options: "family inet hashsize 1024 maxelem 1048576",
                members,
                role,
                policy: self.policy.key(),
            });
        }
        name
    }

    /// One Calico rule (a peer × a port) as Felix's iptables rules.
    fn rule(
        &mut self,
        peer: &PeerMatch,
        spec: Option<&Peer>,
        port: Option<&PolicyPort>,
    ) -> Vec<Rule> {
        let here = match self.dir {
            PolicyType::Ingress => "src",
            PolicyType::Egress => "dst",
        };
        let mut blocks = Vec::new();
        let mut m = Vec::new();
        if let Some(p) = port {
            m.push(format!("-p {}", p.protocol.to_ascii_lowercase()));
        }
        let flag = if here == "src" {
            "--source"
        } else {
            "--destination"
        };
        let mut scratch = false;
        match peer {
            PeerMatch::Any => {}
            PeerMatch::Set(name) => m.push(format!("-m set --match-set {name} {here}")),
            PeerMatch::Net(cidr, except) if except.is_empty() => m.push(format!("{flag} {cidr}")),
            PeerMatch::Net(cidr, except) => {
                blocks.push(rule("", "--jump MARK --set-mark 0x40000/0xc0000"));
                for e in except {
                    blocks.push(rule(
                        format!("{flag} {e}"),
                        "--jump MARK --set-mark 0/0x40000",
                    ));
                }
                m.push(format!("{flag} {cidr}"));
                scratch = true;
            }
        }
        match port.and_then(|p| p.port.as_ref()) {
            Some(PortRef::Number(n)) => {
                let end = port.and_then(|p| p.end_port).filter(|e| e > n);
                let ports = end.map_or(n.to_string(), |e| format!("{n}:{e}"));
                m.push(format!("-m multiport --destination-ports {ports}"));
            }
            Some(PortRef::Name(name)) => {
                let proto = port.map_or("TCP", |p| p.protocol.as_str());
                let set = self.named_port_set(spec, name, proto);
                m.push(format!("-m set --match-set {set} dst,dst"));
            }
            None => {}
        }
        if scratch {
            m.push(format!("-m mark --mark {SCRATCH}"));
        }
        let matches = m.join(" ");
        blocks.push(rule(matches, format!("--jump MARK --set-mark {ACCEPT}")));
        blocks.push(rule(format!("-m mark --mark {ACCEPT}"), "--jump RETURN"));
        blocks
    }

    /// The named-port set of a rule's destination: the policy's pods for
    /// ingress, the peer's for egress (every pod for a peer-less rule).
    fn named_port_set(&mut self, spec: Option<&Peer>, name: &str, proto: &str) -> String {
        let (text, pods): (String, Vec<&Pod>) = match (self.dir, spec) {
            (PolicyType::Ingress, _) => (
                policy_selector(self.policy),
                self.cluster.selected(self.policy),
            ),
            (PolicyType::Egress, Some(p @ Peer::Pods { .. })) => (
                peer_selector(self.policy, p),
                self.cluster.peer_pods(self.policy, p),
            ),
            (PolicyType::Egress, _) => ("all()".into(), self.cluster.pods().collect()),
        };
        let lower = proto.to_ascii_lowercase();
        let members = pods
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "{},{lower}:{}",
                    ipv4(p)?,
                    named_port(p, name, proto)?
                ))
            })
            .collect();
        let key = format!("{text},{lower},{name}");
        self.set("n", &key, "hash:ip,port", members, SetRole::NamedPort)
    }
}

/// Trailing RETURNs dropped, the chain comment on the first rule (a rule
/// of its own when the chain is empty).
fn finish(mut rules: Vec<Rule>, comment: &str) -> Vec<Rule> {
    while rules.last().is_some_and(|r| r.action == "--jump RETURN") {
        rules.pop();
    }
    match rules.first_mut() {
        Some(first) => first.comment = Some(comment.to_string()),
        None => rules.push(commented_owned(comment.to_string(), "", "")),
    }
    rules
}

/// A Kubernetes selector in Calico syntax (`prefix` on every label key:
/// `pcns.` for namespace labels).
fn selector_text(sel: &LabelSelector, prefix: &str) -> Vec<String> {
    let mut terms: Vec<String> = sel
        .match_labels
        .iter()
        .map(|(k, v)| format!("{prefix}{k} == '{v}'"))
        .collect();
    for r in &sel.match_expressions {
        let vals = r
            .values
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let k = format!("{prefix}{}", r.key);
        terms.push(match r.operator {
            Operator::In => format!("{k} in {{ {vals} }}"),
            Operator::NotIn => format!("{k} not in {{ {vals} }}"),
            Operator::Exists => format!("has({k})"),
            Operator::DoesNotExist => format!("! has({k})"),
        });
    }
    terms
}

fn pod_terms(sel: Option<&LabelSelector>) -> String {
    let mut t = vec!["projectcalico.org/orchestrator == 'k8s'".to_string()];
    t.extend(sel.map(|s| selector_text(s, "")).unwrap_or_default());
    t.join(" && ")
}

/// The selector of a pod peer, scoped to its namespaces.
fn peer_selector(policy: &NetworkPolicy, peer: &Peer) -> String {
    let Peer::Pods {
        pod_selector,
        namespace_selector,
    } = peer
    else {
        return String::new();
    };
    let ns = match namespace_selector {
        None => format!("projectcalico.org/namespace == '{}'", policy.namespace),
        Some(s) if s.is_empty() => "all()".into(),
        Some(s) => selector_text(s, "pcns.").join(" && "),
    };
    format!("({ns}) && ({})", pod_terms(pod_selector.as_ref()))
}

fn policy_selector(policy: &NetworkPolicy) -> String {
    let ns = format!("projectcalico.org/namespace == '{}'", policy.namespace);
    format!("({ns}) && ({})", pod_terms(Some(&policy.pod_selector)))
}
