//! `kubectl get networkpolicies -A -o json` and `kubectl get namespaces -o
//! json` → [`cnictl_model::netpol`], with the API server's defaulting
//! applied (so the model never has to guess): `policyTypes` absent means
//! `Ingress`, plus `Egress` when the policy has egress rules; a port's
//! protocol absent means `TCP`; a namespace always carries
//! `kubernetes.io/metadata.name`.

use std::collections::BTreeMap;

use cnictl_model::netpol::{
    LabelSelector, Namespace, NetworkPolicy, Peer, PolicyPort, PolicyRule, PolicyType, PortRef,
    Requirement, NAMESPACE_NAME_LABEL,
};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::kubectl::items;
use super::ParseError;

/// Parses `kubectl get networkpolicies -A -o json` (a List or one object).
pub fn parse_networkpolicies(text: &str) -> Result<Vec<NetworkPolicy>, ParseError> {
    let items: Vec<JPolicy> = items(text)?;
    Ok(items.into_iter().map(JPolicy::into_model).collect())
}

/// Parses `kubectl get namespaces -o json`.
pub fn parse_namespaces(text: &str) -> Result<Vec<Namespace>, ParseError> {
    let items: Vec<JNamespace> = items(text)?;
    Ok(items.into_iter().map(JNamespace::into_model).collect())
}

/// One NetworkPolicy object already read as JSON (a manifest document).
pub fn networkpolicy_from_value(v: Value) -> Result<NetworkPolicy, serde_json::Error> {
    serde_json::from_value::<JPolicy>(v).map(JPolicy::into_model)
}

/// One Namespace object already read as JSON (a manifest document).
pub fn namespace_from_value(v: Value) -> Result<Namespace, serde_json::Error> {
    serde_json::from_value::<JNamespace>(v).map(JNamespace::into_model)
}

/// `null` and absent both mean empty (YAML manifests write `from:` alone).
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    name: String,
    namespace: Option<String>,
    #[serde(deserialize_with = "null_as_empty_map")]
    labels: BTreeMap<String, String>,
}

fn null_as_empty_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct JNamespace {
    #[serde(default)]
    metadata: Meta,
}

impl JNamespace {
    fn into_model(self) -> Namespace {
        let mut labels = self.metadata.labels;
        let name = self.metadata.name;
        labels
            .entry(NAMESPACE_NAME_LABEL.into())
            .or_insert_with(|| name.clone());
        Namespace { name, labels }
    }
}

