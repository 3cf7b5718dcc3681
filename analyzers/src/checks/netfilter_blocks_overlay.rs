//! Check: netfilter-blocks-overlay
//!
//! Pod traffic between nodes rides on a transport between the nodes
//! themselves: VXLAN (UDP to the VTEP port: 8472 flannel and Cilium, 4789
//! Calico, as the VXLAN device's `dstport` in `ip -d link` says), IPIP (IP
//! protocol 4, Calico IPIP) and, for the models whose routes BIRD programs,
//! BGP (TCP 179, sessions opened both ways). A firewall rule on a node that
//! drops or rejects it cuts every pod pair through that node while routes
//! and tunnels look healthy. Per peer node, the first packet of each
//! transport the node's CNI model uses is evaluated as the kernel runs it:
//! received from the peer's underlay IP (PREROUTING, INPUT; in device: the
//! node's route toward the peer) and sent to it (OUTPUT, POSTROUTING; out
//! device: the same route). Encapsulation is checked toward the peers this
//! node's routes send through the tunnel (Calico CrossSubnet sends
//! same-subnet peers unencapsulated). A drop or reject: error, one finding
//! per deciding rule naming the peers. A rule cnictl cannot evaluate is no
//! finding: the check is skipped for it, naming the rule. Skipped without
//! netfilter dumps, a CNI model or the node's IP.

use std::net::IpAddr;

use cnictl_dataplane::nf::{NfPacket, RuleRef};
use cnictl_model::netfilter::Hook;

use super::nf::{self, Memo, NodeNf, Outcomes};
use super::{fib, render, NodeCx, Out};
use crate::cni::Encap;
use crate::code::Code;
use crate::expected::NodeExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::NetfilterBlocksOverlay;
const WHAT: &str = "netfilter overlay transport check";
/// An ephemeral source port (VXLAN's is a flow hash; BGP's a client port).
const SPORT: u16 = 40000;

/// How a finding names BGP among what a rule stops: root-cause grouping
/// blames BGP sessions only on the findings that say it.
pub(crate) const BGP_LABEL: &str = "BGP tcp/179";

/// What carries pod traffic (or its routes) between two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Transport {
    Vxlan(u16),
    Ipip,
    Bgp,
}

impl Transport {
    fn label(self) -> String {
        match self {
            Transport::Vxlan(port) => format!("VXLAN udp/{port}"),
            Transport::Ipip => "IPIP (protocol 4)".to_string(),
            Transport::Bgp => BGP_LABEL.to_string(),
        }
    }

    /// (protocol, source port, destination port) of the first packet.
    fn header(self) -> (u8, u16, u16) {
        match self {
            Transport::Vxlan(port) => (17, SPORT, port),
            Transport::Ipip => (4, 0, 0),
            Transport::Bgp => (6, SPORT, 179),
        }
    }

    /// The match as iptables and nft write it (`-p udp --dport 8472`).
    fn matches(self) -> (String, String) {
        match self {
            Transport::Vxlan(port) => (
                format!("-p udp --dport {port}"),
                format!("udp dport {port}"),
            ),
            Transport::Ipip => ("-p 4".to_string(), "meta l4proto 4".to_string()),
            Transport::Bgp => (
                "-p tcp --dport 179".to_string(),
                "tcp dport 179".to_string(),
            ),
        }
    }
}

/// Received from the peer, or sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    In,
    Out,
}

/// One first packet tried: which peer, transport and direction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Probe<'e> {
    peer: &'e NodeExpect,
    peer_ip: IpAddr,
    dev: &'e str,
    transport: Transport,
    dir: Dir,
}

