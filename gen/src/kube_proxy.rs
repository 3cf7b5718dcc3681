//! kube-proxy's iptables-mode rules for one node, written as `iptables-save`
//! prints them: for the benchmarks (a 10,000-Service node) and the labs.
//!
//! Modelled on kube-proxy v1.31 `pkg/proxy/iptables/proxier.go`
//! (`syncProxyRules`): the same chains, rule order, matches and comments,
//! and chain names computed as kube-proxy computes them
//! (`servicePortChainName`, `servicePortEndpointChainName`: the first 16
//! characters of base32(SHA-256(service port name + protocol [+ endpoint])),
//! e.g. `KUBE-SVC-TCOU7JCQXEZGVUNU` for `kube-system/kube-dns:dns` udp).
//! Not modelled: NodePorts, external IPs, load balancers, session
//! affinity, topology (the Services issue extends this).

use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;

use cnictl_model::k8s::{Endpoint, EndpointPort};
use cnictl_model::{EndpointSlice, K8s, Service, ServicePort};
use data_encoding::BASE32;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

/// kube-proxy's masquerade mark bit (`--masquerade-bit 14`).
const MASQ_MARK: &str = "0x4000/0x4000";

/// The first 16 base32 characters of SHA-256(`input`).
fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    BASE32.encode(&digest)[..16].to_string()
}

/// `KUBE-SVC-…` of a service port (`ns/name:port` or `ns/name`) and protocol.
pub fn svc_chain(port_name: &str, proto: &str) -> String {
    format!("KUBE-SVC-{}", hash16(&format!("{port_name}{proto}")))
}

/// `KUBE-SEP-…` of one endpoint (`ip:port`) of a service port.
pub fn sep_chain(port_name: &str, proto: &str, endpoint: &str) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{port_name}{proto}{endpoint}"))
    )
}

/// One service port as kube-proxy programs it.
pub(crate) struct SvcPort {
    /// `ns/name:port` (or `ns/name` for an unnamed port).
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) service: String,
    /// The port's name, empty when unnamed.
    pub(crate) port_name: String,
    /// Lower case: `tcp`, `udp`, `sctp`.
    pub(crate) proto: String,
    pub(crate) cluster_ip: IpAddr,
    pub(crate) port: u16,
    /// Ready endpoints as `ip:port`, sorted.
    pub(crate) endpoints: Vec<String>,
}

/// The node's `iptables-save` (filter and nat tables) for `k8s`'s Services.
pub fn iptables_save(k8s: &K8s, cluster_cidr: IpNet) -> String {
    let ports = service_ports(k8s);
    let mut out = String::new();
    filter_table(&mut out, &ports);
    nat_table(&mut out, &ports, cluster_cidr);
    out
}

/// Every service port of `k8s` with a cluster IP, in Service order.
pub(crate) fn service_ports(k8s: &K8s) -> Vec<SvcPort> {
    let slices = slices_by_service(k8s.endpoint_slices.as_deref().unwrap_or(&[]));
    let mut out = Vec::new();
    for svc in k8s.services.iter().flatten() {
        let Some(ip) = svc.cluster_ips.first().copied() else {
            continue;
        };
        let key = (svc.namespace.as_str(), svc.name.as_str());
        let mine = slices.get(&key).map_or(&[][..], Vec::as_slice);
        for port in &svc.ports {
            out.push(svc_port(svc, port, ip, mine));
        }
    }
    out
}

/// (namespace, Service) → its EndpointSlices: looked up once per Service
/// instead of scanning every slice (10,000 Services, 10,000 slices).
fn slices_by_service(slices: &[EndpointSlice]) -> HashMap<(&str, &str), Vec<&EndpointSlice>> {
    let mut by = HashMap::<_, Vec<_>>::new();
    for s in slices {
        if let Some(svc) = s.service.as_deref() {
            by.entry((s.namespace.as_str(), svc)).or_default().push(s);
        }
    }
    by
}

fn svc_port(svc: &Service, port: &ServicePort, ip: IpAddr, slices: &[&EndpointSlice]) -> SvcPort {
    let name = match &port.name {
        Some(n) if !n.is_empty() => format!("{}/{}:{n}", svc.namespace, svc.name),
        _ => format!("{}/{}", svc.namespace, svc.name),
    };
    let proto = port.protocol.to_ascii_lowercase();
    SvcPort {
        endpoints: endpoints(port, slices),
        name,
        namespace: svc.namespace.clone(),
        service: svc.name.clone(),
        port_name: port.name.clone().unwrap_or_default(),
        proto,
        cluster_ip: ip,
        port: port.port,
    }
}

