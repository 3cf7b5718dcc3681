//! The evaluator on rulesets captured from iptables 1.8.9 and nft 1.0.6
//! (formats/tests/data/netfilter/): kube-proxy's Service chains in both
//! modes, Flannel's forward chain, a FORWARD DROP policy, rules cnictl
//! cannot evaluate.

use std::net::IpAddr;

use cnictl_formats::{iptables::parse_iptables_save, nft::parse_nft_ruleset};
use cnictl_model::netfilter::{AddrType, Hook, Netfilter, Source};

use super::*;

const IPTABLES: &str = include_str!("../../../formats/tests/data/netfilter/iptables-save-nft.txt");
const NFT: &str = include_str!("../../../formats/tests/data/netfilter/nft-ruleset-kube-proxy.json");

/// A node with 192.0.2.11 on eth0 and 10.244.0.1 on cni0.
pub(super) struct Node;

impl NodeView for Node {
    fn addr_type(&self, addr: IpAddr, _dev: Option<&str>) -> AddrType {
        match addr.to_string().as_str() {
            "192.0.2.11" | "10.244.0.1" | "127.0.0.1" => AddrType::Local,
            _ => AddrType::Unicast,
        }
    }
    fn primary_addr(&self, dev: &str, _dst: IpAddr) -> Option<IpAddr> {
        match dev {
            "eth0" => "192.0.2.11".parse().ok(),
            "cni0" => "10.244.0.1".parse().ok(),
            _ => None,
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn iptables() -> Ruleset {
    let tables = parse_iptables_save(IPTABLES, Source::IptablesSave).unwrap();
    Ruleset::compile(&Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::IptablesSave],
        tool_versions: None,
        nft_json: None,
    })
}

fn nft() -> Ruleset {
    let tables = parse_nft_ruleset(NFT).unwrap();
    Ruleset::compile(&Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::NftRuleset],
        tool_versions: None,
        nft_json: None,
    })
}

fn rule_text(rs: &Ruleset, r: RuleRef) -> String {
    match r.rule {
        Some(i) => rs.rule(r.chain, i as usize).text.clone(),
        None => format!("policy of {}", rs.chain(r.chain).name),
    }
}

fn pod_packet(dst: &str, proto: u8, dport: u16) -> NfPacket {
    let mut p = NfPacket::new(ip("10.244.0.5"), ip(dst), proto, 40000, dport);
    p.iif = Some("cni0".into());
    p
}

#[test]
fn iptables_service_splits_into_one_path_per_endpoint() {
    let rs = iptables();
    let paths = rs.eval_hook(
        Hook::Prerouting,
        &pod_packet("10.96.0.10", 17, 53),
        &Node,
        true,
    );
    let mut dsts: Vec<(String, f64)> = paths
        .iter()
        .map(|p| (p.packet.dst.to_string(), p.share))
        .collect();
    dsts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        dsts,
        vec![("10.244.0.2".into(), 0.5), ("10.244.1.2".into(), 0.5)]
    );
    for p in &paths {
        assert_eq!(p.verdict, HookVerdict::Accept);
        assert_eq!(p.packet.dport, 53);
        let dnat = rule_text(&rs, p.rewrites.last().unwrap().rule);
        assert!(
            dnat.contains(&format!("--to-destination {}:53", p.packet.dst)),
            "{dnat}"
        );
        assert_eq!(
            p.packet.mark & 0x4000,
            0,
            "a pod source is not marked for masquerade"
        );
    }
}

#[test]
fn traffic_from_outside_the_cluster_is_marked_for_masquerade_then_masqueraded() {
    let rs = iptables();
    let mut pkt = NfPacket::new(ip("192.0.2.50"), ip("10.96.0.10"), 17, 40000, 53);
    pkt.iif = Some("eth0".into());
    let paths = rs.eval_hook(Hook::Prerouting, &pkt, &Node, false);
    assert!(paths.iter().all(|p| p.packet.mark & 0x4000 == 0x4000));
    let mut after = paths[0].packet.clone();
    after.oif = Some("cni0".into());
    let post = rs.eval_hook(Hook::Postrouting, &after, &Node, false);
    assert_eq!(post.len(), 1);
    assert_eq!(
        post[0].packet.src,
        ip("10.244.0.1"),
        "MASQUERADE takes the out device's address"
    );
    assert_eq!(
        post[0].packet.mark & 0x4000,
        0,
        "KUBE-POSTROUTING clears the bit first"
    );
}

