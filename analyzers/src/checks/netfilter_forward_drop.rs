//! Check: netfilter-forward-drop
//!
//! Every CNI model forwards pod traffic between nodes through the host's
//! netfilter hooks (PREROUTING, FORWARD, POSTROUTING), so a node's rules
//! must pass it: a `FORWARD DROP` policy (what Docker sets on install) with
//! no accept for the pod CIDRs, or a rule dropping pod traffic, breaks
//! every pod pair through the node while routes, FDB and BGP look healthy.
//! For each of the node's pod CIDRs and each other node's, both ways (local
//! → remote leaving, remote → local arriving), the first packet of an ICMP
//! echo, a TCP connection to port 80 and a UDP flow to port 53 — between
//! real pod IPs when the cluster has pods there, else an address inside the
//! CIDR — is evaluated with conntrack state NEW, the in and out devices the
//! node's own routes give (in: the route back to the source, the device the
//! packet arrives on; out: the route to the destination). A drop or reject:
//! error, one finding per deciding rule (or chain policy), listing the
//! flows it stops.
//!
//! Not raised when the deciding rule lives in a NetworkPolicy agent's chain
//! (Calico's `cali-pi-*`, `cali-tw-*`, `cali-fw-*`, …, kube-router's
//! `KUBE-NWPLCY-*`, `KUBE-POD-FW-*`): that is policy, judged against the
//! NetworkPolicy objects by policy-not-enforced and policy-drift
//! (`checks::policy`), which trace real pod pairs. A flow that reaches a rule cnictl cannot evaluate
//! is no finding: the check is skipped for it, naming the rule. Skipped
//! without netfilter dumps or a CNI model; a flow whose route is missing is
//! left to the route checks. The check does not apply to Cilium, whose
//! eBPF datapath forwards pod traffic without the FORWARD hook (as the
//! VXLAN FDB checks do not apply to models without an FDB), nor to
//! clusters whose IPAM gives nodes no pod CIDRs (Weave), nor to Docker's
//! bridge networks, which pass no pod traffic between hosts.

use std::net::IpAddr;

use cnictl_dataplane::nf::{NfPacket, RuleRef};
use cnictl_model::netfilter::{Family, Hook};
use ipnet::IpNet;

use super::nf::{self, Memo, NodeNf, Outcomes};
use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::expected::NodeExpect;
use crate::finding::Severity;
use crate::infer::CniModel;

pub(crate) const CODE: Code = Code::NetfilterForwardDrop;
const WHAT: &str = "netfilter forward-path check";
const HOOKS: [Hook; 3] = [Hook::Prerouting, Hook::Forward, Hook::Postrouting];

/// The first packets tried per flow: (label, IP protocol (IPv4), port).
const PROBES: [(&str, u8, u16); 3] = [("icmp echo", 1, 0), ("tcp/80", 6, 80), ("udp/53", 17, 53)];
/// A client's source port.
const SPORT: u16 = 40000;

/// One direction between one local and one remote pod CIDR.
#[derive(Debug)]
struct Flow<'e> {
    src: IpAddr,
    dst: IpAddr,
    iif: &'e str,
    oif: &'e str,
    from: (&'e str, IpNet),
    to: (&'e str, IpNet),
}

impl Flow<'_> {
    /// `10.244.1.2 → 10.244.2.2 in cni0 out flannel.1 (node-1 10.244.1.0/24 → node-2 10.244.2.0/24)`.
    fn describe(&self) -> String {
        format!(
            "{} → {} in {} out {} ({} {} → {} {})",
            self.src, self.dst, self.iif, self.oif, self.from.0, self.from.1, self.to.0, self.to.1
        )
    }
}

