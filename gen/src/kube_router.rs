//! kube-router's NetworkPolicy rules for one node, as its network policy
//! controller writes them in iptables mode: the shapes of kube-router
//! v2.1 (`pkg/controllers/netpol/network_policy_controller.go`: the
//! top-level chains and `ensureExplicitAccept`, `KUBE-NWPLCY-DEFAULT`;
//! `policy.go`: `syncNetworkPolicyChains`, `processIngressRules`,
//! `processEgressRules`, `appendRuleToPolicyChain`, `evalPodPeer`,
//! `evalIPBlockPeer`, `processNetworkPolicyPorts` and the chain / ipset
//! name functions; `pod.go`: `syncPodFirewallChains`,
//! `setupPodNetpolRules`, `interceptPodInboundTraffic`,
//! `interceptPodOutboundTraffic`), IPv4 only. This is what the lab's
//! Flannel nodes carry when they are given policies (kube-router runs as
//! the policy agent beside flanneld there, as it often does).
//!
//! The packet's way: `FORWARD` → `KUBE-ROUTER-FORWARD` (inserted first)
//! → `KUBE-POD-FW-<h>` of the local pod it comes from (`-s`) or goes to
//! (`-d`; bridged traffic between two pods of the node is caught again by
//! the `physdev --physdev-is-bridged` twins) → conntrack ACCEPT, then the
//! `KUBE-NWPLCY-<h>` chain of every policy selecting the pod (or
//! `KUBE-NWPLCY-DEFAULT` for a direction no policy isolates, which marks
//! everything), each of whose rules sets mark 0x10000 and returns when its
//! ipsets and ports match → unmarked packets are logged (`NFLOG`) and
//! `REJECT`ed → the pod chain clears 0x10000 and sets 0x20000 →
//! `KUBE-ROUTER-FORWARD`'s last rule ACCEPTs what carries 0x20000.
//!
//! Names back to policies (what explain reads):
//! - `KUBE-NWPLCY-` + base32(sha256(namespace + name + version +
//!   "IPv4"))[:16]: the policy's chain. The sync version is a timestamp on
//!   a real node, so the name alone does not say which policy; every rule
//!   of the chain says it in its comment: `rule to ACCEPT traffic from
//!   source pods to dest pods selected by policy name NAME namespace NS`
//!   (and the `all sources` / `ipBlocks` / `all destinations` variants),
//!   which [`policy_in_comment`] reads back.
//! - `KUBE-POD-FW-` + base32(sha256(namespace + pod + version))[:16]: the
//!   pod's chain; its comments name the pod, its jumps `run through nw
//!   policy NAME`.
//! - ipsets (hash:ip, `timeout 0`): `KUBE-DST-`/`KUBE-SRC-` + base32(sha256(
//!   namespace + name + "IPv4"))[:16] the pods a policy selects; with
//!   `ingressrule<i>`/`egressrule<i>` and `pod`, `ipblock` or
//!   `<j>namedport` mixed into the hash, a rule's peers, ipBlocks
//!   (hash:net, exceptions `nomatch`) and named-port pods.
//!
//! Behaviour kept as kube-router has it: an ingress rule whose ports are
//! only named ports that no selected pod defines allows every port of its
//! peers (`processIngressRules` then takes its "no ports" branch); an
//! egress rule without `to` but with a named port allows that port
//! number to every destination. The jump from FORWARD carries a
//! `kube-router netpol - <id>` comment whose 16-character id is ours
//! (kube-router derives it from the rule spec).

use std::collections::BTreeMap;
use std::fmt::Write;

use cnictl_model::netpol::{NetworkPolicy, Peer, PolicyPort, PolicyRule, PolicyType, PortRef};
use cnictl_model::{K8s, Pod};
use data_encoding::BASE32;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

use crate::agent_rules::{AgentRules, GenChain, GenIpSet, SetRole};
use crate::netpol_select::{ipv4, Cluster};

pub const FORWARD_CHAIN: &str = "KUBE-ROUTER-FORWARD";
pub const DEFAULT_CHAIN: &str = "KUBE-NWPLCY-DEFAULT";
const TOP: [(&str, &str); 3] = [
    ("INPUT", "KUBE-ROUTER-INPUT"),
    ("FORWARD", FORWARD_CHAIN),
    ("OUTPUT", "KUBE-ROUTER-OUTPUT"),
];
const MARK_OK: &str = "0x10000/0x10000";
const MARK_ACCEPT: &str = "0x20000/0x20000";