#[test]
fn forward_policy_drop_with_flannel_accepting_pod_traffic() {
    let rs = iptables();
    let mut pkt = pod_packet("10.244.1.5", 1, 0);
    pkt.oif = Some("flannel.1".into());
    let paths = rs.eval_hook(Hook::Forward, &pkt, &Node, true);
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].verdict, HookVerdict::Accept);
    let decisive = paths[0]
        .visits
        .iter()
        .rev()
        .find(|v| v.matched == Some(true))
        .unwrap();
    assert!(
        rule_text(&rs, decisive.rule).starts_with("-A FLANNEL-FWD -s 10.244.0.0/16"),
        "{:?}",
        rule_text(&rs, decisive.rule)
    );
}

#[test]
fn forwarded_vxlan_is_rejected_by_the_rule_that_says_so() {
    let rs = iptables();
    let mut pkt = NfPacket::new(ip("192.0.2.12"), ip("192.0.2.13"), 17, 40000, 8472);
    pkt.iif = Some("eth0".into());
    pkt.oif = Some("eth1".into());
    let paths = rs.eval_hook(Hook::Forward, &pkt, &Node, false);
    let HookVerdict::Reject(r, with) = &paths[0].verdict else {
        panic!("{:?}", paths[0].verdict)
    };
    assert_eq!(
        rule_text(&rs, *r),
        "-A FORWARD -p udp -m udp --dport 8472 -j REJECT --reject-with icmp-port-unreachable"
    );
    assert_eq!(with.as_deref(), Some("icmp-port-unreachable"));
}

