//! `kubectl get nodes|pods|services|endpointslices -A -o json` List
//! documents → the reduced [`cnictl_model::k8s`] types.
//!
//! Only the fields cnictl reads are deserialized (everything else is
//! skipped by serde); node annotations are filtered to
//! [`KEPT_ANNOTATION_PREFIXES`]. A single object instead of a List (`kubectl
//! get node X -o json`) is accepted too. Old-cluster fallbacks:
//! `spec.podCIDR` when `podCIDRs` is absent, `status.podIP` when `podIPs`
//! is, `spec.clusterIP` when `clusterIPs` is (`None` = headless).

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_model::k8s::{Endpoint, EndpointPort, KEPT_ANNOTATION_PREFIXES};
use cnictl_model::{ContainerPort, EndpointSlice, K8sNode, OwnerRef, Pod, Service, ServicePort};
use ipnet::IpNet;
use serde::Deserialize;

use super::json::Scalar;
use super::ParseError;
use serde_json::{json, Value};

/// Parses `kubectl get nodes -o json`.
pub fn parse_nodes(text: &str) -> Result<Vec<K8sNode>, ParseError> {
    Ok(items::<JNode>(text)?
        .into_iter()
        .map(JNode::into_model)
        .collect())
}

/// Parses `kubectl get pods -A -o json`.
pub fn parse_pods(text: &str) -> Result<Vec<Pod>, ParseError> {
    Ok(items::<JPod>(text)?
        .into_iter()
        .map(JPod::into_model)
        .collect())
}

/// Parses `kubectl get services -A -o json`.
pub fn parse_services(text: &str) -> Result<Vec<Service>, ParseError> {
    Ok(items::<JService>(text)?
        .into_iter()
        .map(JService::into_model)
        .collect())
}

/// Parses `kubectl get endpointslices -A -o json`.
pub fn parse_endpointslices(text: &str) -> Result<Vec<EndpointSlice>, ParseError> {
    Ok(items::<JSlice>(text)?
        .into_iter()
        .map(JSlice::into_model)
        .collect())
}

