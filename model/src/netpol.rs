//! NetworkPolicy objects (`networking.k8s.io/v1`), Namespaces and label
//! selectors, as the API server stores them after defaulting: `policy_types`
//! is always filled in (the parser applies the API's default), a rule's
//! empty peer list means "every peer" and an empty port list "every port".
//!
//! Selector matching lives here, beside the types, because both the intent
//! evaluator (analyzers) and the lab's policy-agent rule generators (gen)
//! must agree on which pods a selector picks.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The label every namespace carries since Kubernetes 1.21 (set by the API
/// server); it is all cnictl knows of a namespace when `namespaces.json`
/// was not collected.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    /// After the API's defaulting: `Ingress` always unless given, `Egress`
    /// when the policy has egress rules.
    pub policy_types: Vec<PolicyType>,
    #[serde(default)]
    pub ingress: Vec<PolicyRule>,
    #[serde(default)]
    pub egress: Vec<PolicyRule>,
}

impl NetworkPolicy {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn has_type(&self, t: PolicyType) -> bool {
        self.policy_types.contains(&t)
    }

    /// The rules of one direction.
    pub fn rules(&self, t: PolicyType) -> &[PolicyRule] {
        match t {
            PolicyType::Ingress => &self.ingress,
            PolicyType::Egress => &self.egress,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    Ingress,
    Egress,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Ingress => "ingress",
            PolicyType::Egress => "egress",
        }
    }
}

/// One `ingress[i]` / `egress[i]` rule: `from`/`to` peers (empty: every
/// peer) and ports (empty: every port and protocol).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    #[serde(default)]
    pub peers: Vec<Peer>,
    #[serde(default)]
    pub ports: Vec<PolicyPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector`. `None` namespace selector:
    /// the policy's own namespace; `None` pod selector: every pod of the
    /// selected namespaces.
    Pods {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pod_selector: Option<LabelSelector>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace_selector: Option<LabelSelector>,
    },
    IpBlock {
        cidr: IpNet,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        except: Vec<IpNet>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: String,
    /// `None`: every port of the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    /// A container port's name, resolved on each destination pod.
    Name(String),
}

/// A `metav1.LabelSelector`. The empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Kubernetes semantics: every matchLabels pair and every expression
    /// must hold; `NotIn` and `DoesNotExist` hold when the key is absent.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        let values = values.iter().map(|v| v.to_string()).collect();
        Requirement {
            key: key.into(),
            operator,
            values,
        }
    }

    #[test]
    fn operators_follow_kubernetes_semantics_for_absent_keys() {
        let none = labels(&[]);
        let a = labels(&[("app", "a")]);
        assert!(!req("app", Operator::In, &["a"]).matches(&none));
        assert!(req("app", Operator::In, &["a", "b"]).matches(&a));
        assert!(req("app", Operator::NotIn, &["a"]).matches(&none));
        assert!(!req("app", Operator::NotIn, &["a"]).matches(&a));
        assert!(req("app", Operator::Exists, &[]).matches(&a));
        assert!(!req("app", Operator::Exists, &[]).matches(&none));
        assert!(req("app", Operator::DoesNotExist, &[]).matches(&none));
        assert!(!req("app", Operator::DoesNotExist, &[]).matches(&a));
    }

    #[test]
    fn labels_and_expressions_must_all_hold() {
        let sel = LabelSelector {
            match_labels: labels(&[("tier", "db")]),
            match_expressions: vec![req("env", Operator::NotIn, &["dev"])],
        };
        assert!(sel.matches(&labels(&[("tier", "db"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("tier", "db"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
        assert!(LabelSelector::default().matches(&labels(&[])));
    }
}
