//! The iptables rules and ipsets kube-proxy writes beside its IPVS tables,
//! as `iptables-save` and `ipset save` print them: IPVS does the DNAT, these
//! decide masquerading (off-cluster sources to a cluster IP, NodePorts
//! unless externalTrafficPolicy Local, hairpin through `KUBE-LOOP-BACK`),
//! external and load-balancer IPs, and reject traffic to kube-ipvs0
//! addresses that no Service port claims.
//!
//! Modelled on kube-proxy v1.31 `pkg/proxy/ipvs/proxier.go`
//! (`syncProxyRules`, `writeIptablesRules`, `createAndLinkKubeChain`) and
//! `pkg/proxy/ipvs/ipset.go` (set names, types and comments — the rules'
//! `--comment` is the set's comment). Sets are written in `ipsetInfo`
//! order; entries as `ipset save` lists them (`IP,proto:port`).
//! Not modelled: loadBalancerSourceRanges (`KUBE-LOAD-BALANCER-FW`,
//! `KUBE-LOAD-BALANCER-SOURCE-*`), health-check NodePorts, SCTP NodePorts,
//! `--masquerade-all`, externalIPs with externalTrafficPolicy Local (the
//! `KUBE-EXTERNAL-IP-LOCAL` set is filled, no rule reads it here), IPv6.

use std::fmt::Write;

use cnictl_model::K8s;

use crate::kube_proxy::{service_ports, KpNode, SvcPort};

/// (name, `ipset` type and options, comment) in `ipsetInfo` order.
const SETS: [(&str, &str, &str); 12] = [
    (
        "KUBE-LOOP-BACK",
        "hash:ip,port,ip family inet hashsize 1024 maxelem 65536",
        "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
    ),
    (
        "KUBE-CLUSTER-IP",
        "hash:ip,port family inet hashsize 1024 maxelem 65536",
        "Kubernetes service cluster ip + port for masquerade purpose",
    ),
    (
        "KUBE-EXTERNAL-IP",
        "hash:ip,port family inet hashsize 1024 maxelem 65536",
        "Kubernetes service external ip + port for masquerade and filter purpose",
    ),
    (
        "KUBE-EXTERNAL-IP-LOCAL",
        "hash:ip,port family inet hashsize 1024 maxelem 65536",
        "Kubernetes service external ip + port with externalTrafficPolicy=local",
    ),
    (
        "KUBE-LOAD-BALANCER",
        "hash:ip,port family inet hashsize 1024 maxelem 65536",
        "Kubernetes service lb portal",
    ),
    (
        "KUBE-LOAD-BALANCER-LOCAL",
        "hash:ip,port family inet hashsize 1024 maxelem 65536",
        "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
    ),
    (
        "KUBE-NODE-PORT-TCP",
        "bitmap:port range 0-65535",
        "Kubernetes nodeport TCP port for masquerade purpose",
    ),
    (
        "KUBE-NODE-PORT-LOCAL-TCP",
        "bitmap:port range 0-65535",
        "Kubernetes nodeport TCP port with externalTrafficPolicy=local",
    ),
    (
        "KUBE-NODE-PORT-UDP",
        "bitmap:port range 0-65535",
        "Kubernetes nodeport UDP port for masquerade purpose",
    ),
    (
        "KUBE-NODE-PORT-LOCAL-UDP",
        "bitmap:port range 0-65535",
        "Kubernetes nodeport UDP port with externalTrafficPolicy=local",
    ),
    (
        "KUBE-HEALTH-CHECK-NODE-PORT",
        "bitmap:port range 0-65535",
        "Kubernetes health check node port",
    ),
    (
        "KUBE-IPVS-IPS",
        "hash:ip family inet hashsize 1024 maxelem 65536",
        "Addresses on the ipvs interface",
    ),
];

/// `node`'s (`iptables-save`, `ipset save`) in IPVS mode for `k8s`.
pub fn ipvs_companions(k8s: &K8s, node: &KpNode) -> (String, String) {
    let ports = service_ports(k8s, node);
    let sets = set_members(&ports);
    let mut ipt = FILTER.to_string();
    nat_table(&mut ipt, &sets, node);
    (ipt, ipset_save(&sets))
}

/// Each of `SETS`' members, in the same order.
fn set_members(ports: &[SvcPort]) -> Vec<Vec<String>> {
    let mut sets = vec![Vec::new(); SETS.len()];
    for p in ports {
        add_members(&mut sets, p);
    }
    for members in &mut sets {
        members.sort();
        members.dedup();
    }
    sets
}