/// base32(sha256(`s`))[:16], kube-router's name hash.
fn h16(s: &str) -> String {
    BASE32.encode(&Sha256::digest(s.as_bytes()))[..16].to_string()
}

pub fn policy_chain(ns: &str, name: &str, version: &str) -> String {
    format!("KUBE-NWPLCY-{}", h16(&format!("{ns}{name}{version}IPv4")))
}

pub fn pod_chain(ns: &str, pod: &str, version: &str) -> String {
    format!("KUBE-POD-FW-{}", h16(&format!("{ns}{pod}{version}")))
}

/// The policy (`ns/name`) a kube-router policy-chain comment names.
pub fn policy_in_comment(comment: &str) -> Option<String> {
    let rest = comment.split("policy name").nth(1)?;
    let rest = rest.trim_start_matches(':').trim();
    let (name, ns) = rest.split_once(" namespace ")?;
    Some(format!("{}/{}", ns.trim(), name.trim()))
}

/// One policy as the controller holds it (`networkPolicyInfo`).
struct Info<'a> {
    policy: &'a NetworkPolicy,
    targets: Vec<&'a Pod>,
    chain: String,
}

/// Node `node`'s rules for the cluster's policies; `version` stands for
/// the controller's sync version in chain names.
pub fn node_rules(k8s: &K8s, node: &str, version: &str) -> AgentRules {
    let cluster = Cluster::new(k8s);
    let mut policies: Vec<&NetworkPolicy> = cluster.policies().iter().collect();
    policies.sort_by_key(|p| p.key());
    let infos: Vec<Info> = policies
        .into_iter()
        .map(|p| Info {
            policy: p,
            targets: cluster.selected(p),
            chain: policy_chain(&p.namespace, &p.name, version),
        })
        .collect();
    let mut out = top_level();
    for info in &infos {
        policy_rules(&cluster, info, &mut out);
    }
    let mut local: Vec<&Pod> = cluster.local_pods(node).collect();
    local.sort_by_key(|p| ipv4(p));
    for pod in local {
        pod_firewall(pod, &infos, version, &mut out);
    }
    for (_, top) in TOP {
        let accept = "-m comment --comment \"rule to explicitly ACCEPT traffic that comply to network policies\" -m mark --mark 0x20000/0x20000 -j ACCEPT";
        push(&mut out, top, accept.into());
    }
    out
}

/// The top-level chains, their jumps from the built-in chains, and
/// `KUBE-NWPLCY-DEFAULT`.
fn top_level() -> AgentRules {
    let mut out = AgentRules::default();
    for (builtin, top) in TOP {
        out.chains.push(chain(top));
        let id = h16(&format!("{builtin}{top}"));
        let jump = format!("-m comment --comment \"kube-router netpol - {id}\" -j {top}");
        out.builtin_first.push((builtin.into(), jump));
    }
    out.chains.push(chain(DEFAULT_CHAIN));
    let mark = format!(
        "-m comment --comment \"rule to mark traffic matching a network policy\" -j MARK --set-xmark {MARK_OK}"
    );
    push(&mut out, DEFAULT_CHAIN, mark);
    out
}

fn chain(name: &str) -> GenChain {
    GenChain {
        name: name.into(),
        rules: Vec::new(),
    }
}

fn push(out: &mut AgentRules, chain: &str, rule: String) {
    if let Some(c) = out.chains.iter_mut().find(|c| c.name == chain) {
        c.rules.push(rule);
    }
}

/// Inserts at the top, as the controller's `-I CHAIN 1` does.
fn insert(out: &mut AgentRules, chain: &str, rule: String) {
    if let Some(c) = out.chains.iter_mut().find(|c| c.name == chain) {
        c.rules.insert(0, rule);
    }
}

// ---------------------------------------------------------------- policy chains