/// A probe: (flow index, probe index).
type At = (usize, usize);

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(nf) = nf::ready(cx, CODE, WHAT, out) else {
        return;
    };
    let node = cx.name();
    if bypasses_netfilter(cx.model) || isolated(cx.model) {
        return;
    }
    let Some(me) = cx.me.filter(|m| !m.pod_cidrs.is_empty()) else {
        // Weave's IPAM gives nodes no pod CIDRs: nothing per node to try.
        if cx.exp.nodes.iter().any(|n| !n.pod_cidrs.is_empty()) {
            let why = format!("{node} has no known pod CIDR: {WHAT} skipped");
            out.skip(CODE, Some(node), why);
        }
        return;
    };
    let (flows, unrouted) = flows(cx, me);
    if unrouted > 0 {
        let why = format!("{node} has no route for {unrouted} pod CIDR pair(s) (left to the route checks): {WHAT} skipped for them");
        out.skip(CODE, Some(node), why);
    }
    let found = evaluate(nf, &flows, cx);
    report(cx, nf, &flows, found, out);
}

/// Cilium's eBPF datapath (BPF host routing, its default on current
/// kernels) hands pod packets between devices without the FORWARD hook,
/// so a FORWARD verdict would be a confident guess.
fn bypasses_netfilter(model: CniModel) -> bool {
    matches!(model, CniModel::CiliumNative | CniModel::CiliumVxlan)
}

/// Models with no pod traffic between nodes to pass (Docker's bridge:
/// other hosts' containers are reached through published ports).
fn isolated(model: CniModel) -> bool {
    model
        .profile()
        .is_some_and(|p| p.next_hop == crate::cni::NextHop::Isolated)
}

/// Both directions between each local pod CIDR and each other node's of
/// the same family; the count of CIDR pairs without routed devices.
fn flows<'e>(cx: &NodeCx<'e>, me: &'e NodeExpect) -> (Vec<Flow<'e>>, usize) {
    let mut out = Vec::new();
    let mut unrouted = 0;
    let peers = cx.exp.nodes.iter().filter(|p| p.name != me.name);
    for peer in peers {
        for (l, r) in pairs(cx, me, peer) {
            let lip = sample(cx, &me.name, l);
            let rip = sample(cx, &peer.name, r);
            match (nf::dev_to(cx, lip), nf::dev_to(cx, rip)) {
                (Some(ldev), Some(rdev)) => {
                    let local = (me.name.as_str(), l);
                    let remote = (peer.name.as_str(), r);
                    out.push(flow((lip, ldev, local), (rip, rdev, remote)));
                    out.push(flow((rip, rdev, remote), (lip, ldev, local)));
                }
                // Calico's own empty block: no pod there to forward to.
                _ if nf::blackholed(cx, lip) => {}
                _ => unrouted += 1,
            }
        }
    }
    (out, unrouted)
}

/// A flow's end: address, the device routed toward it, node and CIDR.
type FlowEnd<'e> = (IpAddr, &'e str, (&'e str, IpNet));

/// From `a` (arriving on the device routed toward it) to `b`.
fn flow<'e>(a: FlowEnd<'e>, b: FlowEnd<'e>) -> Flow<'e> {
    Flow {
        src: a.0,
        dst: b.0,
        iif: a.1,
        oif: b.1,
        from: a.2,
        to: b.2,
    }
}

/// (local CIDR, remote CIDR) of one family; contested CIDRs are left to
/// pod-cidr-overlap.
fn pairs(cx: &NodeCx<'_>, me: &NodeExpect, peer: &NodeExpect) -> Vec<(IpNet, IpNet)> {
    let ok = |n: &IpNet| !cx.exp.contested.contains(n);
    let mut v = Vec::new();
    for l in me.pod_cidrs.iter().map(|c| c.net).filter(ok) {
        for r in peer.pod_cidrs.iter().map(|c| c.net).filter(ok) {
            if l.addr().is_ipv4() == r.addr().is_ipv4() {
                v.push((l, r));
            }
        }
    }
    v
}

/// The lowest IP of a live pod of `node` inside `net`, else the CIDR's
/// second host address (the first is the gateway on bridge models).
fn sample(cx: &NodeCx<'_>, node: &str, net: IpNet) -> IpAddr {
    let pods = cx.exp.pods_on(node).iter().flat_map(|p| p.ips.iter());
    let real = pods.filter(|ip| net.contains(*ip)).min().copied();
    real.unwrap_or_else(|| nth_host(net, 2))
}

fn nth_host(net: IpNet, n: u32) -> IpAddr {
    let inside = |ip: IpAddr| if net.contains(&ip) { ip } else { net.network() };
    match net {
        IpNet::V4(v) => inside(IpAddr::V4(
            (u32::from(v.network()).saturating_add(n)).into(),
        )),
        IpNet::V6(v) => inside(IpAddr::V6(
            (u128::from(v.network()).saturating_add(u128::from(n))).into(),
        )),
    }
}

/// Every flow × probe walked, once per class of flows the rules cannot
/// tell apart (nfclass.rs); drops in NetworkPolicy chains are policy.
fn evaluate(nf: &NodeNf<'_>, flows: &[Flow<'_>], cx: &NodeCx<'_>) -> Outcomes<At> {
    let route = |ip: IpAddr| nf::dev_to(cx, ip).map(str::to_string);
    let not_policy = |r: RuleRef| !nf::is_policy_chain(nf::chain_name(&nf.rules, r));
    let mut found = Outcomes::default();
    let mut memo = Memo::new();
    for (fi, f) in flows.iter().enumerate() {
        let class = nf.class_of(f.src).zip(nf.class_of(f.dst));
        for (pi, probe) in PROBES.iter().enumerate() {
            let key = class.clone().map(|c| (c, f.iif, f.oif, pi));
            let walk = || nf::walk(nf, &HOOKS, packet(f, probe), &route);
            for end in memo.ends(key, walk) {
                found.record(end, (fi, pi), not_policy);
            }
        }
    }
    found
}

