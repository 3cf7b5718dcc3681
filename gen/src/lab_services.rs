//! The namespace lab's Services beyond ClusterIP: kube-proxy's mode
//! (iptables or nftables), web's NodePort, the outside namespace, and the
//! Service faults (`lab break service-*`, `masquerade-missing`,
//! `nodeport-local`) as changes to the objects and to what each node's
//! kube-proxy has seen.
//!
//! A node's kube-proxy programs the Services and EndpointSlices it has
//! seen. Most faults change the objects for every node (a pod that is not
//! ready, a Service switched to `externalTrafficPolicy: Local`); two are
//! one node's kube-proxy lagging behind: service-stale-backend (node s still
//! has an endpoint whose pod is gone) and service-rules-missing (node s has
//! no rules for default/web). [`LabPlan::kube_proxy_k8s`] is that per-node
//! view; the rules of both modes are generated from it.

use std::net::{IpAddr, Ipv4Addr};

use cnictl_model::K8s;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kube_proxy::KpNode;
use crate::kube_proxy_nft;
use crate::lab::{LabPlan, NodePair};

/// web's NodePort (TCP), on every node.
pub const WEB_NODE_PORT: u16 = 30080;

/// The pod index of web's pods, and the Service default/api's.
const WEB_POD: u32 = 1;
const API_POD: u32 = 2;

/// How kube-proxy programs the lab's Services (`lab up --kube-proxy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubeProxyMode {
    /// `iptables-restore` of KUBE-* chains (kube-proxy's default).
    #[default]
    Iptables,
    /// One `ip kube-proxy` nftables table, loaded with `nft -j -f`.
    Nftables,
}

impl KubeProxyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KubeProxyMode::Iptables => "iptables",
            KubeProxyMode::Nftables => "nftables",
        }
    }

    /// Parses `iptables` or `nftables` (None: anything else).
    pub fn parse(s: &str) -> Option<KubeProxyMode> {
        [KubeProxyMode::Iptables, KubeProxyMode::Nftables]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

impl LabPlan {
    /// The outside namespace's address: the client of NodePorts and the
    /// server pods egress to. It is beyond the underlay's router, on a
    /// network no node is on.
    pub fn outside_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, 10)
    }

    /// The underlay router's address on the outside network.
    pub fn outside_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, 1)
    }

    pub fn outside_ns(&self) -> String {
        format!("{}-out", self.prefix)
    }

    /// Records a Service fault injected on node s (others: no effect).
    pub(crate) fn apply_service_fault(&mut self, fault: &str, s: u32) {
        let peer = self.peers(s).0;
        let f = &mut self.faults;
        match fault {
            "service-stale-backend" => {
                f.stale_backend = Some(NodePair { node: s, peer });
            }
            "service-no-backends" => f.no_backends = true,
            "service-rules-missing" => f.rules_missing = Some(s),
            "masquerade-missing" => f.masquerade_missing = Some(s),
            "nodeport-local" => f.nodeport_local = Some(s),
            _ => {}
        }
    }

    /// service-stale-backend deleted pod p of node n.
    pub fn pod_gone(&self, n: u32, p: u32) -> bool {
        p == WEB_POD && self.faults.stale_backend.is_some_and(|s| s.peer == n)
    }

    /// Whether the endpoint of pod p of node n is ready: service-no-backends
    /// makes every api pod not ready; nodeport-local makes node s's web pod
    /// not ready, so node s has no local endpoint for the Local NodePort.
    pub(crate) fn endpoint_ready(&self, n: u32, p: u32) -> bool {
        let no_api = p == API_POD && self.faults.no_backends;
        let no_local_web = p == WEB_POD && self.faults.nodeport_local == Some(n);
        !(no_api || no_local_web)
    }

    /// Whether node n's CNI masquerades pod traffic leaving the cluster.
    pub fn masquerades(&self, n: u32) -> bool {
        self.faults.masquerade_missing != Some(n)
    }

    /// The Services and EndpointSlices node n's kube-proxy has seen.
    pub fn kube_proxy_k8s(&self, n: u32) -> K8s {
        let mut k8s = self.k8s();
        let slices = k8s.endpoint_slices.get_or_insert_with(Vec::new);
        if let Some(stale) = self.faults.stale_backend.filter(|s| s.node == n) {
            let web = slices.iter_mut().find(|s| is_web(s.service.as_deref()));
            if let Some(slice) = web {
                slice.endpoints.push(self.endpoint(stale.peer, WEB_POD));
            }
        }
        if self.faults.rules_missing == Some(n) {
            slices.retain(|s| !is_web(s.service.as_deref()));
            let services = k8s.services.get_or_insert_with(Vec::new);
            services.retain(|s| !is_web(Some(&s.name)));
        }
        k8s
    }

    /// Node n's kube-proxy ruleset in nftables mode, as `nft -j -f` loads
    /// it (empty in iptables mode: nothing to load).
    pub fn nft_ruleset(&self, n: u32) -> String {
        match self.kube_proxy {
            KubeProxyMode::Iptables => String::new(),
            KubeProxyMode::Nftables => loadable(&kube_proxy_nft::nft_json_for(
                &self.kube_proxy_k8s(n),
                &self.kube_proxy_node(n),
            )),
        }
    }

    /// Node n as its kube-proxy knows itself: its name (which endpoints
    /// are local, for externalTrafficPolicy Local), its address (NodePorts)
    /// and `--cluster-cidr` (the lab's pod range).
    pub fn kube_proxy_node(&self, n: u32) -> KpNode {
        KpNode {
            name: Some(self.node_name(n)),
            addresses: vec![IpAddr::V4(self.node_ip(n))],
            cluster_cidr: IpNet::V4(self.pod_range()),
        }
    }
}