/// Ready endpoints of `slices` (one Service's) whose port has the same name.
fn endpoints(port: &ServicePort, slices: &[&EndpointSlice]) -> Vec<String> {
    let mut out = Vec::new();
    for slice in slices {
        let Some(ep_port) = slice.ports.iter().find(|p| p.name == port.name) else {
            continue;
        };
        for ep in slice.endpoints.iter().filter(|e| e.ready) {
            out.extend(ep.addresses.iter().map(|a| format!("{a}:{}", ep_port.port)));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn filter_table(out: &mut String, ports: &[SvcPort]) {
    out.push_str("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for chain in [
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FIREWALL",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "KUBE-SERVICES",
    ] {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    out.push_str(FILTER_BASE_RULES);
    for p in ports.iter().filter(|p| p.endpoints.is_empty()) {
        let _ = writeln!(
            out,
            "-A KUBE-SERVICES -d {}/32 -p {proto} -m comment --comment \"{} has no endpoints\" -m {proto} --dport {} -j REJECT --reject-with icmp-port-unreachable",
            p.cluster_ip, p.name, p.port, proto = p.proto
        );
    }
    out.push_str("COMMIT\n");
}

/// The filter rules kube-proxy writes whatever the Services.
const FILTER_BASE_RULES: &str = r#"-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
"#;

fn nat_table(out: &mut String, ports: &[SvcPort], cluster_cidr: IpNet) {
    out.push_str("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
    let mut chains = vec![
        "KUBE-MARK-MASQ".to_string(),
        "KUBE-NODEPORTS".into(),
        "KUBE-POSTROUTING".into(),
        "KUBE-SERVICES".into(),
    ];
    for p in ports.iter().filter(|p| !p.endpoints.is_empty()) {
        chains.push(svc_chain(&p.name, &p.proto));
        chains.extend(p.endpoints.iter().map(|e| sep_chain(&p.name, &p.proto, e)));
    }
    chains.sort();
    for c in &chains {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    out.push_str(NAT_BASE_RULES);
    for p in ports.iter().filter(|p| !p.endpoints.is_empty()) {
        service_rules(out, p, cluster_cidr);
    }
    out.push_str("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n");
}

const NAT_BASE_RULES: &str = r#"-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
"#;

/// KUBE-SERVICES → KUBE-SVC (masquerade mark for off-cluster sources, one
/// statistic branch per endpoint) → KUBE-SEP (hairpin mark, DNAT).
fn service_rules(out: &mut String, p: &SvcPort, cluster_cidr: IpNet) {
    let svc = svc_chain(&p.name, &p.proto);
    let (ip, port, proto, name) = (p.cluster_ip, p.port, &p.proto, &p.name);
    let _ = writeln!(out, "-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"{name} cluster IP\" -m {proto} --dport {port} -j {svc}");
    let _ = writeln!(out, "-A {svc} ! -s {cluster_cidr} -d {ip}/32 -p {proto} -m comment --comment \"{name} cluster IP\" -m {proto} --dport {port} -j KUBE-MARK-MASQ");
    let n = p.endpoints.len();
    for (i, ep) in p.endpoints.iter().enumerate() {
        let sep = sep_chain(name, proto, ep);
        let statistic = match n - i {
            1 => String::new(),
            left => format!(
                " -m statistic --mode random --probability {:.11}",
                1.0 / left as f64
            ),
        };
        let _ = writeln!(
            out,
            "-A {svc} -m comment --comment \"{name} -> {ep}\"{statistic} -j {sep}"
        );
    }
    for ep in &p.endpoints {
        endpoint_rules(out, p, ep);
    }
}

fn endpoint_rules(out: &mut String, p: &SvcPort, ep: &str) {
    let sep = sep_chain(&p.name, &p.proto, ep);
    let ip = ep.rsplit_once(':').map_or(ep, |(ip, _)| ip);
    let (name, proto) = (&p.name, &p.proto);
    let _ = writeln!(
        out,
        "-A {sep} -s {ip}/32 -m comment --comment \"{name}\" -j KUBE-MARK-MASQ"
    );
    let _ = writeln!(out, "-A {sep} -p {proto} -m comment --comment \"{name}\" -m {proto} -j DNAT --to-destination {ep}");
}

/// `services` ClusterIP Services (10.96.0.10 on, TCP 80) with `endpoints`
/// ready endpoints each (10.128.0.2 on, port 8080): the benchmarks' node.
pub fn bench_cluster(services: usize, endpoints: usize) -> K8s {
    let mut all = Vec::with_capacity(services);
    let mut slices = Vec::with_capacity(services);
    for s in 0..services {
        let name = format!("svc-{s}");
        all.push(Service {
            namespace: "default".into(),
            name: name.clone(),
            service_type: "ClusterIP".into(),
            cluster_ips: vec![offset_ip([10, 96, 0, 10], s)],
            ports: vec![ServicePort {
                name: Some("http".into()),
                protocol: "TCP".into(),
                port: 80,
                target_port: None,
                node_port: None,
            }],
            selector: Default::default(),
            ..Default::default()
        });
        let eps = (0..endpoints).map(|e| Endpoint {
            addresses: vec![offset_ip([10, 128, 0, 2], s * endpoints + e)],
            ready: true,
            node: None,
            pod: None,
        });
        slices.push(EndpointSlice {
            namespace: "default".into(),
            name: format!("{name}-x"),
            service: Some(name),
            address_type: "IPv4".into(),
            endpoints: eps.collect(),
            ports: vec![EndpointPort {
                name: Some("http".into()),
                protocol: "TCP".into(),
                port: 8080,
            }],
        });
    }
    K8s {
        services: Some(all),
        endpoint_slices: Some(slices),
        ..K8s::default()
    }
}

/// `base` + `n` as an IPv4 address.
pub fn offset_ip(base: [u8; 4], n: usize) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::from(
        u32::from(std::net::Ipv4Addr::from(base)) + n as u32,
    ))
}

/// kube-proxy's mark for masquerade, as its rules match it.
pub fn masquerade_mark() -> &'static str {
    MASQ_MARK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_kube_proxys() {
        // Names every kube-proxy in iptables mode writes for these Services.
        assert_eq!(
            svc_chain("kube-system/kube-dns:dns", "udp"),
            "KUBE-SVC-TCOU7JCQXEZGVUNU"
        );
        assert_eq!(
            svc_chain("default/kubernetes:https", "tcp"),
            "KUBE-SVC-NPX46M4PTMTKRN6Y"
        );
        assert_eq!(
            svc_chain("kube-system/kube-dns:dns-tcp", "tcp"),
            "KUBE-SVC-ERIFXISQEP7F7OF4"
        );
        assert_eq!(
            svc_chain("kube-system/kube-dns:metrics", "tcp"),
            "KUBE-SVC-JD5MR3NA4I4DYORP"
        );
    }
}
