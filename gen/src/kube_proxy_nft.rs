//! kube-proxy's nftables-mode ruleset for one node, written as
//! `nft -j list ruleset` prints it (nftables 1.0.6, JSON schema 1): for the
//! benchmarks (a 10,000-Service node) and the tests that load it with the
//! real `nft`.
//!
//! Modelled on kube-proxy v1.31 `pkg/proxy/nftables/proxier.go`
//! (`setupNFTables`, `syncProxyRules`, `writeServiceToEndpointRules`): one
//! `ip kube-proxy` table; base chains `filter-*` at `dstnat - 10`,
//! `filter-output-post-dnat` at `dstnat + 10`, `nat-prerouting`/`nat-output`
//! at `dstnat` and `nat-postrouting` at `srcnat`; Service dispatch through
//! the `service-ips` verdict map keyed `ip daddr . meta l4proto . th dport`;
//! per Service port a `service-<hash>-<ns>/<name>/<proto>/<port>` chain
//! (masquerade mark for off-cluster sources, then `numgen random mod N
//! vmap`) and per endpoint an `endpoint-<hash>-…__<ip>/<port>` chain
//! (hairpin mark, `dnat to`); Services without endpoints in
//! `no-endpoint-services` (`goto reject-chain`); masquerading by mark
//! 0x4000 (`--masquerade-bit 14`); `cluster-ips` and `nodeport-ips` sets
//! with NodePorts on the node's primary address (v1.31's default
//! `--nodeport-addresses primary` in nftables mode).
//!
//! Chain names are kube-proxy's (`hashAndTruncate`: the first 8 characters
//! of base32(SHA-256(name)), `-`, the name). Objects come in the order
//! `nft` lists them — per table: sets and maps, chains, then each chain's
//! rules — and in the order kube-proxy creates them. Handles are numbered
//! as the kernel numbers them when this listing is loaded back chains
//! first (a verdict map's elements name chains): chains, sets, then rules
//! in listing order, an anonymous map taking the handle before its rule.
//! External traffic as `syncProxyRules` writes it: `service-nodeports`
//! (NodePort → `external-<hash>-…`), external and load-balancer IPs in
//! `service-ips` → `external-…`; the external chain masquerades and goes to
//! the service chain (externalTrafficPolicy Cluster) or short-circuits pod
//! and node traffic and goes to the `local-<hash>-…` chain, the `numgen`
//! dispatch over this node's endpoints (Local; with no local endpoint it
//! ends there and the `no-endpoint-nodeports` / `no-endpoint-services`
//! entry drops what is left). Services with no endpoint at all go to
//! `reject-chain` through the same maps. Not modelled (as the iptables
//! generator): `loadBalancerSourceRanges` (so `firewall-ips` stays empty),
//! session affinity, internalTrafficPolicy Local, IPv6.

use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_model::K8s;
use data_encoding::BASE32;
use ipnet::IpNet;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::kube_proxy::{service_ports, KpNode, SvcPort};
use crate::kube_proxy_nft_elements::{elements, Elements};
use crate::kube_proxy_nft_expr::*;

/// kube-proxy's masquerade mark (`1 << 14`).
pub(crate) const MASQ_MARK: u32 = 0x4000;
const TABLE: &str = "kube-proxy";

/// `hashAndTruncate`: `HASH8-name` (names here never reach the 240-byte cut).
fn hash_and_truncate(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("{}-{name}", &BASE32.encode(&digest)[..8])
}

/// `service-HASH-ns/name/proto/port`: a service port's chain.
pub fn service_chain(namespace: &str, service: &str, proto: &str, port: &str) -> String {
    let base = format!("{namespace}/{service}/{proto}/{port}");
    format!("service-{}", hash_and_truncate(&base))
}

/// `local-HASH-ns/name/proto/port`: a service port's local-endpoints chain.
pub fn local_chain(namespace: &str, service: &str, proto: &str, port: &str) -> String {
    let base = format!("{namespace}/{service}/{proto}/{port}");
    format!("local-{}", hash_and_truncate(&base))
}

