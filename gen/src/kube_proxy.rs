//! kube-proxy's iptables-mode rules for one node, as `iptables-restore`
//! input (what kube-proxy writes and `iptables-save` reads back): for the
//! benchmarks (a 10,000-Service node), `cnictl gen --kube-proxy iptables`
//! and the labs.
//!
//! Modelled on kube-proxy v1.31 `pkg/proxy/iptables/proxier.go`
//! (`syncProxyRules`, `writeServiceToEndpointRules`): the same chains, rule
//! order, matches and comments, and chain names computed as kube-proxy
//! computes them (`portProtoHash`: the first 16 characters of
//! base32(SHA-256(service port name + protocol)), prefixed `KUBE-SVC-`
//! (`servicePortPolicyClusterChain`), `KUBE-SVL-`
//! (`servicePortPolicyLocalChainName`), `KUBE-EXT-`
//! (`serviceExternalChainName`), `KUBE-FW-` (`serviceFirewallChainName`);
//! `servicePortEndpointChainName` hashes name + protocol + `ip:port`).
//! Covered: ClusterIP, NodePorts (`KUBE-NODEPORTS` → `KUBE-EXT-*`),
//! external IPs and load-balancer ingress IPs, externalTrafficPolicy
//! Cluster (masquerade, then `KUBE-SVC-*`) and Local (the short-circuit
//! rules, then `KUBE-SVL-*` with this node's endpoints, or the filter
//! "has no local endpoints" DROP), the "has no endpoints" REJECTs.
//! Not modelled: `loadBalancerSourceRanges` (the model has none, so no
//! `KUBE-FW-*` chain is ever needed), health-check NodePorts, session
//! affinity, internalTrafficPolicy Local, terminating endpoints, IPv6.

use std::fmt::Write;

use cnictl_model::K8s;
use data_encoding::BASE32;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

pub use crate::kube_proxy_ports::{bench_cluster, offset_ip, KpNode};
pub(crate) use crate::kube_proxy_ports::{service_ports, SvcPort};

/// kube-proxy's masquerade mark bit (`--masquerade-bit 14`).
const MASQ_MARK: &str = "0x4000/0x4000";

/// `portProtoHash`: the first 16 base32 characters of SHA-256(`input`).
fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    BASE32.encode(&digest)[..16].to_string()
}

/// `KUBE-SVC-…` of a service port (`ns/name:port` or `ns/name`) and protocol.
pub fn svc_chain(port_name: &str, proto: &str) -> String {
    format!("KUBE-SVC-{}", hash16(&format!("{port_name}{proto}")))
}

/// `KUBE-SVL-…`: the service port's local-endpoints chain.
pub fn svl_chain(port_name: &str, proto: &str) -> String {
    format!("KUBE-SVL-{}", hash16(&format!("{port_name}{proto}")))
}

/// `KUBE-EXT-…`: the service port's external-destinations chain.
pub fn ext_chain(port_name: &str, proto: &str) -> String {
    format!("KUBE-EXT-{}", hash16(&format!("{port_name}{proto}")))
}

/// `KUBE-FW-…`: the service port's loadBalancerSourceRanges chain (named
/// for completeness; never written, see the module comment).
pub fn fw_chain(port_name: &str, proto: &str) -> String {
    format!("KUBE-FW-{}", hash16(&format!("{port_name}{proto}")))
}

/// `KUBE-SEP-…` of one endpoint (`ip:port`) of a service port.
pub fn sep_chain(port_name: &str, proto: &str, endpoint: &str) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{port_name}{proto}{endpoint}"))
    )
}

/// The node's `iptables-save` (filter and nat tables) for `k8s`'s Services,
/// on a node that owns no endpoint.
pub fn iptables_save(k8s: &K8s, cluster_cidr: IpNet) -> String {
    iptables_save_for(k8s, &KpNode::anonymous(cluster_cidr))
}

/// `node`'s `iptables-save` (filter and nat tables) for `k8s`'s Services.
pub fn iptables_save_for(k8s: &K8s, node: &KpNode) -> String {
    let ports = service_ports(k8s, node);
    let mut out = String::new();
    filter_table(&mut out, &ports);
    nat_table(&mut out, &ports, node.cluster_cidr);
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
    for p in ports {
        no_endpoint_rules(out, p);
    }
    out.push_str("COMMIT\n");
}