/// A List's `items`, or the document itself when it is a single object.
/// Lists (the usual, possibly huge case) are read in one pass; only a
/// single object is read twice.
pub(crate) fn items<'a, T: Deserialize<'a>>(text: &'a str) -> Result<Vec<T>, ParseError> {
    #[derive(Deserialize)]
    struct List<'k, T> {
        #[serde(default, borrow)]
        kind: Option<std::borrow::Cow<'k, str>>,
        #[serde(default = "Option::default")]
        items: Option<Vec<T>>,
    }
    let list: List<T> = serde_json::from_str(text)?;
    match (list.items, list.kind.as_deref()) {
        (Some(items), _) => Ok(items),
        (None, Some(k)) if !k.ends_with("List") => Ok(vec![serde_json::from_str(text)?]),
        (None, _) => Ok(Vec::new()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(rename = "ownerReferences")]
    owner_references: Vec<JOwner>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JOwner {
    kind: String,
    name: String,
    controller: bool,
}

impl Meta {
    /// The controlling owner, as the garbage collector and `kubectl`
    /// understand it (`controller: true`).
    fn controller(&self) -> Option<OwnerRef> {
        let o = self.owner_references.iter().find(|o| o.controller)?;
        Some(OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
    }
}

#[derive(Deserialize)]
struct JNode {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: NodeSpec,
    #[serde(default)]
    status: NodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeSpec {
    #[serde(rename = "podCIDR")]
    pod_cidr: Option<IpNet>,
    #[serde(rename = "podCIDRs")]
    pod_cidrs: Vec<IpNet>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeStatus {
    addresses: Vec<TypedAddress>,
    conditions: Vec<Condition>,
}

#[derive(Deserialize)]
struct TypedAddress {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Deserialize)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

impl JNode {
    fn into_model(self) -> K8sNode {
        let mut pod_cidrs = self.spec.pod_cidrs;
        if pod_cidrs.is_empty() {
            pod_cidrs.extend(self.spec.pod_cidr);
        }
        let ready = self
            .status
            .conditions
            .iter()
            .find(|c| c.kind == "Ready")
            .and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            });
        K8sNode {
            name: self.metadata.name,
            internal_ips: self
                .status
                .addresses
                .iter()
                .filter(|a| a.kind == "InternalIP")
                .filter_map(|a| a.address.parse().ok())
                .collect(),
            pod_cidrs,
            annotations: self
                .metadata
                .annotations
                .into_iter()
                .filter(|(k, _)| KEPT_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
                .collect(),
            ready,
            labels: self.metadata.labels,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct JPod {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    node_name: Option<String>,
    host_network: bool,
    containers: Vec<JContainer>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JContainer {
    ports: Vec<JContainerPort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JContainerPort {
    #[serde(default)]
    name: Option<String>,
    /// Required by the API; a manifest without it declares no port.
    #[serde(default)]
    container_port: Option<u16>,
    #[serde(default)]
    protocol: Option<String>,
}

impl PodSpec {
    fn container_ports(&self) -> Vec<ContainerPort> {
        let ports = self.containers.iter().flat_map(|c| &c.ports);
        ports
            .filter_map(|p| {
                Some(ContainerPort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: p.container_port?,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                })
            })
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodStatus {
    phase: String,
    #[serde(rename = "podIP")]
    pod_ip: Option<IpAddr>,
    #[serde(rename = "podIPs")]
    pod_ips: Vec<PodIp>,
}

#[derive(Deserialize)]
struct PodIp {
    ip: IpAddr,
}

impl JPod {
    pub(crate) fn into_model(self) -> Pod {
        let mut ips: Vec<IpAddr> = self.status.pod_ips.into_iter().map(|p| p.ip).collect();
        if ips.is_empty() {
            ips.extend(self.status.pod_ip);
        }
        Pod {
            container_ports: self.spec.container_ports(),
            owner: self.metadata.controller(),
            namespace: self.metadata.namespace,
            name: self.metadata.name,
            node: self.spec.node_name.filter(|n| !n.is_empty()),
            ips,
            host_network: self.spec.host_network,
            phase: self.status.phase,
            labels: self.metadata.labels,
        }
    }
}

#[derive(Deserialize)]
struct JService<'a> {
    #[serde(default)]
    metadata: Meta,
    #[serde(default, borrow)]
    spec: ServiceSpec<'a>,
    #[serde(default)]
    status: ServiceStatus,
}

/// `status.loadBalancer.ingress[].ip` (a hostname-only ingress has none).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceStatus {
    load_balancer: LbStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LbStatus {
    ingress: Vec<LbIngress>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LbIngress {
    ip: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceSpec<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    #[serde(rename = "clusterIPs")]
    cluster_ips: Vec<String>,
    #[serde(borrow)]
    ports: Vec<JServicePort<'a>>,
    selector: BTreeMap<String, String>,
    external_traffic_policy: Option<String>,
    #[serde(rename = "externalIPs")]
    external_ips: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JServicePort<'a> {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
    port: u16,
    #[serde(default, borrow)]
    target_port: Option<Scalar<'a>>,
    #[serde(default)]
    node_port: Option<u16>,
}

impl JService<'_> {
    fn into_model(self) -> Service {
        let mut ips = self.spec.cluster_ips;
        if ips.is_empty() {
            ips.extend(self.spec.cluster_ip);
        }
        Service {
            namespace: self.metadata.namespace,
            name: self.metadata.name,
            service_type: self.spec.kind.unwrap_or_else(|| "ClusterIP".into()),
            cluster_ips: ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
            ports: self
                .spec
                .ports
                .into_iter()
                .map(JServicePort::into_model)
                .collect(),
            selector: self.spec.selector,
            external_traffic_policy: self.spec.external_traffic_policy,
            external_ips: parse_ips(&self.spec.external_ips),
            load_balancer_ips: parse_ips(
                self.status
                    .load_balancer
                    .ingress
                    .iter()
                    .filter_map(|i| i.ip.as_ref()),
            ),
        }
    }
}

/// The addresses of `ips` that parse; an unparsable one is not an address
/// the dataplane can hold, so it is left out like a hostname.
fn parse_ips<'a>(ips: impl IntoIterator<Item = &'a String>) -> Vec<IpAddr> {
    ips.into_iter().filter_map(|ip| ip.parse().ok()).collect()
}

impl JServicePort<'_> {
    fn into_model(self) -> ServicePort {
        ServicePort {
            name: self.name.filter(|n| !n.is_empty()),
            protocol: self.protocol.unwrap_or_else(|| "TCP".into()),
            port: self.port,
            target_port: self.target_port.and_then(|t| match t {
                Scalar::Num(n) => Some(n.to_string()),
                Scalar::Str(s) => Some(s.into_owned()),
                _ => None,
            }),
            node_port: self.node_port.filter(|&p| p != 0),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JSlice {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    address_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    endpoints: Vec<JEndpoint>,
    #[serde(default, deserialize_with = "null_as_empty")]
    ports: Vec<JEndpointPort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JEndpoint {
    #[serde(default)]
    addresses: Vec<IpAddr>,
    #[serde(default)]
    conditions: Conditions,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    target_ref: Option<TargetRef>,
}

#[derive(Deserialize, Default)]
struct Conditions {
    #[serde(default)]
    ready: Option<bool>,
}

#[derive(Deserialize)]
struct TargetRef {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct JEndpointPort {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    port: Option<u16>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl JSlice {
    fn into_model(self) -> EndpointSlice {
        EndpointSlice {
            service: self
                .metadata
                .labels
                .get("kubernetes.io/service-name")
                .cloned(),
            namespace: self.metadata.namespace,
            name: self.metadata.name,
            address_type: self.address_type,
            endpoints: self
                .endpoints
                .into_iter()
                .map(JEndpoint::into_model)
                .collect(),
            ports: self
                .ports
                .into_iter()
                .map(|p| EndpointPort {
                    name: p.name.filter(|n| !n.is_empty()),
                    protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
                    port: p.port.unwrap_or(0),
                })
                .collect(),
        }
    }
}

impl JEndpoint {
    fn into_model(self) -> Endpoint {
        Endpoint {
            addresses: self.addresses,
            ready: self.conditions.ready.unwrap_or(true),
            node: self.node_name,
            pod: self
                .target_ref
                .filter(|t| t.kind == "Pod")
                .map(|t| format!("{}/{}", t.namespace, t.name)),
        }
    }
}

// ---- writer: `kubectl get … -o json` ----------------------------------------

/// Nodes as `kubectl get nodes -o json` prints them (a `List`).
pub fn write_nodes(nodes: &[K8sNode]) -> String {
    list(nodes.iter().map(node_out))
}

/// Pods as `kubectl get pods -A -o json` prints them.
pub fn write_pods(pods: &[Pod]) -> String {
    list(pods.iter().map(pod_out))
}

/// Services as `kubectl get services -A -o json` prints them.
pub fn write_services(services: &[Service]) -> String {
    list(services.iter().map(service_out))
}

/// EndpointSlices as `kubectl get endpointslices -A -o json` prints them.
pub fn write_endpointslices(slices: &[EndpointSlice]) -> String {
    list(slices.iter().map(slice_out))
}

/// The `List` document kubectl prints around `items`, and a newline.
fn list(items: impl Iterator<Item = Value>) -> String {
    let doc = json!({ "apiVersion": "v1", "kind": "List", "items": items.collect::<Vec<_>>(), "metadata": { "resourceVersion": "" } });
    let mut s = doc.to_string();
    s.push('\n');
    s
}

fn node_out(n: &K8sNode) -> Value {
    let mut spec = serde_json::Map::new();
    if let Some(first) = n.pod_cidrs.first() {
        spec.insert("podCIDR".into(), json!(first));
        spec.insert("podCIDRs".into(), json!(n.pod_cidrs));
    }
    let addresses: Vec<Value> = n
        .internal_ips
        .iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip}))
        .collect();
    let mut status = json!({ "addresses": addresses });
    if let Some(ready) = n.ready {
        status["conditions"] =
            json!([{ "type": "Ready", "status": if ready { "True" } else { "False" } }]);
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": { "name": n.name, "annotations": n.annotations, "labels": n.labels },
        "spec": spec, "status": status,
    })
}

fn pod_out(p: &Pod) -> Value {
    let mut spec = json!({ "hostNetwork": p.host_network });
    if let Some(node) = &p.node {
        spec["nodeName"] = json!(node);
    }
    let mut status = json!({ "phase": p.phase });
    if let Some(first) = p.ips.first() {
        status["podIP"] = json!(first);
        let ips: Vec<Value> = p.ips.iter().map(|ip| json!({ "ip": ip })).collect();
        status["podIPs"] = json!(ips);
    }
    if !p.container_ports.is_empty() {
        spec["containers"] = json!([{ "name": "main", "ports": p.container_ports.iter().map(container_port_out).collect::<Vec<_>>() }]);
    }
    let mut meta = json!({ "name": p.name, "namespace": p.namespace, "labels": p.labels });
    if let Some(o) = &p.owner {
        meta["ownerReferences"] = json!([{ "kind": o.kind, "name": o.name, "controller": true }]);
    }
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status })
}

fn container_port_out(c: &ContainerPort) -> Value {
    let mut v = json!({ "containerPort": c.port, "protocol": c.protocol });
    if let Some(name) = &c.name {
        v["name"] = json!(name);
    }
    v
}

fn service_out(s: &Service) -> Value {
    let ports: Vec<Value> = s.ports.iter().map(service_port_out).collect();
    let mut spec = json!({ "type": s.service_type, "ports": ports, "selector": s.selector });
    match s.cluster_ips.first() {
        Some(first) => {
            spec["clusterIP"] = json!(first);
            spec["clusterIPs"] = json!(s.cluster_ips);
        }
        None => spec["clusterIP"] = json!("None"),
    }
    if let Some(p) = &s.external_traffic_policy {
        spec["externalTrafficPolicy"] = json!(p);
    }
    if !s.external_ips.is_empty() {
        spec["externalIPs"] = json!(s.external_ips);
    }
    let mut out = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": s.name, "namespace": s.namespace },
        "spec": spec,
    });
    if !s.load_balancer_ips.is_empty() {
        let ingress: Vec<Value> = s
            .load_balancer_ips
            .iter()
            .map(|ip| json!({ "ip": ip }))
            .collect();
        out["status"] = json!({ "loadBalancer": { "ingress": ingress } });
    }
    out
}

fn service_port_out(p: &ServicePort) -> Value {
    let mut o = json!({ "protocol": p.protocol, "port": p.port });
    if let Some(n) = &p.name {
        o["name"] = json!(n);
    }
    if let Some(t) = &p.target_port {
        // A numeric targetPort is a JSON number, a named one a string.
        o["targetPort"] = match t.parse::<u32>() {
            Ok(n) if n.to_string() == *t => json!(n),
            _ => json!(t),
        };
    }
    if let Some(np) = p.node_port {
        o["nodePort"] = json!(np);
    }
    o
}

fn slice_out(e: &EndpointSlice) -> Value {
    let mut labels = BTreeMap::new();
    if let Some(svc) = &e.service {
        labels.insert("kubernetes.io/service-name", svc.as_str());
    }
    let endpoints: Vec<Value> = e.endpoints.iter().map(endpoint_out).collect();
    let ports: Vec<Value> = e.ports.iter().map(endpoint_port_out).collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": { "name": e.name, "namespace": e.namespace, "labels": labels },
        "addressType": e.address_type, "endpoints": endpoints, "ports": ports,
    })
}

fn endpoint_out(ep: &Endpoint) -> Value {
    let mut o = json!({ "addresses": ep.addresses, "conditions": { "ready": ep.ready } });
    if let Some(n) = &ep.node {
        o["nodeName"] = json!(n);
    }
    if let Some(pod) = &ep.pod {
        let (ns, name) = pod.split_once('/').unwrap_or(("", pod));
        o["targetRef"] = json!({ "kind": "Pod", "namespace": ns, "name": name });
    }
    o
}

fn endpoint_port_out(p: &EndpointPort) -> Value {
    let mut o = json!({ "protocol": p.protocol, "port": p.port });
    if let Some(n) = &p.name {
        o["name"] = json!(n);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_fallbacks_and_annotation_filter() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"n1",
            "annotations":{"flannel.alpha.coreos.com/public-ip":"192.0.2.11","kubeadm.alpha.kubernetes.io/cri-socket":"x"}},
            "spec":{"podCIDR":"10.244.1.0/24"},
            "status":{"addresses":[{"type":"InternalIP","address":"192.0.2.11"},{"type":"Hostname","address":"n1"}],
                      "conditions":[{"type":"Ready","status":"Unknown"}]}}]}"#;
        let n = &parse_nodes(text).unwrap()[0];
        assert_eq!(n.pod_cidrs, vec!["10.244.1.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(n.annotations.len(), 1);
        assert_eq!((n.internal_ips.len(), n.ready), (1, None));
    }

    #[test]
    fn single_object_and_headless_service() {
        let text = r#"{"kind":"Service","metadata":{"name":"db","namespace":"d"},
            "spec":{"clusterIP":"None","ports":[{"port":5432,"targetPort":"pg"}]}}"#;
        let s = &parse_services(text).unwrap()[0];
        assert!(s.cluster_ips.is_empty());
        assert_eq!(
            (s.service_type.as_str(), s.ports[0].target_port.as_deref()),
            ("ClusterIP", Some("pg"))
        );
        let e = parse_pods("{\"kind\":\"List\",\"items\":[{\"status\":{\"podIP\":\"bad\"}}]}")
            .unwrap_err();
        assert!(e.column() > 1);
    }
}