/// A `nft -j list ruleset` listing reordered so `nft -j -f` can load it:
/// the table, every chain, then sets and maps (a verdict map's elements
/// name chains), then rules (they name sets). The listing's own order puts
/// each chain's rules right after it, before chains they jump to exist.
fn loadable(listing: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(listing) else {
        return listing.to_string();
    };
    let items = v["nftables"].as_array().map_or(&[][..], Vec::as_slice);
    let kinds = ["metainfo", "table", "chain", "set", "map", "rule"];
    let ordered: Vec<&Value> = kinds
        .iter()
        .flat_map(|k| items.iter().filter(move |i| i.get(k).is_some()))
        .collect();
    serde_json::json!({ "nftables": ordered }).to_string()
}

fn is_web(service: Option<&str>) -> bool {
    service == Some("web")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> LabPlan {
        LabPlan::new("flannel-vxlan", 3, 2, "cnlt").expect("valid lab")
    }

    fn web_endpoints(k8s: &K8s) -> Vec<String> {
        let slices = k8s.endpoint_slices.as_deref().unwrap_or(&[]);
        let web = slices.iter().filter(|s| is_web(s.service.as_deref()));
        let eps = web.flat_map(|s| s.endpoints.iter());
        eps.map(|e| e.addresses[0].to_string()).collect()
    }

    #[test]
    fn web_is_a_nodeport_service() {
        let mut plan = lab();
        let k = plan.k8s();
        let web = &k.services.as_ref().expect("services")[1];
        assert_eq!(web.service_type, "NodePort");
        assert_eq!(web.ports[0].node_port, Some(WEB_NODE_PORT));
        assert!(!web.local_external_traffic());
        plan.apply_fault("nodeport-local", 1);
        let k = plan.k8s();
        assert!(k.services.expect("services")[1].local_external_traffic());
    }

    #[test]
    fn stale_backend_only_on_the_broken_node() {
        let mut plan = lab();
        plan.apply_fault("service-stale-backend", 1);
        assert!(plan.pod_gone(2, 1) && !plan.pod_gone(1, 1) && !plan.pod_gone(2, 2));
        assert_eq!(web_endpoints(&plan.k8s()), ["10.244.1.2", "10.244.3.2"]);
        let stale = web_endpoints(&plan.kube_proxy_k8s(1));
        assert_eq!(stale, ["10.244.1.2", "10.244.3.2", "10.244.2.2"]);
        assert_eq!(web_endpoints(&plan.kube_proxy_k8s(3)).len(), 2);
        assert!(!plan.k8s().pods.iter().any(|p| p.name == "web-2"));
    }

    #[test]
    fn rules_missing_and_no_backends() {
        let mut plan = lab();
        plan.apply_fault("service-rules-missing", 2);
        let on2 = plan.kube_proxy_k8s(2);
        assert!(on2
            .services
            .expect("services")
            .iter()
            .all(|s| s.name != "web"));
        assert_eq!(web_endpoints(&plan.kube_proxy_k8s(1)).len(), 3);
        plan.apply_fault("service-no-backends", 1);
        let slices = plan.k8s().endpoint_slices.expect("slices");
        let api = slices.iter().find(|s| s.service.as_deref() == Some("api"));
        assert!(api.expect("api slice").endpoints.iter().all(|e| !e.ready));
    }

    #[test]
    fn nft_ruleset_only_in_nftables_mode() {
        let plan = lab();
        assert_eq!(plan.nft_ruleset(1), "");
        let nft = plan.with_kube_proxy(KubeProxyMode::Nftables).nft_ruleset(1);
        assert!(nft.contains("\"kube-proxy\""), "{nft}");
        // Loadable order: table, chains, sets and maps, rules.
        let v: Value = serde_json::from_str(&nft).expect("JSON");
        let kinds: Vec<&str> = v["nftables"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i.as_object()?.keys().next().map(String::as_str))
            .filter(|k| *k != "metainfo")
            .collect();
        let rank = |k: &str| {
            ["table", "chain", "set", "map", "rule"]
                .iter()
                .position(|x| *x == k)
        };
        assert!(
            kinds.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
            "{kinds:?}"
        );
        assert_eq!(kinds.last(), Some(&"rule"));
        assert_eq!(
            KubeProxyMode::parse("nftables"),
            Some(KubeProxyMode::Nftables)
        );
        assert_eq!(KubeProxyMode::parse("ipvs"), None);
    }
}
