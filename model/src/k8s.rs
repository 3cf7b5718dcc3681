//! The Kubernetes objects cnictl needs, reduced to the fields it reads.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::calico::CalicoObjects;
use crate::netpol::{Namespace, NetworkPolicy};

/// The cluster's objects. `services` and `endpoint_slices` are `None` when
/// not collected (optional bundle files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct K8s {
    pub nodes: Vec<K8sNode>,
    pub pods: Vec<Pod>,
    #[serde(default)]
    pub services: Option<Vec<Service>>,
    #[serde(default)]
    pub endpoint_slices: Option<Vec<EndpointSlice>>,
    /// `k8s/networkpolicies.json`; `None`: not collected (policy intent
    /// unknown), `Some(empty)`: no policy, every pod is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policies: Option<Vec<NetworkPolicy>>,
    /// `k8s/namespaces.json`, for namespace labels; `None`: only the
    /// automatic `kubernetes.io/metadata.name` label is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<Namespace>>,
    /// Calico's custom resources (BGP topology, IPAM); each list `None`
    /// when not collected.
    #[serde(default, skip_serializing_if = "CalicoObjects::is_empty")]
    pub calico: CalicoObjects,
}

impl K8s {
    pub fn node(&self, name: &str) -> Option<&K8sNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }
}

/// Annotation prefixes that are kept; the rest of a node's annotations are
/// noise for cnictl (and can be large).
pub const KEPT_ANNOTATION_PREFIXES: &[&str] = &[
    "flannel.alpha.coreos.com/",
    "projectcalico.org/",
    "io.cilium",
    "network.cilium.io/",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sNode {
    pub name: String,
    #[serde(default)]
    pub internal_ips: Vec<IpAddr>,
    /// `spec.podCIDRs` (or `spec.podCIDR` on old clusters).
    #[serde(default)]
    pub pod_cidrs: Vec<IpNet>,
    /// Flannel / Calico / Cilium annotations only.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub ready: Option<bool>,
    /// Labels (Calico's BGPPeer selectors match them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl K8sNode {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    #[serde(default)]
    pub host_network: bool,
    #[serde(default)]
    pub phase: String,
    /// Labels, used to match Services' selectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its containers' declared ports, to resolve named ports of
    /// NetworkPolicies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_ports: Vec<ContainerPort>,
    /// The controlling owner (`ownerReferences` with `controller: true`):
    /// matrices group replicas by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: u16,
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

impl Pod {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// `clusterIPs` (or `clusterIP`); empty for headless (`None`) services.
    #[serde(default)]
    pub cluster_ips: Vec<IpAddr>,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// `externalTrafficPolicy` (`Cluster` or `Local`) of a NodePort or
    /// LoadBalancer Service; `None` when not set (Kubernetes: `Cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<String>,
    /// `spec.externalIPs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_ips: Vec<IpAddr>,
}

impl Service {
    /// Whether `key` is this Service's `ns/name`, without building the key
    /// (explain looks a Service up among tens of thousands).
    pub fn is(&self, key: &str) -> bool {
        key.split_once('/')
            .is_some_and(|(ns, name)| ns == self.namespace && name == self.name)
    }

    /// Whether external traffic only goes to endpoints on the node it
    /// entered (`externalTrafficPolicy: Local`).
    pub fn local_external_traffic(&self) -> bool {
        self.external_traffic_policy.as_deref() == Some("Local")
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `TCP`, `UDP`, `SCTP`.
    pub protocol: String,
    pub port: u16,
    /// A number or a named port, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSlice {
    pub namespace: String,
    pub name: String,
    /// The `kubernetes.io/service-name` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `IPv4`, `IPv6`, `FQDN`.
    #[serde(default)]
    pub address_type: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    /// `conditions.ready`; absent means ready, per the API.
    #[serde(default = "yes")]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `targetRef` as `namespace/name` when it names a Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub protocol: String,
    pub port: u16,
}