impl Probe<'_> {
    /// `VXLAN udp/8472 192.0.2.12 → 192.0.2.11 in on eth0 (from node-2)`.
    fn describe(&self, me: IpAddr) -> String {
        let (src, dst, way, word) = match self.dir {
            Dir::In => (self.peer_ip, me, "in on", "from"),
            Dir::Out => (me, self.peer_ip, "out on", "to"),
        };
        format!(
            "{} {src} → {dst} {way} {} ({word} {})",
            self.transport.label(),
            self.dev,
            self.peer.name
        )
    }

    fn packet(&self, me: IpAddr) -> NfPacket {
        let (proto, sport, dport) = self.transport.header();
        let (src, dst) = match self.dir {
            Dir::In => (self.peer_ip, me),
            Dir::Out => (me, self.peer_ip),
        };
        let mut p = NfPacket::new(src, dst, proto, sport, dport);
        match self.dir {
            Dir::In => p.iif = Some(self.dev.to_string()),
            Dir::Out => p.oif = Some(self.dev.to_string()),
        }
        p
    }

    fn hooks(&self) -> [Hook; 2] {
        match self.dir {
            Dir::In => [Hook::Prerouting, Hook::Input],
            Dir::Out => [Hook::Output, Hook::Postrouting],
        }
    }
}

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(nf) = nf::ready(cx, CODE, WHAT, out) else {
        return;
    };
    let transports = transports(cx);
    if transports.is_empty() {
        return;
    }
    let node = cx.name();
    let Some(me) = cx.me.and_then(NodeExpect::ip) else {
        let why = format!("{node} has no known underlay IP: {WHAT} skipped");
        out.skip(CODE, Some(node), why);
        return;
    };
    let probes = probes(cx, me, &transports);
    let found = evaluate(cx, nf, me, &probes);
    found.skip_unknown(&nf.rules, (CODE, node, WHAT), out);
    for (r, hits) in found.stopped.entries {
        let hit: Vec<&Probe<'_>> = hits.iter().map(|&i| &probes[i]).collect();
        finding(cx, nf, me, r, &hit, out);
    }
}

/// Every probe walked through its hooks, once per class of probes the
/// rules cannot tell apart (nfclass.rs); outcomes by probe index.
fn evaluate(cx: &NodeCx<'_>, nf: &NodeNf<'_>, me: IpAddr, probes: &[Probe<'_>]) -> Outcomes<usize> {
    let route = |ip: IpAddr| nf::dev_to(cx, ip).map(str::to_string);
    let mut found = Outcomes::default();
    let mut memo = Memo::new();
    let my_class = nf.class_of(me);
    for (i, p) in probes.iter().enumerate() {
        let class = my_class.clone().zip(nf.class_of(p.peer_ip));
        let key = class.map(|c| (c, p.dev, p.transport, p.dir));
        let walk = || nf::walk(nf, &p.hooks(), p.packet(me), &route);
        for end in memo.ends(key, walk) {
            found.record(end, i, |_| true);
        }
    }
    found
}

/// The transports the node's model uses between nodes.
fn transports(cx: &NodeCx<'_>) -> Vec<Transport> {
    let Some(profile) = cx.model.profile() else {
        return Vec::new();
    };
    let mut v = Vec::new();
    match profile.encap {
        Encap::Vxlan { port, .. } => {
            let dev = cx.vxlan_dev.and_then(|d| cx.link(d));
            v.push(Transport::Vxlan(nf::vxlan_port(dev, port)));
        }
        Encap::Ipip => v.push(Transport::Ipip),
        Encap::None => {}
    }
    if profile.bgp {
        v.push(Transport::Bgp);
    }
    v
}

/// Every (peer, transport, direction) to try, toward peers of the node's
/// address family that the node routes to.
fn probes<'e>(cx: &NodeCx<'e>, me: IpAddr, transports: &[Transport]) -> Vec<Probe<'e>> {
    let mut v = Vec::new();
    for peer in cx.exp.nodes.iter().filter(|p| p.name != cx.name()) {
        let Some(peer_ip) = peer.ip().filter(|ip| ip.is_ipv4() == me.is_ipv4()) else {
            continue;
        };
        let Some(dev) = nf::dev_to(cx, peer_ip) else {
            continue;
        };
        for &transport in transports {
            if transport != Transport::Bgp && !encapsulated(cx, peer) {
                continue;
            }
            if transport == Transport::Bgp && !bgp_peer(cx, peer_ip) {
                continue;
            }
            for dir in [Dir::In, Dir::Out] {
                v.push(Probe {
                    peer,
                    peer_ip,
                    dev,
                    transport,
                    dir,
                });
            }
        }
    }
    v
}

/// Whether this node has a BGP session with `ip`: per Calico's
/// BGPConfiguration/BGPPeers when collected (a reflector client peers with
/// reflectors only), else every node (the full mesh).
fn bgp_peer(cx: &NodeCx<'_>, ip: IpAddr) -> bool {
    let topo = cx.exp.bgp_topology.as_ref();
    topo.and_then(|t| t.of(cx.name()))
        .is_none_or(|want| want.contains(&ip))
}