/// A policy's chain and ipsets (`syncNetworkPolicyChains`).
fn policy_rules(cluster: &Cluster, info: &Info, out: &mut AgentRules) {
    let p = info.policy;
    out.chains.push(chain(&info.chain));
    let ips: Vec<String> = info
        .targets
        .iter()
        .filter_map(|t| ipv4(t))
        .map(|ip| ip.to_string())
        .collect();
    let target_hash = h16(&format!("{}{}IPv4", p.namespace, p.name));
    if p.has_type(PolicyType::Ingress) {
        let dst = format!("KUBE-DST-{target_hash}");
        out.sets.push(hash_ip(&dst, &ips, SetRole::Target, p));
        let named = named_ports(&info.targets);
        for (i, r) in p.ingress.iter().enumerate() {
            ingress_rule(cluster, info, i, r, &dst, &named, out);
        }
    }
    if p.has_type(PolicyType::Egress) {
        let src = format!("KUBE-SRC-{target_hash}");
        out.sets.push(hash_ip(&src, &ips, SetRole::Target, p));
        for (i, r) in p.egress.iter().enumerate() {
            egress_rule(cluster, info, i, r, &src, out);
        }
    }
}

fn hash_ip(name: &str, ips: &[String], role: SetRole, p: &NetworkPolicy) -> GenIpSet {
    GenIpSet {
        name: name.into(),
        kind: "hash:ip",
        options: "family inet hashsize 1024 maxelem 65536 timeout 0",
        members: ips.iter().map(|ip| format!("{ip} timeout 0")).collect(),
        role,
        policy: p.key(),
    }
}

/// A named port's endpoints: name → protocol → port → pod IPs
/// (`grabNamedPortFromPod`).
type NamedPorts = BTreeMap<String, BTreeMap<String, BTreeMap<u16, Vec<String>>>>;

fn named_ports(pods: &[&Pod]) -> NamedPorts {
    let mut out = NamedPorts::new();
    for pod in pods {
        let Some(ip) = ipv4(pod) else { continue };
        for c in &pod.container_ports {
            let name = c.name.clone().unwrap_or_default();
            let by_proto = out.entry(name).or_default();
            let ips = by_proto.entry(c.protocol.clone()).or_default();
            ips.entry(c.port).or_default().push(ip.to_string());
        }
    }
    out
}

/// A numeric port (`protocolAndPort`): protocol, port, end port.
type Numeric = (String, Option<u16>, Option<u16>);
/// A resolved named port (`endPoints`): protocol, port, pod IPs.
type Resolved = (String, u16, Vec<String>);

/// `processNetworkPolicyPorts`: numeric ports, and named ports resolved
/// on the pods `named` was built from.
fn split_ports(ports: &[PolicyPort], named: &NamedPorts) -> (Vec<Numeric>, Vec<Resolved>) {
    let mut numeric = Vec::new();
    let mut resolved = Vec::new();
    for p in ports {
        match &p.port {
            None => numeric.push((p.protocol.clone(), None, None)),
            Some(PortRef::Number(n)) => {
                let end = p.end_port.filter(|e| e >= n);
                numeric.push((p.protocol.clone(), Some(*n), end));
            }
            Some(PortRef::Name(name)) => {
                let eps = named.get(name).and_then(|m| m.get(&p.protocol));
                for (port, ips) in eps.into_iter().flatten() {
                    resolved.push((p.protocol.clone(), *port, ips.clone()));
                }
            }
        }
    }
    (numeric, resolved)
}

/// The sets and peers one rule needs, by direction.
struct RuleCx<'a> {
    info: &'a Info<'a>,
    dir: &'static str,
    idx: usize,
}

impl RuleCx<'_> {
    fn set_name(&self, prefix: &str, suffix: &str) -> String {
        let p = self.info.policy;
        let h = h16(&format!(
            "{}{}{}rule{}IPv4{suffix}",
            p.namespace, p.name, self.dir, self.idx
        ));
        format!("{prefix}{h}")
    }

    fn named_set(&self, j: usize) -> String {
        let p = self.info.policy;
        let s = format!(
            "{}{}{}rule{}{j}IPv4namedport",
            p.namespace, p.name, self.dir, self.idx
        );
        format!("KUBE-DST-{}", h16(&s))
    }

    fn comment(&self, what: &str) -> String {
        let p = self.info.policy;
        format!(
            "rule to ACCEPT traffic {what} selected by policy name {} namespace {}",
            p.name, p.namespace
        )
    }
}