#[test]
fn unmatched_forward_traffic_meets_the_drop_policy() {
    let rs = iptables();
    let mut pkt = NfPacket::new(ip("192.0.2.12"), ip("198.51.100.7"), 6, 40000, 22);
    pkt.iif = Some("eth0".into());
    pkt.oif = Some("eth1".into());
    let paths = rs.eval_hook(Hook::Forward, &pkt, &Node, false);
    assert!(
        paths
            .iter()
            .all(|p| matches!(p.verdict, HookVerdict::Drop(RuleRef { rule: None, .. }))),
        "{paths:?}"
    );
    // The nth LOG rule forks the walk; both halves meet the same policy.
    assert!((paths.iter().map(|p| p.share).sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn input_drops_ipip_and_marks_bgp() {
    let rs = iptables();
    let ipip = NfPacket::new(ip("192.0.2.12"), ip("192.0.2.11"), 4, 0, 0);
    assert!(matches!(
        rs.eval_hook(Hook::Input, &ipip, &Node, false)[0].verdict,
        HookVerdict::Drop(_)
    ));
    let mut bgp = NfPacket::new(ip("192.0.2.12"), ip("192.0.2.11"), 6, 40000, 179);
    bgp.ctmark = 1;
    let paths = rs.eval_hook(Hook::Input, &bgp, &Node, false);
    assert_eq!(
        (paths[0].packet.ctmark, &paths[0].verdict),
        (2, &HookVerdict::Accept)
    );
}

#[test]
fn a_reachable_rule_that_cannot_be_evaluated_makes_the_hook_unknown() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -m limit --limit 5/sec -j LOG\n-A FORWARD -m limit --limit 5/sec -j ACCEPT\nCOMMIT\n";
    let tables = parse_iptables_save(text, Source::IptablesSave).unwrap();
    let rs = Ruleset::compile(&Netfilter {
        tables,
        ipsets: None,
        sources: vec![],
        tool_versions: None,
        nft_json: None,
    });
    let paths = rs.eval_hook(Hook::Forward, &pod_packet("10.244.1.5", 1, 0), &Node, true);
    let HookVerdict::Unknown(r, why) = &paths[0].verdict else {
        panic!("{:?}", paths[0].verdict)
    };
    assert_eq!(
        r.rule,
        Some(1),
        "the LOG rule is skipped, the ACCEPT rule is not"
    );
    assert!(why.contains("-m limit"), "{why}");
    assert_eq!(paths[0].visits[0].matched, None);
}

#[test]
fn an_ipset_match_without_ipset_save_is_unknown_and_with_it_decides() {
    let text = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n";
    let tables = parse_iptables_save(text, Source::IptablesSave).unwrap();
    let mut nf = Netfilter {
        tables,
        ipsets: None,
        sources: vec![],
        tool_versions: None,
        nft_json: None,
    };
    let pkt = pod_packet("10.96.0.10", 17, 53);
    let rs = Ruleset::compile(&nf);
    assert!(matches!(
        rs.eval_hook(Hook::Forward, &pkt, &Node, false)[0].verdict,
        HookVerdict::Unknown(..)
    ));
    let saved = include_str!("../../../formats/tests/data/netfilter/ipset-save.txt");
    nf.ipsets = Some(cnictl_formats::ipset::parse_ipset_save(saved).unwrap());
    let rs = Ruleset::compile(&nf);
    assert_eq!(
        rs.eval_hook(Hook::Forward, &pkt, &Node, false)[0].verdict,
        HookVerdict::Accept
    );
    let other = pod_packet("10.96.0.10", 17, 54);
    assert!(matches!(
        rs.eval_hook(Hook::Forward, &other, &Node, false)[0].verdict,
        HookVerdict::Drop(_)
    ));
}

#[test]
fn nft_service_map_numgen_and_dnat() {
    let rs = nft();
    let paths = rs.eval_hook(
        Hook::Prerouting,
        &pod_packet("10.96.0.10", 17, 53),
        &Node,
        true,
    );
    let mut dsts: Vec<(String, f64)> = paths
        .iter()
        .map(|p| (p.packet.dst.to_string(), p.share))
        .collect();
    dsts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        dsts,
        vec![("10.244.0.2".into(), 0.5), ("10.244.1.2".into(), 0.5)]
    );
    let dnat = rule_text(&rs, paths[0].rewrites.last().unwrap().rule);
    assert!(
        dnat.starts_with("meta l4proto udp dnat to 10.244."),
        "{dnat}"
    );
}

#[test]
fn nft_service_without_endpoints_is_rejected_at_forward() {
    let rs = nft();
    let paths = rs.eval_hook(
        Hook::Forward,
        &pod_packet("10.96.0.20", 6, 80),
        &Node,
        false,
    );
    let HookVerdict::Reject(r, _) = &paths[0].verdict else {
        panic!("{:?}", paths[0].verdict)
    };
    assert_eq!(rs.chain(r.chain).name, "reject-chain");
}

#[test]
fn nft_masquerade_by_mark() {
    let rs = nft();
    let mut pkt = NfPacket::new(ip("192.0.2.50"), ip("10.244.1.2"), 17, 40000, 53);
    pkt.mark = 0x4000;
    pkt.oif = Some("eth0".into());
    let paths = rs.eval_hook(Hook::Postrouting, &pkt, &Node, false);
    assert_eq!(paths[0].packet.src, ip("192.0.2.11"));
    assert_eq!(paths[0].packet.mark, 0);
    pkt.mark = 0;
    assert_eq!(
        rs.eval_hook(Hook::Postrouting, &pkt, &Node, false)[0]
            .packet
            .src,
        ip("192.0.2.50")
    );
}

#[test]
fn nft_inet_input_policy_drop_applies_to_both_families() {
    let rs = nft();
    let v6 = NfPacket::new(ip("fd00::2"), ip("fd00::1"), 6, 40000, 22);
    assert!(matches!(
        rs.eval_hook(Hook::Input, &v6, &Node, false)[0].verdict,
        HookVerdict::Drop(RuleRef { rule: None, .. })
    ));
    let bgp = NfPacket::new(ip("192.0.2.12"), ip("192.0.2.11"), 6, 40000, 179);
    assert_eq!(
        rs.eval_hook(Hook::Input, &bgp, &Node, false)[0].verdict,
        HookVerdict::Accept
    );
}

#[test]
fn shares_of_every_hook_sum_to_one() {
    for rs in [iptables(), nft()] {
        for hook in [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
        ] {
            for dst in ["10.96.0.10", "10.244.1.5", "192.0.2.11", "8.8.8.8"] {
                let mut p = pod_packet(dst, 17, 53);
                p.oif = Some("eth0".into());
                let total: f64 = rs
                    .eval_hook(hook, &p, &Node, false)
                    .iter()
                    .map(|p| p.share)
                    .sum();
                assert!((total - 1.0).abs() < 1e-9, "{hook:?} {dst}: {total}");
            }
        }
    }
}

#[test]
fn goto_does_not_return_and_jump_does() {
    // `-g X` from a built-in chain: when X ends, the built-in chain's policy
    // decides (the rules after the goto are not reached); `-j X` returns.
    for (how, want_drop) in [("-g", true), ("-j", false)] {
        let text = format!("*filter\n:FORWARD DROP [0:0]\n:X - [0:0]\n-A FORWARD {how} X\n-A FORWARD -j ACCEPT\nCOMMIT\n");
        let tables = parse_iptables_save(&text, Source::IptablesSave).unwrap();
        let rs = Ruleset::compile(&Netfilter {
            tables,
            ipsets: None,
            sources: vec![],
            tool_versions: None,
            nft_json: None,
        });
        let v =
            &rs.eval_hook(Hook::Forward, &pod_packet("10.244.1.5", 1, 0), &Node, false)[0].verdict;
        assert_eq!(
            matches!(v, HookVerdict::Drop(RuleRef { rule: None, .. })),
            want_drop,
            "{how}: {v:?}"
        );
    }
}