/// Whether this node's routes send the peer's pods through the tunnel
/// device (no route to judge by: assume so).
fn encapsulated(cx: &NodeCx<'_>, peer: &NodeExpect) -> bool {
    let tunnel = cx.model.profile().and_then(|p| p.tunnel_dev(cx.node));
    let Some(t) = tunnel.map(|l| l.name.as_str()) else {
        return true;
    };
    let mut chosen = cx
        .remote()
        .iter()
        .filter(|v| v.peer.name == peer.name)
        .filter_map(|v| v.chosen)
        .peekable();
    chosen.peek().is_none() || chosen.any(|r| fib::paths(r).any(|(_, d)| d == Some(t)))
}

fn finding(
    cx: &NodeCx<'_>,
    nf: &NodeNf<'_>,
    me: IpAddr,
    r: RuleRef,
    hits: &[&Probe<'_>],
    out: &mut Out,
) {
    let node = cx.name();
    let rs = &nf.rules;
    let mut evidence = vec![nf::rule_line(rs, r)];
    if let Some(l) = cx.vxlan_dev.and_then(|d| cx.link(d)) {
        evidence.push(render::link(l));
    }
    let probes = hits.iter().map(|p| p.describe(me)).collect();
    evidence.extend(render::capped(probes, 8));
    let summary = summary(cx, nf, r, hits);
    let hint = hint(cx, nf, r, hits);
    let peers = nf::distinct(hits.iter().map(|p| p.peer.name.as_str()).collect());
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint)
        .peers = peers.into_iter().map(str::to_string).collect();
}