fn ingress_rule(
    cluster: &Cluster,
    info: &Info,
    idx: usize,
    rule: &PolicyRule,
    dst: &str,
    named: &NamedPorts,
    out: &mut AgentRules,
) {
    let cx = RuleCx {
        info,
        dir: "ingress",
        idx,
    };
    let (numeric, resolved) = split_ports(&rule.ports, named);
    let np_sets = named_sets(&cx, &resolved, out);
    let peers = peer_ips(cluster, info.policy, &rule.peers);
    if !peers.is_empty() {
        let src = cx.set_name("KUBE-SRC-", "pod");
        out.sets
            .push(hash_ip(&src, &peers, SetRole::Peer, info.policy));
        let c = cx.comment("from source pods to dest pods");
        matched(out, &info.chain, &c, Some(&src), dst, &numeric, &np_sets);
    }
    if rule.peers.is_empty() && !rule.ports.is_empty() {
        let c = cx.comment("from all sources to dest pods");
        for n in &numeric {
            append(out, &info.chain, &c, None, Some(dst), n);
        }
        for (set, r) in &np_sets {
            append(out, &info.chain, &c, None, Some(set), &as_numeric(r));
        }
    }
    if rule.peers.is_empty() && rule.ports.is_empty() {
        let c = cx.comment("from all sources to dest pods");
        append(out, &info.chain, &c, None, Some(dst), &any_port());
    }
    if let Some(set) = ip_blocks(&cx, &rule.peers, "KUBE-SRC-", out) {
        let c = cx.comment("from specified ipBlocks to dest pods");
        blocks(
            out,
            &info.chain,
            &c,
            (Some(&set), Some(dst)),
            rule,
            &numeric,
            &np_sets,
        );
    }
}

fn egress_rule(
    cluster: &Cluster,
    info: &Info,
    idx: usize,
    rule: &PolicyRule,
    src: &str,
    out: &mut AgentRules,
) {
    let cx = RuleCx {
        info,
        dir: "egress",
        idx,
    };
    let dst_pods: Vec<&Pod> = rule
        .peers
        .iter()
        .flat_map(|p| cluster.peer_pods(info.policy, p))
        .collect();
    let named = if rule.peers.is_empty() {
        let ns = cluster
            .pods()
            .filter(|p| p.namespace == info.policy.namespace);
        named_ports(&ns.collect::<Vec<_>>())
    } else {
        named_ports(&dst_pods)
    };
    let (numeric, resolved) = split_ports(&rule.ports, &named);
    let peers = ips_of(&dst_pods);
    if !peers.is_empty() {
        let dst = cx.set_name("KUBE-DST-", "pod");
        out.sets
            .push(hash_ip(&dst, &peers, SetRole::Peer, info.policy));
        let np_sets = named_sets(&cx, &resolved, out);
        let c = cx.comment("from source pods to dest pods");
        matched_egress(out, &info.chain, &c, src, &dst, &numeric, &np_sets);
    }
    if rule.peers.is_empty() {
        let c = cx.comment("from source pods to all destinations");
        let all = if rule.ports.is_empty() {
            vec![any_port()]
        } else {
            numeric.clone()
        };
        let by_name = resolved.iter().map(as_numeric);
        for n in all.iter().cloned().chain(by_name) {
            append(out, &info.chain, &c, Some(src), None, &n);
        }
    }
    if let Some(set) = ip_blocks(&cx, &rule.peers, "KUBE-DST-", out) {
        let c = cx.comment("from source pods to specified ipBlocks");
        blocks(
            out,
            &info.chain,
            &c,
            (Some(src), Some(&set)),
            rule,
            &numeric,
            &[],
        );
    }
}

fn ips_of(pods: &[&Pod]) -> Vec<String> {
    let mut ips: Vec<String> = pods
        .iter()
        .filter_map(|p| ipv4(p))
        .map(|ip| ip.to_string())
        .collect();
    ips.dedup();
    ips
}

fn peer_ips(cluster: &Cluster, policy: &NetworkPolicy, peers: &[Peer]) -> Vec<String> {
    let pods: Vec<&Pod> = peers
        .iter()
        .flat_map(|p| cluster.peer_pods(policy, p))
        .collect();
    ips_of(&pods)
}

/// One named-port ipset per resolved port, holding the pods defining it.
fn named_sets(cx: &RuleCx, resolved: &[Resolved], out: &mut AgentRules) -> Vec<(String, Resolved)> {
    let mut sets = Vec::new();
    for (j, r) in resolved.iter().enumerate() {
        let name = cx.named_set(j);
        out.sets
            .push(hash_ip(&name, &r.2, SetRole::NamedPort, cx.info.policy));
        sets.push((name, r.clone()));
    }
    sets
}

fn as_numeric(r: &Resolved) -> Numeric {
    (r.0.clone(), Some(r.1), None)
}

