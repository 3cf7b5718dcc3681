//! One connection's intent, with the policies and rules that decided it
//! (what explain prints: "allowed by default/allow-api ingress[0]").

use std::fmt;

use cnictl_model::netpol::Peer;
use cnictl_model::PolicyType;
use serde::Serialize;

use super::index::{block_has, CompiledRule, Endpoint, PolicyIndex};
use super::ports::{admits, Probe};

/// `default/allow-api ingress[0]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleRef {
    pub policy: String,
    pub direction: &'static str,
    pub index: usize,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}[{}]", self.policy, self.direction, self.index)
    }
}

/// One direction's verdict: the source's egress or the destination's
/// ingress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    /// Some policy of this direction selects the pod.
    pub isolated: bool,
    pub allowed: bool,
    /// The policies that select the pod for this direction.
    pub selected_by: Vec<String>,
    /// The rules that allow the connection (empty when denied or open).
    pub allowed_by: Vec<RuleRef>,
}

impl Side {
    fn open() -> Self {
        Side {
            isolated: false,
            allowed: true,
            selected_by: Vec::new(),
            allowed_by: Vec::new(),
        }
    }
}

/// Where the verdict rests on behaviour the API leaves to implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assumption {
    /// An ipBlock matched a pod's IP.
    IpBlockMatchedPod,
    /// A namespaceSelector was evaluated without `namespaces.json`.
    NamespaceLabelsUnknown,
    /// Not an assumption but the API's own exception, said on the answer
    /// because no rule decided: traffic between a pod and the node it runs
    /// on, and a pod to itself, are always allowed.
    NodeOrSelfExempt,
}

impl Assumption {
    pub fn describe(self) -> &'static str {
        match self {
            Assumption::IpBlockMatchedPod => {
                "an ipBlock matched a pod IP (implementation-defined; Calico and kube-router match it, some analyzers do not)"
            }
            Assumption::NamespaceLabelsUnknown => {
                "namespaces.json was not collected: namespaces are assumed to carry only kubernetes.io/metadata.name"
            }
            Assumption::NodeOrSelfExempt => {
                "traffic between a pod and its own node, or a pod and itself, is always allowed (Kubernetes NetworkPolicy: policies cannot block it)"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairVerdict {
    pub egress: Side,
    pub ingress: Side,
    pub assumptions: Vec<Assumption>,
}

impl PairVerdict {
    pub fn allowed(&self) -> bool {
        self.egress.allowed && self.ingress.allowed
    }
}

impl PolicyIndex<'_> {
    /// What the policies intend for `src` opening `probe` towards `dst`.
    pub fn pair(&self, src: Endpoint, dst: Endpoint, probe: &Probe) -> PairVerdict {
        if self.exempt(src, dst) {
            return PairVerdict {
                egress: Side::open(),
                ingress: Side::open(),
                assumptions: vec![Assumption::NodeOrSelfExempt],
            };
        }
        let mut assumptions = Vec::new();
        let egress = self.side(src, dst, dst, PolicyType::Egress, probe, &mut assumptions);
        let ingress = self.side(dst, src, dst, PolicyType::Ingress, probe, &mut assumptions);
        assumptions.sort();
        assumptions.dedup();
        PairVerdict {
            egress,
            ingress,
            assumptions,
        }
    }

    /// A pod and itself, or a pod and an address of the node it runs on.
    fn exempt(&self, a: Endpoint, b: Endpoint) -> bool {
        match (a, b) {
            (Endpoint::Pod(x), Endpoint::Pod(y)) => x == y,
            (Endpoint::Pod(p), Endpoint::Ip(ip)) | (Endpoint::Ip(ip), Endpoint::Pod(p)) => {
                self.on_own_node(p, ip)
            }
            _ => false,
        }
    }

    /// `subject`'s policies of direction `dir` towards `peer`; named ports
    /// resolve on `dst`.
    fn side(
        &self,
        subject: Endpoint,
        peer: Endpoint,
        dst: Endpoint,
        dir: PolicyType,
        probe: &Probe,
        assumptions: &mut Vec<Assumption>,
    ) -> Side {
        let Endpoint::Pod(s) = subject else {
            return Side::open();
        };
        let isolating = self.isolating(s, dir);
        if isolating.is_empty() {
            return Side::open();
        }
        let dst_pod = match dst {
            Endpoint::Pod(d) => Some(self.pods[d]),
            Endpoint::Ip(_) => None,
        };
        let mut allowed_by = Vec::new();
        for &pi in isolating {
            let c = &self.policies[pi];
            if !self.namespaces_known && uses_namespace_labels(c.rules(dir)) {
                assumptions.push(Assumption::NamespaceLabelsUnknown);
            }
            for (ri, rule) in c.rules(dir).iter().enumerate() {
                if !admits(&rule.rule.ports, probe, dst_pod) {
                    continue;
                }
                match peer_hit(rule, peer) {
                    Hit::No => continue,
                    Hit::ByBlock => assumptions.push(Assumption::IpBlockMatchedPod),
                    Hit::Yes => {}
                }
                allowed_by.push(RuleRef {
                    policy: c.policy.key(),
                    direction: dir.as_str(),
                    index: ri,
                });
            }
        }
        Side {
            isolated: true,
            allowed: !allowed_by.is_empty(),
            selected_by: isolating
                .iter()
                .map(|&i| self.policies[i].policy.key())
                .collect(),
            allowed_by,
        }
    }
}

enum Hit {
    No,
    Yes,
    ByBlock,
}

fn peer_hit(rule: &CompiledRule, peer: Endpoint) -> Hit {
    match peer {
        Endpoint::Pod(j) if rule.by_block.contains(j) => Hit::ByBlock,
        Endpoint::Pod(j) if rule.pods.contains(j) => Hit::Yes,
        Endpoint::Pod(_) => Hit::No,
        Endpoint::Ip(_) if rule.rule.peers.is_empty() => Hit::Yes,
        Endpoint::Ip(ip) if rule.rule.peers.iter().any(|p| block_has(p, ip)) => Hit::Yes,
        Endpoint::Ip(_) => Hit::No,
    }
}

/// Whether a namespaceSelector of these rules looks at labels other than
/// the automatic name label (unknown without namespaces.json).
fn uses_namespace_labels(rules: &[CompiledRule]) -> bool {
    let peers = rules.iter().flat_map(|r| &r.rule.peers);
    peers.into_iter().any(|p| match p {
        Peer::Pods {
            namespace_selector: Some(s),
            ..
        } => {
            let name = cnictl_model::netpol::NAMESPACE_NAME_LABEL;
            s.match_labels.keys().any(|k| k != name)
                || s.match_expressions.iter().any(|e| e.key != name)
        }
        _ => false,
    })
}