/// `external-HASH-ns/name/proto/port`: a service port's external chain.
pub fn external_chain(namespace: &str, service: &str, proto: &str, port: &str) -> String {
    let base = format!("{namespace}/{service}/{proto}/{port}");
    format!("external-{}", hash_and_truncate(&base))
}

/// `endpoint-HASH-ns/name/proto/port__ip/port` (IPv6 colons as dots).
pub fn endpoint_chain(namespace: &str, service: &str, proto: &str, port: &str, ep: &str) -> String {
    let (ip, ep_port) = ep.rsplit_once(':').unwrap_or((ep, ""));
    let ip = ip.trim_matches(['[', ']']).replace(':', ".");
    let base = format!("{namespace}/{service}/{proto}/{port}__{ip}/{ep_port}");
    format!("endpoint-{}", hash_and_truncate(&base))
}

/// The node's `nft -j list ruleset` for `k8s`'s Services: pods in
/// `cluster_cidr` are local (not masqueraded), `node_ip` takes NodePorts.
pub fn nft_json(k8s: &K8s, cluster_cidr: IpNet, node_ip: IpAddr) -> String {
    let mut node = KpNode::anonymous(cluster_cidr);
    node.addresses.push(node_ip);
    nft_json_for(k8s, &node)
}

/// `node`'s `nft -j list ruleset` for `k8s`'s Services (NodePorts on its
/// first address, `--nodeport-addresses primary`).
pub fn nft_json_for(k8s: &K8s, node: &KpNode) -> String {
    let ports = service_ports(k8s, node);
    let mut w = Writer::default();
    w.chains(&ports);
    w.sets(&ports, node.addresses.first().copied());
    w.base_rules();
    for p in ports.iter().filter(|p| !p.endpoints.is_empty()) {
        w.service_rules(p, node.cluster_cidr);
    }
    w.finish()
}

/// Objects in listing order. Rules are kept serialized (a 10,000-Service
/// listing as one `Value` tree took 2 GB).
#[derive(Default)]
struct Writer {
    sets: Vec<Value>,
    chains: Vec<Value>,
    /// (chain, rule body, holds an anonymous map): handles are given in
    /// `finish`, once the rules are in listing order.
    rules: Vec<(String, String, bool)>,
    handle: u64,
}