fn as_numeric_pair(pair: &(String, Resolved)) -> Numeric {
    as_numeric(&pair.1)
}

fn any_port() -> Numeric {
    (String::new(), None, None)
}

/// Ingress from peer pods: per numeric port, per named port, or (neither
/// resolved) every port.
fn matched(
    out: &mut AgentRules,
    chain: &str,
    c: &str,
    src: Option<&str>,
    dst: &str,
    numeric: &[Numeric],
    named: &[(String, Resolved)],
) {
    for n in numeric {
        append(out, chain, c, src, Some(dst), n);
    }
    for pair in named {
        append(out, chain, c, src, Some(&pair.0), &as_numeric_pair(pair));
    }
    if numeric.is_empty() && named.is_empty() {
        append(out, chain, c, src, Some(dst), &any_port());
    }
}

fn matched_egress(
    out: &mut AgentRules,
    chain: &str,
    c: &str,
    src: &str,
    dst: &str,
    numeric: &[Numeric],
    named: &[(String, Resolved)],
) {
    for n in numeric {
        append(out, chain, c, Some(src), Some(dst), n);
    }
    for pair in named {
        append(
            out,
            chain,
            c,
            Some(src),
            Some(&pair.0),
            &as_numeric_pair(pair),
        );
    }
    if numeric.is_empty() && named.is_empty() {
        append(out, chain, c, Some(src), Some(dst), &any_port());
    }
}

/// ipBlock peers of a rule as one hash:net set (`evalIPBlockPeer`: /0
/// split in two halves, exceptions `nomatch`); None without any.
fn ip_blocks(cx: &RuleCx, peers: &[Peer], prefix: &str, out: &mut AgentRules) -> Option<String> {
    let mut members = Vec::new();
    for p in peers {
        let Peer::IpBlock {
            cidr: IpNet::V4(cidr),
            except,
        } = p
        else {
            continue;
        };
        members.extend(
            halves(&IpNet::V4(*cidr))
                .into_iter()
                .map(|n| format!("{n} timeout 0")),
        );
        let v4 = except.iter().filter(|e| matches!(e, IpNet::V4(_)));
        members.extend(
            v4.flat_map(halves)
                .map(|n| format!("{n} timeout 0 nomatch")),
        );
    }
    if members.is_empty() {
        return None;
    }
    let name = cx.set_name(prefix, "ipblock");
    out.sets.push(GenIpSet {
        name: name.clone(),
        kind: "hash:net",
        options: "family inet hashsize 1024 maxelem 65536 timeout 0",
        members,
        role: SetRole::IpBlock,
        policy: cx.info.policy.key(),
    });
    Some(name)
}

fn halves(n: &IpNet) -> Vec<String> {
    match n.prefix_len() {
        0 => vec!["0.0.0.0/1".into(), "128.0.0.0/1".into()],
        _ => vec![n.trunc().to_string()],
    }
}

fn blocks(
    out: &mut AgentRules,
    chain: &str,
    c: &str,
    sets: (Option<&str>, Option<&str>),
    rule: &PolicyRule,
    numeric: &[Numeric],
    named: &[(String, Resolved)],
) {
    if rule.ports.is_empty() {
        append(out, chain, c, sets.0, sets.1, &any_port());
        return;
    }
    for n in numeric {
        append(out, chain, c, sets.0, sets.1, n);
    }
    for pair in named {
        append(out, chain, c, sets.0, Some(&pair.0), &as_numeric_pair(pair));
    }
}

/// `appendRuleToPolicyChain`: a MARK rule and its RETURN twin, as
/// `iptables-save` prints them.
fn append(
    out: &mut AgentRules,
    chain: &str,
    comment: &str,
    src: Option<&str>,
    dst: Option<&str>,
    port: &Numeric,
) {
    let (proto, dport, end) = port;
    let proto = proto.to_ascii_lowercase();
    let mut m = String::new();
    if !proto.is_empty() {
        let _ = write!(m, "-p {proto} ");
    }
    let _ = write!(m, "-m comment --comment \"{comment}\" ");
    if let Some(s) = src {
        let _ = write!(m, "-m set --match-set {s} src ");
    }
    if let Some(d) = dst {
        let _ = write!(m, "-m set --match-set {d} dst ");
    }
    match (dport, end) {
        (Some(p), Some(e)) => {
            let _ = write!(m, "-m {proto} --dport {p}:{e} ");
        }
        (Some(p), None) => {
            let _ = write!(m, "-m {proto} --dport {p} ");
        }
        _ => {}
    }
    push(out, chain, format!("{m}-j MARK --set-xmark {MARK_OK}"));
    push(out, chain, format!("{m}-m mark --mark {MARK_OK} -j RETURN"));
}