fn packet(f: &Flow<'_>, &(_, proto, port): &(&str, u8, u16)) -> NfPacket {
    let proto = match (proto, f.src) {
        (1, IpAddr::V6(_)) => 58,
        (p, _) => p,
    };
    let sport = if port == 0 { 0 } else { SPORT };
    let mut p = NfPacket::new(f.src, f.dst, proto, sport, port);
    p.iif = Some(f.iif.to_string());
    p
}

fn report(
    cx: &NodeCx<'_>,
    nf: &NodeNf<'_>,
    flows: &[Flow<'_>],
    found: Outcomes<At>,
    out: &mut Out,
) {
    found.skip_unknown(&nf.rules, (CODE, cx.name(), WHAT), out);
    for (r, hits) in found.stopped.entries {
        finding(cx, nf, flows, r, &hits, out);
    }
}

fn finding(
    cx: &NodeCx<'_>,
    nf: &NodeNf<'_>,
    flows: &[Flow<'_>],
    r: RuleRef,
    hits: &[At],
    out: &mut Out,
) {
    let node = cx.name();
    let rs = &nf.rules;
    let lines = flow_lines(flows, hits);
    let verb = nf::verb(rs, r);
    let peers = nf::distinct(
        hits.iter()
            .map(|&(fi, _)| flows[fi].other_end(node))
            .collect(),
    );
    let summary = format!(
        "{} on {node} {verb} forwarded pod traffic: {} of {} pod CIDR flow(s) to and from {}",
        nf::rule_short(rs, r),
        lines.len(),
        flows.len(),
        peers.join(", ")
    );
    let mut evidence = vec![nf::rule_line(rs, r)];
    evidence.extend(render::capped(lines, 8));
    let hint = hint(cx, nf, r);
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
}

impl Flow<'_> {
    /// The node at the other end from `node`.
    fn other_end(&self, node: &str) -> &str {
        if self.from.0 == node {
            self.to.0
        } else {
            self.from.0
        }
    }
}

/// One line per stopped flow with the probes stopped, in flow order.
fn flow_lines(flows: &[Flow<'_>], hits: &[At]) -> Vec<String> {
    let mut by_flow: Vec<(usize, Vec<&str>)> = Vec::new();
    for &(fi, pi) in hits {
        match by_flow.iter_mut().find(|(f, _)| *f == fi) {
            Some((_, v)) => v.push(PROBES[pi].0),
            None => by_flow.push((fi, vec![PROBES[pi].0])),
        }
    }
    by_flow.sort_by_key(|(f, _)| *f);
    by_flow
        .into_iter()
        .map(|(fi, probes)| format!("{}: {}", flows[fi].describe(), probes.join(", ")))
        .collect()
}

/// Insert an accept for the node's pod CIDRs before what decided, or
/// delete the deciding rule.
fn hint(cx: &NodeCx<'_>, nf: &NodeNf<'_>, r: RuleRef) -> String {
    let node = cx.name();
    let family = nf.rules.table(r.chain).family;
    let cidrs = cx.me.map(|m| m.pod_cidrs.as_slice()).unwrap_or_default();
    let mut accepts = Vec::new();
    for c in cidrs.iter().map(|c| c.net) {
        let kw = match (c, family) {
            (IpNet::V4(_), Family::Ip | Family::Inet) => "ip",
            (IpNet::V6(_), Family::Ip6 | Family::Inet) => "ip6",
            _ => continue,
        };
        for (flag, dir) in [("-s", "saddr"), ("-d", "daddr")] {
            let ipt = format!("{flag} {c}");
            let nft = format!("{kw} {dir} {c}");
            let what = nf::Accept {
                iptables: &ipt,
                nft: &nft,
            };
            accepts.push(nf::accept_cmd(&nf.rules, r, &what));
        }
    }
    let accept = accepts.join("; ");
    match nf::delete_cmd(&nf.rules, r) {
        Some(del) => format!("on {node}: delete the rule ({del}) or accept the node's pod CIDRs before it ({accept}); the component that wrote it may add it again"),
        None => format!("on {node}: accept the node's pod CIDRs before the policy applies ({accept}), as flannel's FLANNEL-FWD does for the cluster CIDR"),
    }
}

#[cfg(test)]
mod tests {
    use cnictl_gen::GenModel;

    use super::CODE;
    use crate::checks::nftest::*;

    #[test]
    fn docker_forward_drop_without_a_pod_cidr_accept_is_one_finding_per_node() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "docker-forward-drop");
        let f = findings(&snap, CODE);
        assert_eq!(f.len(), 3, "{f:#?}");
        let n1 = f
            .iter()
            .find(|f| f.node.as_deref() == Some("node-1"))
            .unwrap();
        assert_eq!(
            n1.evidence[0],
            "ip filter FORWARD policy DROP (iptables-save.txt, iptables-nft)"
        );
        assert!(
            n1.summary
                .starts_with("ip filter FORWARD policy DROP on node-1 drops forwarded pod traffic: 4 of 4 pod CIDR flow(s) to and from node-2, node-3"),
            "{}",
            n1.summary
        );
        let out = "10.244.0.2 → 10.244.1.2 in cni0 out flannel.1 (node-1 10.244.0.0/24 → node-2 10.244.1.0/24): icmp echo, tcp/80, udp/53";
        let back = "10.244.1.2 → 10.244.0.2 in flannel.1 out cni0 (node-2 10.244.1.0/24 → node-1 10.244.0.0/24): icmp echo, tcp/80, udp/53";
        assert!(n1.evidence.iter().any(|e| e == out), "{:#?}", n1.evidence);
        assert!(n1.evidence.iter().any(|e| e == back), "{:#?}", n1.evidence);
        assert!(
            n1.hint
                .contains("iptables -t filter -I FORWARD -s 10.244.0.0/24 -j ACCEPT"),
            "{}",
            n1.hint
        );
    }

    #[test]
    fn flannel_fwd_accepting_the_cluster_cidr_passes() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "flannel-fwd");
        assert!(findings(&snap, CODE).is_empty());
        assert!(skips(&snap, CODE).is_empty(), "{:#?}", skips(&snap, CODE));
    }

    #[test]
    fn a_drop_in_calicos_workload_policy_chain_is_policy_not_a_finding() {
        let mut snap = cluster(GenModel::CalicoIpip);
        rules_everywhere(&mut snap, "calico-tw-drop");
        let f = findings(&snap, CODE);
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn the_same_drop_outside_a_policy_chain_is_a_finding() {
        let mut snap = cluster(GenModel::CalicoIpip);
        rules_everywhere(&mut snap, "calico-dispatch-drop");
        let f = findings(&snap, CODE);
        let n1 = f
            .iter()
            .find(|f| f.node.as_deref() == Some("node-1"))
            .unwrap();
        assert_eq!(
            n1.evidence[0],
            "ip filter cali-to-wl-dispatch #1: -A cali-to-wl-dispatch -o cali00000000000 -m comment --comment \"cali:sL7pXmCEtEd8w8hw\" -j DROP (iptables-save.txt, iptables-nft)"
        );
        // Only traffic toward the pod behind cali00000000000 is dropped.
        assert!(
            n1.summary.contains("2 of 4 pod CIDR flow(s)"),
            "{}",
            n1.summary
        );
        assert!(
            n1.evidence[1].starts_with("10.244.0.65 → 10.244.0.1 in tunl0 out cali00000000000"),
            "{:#?}",
            n1.evidence
        );
        assert!(
            n1.hint
                .contains("iptables -t filter -D cali-to-wl-dispatch 1"),
            "{}",
            n1.hint
        );
    }

    #[test]
    fn a_rule_that_cannot_be_evaluated_is_a_skip_naming_it_not_a_finding() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "forward-limit-unknown");
        assert!(findings(&snap, CODE).is_empty());
        let s = skips(&snap, CODE);
        assert_eq!(s.len(), 3, "{s:#?}");
        assert!(
            s[0].reason
                .contains("ip filter FORWARD #1: -A FORWARD -m limit --limit 5/sec -j ACCEPT"),
            "{}",
            s[0].reason
        );
    }

    #[test]
    fn skipped_when_netfilter_was_not_collected() {
        let snap = cluster(GenModel::FlannelVxlan);
        assert!(findings(&snap, CODE).is_empty());
        let s = skips(&snap, CODE);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].reason,
            "node-1 has no iptables-save.txt / nft-ruleset.json: netfilter checks skipped"
        );
    }

    #[test]
    fn an_empty_calico_block_is_no_pair_to_try() {
        let mut snap = cluster(GenModel::CalicoIpip);
        rules_everywhere(&mut snap, "docker-forward-drop");
        // node-1's pods are gone: its block is all blackhole.
        snap.k8s
            .pods
            .retain(|p| p.node.as_deref() != Some("node-1"));
        let n1 = snap.nodes.get_mut("node-1").unwrap();
        n1.routes
            .retain(|r| !r.dev.as_deref().is_some_and(|d| d.starts_with("cali")));
        let f = findings(&snap, CODE);
        assert!(
            f.iter().all(|f| f.node.as_deref() != Some("node-1")),
            "{f:#?}"
        );
        assert!(skips(&snap, CODE).is_empty(), "{:#?}", skips(&snap, CODE));
    }

    #[test]
    fn a_pair_without_any_route_is_left_to_the_route_checks() {
        let mut snap = cluster(GenModel::CalicoIpip);
        rules_everywhere(&mut snap, "flannel-fwd");
        let n1 = snap.nodes.get_mut("node-1").unwrap();
        n1.routes.retain(|r| {
            let dst = r.dst.to_string();
            dst != "10.244.0.64/26" && dst != "0.0.0.0/0"
        });
        let s = skips(&snap, CODE);
        assert_eq!(s.len(), 1, "{s:#?}");
        assert_eq!(
            s[0].reason,
            "node-1 has no route for 1 pod CIDR pair(s) (left to the route checks): netfilter forward-path check skipped for them"
        );
    }

    #[test]
    fn a_drop_toward_one_cidr_names_only_its_flows_and_probe() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "drop-one-cidr");
        let f = findings(&snap, CODE);
        let n1 = f
            .iter()
            .find(|f| f.node.as_deref() == Some("node-1"))
            .unwrap();
        assert!(
            n1.summary
                .ends_with("1 of 4 pod CIDR flow(s) to and from node-3"),
            "{}",
            n1.summary
        );
        assert_eq!(
            n1.evidence[1..],
            ["10.244.0.2 → 10.244.2.2 in cni0 out flannel.1 (node-1 10.244.0.0/24 → node-3 10.244.2.0/24): tcp/80"]
        );
        // node-1 and node-2 forward toward node-3's CIDR, node-3 into it.
        assert_eq!(f.len(), 3, "{f:#?}");
    }
}