/// (name, type, hook, priority) of kube-proxy's base chains.
const BASE_CHAINS: [(&str, &str, &str, i32); 8] = [
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

/// Regular chains in the order `setupNFTables` creates them.
const TOP_CHAINS: [&str; 8] = [
    "nodeport-endpoints-check",
    "service-endpoints-check",
    "firewall-check",
    "services",
    "masquerading",
    "cluster-ips-check",
    "mark-for-masquerade",
    "reject-chain",
];

/// `nftablesJumpChains`: (from, `ct state new` first?, to).
const JUMPS: [(&str, bool, &str); 11] = [
    ("filter-input", true, "nodeport-endpoints-check"),
    ("filter-input", true, "service-endpoints-check"),
    ("filter-forward", true, "service-endpoints-check"),
    ("filter-output", true, "service-endpoints-check"),
    ("filter-prerouting", true, "firewall-check"),
    ("filter-output", true, "firewall-check"),
    ("nat-output", false, "services"),
    ("nat-prerouting", false, "services"),
    ("nat-postrouting", false, "masquerading"),
    ("filter-forward", true, "cluster-ips-check"),
    ("filter-output-post-dnat", true, "cluster-ips-check"),
];

impl Writer {
    fn next_handle(&mut self) -> u64 {
        self.handle += 1;
        self.handle
    }

    /// Base chains, kube-proxy's fixed chains, then per Service port its
    /// endpoint chains and its service chain.
    fn chains(&mut self, ports: &[SvcPort]) {
        for (name, kind, hook, prio) in BASE_CHAINS {
            let mut c = self.chain(name);
            let body = c["chain"].as_object_mut().expect("chain object");
            body.insert("type".into(), json!(kind));
            body.insert("hook".into(), json!(hook));
            body.insert("prio".into(), json!(prio));
            body.insert("policy".into(), json!("accept"));
            self.chains.push(c);
        }
        for name in TOP_CHAINS {
            let c = self.chain(name);
            self.chains.push(c);
        }
        for p in ports.iter().filter(|p| !p.endpoints.is_empty()) {
            for ep in &p.endpoints {
                let c = self.chain(&ep_chain(p, ep));
                self.chains.push(c);
            }
            for name in service_chains(p) {
                let c = self.chain(&name);
                self.chains.push(c);
            }
        }
    }

    fn chain(&mut self, name: &str) -> Value {
        let handle = self.next_handle();
        json!({"chain": {"family": "ip", "table": TABLE, "name": name, "handle": handle}})
    }

    /// `setupNFTables`' sets and maps, filled as `syncProxyRules` fills them.
    fn sets(&mut self, ports: &[SvcPort], node_ip: Option<IpAddr>) {
        let Elements {
            cluster_ips,
            no_endpoints,
            no_endpoint_nodeports,
            service_ips,
            service_nodeports,
        } = elements(ports);
        let node_ips = node_ip.iter().map(|ip| json!(ip)).collect();
        let (addr, vmap3, vmap2) = (json!("ipv4_addr"), dispatch_type(), port_type());
        let empty = Vec::new;
        self.set(
            "set",
            "cluster-ips",
            addr.clone(),
            SET_COMMENTS[0],
            cluster_ips,
        );
        self.set("set", "nodeport-ips", addr, SET_COMMENTS[1], node_ips);
        self.set(
            "map",
            "no-endpoint-services",
            vmap3.clone(),
            SET_COMMENTS[2],
            no_endpoints,
        );
        self.set(
            "map",
            "no-endpoint-nodeports",
            vmap2.clone(),
            SET_COMMENTS[3],
            no_endpoint_nodeports,
        );
        self.set(
            "map",
            "firewall-ips",
            vmap3.clone(),
            SET_COMMENTS[4],
            empty(),
        );
        self.set("map", "service-ips", vmap3, SET_COMMENTS[5], service_ips);
        self.set(
            "map",
            "service-nodeports",
            vmap2,
            SET_COMMENTS[6],
            service_nodeports,
        );
    }

    fn set(&mut self, kind: &str, name: &str, key_type: Value, comment: &str, elem: Vec<Value>) {
        let mut body = json!({
            "family": "ip", "table": TABLE, "name": name, "type": key_type,
            "handle": self.next_handle(), "comment": comment,
        });
        let o = body.as_object_mut().expect("set object");
        if kind == "map" {
            o.insert("map".into(), json!("verdict"));
        }
        if !elem.is_empty() {
            o.insert("elem".into(), Value::Array(elem));
        }
        self.sets.push(json!({ kind: body }));
    }

    fn rule(&mut self, chain: &str, comment: Option<&str>, expr: Vec<Value>) {
        let anonymous = expr
            .iter()
            .any(|e| e["vmap"]["key"].get("numgen").is_some());
        let mut body = json!({"family": "ip", "table": TABLE, "chain": chain});
        if let Some(c) = comment {
            body["comment"] = json!(c);
        }
        body["expr"] = Value::Array(expr);
        self.rules
            .push((chain.to_string(), body.to_string(), anonymous));
    }

    /// The rules `setupNFTables` writes whatever the Services.
    fn base_rules(&mut self) {
        for (from, new_only, to) in JUMPS {
            let mut expr = if new_only { vec![ct_new()] } else { vec![] };
            expr.push(json!({"jump": {"target": to}}));
            self.rule(from, None, expr);
        }
        self.masquerade_rules();
        let reject = || json!({"reject": {"type": "icmp", "expr": "port-unreachable"}});
        let invalid_ports = Some("Reject traffic to invalid ports of ClusterIPs");
        self.rule(
            "cluster-ips-check",
            invalid_ports,
            vec![daddr_in("@cluster-ips"), reject()],
        );
        self.rule("reject-chain", None, vec![reject()]);
        self.dispatch_rules();
    }

    /// `mark-for-masquerade` and `masquerading`: masquerade by mark.
    fn masquerade_rules(&mut self) {
        self.rule("mark-for-masquerade", None, vec![mark_op("|")]);
        let unmarked =
            json!({"match": {"op": "==", "left": {"&": [meta("mark"), MASQ_MARK]}, "right": 0}});
        self.rule(
            "masquerading",
            None,
            vec![unmarked, json!({"return": null})],
        );
        self.rule("masquerading", None, vec![mark_op("^")]);
        let masquerade = json!({"masquerade": {"flags": "fully-random"}});
        self.rule("masquerading", None, vec![masquerade]);
    }

    /// The verdict-map lookups: endpoints checks, firewall, dispatch.
    fn dispatch_rules(&mut self) {
        let by_port = |map: &str| vec![daddr_in("@nodeport-ips"), vmap(port_key(), map)];
        let by_ip = |map: &str| vec![vmap(dispatch_key(), map)];
        self.rule(
            "service-endpoints-check",
            None,
            by_ip("@no-endpoint-services"),
        );
        self.rule(
            "nodeport-endpoints-check",
            None,
            by_port("@no-endpoint-nodeports"),
        );
        self.rule("firewall-check", None, by_ip("@firewall-ips"));
        self.rule("services", None, by_ip("@service-ips"));
        self.rule("services", None, by_port("@service-nodeports"));
    }

    /// A service port's chain and its endpoints' chains.
    fn service_rules(&mut self, p: &SvcPort, cluster_cidr: IpNet) {
        let chain = svc_chain(p);
        let masq = vec![
            json!({"match": {"op": "==", "left": payload("ip", "daddr"), "right": p.cluster_ip}}),
            json!({"match": {"op": "==", "left": payload(&p.proto, "dport"), "right": p.port}}),
            json!({"match": {"op": "!=", "left": payload("ip", "saddr"), "right": prefix(cluster_cidr)}}),
            json!({"jump": {"target": "mark-for-masquerade"}}),
        ];
        self.rule(&chain, None, masq);
        self.numgen(&chain, p, &p.endpoints);
        if p.external() {
            self.external_rules(p, cluster_cidr);
        }
        if p.local_external && !p.local_endpoints.is_empty() {
            let local = ports_local_chain(p);
            self.numgen(&local, p, &p.local_endpoints);
        }
        for ep in &p.endpoints {
            self.endpoint_rules(p, ep);
        }
    }

    /// `numgen random mod N vmap { i : goto endpoint-… }` in `chain`.
    fn numgen(&mut self, chain: &str, p: &SvcPort, endpoints: &[String]) {
        let arms: Vec<Value> = (endpoints.iter().enumerate())
            .map(|(i, ep)| json!([i, goto(&ep_chain(p, ep))]))
            .collect();
        let numgen = json!({"numgen": {"mode": "random", "mod": arms.len(), "offset": 0}});
        self.rule(
            chain,
            None,
            vec![json!({"vmap": {"key": numgen, "data": {"set": arms}}})],
        );
    }

    /// The `external-…` chain: masquerade then the service chain (Cluster),
    /// or the pod/node short-circuits then the local chain (Local).
    fn external_rules(&mut self, p: &SvcPort, cluster_cidr: IpNet) {
        let (ext, svc) = (ext_chain_of(p), svc_chain(p));
        let masq = json!({"jump": {"target": "mark-for-masquerade"}});
        if !p.local_external {
            self.rule(&ext, None, vec![masq]);
            self.rule(&ext, None, vec![goto(&svc)]);
            return;
        }
        let pods = json!({"match": {"op": "==", "left": payload("ip", "saddr"), "right": prefix(cluster_cidr)}});
        self.rule(
            &ext,
            Some("short-circuit pod traffic"),
            vec![pods, goto(&svc)],
        );
        self.rule(
            &ext,
            Some("masquerade local traffic"),
            vec![fib_saddr_local(), masq],
        );
        let short = vec![fib_saddr_local(), goto(&svc)];
        self.rule(&ext, Some("short-circuit local traffic"), short);
        if !p.local_endpoints.is_empty() {
            self.rule(&ext, None, vec![goto(&ports_local_chain(p))]);
        }
    }

    fn endpoint_rules(&mut self, p: &SvcPort, ep: &str) {
        let chain = ep_chain(p, ep);
        let (ip, port) = ep.rsplit_once(':').unwrap_or((ep, "0"));
        let port: u16 = port.parse().unwrap_or(0);
        let hairpin = json!({"match": {"op": "==", "left": payload("ip", "saddr"), "right": ip}});
        self.rule(
            &chain,
            None,
            vec![hairpin, json!({"jump": {"target": "mark-for-masquerade"}})],
        );
        let proto = json!({"match": {"op": "==", "left": meta("l4proto"), "right": p.proto}});
        self.rule(
            &chain,
            None,
            vec![proto, json!({"dnat": {"addr": ip, "port": port}})],
        );
    }

    /// `{"nftables": [metainfo, table, sets, chains, rules by chain]}`.
    fn finish(mut self) -> String {
        let order: HashMap<&str, usize> = (self.chains.iter().enumerate())
            .map(|(i, c)| (c["chain"]["name"].as_str().unwrap_or(""), i))
            .collect();
        let mut rules = std::mem::take(&mut self.rules);
        rules.sort_by_key(|(chain, _, _)| order.get(chain.as_str()).copied());
        drop(order);
        let meta = json!({"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}});
        let table = json!({"table": {"family": "ip", "name": TABLE, "handle": 1}});
        let mut out = format!("{{\"nftables\":[{meta},{table}");
        for item in self.sets.iter().chain(&self.chains) {
            out.push(',');
            out.push_str(&item.to_string());
        }
        for (_, body, anonymous) in rules {
            if anonymous {
                self.next_handle();
            }
            // `body` is `{…}`: the handle goes in first.
            let handle = self.next_handle();
            out.push_str(&format!(
                ",{{\"rule\":{{\"handle\":{handle},{}}}",
                &body[1..]
            ));
        }
        out.push_str("]}");
        out
    }
}

/// The comments `setupNFTables` gives its sets and maps, in order.
const SET_COMMENTS: [&str; 7] = [
    "Active ClusterIPs",
    "IPs that accept NodePort traffic",
    "vmap to drop or reject packets to services with no endpoints",
    "vmap to drop or reject packets to service nodeports with no endpoints",
    "destinations that are subject to LoadBalancerSourceRanges",
    "ClusterIP, ExternalIP and LoadBalancer IP traffic",
    "NodePort traffic",
];

pub(crate) fn svc_chain(p: &SvcPort) -> String {
    service_chain(&p.namespace, &p.service, &p.proto, &p.port_name)
}

pub(crate) fn ext_chain_of(p: &SvcPort) -> String {
    external_chain(&p.namespace, &p.service, &p.proto, &p.port_name)
}

fn ports_local_chain(p: &SvcPort) -> String {
    local_chain(&p.namespace, &p.service, &p.proto, &p.port_name)
}

/// A service port's chains after its endpoints': service, local, external.
fn service_chains(p: &SvcPort) -> Vec<String> {
    let mut out = vec![svc_chain(p)];
    if p.local_external && !p.local_endpoints.is_empty() {
        out.push(ports_local_chain(p));
    }
    if p.external() {
        out.push(ext_chain_of(p));
    }
    out
}

fn ep_chain(p: &SvcPort, ep: &str) -> String {
    endpoint_chain(&p.namespace, &p.service, &p.proto, &p.port_name, ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_kube_proxys() {
        // The examples in kube-proxy v1.31's servicePortChainNameBase and
        // servicePortEndpointChainNameBase doc comments.
        assert_eq!(
            service_chain("ns1", "svc1", "tcp", "p80"),
            "service-ULMVA6XW-ns1/svc1/tcp/p80"
        );
        assert_eq!(
            endpoint_chain("ns1", "svc1", "tcp", "p80", "10.180.0.1:80"),
            "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
        );
    }
}