// ---------------------------------------------------------------- pod chains

/// A local pod's firewall chain and the jumps to it
/// (`syncPodFirewallChains`), built with the controller's own inserts.
fn pod_firewall(pod: &Pod, infos: &[Info], version: &str, out: &mut AgentRules) {
    let Some(ip) = ipv4(pod) else { return };
    let fw = pod_chain(&pod.namespace, &pod.name, version);
    out.chains.push(chain(&fw));
    netpol_jumps(pod, &ip.to_string(), infos, &fw, out);
    intercept(pod, &ip.to_string(), &fw, out);
    let who = format!("POD name:{} namespace: {}", pod.name, pod.namespace);
    let unmarked = format!("-m mark ! --mark {MARK_OK}");
    push(out, &fw, format!("-m comment --comment \"rule to log dropped traffic {who}\" {unmarked} -m limit --limit 10/min --limit-burst 10 -j NFLOG --nflog-group 100"));
    push(out, &fw, format!("-m comment --comment \"rule to REJECT traffic destined for {who}\" {unmarked} -j REJECT --reject-with icmp-port-unreachable"));
    push(out, &fw, "-j MARK --set-xmark 0x0/0x10000".into());
    push(out, &fw, format!("-m comment --comment \"set mark to ACCEPT traffic that comply to network policies\" -j MARK --set-xmark {MARK_ACCEPT}"));
}

/// `setupPodNetpolRules`: every `-I FW 1`, so the last written comes first.
fn netpol_jumps(pod: &Pod, ip: &str, infos: &[Info], fw: &str, out: &mut AgentRules) {
    let (mut ingress, mut egress) = (false, false);
    for info in infos
        .iter()
        .filter(|i| i.targets.iter().any(|t| t.key() == pod.key()))
    {
        let p = info.policy;
        let (i, e) = (
            p.has_type(PolicyType::Ingress),
            p.has_type(PolicyType::Egress),
        );
        ingress |= i;
        egress |= e;
        let addr = match (i, e) {
            (true, true) => String::new(),
            (true, false) => format!("-d {ip}/32 "),
            _ => format!("-s {ip}/32 "),
        };
        let c = format!("-m comment --comment \"run through nw policy {}\"", p.name);
        insert(out, fw, format!("{addr}{c} -j {}", info.chain));
    }
    let default = |dir: &str, addr: String| {
        format!("{addr}-m comment --comment \"run through default {dir} network policy  chain\" -j {DEFAULT_CHAIN}")
    };
    if !ingress {
        insert(out, fw, default("ingress", format!("-d {ip}/32 ")));
    }
    if !egress {
        insert(out, fw, default("egress", format!("-s {ip}/32 ")));
    }
    insert(out, fw, format!("-d {ip}/32 -m comment --comment \"rule to permit the traffic traffic to pods when source is the pod's local node\" -m addrtype --src-type LOCAL -j ACCEPT"));
    insert(out, fw, "-m comment --comment \"rule for stateful firewall for pod\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".into());
}

/// `interceptPodInboundTraffic` then `interceptPodOutboundTraffic`.
fn intercept(pod: &Pod, ip: &str, fw: &str, out: &mut AgentRules) {
    let who = format!(
        "POD name:{} namespace: {} to chain {fw}",
        pod.name, pod.namespace
    );
    let to = format!("-m comment --comment \"rule to jump traffic destined to {who}\"");
    insert(out, FORWARD_CHAIN, format!("-d {ip}/32 {to} -j {fw}"));
    insert(
        out,
        "KUBE-ROUTER-OUTPUT",
        format!("-d {ip}/32 {to} -j {fw}"),
    );
    insert(
        out,
        FORWARD_CHAIN,
        format!("-d {ip}/32 -m physdev --physdev-is-bridged {to} -j {fw}"),
    );
    let from = format!("-m comment --comment \"rule to jump traffic from {who}\"");
    for (_, top) in TOP {
        insert(out, top, format!("-s {ip}/32 {from} -j {fw}"));
    }
    insert(
        out,
        FORWARD_CHAIN,
        format!("-s {ip}/32 -m physdev --physdev-is-bridged {from} -j {fw}"),
    );
}