#[derive(Deserialize)]
struct JPolicy {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: JSpec,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JSpec {
    #[serde(deserialize_with = "null_as_default")]
    pod_selector: JSelector,
    #[serde(deserialize_with = "null_as_empty")]
    policy_types: Vec<PolicyType>,
    #[serde(deserialize_with = "null_as_empty")]
    ingress: Vec<JRule>,
    #[serde(deserialize_with = "null_as_empty")]
    egress: Vec<JRule>,
}

fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl JPolicy {
    fn into_model(self) -> NetworkPolicy {
        let spec = self.spec;
        let policy_types = default_types(spec.policy_types, !spec.egress.is_empty());
        NetworkPolicy {
            namespace: self.metadata.namespace.unwrap_or_else(|| "default".into()),
            name: self.metadata.name,
            pod_selector: spec.pod_selector.into_model(),
            policy_types,
            ingress: spec.ingress.into_iter().map(JRule::into_model).collect(),
            egress: spec.egress.into_iter().map(JRule::into_model).collect(),
        }
    }
}

/// The API server's defaulting of `policyTypes` (pkg/apis/networking
/// validation and defaults): always `Ingress`, `Egress` when there are
/// egress rules.
fn default_types(given: Vec<PolicyType>, has_egress: bool) -> Vec<PolicyType> {
    if !given.is_empty() {
        return given;
    }
    let mut types = vec![PolicyType::Ingress];
    if has_egress {
        types.push(PolicyType::Egress);
    }
    types
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JRule {
    #[serde(deserialize_with = "null_as_empty", alias = "to")]
    from: Vec<JPeer>,
    #[serde(deserialize_with = "null_as_empty")]
    ports: Vec<JPort>,
}

impl JRule {
    fn into_model(self) -> PolicyRule {
        PolicyRule {
            peers: self.from.into_iter().map(JPeer::into_model).collect(),
            ports: self.ports.into_iter().map(JPort::into_model).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JPeer {
    #[serde(default)]
    pod_selector: Option<JSelector>,
    #[serde(default)]
    namespace_selector: Option<JSelector>,
    #[serde(default)]
    ip_block: Option<JIpBlock>,
}

#[derive(Deserialize)]
struct JIpBlock {
    cidr: IpNet,
    #[serde(default, deserialize_with = "null_as_empty")]
    except: Vec<IpNet>,
}

impl JPeer {
    fn into_model(self) -> Peer {
        match self.ip_block {
            Some(b) => Peer::IpBlock {
                cidr: b.cidr,
                except: b.except,
            },
            None => Peer::Pods {
                pod_selector: self.pod_selector.map(JSelector::into_model),
                namespace_selector: self.namespace_selector.map(JSelector::into_model),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JPort {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    port: Option<PortRef>,
    #[serde(default)]
    end_port: Option<u16>,
}

impl JPort {
    fn into_model(self) -> PolicyPort {
        PolicyPort {
            protocol: self.protocol.unwrap_or_else(|| "TCP".into()),
            port: self.port,
            end_port: self.end_port,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JSelector {
    #[serde(deserialize_with = "null_as_empty_map")]
    match_labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_empty")]
    match_expressions: Vec<Requirement>,
}

impl JSelector {
    fn into_model(self) -> LabelSelector {
        LabelSelector {
            match_labels: self.match_labels,
            match_expressions: self.match_expressions,
        }
    }
}

// ---- writer -----------------------------------------------------------------

/// NetworkPolicies as `kubectl get networkpolicies -A -o json` prints them.
pub fn write_networkpolicies(policies: &[NetworkPolicy]) -> String {
    let items: Vec<Value> = policies.iter().map(policy_out).collect();
    list(items)
}

/// Namespaces as `kubectl get namespaces -o json` prints them.
pub fn write_namespaces(namespaces: &[Namespace]) -> String {
    let items = namespaces.iter().map(|n| {
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": n.name, "labels": n.labels } })
    });
    list(items.collect())
}

fn list(items: Vec<Value>) -> String {
    let doc = json!({ "apiVersion": "v1", "kind": "List", "items": items, "metadata": { "resourceVersion": "" } });
    format!("{doc}\n")
}

fn policy_out(p: &NetworkPolicy) -> Value {
    let spec = json!({
        "podSelector": selector_out(&p.pod_selector),
        "policyTypes": p.policy_types.iter().map(|t| match t { PolicyType::Ingress => "Ingress", PolicyType::Egress => "Egress" }).collect::<Vec<_>>(),
        "ingress": p.ingress.iter().map(|r| rule_out(r, "from")).collect::<Vec<_>>(),
        "egress": p.egress.iter().map(|r| rule_out(r, "to")).collect::<Vec<_>>(),
    });
    json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": p.name, "namespace": p.namespace }, "spec": spec })
}

fn rule_out(r: &PolicyRule, peers_key: &str) -> Value {
    let mut v = serde_json::Map::new();
    if !r.peers.is_empty() {
        v.insert(peers_key.into(), r.peers.iter().map(peer_out).collect());
    }
    if !r.ports.is_empty() {
        v.insert("ports".into(), r.ports.iter().map(port_out).collect());
    }
    Value::Object(v)
}

fn peer_out(p: &Peer) -> Value {
    match p {
        Peer::IpBlock { cidr, except } => json!({ "ipBlock": { "cidr": cidr, "except": except } }),
        Peer::Pods {
            pod_selector,
            namespace_selector,
        } => {
            let mut v = serde_json::Map::new();
            if let Some(s) = pod_selector {
                v.insert("podSelector".into(), selector_out(s));
            }
            if let Some(s) = namespace_selector {
                v.insert("namespaceSelector".into(), selector_out(s));
            }
            Value::Object(v)
        }
    }
}

fn port_out(p: &PolicyPort) -> Value {
    let mut v = json!({ "protocol": p.protocol });
    match &p.port {
        Some(PortRef::Number(n)) => v["port"] = json!(n),
        Some(PortRef::Name(n)) => v["port"] = json!(n),
        None => {}
    }
    if let Some(end) = p.end_port {
        v["endPort"] = json!(end);
    }
    v
}

fn selector_out(s: &LabelSelector) -> Value {
    let mut v = serde_json::Map::new();
    if !s.match_labels.is_empty() {
        v.insert("matchLabels".into(), json!(s.match_labels));
    }
    if !s.match_expressions.is_empty() {
        v.insert("matchExpressions".into(), json!(s.match_expressions));
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
       "metadata":{"name":"db-only","namespace":"prod"},
       "spec":{"podSelector":{"matchLabels":{"app":"db"}},
         "ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"tier","operator":"In","values":["api"]}]},
                              "namespaceSelector":{}},
                             {"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}}],
                     "ports":[{"port":5432},{"protocol":"UDP","port":"dns","endPort":null}]}],
         "egress":null}}]}"#;

    #[test]
    fn defaults_are_applied_as_the_api_server_does() {
        let p = &parse_networkpolicies(POLICY).unwrap()[0];
        assert_eq!(p.key(), "prod/db-only");
        assert_eq!(p.policy_types, vec![PolicyType::Ingress]);
        assert_eq!(p.ingress[0].peers.len(), 2);
        assert_eq!(p.ingress[0].ports[0].protocol, "TCP");
        assert_eq!(
            p.ingress[0].ports[1].port,
            Some(PortRef::Name("dns".into()))
        );
        assert!(p.egress.is_empty());
    }

    #[test]
    fn round_trips_through_the_writer() {
        let policies = parse_networkpolicies(POLICY).unwrap();
        let again = parse_networkpolicies(&write_networkpolicies(&policies)).unwrap();
        assert_eq!(policies, again);
    }

    #[test]
    fn namespaces_always_carry_their_name_label() {
        let ns = parse_namespaces(
            r#"{"kind":"List","items":[{"metadata":{"name":"prod","labels":{"team":"a"}}}]}"#,
        )
        .unwrap();
        assert_eq!(
            ns[0].labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
            Some("prod")
        );
        assert_eq!(parse_namespaces(&write_namespaces(&ns)).unwrap(), ns);
    }

    #[test]
    fn a_bad_operator_names_its_position() {
        let bad = POLICY.replace("\"In\"", "\"Within\"");
        let err = parse_networkpolicies(&bad).unwrap_err().to_string();
        assert!(err.contains("line 5") && err.contains("Within"), "{err}");
    }
}