/// `ip filter INPUT #1 on node-1 drops VXLAN udp/8472 with node-2: …`.
fn summary(cx: &NodeCx<'_>, nf: &NodeNf<'_>, r: RuleRef, hits: &[&Probe<'_>]) -> String {
    let peers = nf::distinct(hits.iter().map(|p| p.peer.name.as_str()).collect());
    let what = nf::distinct(hits.iter().map(|p| p.transport.label()).collect());
    format!(
        "{} on {} {} {} with {}: pod traffic between them cannot cross",
        nf::rule_short(&nf.rules, r),
        cx.name(),
        nf::verb(&nf.rules, r),
        what.join(" and "),
        peers.join(", ")
    )
}

/// Delete the rule, or accept each stopped transport from (to) the peers
/// before it.
fn hint(cx: &NodeCx<'_>, nf: &NodeNf<'_>, r: RuleRef, hits: &[&Probe<'_>]) -> String {
    let mut accepts = Vec::new();
    for p in hits {
        let (ipt, nft) = p.transport.matches();
        let kw = if p.peer_ip.is_ipv4() { "ip" } else { "ip6" };
        let (flag, dir) = match p.dir {
            Dir::In => ("-s", "saddr"),
            Dir::Out => ("-d", "daddr"),
        };
        let iptables = format!("{ipt} {flag} {}", p.peer_ip);
        let nft = format!("{kw} {dir} {} {nft}", p.peer_ip);
        let what = nf::Accept {
            iptables: &iptables,
            nft: &nft,
        };
        let cmd = nf::accept_cmd(&nf.rules, r, &what);
        if !accepts.contains(&cmd) {
            accepts.push(cmd);
        }
    }
    let accept = render::capped(accepts, 4).join("; ");
    let node = cx.name();
    match nf::delete_cmd(&nf.rules, r) {
        Some(del) => format!("on {node}: delete the rule ({del}) or accept the overlay from the peers before it ({accept})"),
        None => format!("on {node}: accept the overlay from the peers before the policy applies ({accept})"),
    }
}

#[cfg(test)]
mod tests {
    use cnictl_gen::GenModel;
    use cnictl_model::netfilter::Source;

    use super::CODE;
    use crate::checks::nftest::*;

    #[test]
    fn a_vxlan_drop_from_one_peer_names_that_peer_only() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "flannel-fwd");
        let text = dump("block-vxlan-one-peer");
        set_rules(&mut snap, "node-1", &[(Source::IptablesSave, &text)]);
        let f = findings(&snap, CODE);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].node.as_deref(), Some("node-1"));
        assert_eq!(
            f[0].summary,
            "ip filter INPUT #1 on node-1 drops VXLAN udp/8472 with node-2: pod traffic between them cannot cross"
        );
        assert_eq!(
            f[0].evidence[0],
            "ip filter INPUT #1: -A INPUT -s 192.168.0.12/32 -p udp -m udp --dport 8472 -j DROP (iptables-save.txt, iptables-nft)"
        );
        assert!(
            f[0].evidence[1].contains("flannel.1") && f[0].evidence[1].contains("dstport 8472")
        );
        assert_eq!(
            f[0].evidence[2],
            "VXLAN udp/8472 192.168.0.12 → 192.168.0.11 in on eth0 (from node-2)"
        );
        assert!(
            f[0].hint.contains("iptables -t filter -D INPUT 1")
                && f[0].hint.contains(
                    "iptables -t filter -I INPUT 1 -p udp --dport 8472 -s 192.168.0.12 -j ACCEPT"
                ),
            "{}",
            f[0].hint
        );
    }

    #[test]
    fn healthy_rules_and_a_vxlan_reject_on_forward_do_not_block_the_overlay() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "flannel-fwd");
        assert!(findings(&snap, CODE).is_empty());
        // FORWARD rejects udp/8472, but the outer packet is for the node
        // itself (INPUT), not forwarded.
        let text = formats_dump("iptables-save-nft.txt");
        set_rules(&mut snap, "node-2", &[(Source::IptablesSave, &text)]);
        assert!(findings(&snap, CODE).is_empty());
        assert!(skips(&snap, CODE).is_empty(), "{:#?}", skips(&snap, CODE));
    }

    #[test]
    fn bgp_is_judged_only_toward_the_sessions_calico_configures() {
        use cnictl_model::{BgpConfiguration, BgpPeer};
        let mut snap = cluster(GenModel::CalicoIpip);
        rules_everywhere(&mut snap, "calico-tw-drop");
        let text = dump("block-ipip-bgp");
        set_rules(&mut snap, "node-1", &[(Source::IptablesSave, &text)]);
        // node-2 reflects; node-1 and node-3 are its clients.
        let rr = snap
            .k8s
            .nodes
            .iter_mut()
            .find(|n| n.name == "node-2")
            .unwrap();
        rr.annotations
            .insert(crate::bgptopo::RR_ANNOTATION.into(), "244.0.0.1".into());
        rr.labels.insert("route-reflector".into(), "true".into());
        snap.k8s.calico.bgp_configurations = Some(vec![BgpConfiguration {
            name: "default".into(),
            node_to_node_mesh_enabled: Some(false),
            as_number: None,
        }]);
        snap.k8s.calico.bgp_peers = Some(vec![BgpPeer {
            name: "peer-with-route-reflectors".into(),
            node_selector: Some("all()".into()),
            peer_selector: Some("route-reflector == 'true'".into()),
            ..BgpPeer::default()
        }]);
        let f = findings(&snap, CODE);
        let bgp: Vec<&str> = f
            .iter()
            .map(|f| f.summary.as_str())
            .filter(|s| s.contains("BGP"))
            .collect();
        assert_eq!(
            bgp,
            ["ip filter OUTPUT #1 on node-1 rejects BGP tcp/179 with node-2: pod traffic between them cannot cross"]
        );
    }

    #[test]
    fn ipip_dropped_in_and_bgp_rejected_out_on_a_calico_node() {
        let mut snap = cluster(GenModel::CalicoIpip);
        rules_everywhere(&mut snap, "calico-tw-drop");
        let text = dump("block-ipip-bgp");
        set_rules(&mut snap, "node-1", &[(Source::IptablesSave, &text)]);
        let f = findings(&snap, CODE);
        let summaries: Vec<&str> = f.iter().map(|f| f.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "ip filter INPUT #1 on node-1 drops IPIP (protocol 4) with node-2, node-3: pod traffic between them cannot cross",
                "ip filter OUTPUT #1 on node-1 rejects BGP tcp/179 with node-2, node-3: pod traffic between them cannot cross",
            ]
        );
        assert!(
            f[1].evidence
                .iter()
                .any(|e| e == "BGP tcp/179 192.168.0.11 → 192.168.0.13 out on eth0 (to node-3)"),
            "{:#?}",
            f[1].evidence
        );
    }

    #[test]
    fn skipped_when_netfilter_was_not_collected() {
        let snap = cluster(GenModel::CalicoIpip);
        let s = skips(&snap, CODE);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].reason,
            "node-1 has no iptables-save.txt / nft-ruleset.json: netfilter checks skipped"
        );
    }
}