/// The filter rules for traffic that has no endpoint to go to: REJECT when
/// the Service has none, DROP for external traffic when eTP Local and this
/// node has none (what the `KUBE-EXT-*` short-circuits let through).
fn no_endpoint_rules(out: &mut String, p: &SvcPort) {
    let (proto, comment) = (&p.proto, p.no_endpoints_comment());
    let verdict = match p.endpoints.is_empty() {
        true => "REJECT --reject-with icmp-port-unreachable",
        false => "DROP",
    };
    if p.endpoints.is_empty() {
        let _ = writeln!(out, "-A KUBE-SERVICES -d {}/32 -p {proto} -m comment --comment \"{comment}\" -m {proto} --dport {} -j {verdict}", p.cluster_ip, p.port);
    }
    if p.has_external_endpoints() {
        return;
    }
    for (ip, _) in p.external_dsts() {
        let _ = writeln!(out, "-A KUBE-EXTERNAL-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"{comment}\" -m {proto} --dport {} -j {verdict}", p.port);
    }
    if let Some(np) = p.node_port {
        let _ = writeln!(out, "-A KUBE-EXTERNAL-SERVICES -p {proto} -m comment --comment \"{comment}\" -m addrtype --dst-type LOCAL -m {proto} --dport {np} -j {verdict}");
    }
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
        chains.extend(nat_chains(p));
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

/// The nat chains of a service port with endpoints: SVC, EXT if reachable
/// from outside, SVL if eTP Local with local endpoints, one SEP each.
fn nat_chains(p: &SvcPort) -> Vec<String> {
    let mut chains = vec![svc_chain(&p.name, &p.proto)];
    if p.external() {
        chains.push(ext_chain(&p.name, &p.proto));
    }
    if p.local_external && !p.local_endpoints.is_empty() {
        chains.push(svl_chain(&p.name, &p.proto));
    }
    chains.extend(p.endpoints.iter().map(|e| sep_chain(&p.name, &p.proto, e)));
    chains
}

const NAT_BASE_RULES: &str = r#"-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
"#;

/// One service port with endpoints, in `syncProxyRules`' order: the
/// captures (cluster IP, external IPs, LB IPs, NodePort), the SVC chain's
/// masquerade rule, the EXT chain, the SVC and SVL dispatch, the SEPs.
fn service_rules(out: &mut String, p: &SvcPort, cluster_cidr: IpNet) {
    let svc = svc_chain(&p.name, &p.proto);
    let (ip, port, proto, name) = (p.cluster_ip, p.port, &p.proto, &p.name);
    let _ = writeln!(out, "-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"{name} cluster IP\" -m {proto} --dport {port} -j {svc}");
    capture_external(out, p);
    let _ = writeln!(out, "-A {svc} ! -s {cluster_cidr} -d {ip}/32 -p {proto} -m comment --comment \"{name} cluster IP\" -m {proto} --dport {port} -j KUBE-MARK-MASQ");
    if p.external() {
        external_chain_rules(out, p, cluster_cidr);
    }
    dispatch(out, p, &svc, &p.endpoints);
    if p.local_external && !p.local_endpoints.is_empty() {
        dispatch(out, p, &svl_chain(name, proto), &p.local_endpoints);
    }
    for ep in &p.endpoints {
        endpoint_rules(out, p, ep);
    }
}

/// `KUBE-SERVICES -d IP … -j KUBE-EXT-*` per external and LB IP, and
/// `KUBE-NODEPORTS … --dport NODEPORT -j KUBE-EXT-*`.
fn capture_external(out: &mut String, p: &SvcPort) {
    let ext = ext_chain(&p.name, &p.proto);
    let (port, proto, name) = (p.port, &p.proto, &p.name);
    for (ip, what) in p.external_dsts() {
        let _ = writeln!(out, "-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"{name} {what}\" -m {proto} --dport {port} -j {ext}");
    }
    if let Some(np) = p.node_port {
        let _ = writeln!(out, "-A KUBE-NODEPORTS -p {proto} -m comment --comment \"{name}\" -m {proto} --dport {np} -j {ext}");
    }
}

/// `KUBE-EXT-*`: Cluster policy masquerades everything then goes to SVC;
/// Local short-circuits pod and node traffic to SVC and sends the rest to
/// SVL (nothing when this node has no endpoint: the filter DROP decides).
fn external_chain_rules(out: &mut String, p: &SvcPort, cluster_cidr: IpNet) {
    let (ext, svc, name) = (
        ext_chain(&p.name, &p.proto),
        svc_chain(&p.name, &p.proto),
        &p.name,
    );
    if !p.local_external {
        let _ = writeln!(out, "-A {ext} -m comment --comment \"masquerade traffic for {name} external destinations\" -j KUBE-MARK-MASQ");
        let _ = writeln!(out, "-A {ext} -j {svc}");
        return;
    }
    let _ = writeln!(out, "-A {ext} -s {cluster_cidr} -m comment --comment \"pod traffic for {name} external destinations\" -j {svc}");
    let _ = writeln!(out, "-A {ext} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ");
    let _ = writeln!(out, "-A {ext} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {svc}");
    if !p.local_endpoints.is_empty() {
        let _ = writeln!(out, "-A {ext} -j {}", svl_chain(name, &p.proto));
    }
}

/// `writeServiceToEndpointRules`: one `statistic` branch per endpoint, the
/// last taking what is left.
fn dispatch(out: &mut String, p: &SvcPort, chain: &str, endpoints: &[String]) {
    let (name, proto) = (&p.name, &p.proto);
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
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
            "-A {chain} -m comment --comment \"{name} -> {ep}\"{statistic} -j {sep}"
        );
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
