//! The elements kube-proxy's nftables `syncProxyRules` puts in its sets
//! and maps for each service port.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::kube_proxy::SvcPort;
use crate::kube_proxy_nft::{ext_chain_of, svc_chain};
use crate::kube_proxy_nft_expr::goto;

/// The elements `syncProxyRules` puts in the sets and maps.
pub(crate) struct Elements {
    pub(crate) cluster_ips: Vec<Value>,
    pub(crate) no_endpoints: Vec<Value>,
    pub(crate) no_endpoint_nodeports: Vec<Value>,
    pub(crate) service_ips: Vec<Value>,
    pub(crate) service_nodeports: Vec<Value>,
}

/// Per service port: its cluster IP; `service-ips` entries for the cluster
/// IP (→ service chain) and external/LB IPs (→ external chain) when it has
/// endpoints; `no-endpoint-services` entries for what has no endpoint to
/// go to; the NodePort in `service-nodeports` / `no-endpoint-nodeports`.
pub(crate) fn elements(ports: &[SvcPort]) -> Elements {
    let mut e = Elements {
        cluster_ips: ports.iter().map(|p| json!(p.cluster_ip)).collect(),
        no_endpoints: Vec::new(),
        no_endpoint_nodeports: Vec::new(),
        service_ips: Vec::new(),
        service_nodeports: Vec::new(),
    };
    for p in ports {
        e.add(p);
    }
    e
}

impl Elements {
    fn add(&mut self, p: &SvcPort) {
        let served = !p.endpoints.is_empty();
        let key = |ip: IpAddr| json!({"concat": [ip, p.proto, p.port]});
        let commented = |k: Value| json!({"elem": {"val": k, "comment": p.name}});
        match served {
            true => self
                .service_ips
                .push(json!([key(p.cluster_ip), goto(&svc_chain(p))])),
            false => (self.no_endpoints)
                .push(json!([commented(key(p.cluster_ip)), goto("reject-chain")])),
        }
        let verdict = no_endpoint_verdict(p);
        for (ip, _) in p.external_dsts() {
            if served {
                (self.service_ips).push(json!([key(ip), goto(&ext_chain_of(p))]));
            }
            if !p.has_external_endpoints() {
                (self.no_endpoints).push(json!([commented(key(ip)), verdict.clone()]));
            }
        }
        let Some(np) = p.node_port else { return };
        let key = json!({"concat": [p.proto, np]});
        if served {
            (self.service_nodeports).push(json!([key.clone(), goto(&ext_chain_of(p))]));
        }
        if !p.has_external_endpoints() {
            (self.no_endpoint_nodeports).push(json!([commented(key), verdict]));
        }
    }
}

/// `goto reject-chain` when the Service has no endpoint, `drop` when only
/// this node has none for external traffic (eTP Local).
fn no_endpoint_verdict(p: &SvcPort) -> Value {
    match p.endpoints.is_empty() {
        true => goto("reject-chain"),
        false => json!({"drop": null}),
    }
}