/// What `syncProxyRules` inserts for one service port (IPVS virtual
/// servers exist even without endpoints, so do the set entries).
fn add_members(sets: &mut [Vec<String>], p: &SvcPort) {
    let entry = |ip| format!("{ip},{}:{}", p.proto, p.port);
    for ep in &p.local_endpoints {
        if let Some((ip, port)) = ep.rsplit_once(':') {
            sets[0].push(format!("{ip},{}:{port},{ip}", p.proto));
        }
    }
    sets[1].push(entry(p.cluster_ip));
    sets[11].push(p.cluster_ip.to_string());
    let bound = p.external_ips.iter().chain(&p.lb_ips);
    sets[11].extend(bound.map(|ip| ip.to_string()));
    for ip in &p.external_ips {
        sets[2].push(entry(*ip));
        if p.local_external {
            sets[3].push(entry(*ip));
        }
    }
    for ip in &p.lb_ips {
        sets[4].push(entry(*ip));
        if p.local_external {
            sets[5].push(entry(*ip));
        }
    }
    let udp = 2 * usize::from(p.proto == "udp");
    if let (Some(np), "tcp" | "udp") = (p.node_port, p.proto.as_str()) {
        sets[6 + udp].push(np.to_string());
        if p.local_external {
            sets[7 + udp].push(np.to_string());
        }
    }
}

fn ipset_save(sets: &[Vec<String>]) -> String {
    let mut out = String::new();
    for ((name, kind, _), members) in SETS.iter().zip(sets) {
        let _ = writeln!(out, "create {name} {kind}");
        for m in members {
            let _ = writeln!(out, "add {name} {m}");
        }
    }
    out
}

/// The filter table `writeIptablesRules` writes whatever the Services.
const FILTER: &str = r#"*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT
-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
COMMIT
"#;

const NAT_HEAD: &str = r#"*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
"#;

/// The nat rules `writeIptablesRules` writes for the sets that have
/// members, then the NodePort jump and the cluster-IP ACCEPT.
fn nat_table(out: &mut String, sets: &[Vec<String>], node: &KpNode) {
    out.push_str(NAT_HEAD);
    let comment = |i: usize| SETS[i].2;
    let _ = writeln!(out, "-A KUBE-SERVICES ! -s {} -m comment --comment \"{}\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ", node.cluster_cidr, comment(1));
    if !sets[2].is_empty() {
        external_ip_rules(out);
    }
    if !sets[4].is_empty() {
        let _ = writeln!(out, "-A KUBE-SERVICES -m comment --comment \"{}\" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER", comment(4));
        if !sets[5].is_empty() {
            let _ = writeln!(out, "-A KUBE-LOAD-BALANCER -m comment --comment \"{}\" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN", comment(5));
        }
    }
    for (local, all, proto) in [(7, 6, "tcp"), (9, 8, "udp")] {
        node_port_rules(out, sets, (local, all), proto);
    }
    out.push_str("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT\n");
    out.push_str("-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n");
}

/// External IPs: masquerade, then accept what is not bridged in from a
/// pod and what is addressed to this node.
fn external_ip_rules(out: &mut String) {
    let c = SETS[2].2;
    let _ = writeln!(out, "-A KUBE-SERVICES -m comment --comment \"{c}\" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ");
    let _ = writeln!(out, "-A KUBE-SERVICES -m comment --comment \"{c}\" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT");
    let _ = writeln!(out, "-A KUBE-SERVICES -m comment --comment \"{c}\" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT");
}

/// `KUBE-NODE-PORT`: eTP Local ports return unmasqueraded, the rest are
/// marked for masquerade.
fn node_port_rules(
    out: &mut String,
    sets: &[Vec<String>],
    (local, all): (usize, usize),
    proto: &str,
) {
    if sets[all].is_empty() {
        return;
    }
    if !sets[local].is_empty() {
        let _ = writeln!(out, "-A KUBE-NODE-PORT -p {proto} -m comment --comment \"{}\" -m set --match-set {} dst -j RETURN", SETS[local].2, SETS[local].0);
    }
    let _ = writeln!(out, "-A KUBE-NODE-PORT -p {proto} -m comment --comment \"{}\" -m set --match-set {} dst -j KUBE-MARK-MASQ", SETS[all].2, SETS[all].0);
}
