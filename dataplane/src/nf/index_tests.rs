//! The indexes change how fast a walk is, never what it finds: every hook's
//! paths — verdicts, shares, rewrites and, recording, every visit — are
//! the same with and without them, on kube-proxy's generated rulesets and
//! on random chains that mix host, prefix, negated and address-less rules.

use std::net::IpAddr;

use cnictl_formats::iptables::parse_iptables_save;
use cnictl_gen::kube_proxy::{bench_cluster, offset_ip};
use cnictl_model::netfilter::{Hook, Netfilter, Source};
use proptest::prelude::*;

use super::tests::Node;
use super::*;

fn compile(text: &str) -> Ruleset {
    let tables = parse_iptables_save(text, Source::IptablesSave).unwrap();
    Ruleset::compile_owned(Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::IptablesSave],
        tool_versions: None,
        nft_json: None,
    })
}

/// Every hook, recording and not: indexed == unindexed.
fn assert_same(rs: &Ruleset, plain: &Ruleset, p: &NfPacket) {
    for hook in [Hook::Prerouting, Hook::Output, Hook::Forward, Hook::Input] {
        for record in [false, true] {
            assert_eq!(
                rs.eval_hook(hook, p, &Node, record),
                plain.eval_hook(hook, p, &Node, record),
                "{hook:?} record={record} {p:?}"
            );
        }
    }
}

#[test]
fn kube_proxy_services_walk_the_same_with_and_without_the_index() {
    let k8s = bench_cluster(120, 3);
    let text = cnictl_gen::kube_proxy::iptables_save(&k8s, "10.128.0.0/9".parse().unwrap());
    let rs = compile(&text);
    let plain = compile(&text).without_indexes();
    let pod: IpAddr = "10.128.0.2".parse().unwrap();
    for dst in [0, 1, 60, 119, 500].map(|s| offset_ip([10, 96, 0, 10], s)) {
        for dport in [80, 81] {
            let mut p = NfPacket::new(pod, dst, 6, 40000, dport);
            p.iif = Some("cni0".into());
            assert_same(&rs, &plain, &p);
        }
    }
    let to_pod = NfPacket::new(pod, "10.128.0.9".parse().unwrap(), 6, 40000, 8080);
    assert_same(&rs, &plain, &to_pod);
}

#[test]
fn the_last_service_is_found_by_skipping_not_by_missing_it() {
    let k8s = bench_cluster(100, 2);
    let text = cnictl_gen::kube_proxy::iptables_save(&k8s, "10.128.0.0/9".parse().unwrap());
    let rs = compile(&text);
    let p = NfPacket::new(
        "10.128.0.2".parse().unwrap(),
        offset_ip([10, 96, 0, 10], 99),
        6,
        40000,
        80,
    );
    let paths = rs.eval_hook(Hook::Prerouting, &p, &Node, true);
    assert_eq!(paths.len(), 2, "one path per endpoint: {paths:?}");
    for path in &paths {
        assert_eq!(path.packet.dport, 8080, "DNATed to an endpoint");
        // 99 KUBE-SERVICES rules before it, reported as not matching.
        let misses = path.visits.iter().filter(|v| v.matched == Some(false));
        assert!(misses.count() >= 99, "{:?}", path.visits.len());
    }
}

/// One random rule of a long chain.
fn rule_line() -> impl Strategy<Value = String> {
    let host = (0u8..6).prop_map(|h| format!("10.0.0.{h}"));
    let target = prop_oneof![
        Just("-j ACCEPT"),
        Just("-j DROP"),
        Just("-j RETURN"),
        Just("-j MARK --set-xmark 0x1/0x1"),
        Just("-j DNAT --to-destination 10.9.9.9:80"),
    ];
    let filter = prop_oneof![
        host.clone().prop_map(|h| format!("-d {h}/32")),
        (host.clone(), host.clone()).prop_map(|(a, b)| format!("-d {a}/32,{b}/32")),
        host.clone().prop_map(|h| format!("! -d {h}/32")),
        Just("-d 10.0.0.0/30".to_string()),
        Just("-p udp".to_string()),
        host.prop_map(|h| format!("-d {h}/32 -m statistic --mode random --probability 0.5")),
        Just("-m mark --mark 0x1/0x1".to_string()),
    ];
    (filter, target).prop_map(|(f, t)| format!("-A LONG {f} {t}"))
}

fn chain_text(rules: &[String]) -> String {
    format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:LONG - [0:0]\n-A PREROUTING -j LONG\n{}\nCOMMIT\n",
        rules.join("\n")
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_long_chains_walk_the_same(
        rules in prop::collection::vec(rule_line(), 32..64),
        dst in 0u8..7,
    ) {
        let text = chain_text(&rules);
        let rs = compile(&text);
        let plain = compile(&text).without_indexes();
        let p = NfPacket::new(
            "10.1.0.1".parse().unwrap(),
            format!("10.0.0.{dst}").parse().unwrap(),
            6,
            40000,
            80,
        );
        for record in [false, true] {
            prop_assert_eq!(
                rs.eval_hook(Hook::Prerouting, &p, &Node, record),
                plain.eval_hook(Hook::Prerouting, &p, &Node, record)
            );
        }
    }
}

fn nft(json: &str) -> Ruleset {
    let tables = cnictl_formats::nft::parse_nft_ruleset(json).unwrap();
    Ruleset::compile_owned(Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::NftRuleset],
        tool_versions: None,
        nft_json: None,
    })
}

#[test]
fn kube_proxy_nft_maps_answer_the_same_with_and_without_the_index() {
    let mut k8s = bench_cluster(40, 2);
    // Every fourth Service without endpoints: no-endpoint-services.
    for (i, slice) in k8s.endpoint_slices.iter_mut().flatten().enumerate() {
        if i % 4 == 0 {
            slice.endpoints.clear();
        }
    }
    let json = cnictl_gen::kube_proxy_nft::nft_json(
        &k8s,
        "10.128.0.0/9".parse().unwrap(),
        "192.0.2.11".parse().unwrap(),
    );
    let (rs, plain) = (nft(&json), nft(&json).without_indexes());
    let pod: IpAddr = "10.128.0.2".parse().unwrap();
    for s in [0, 1, 4, 39, 77] {
        for (proto, dport) in [(6, 80), (6, 81), (17, 80)] {
            let mut p = NfPacket::new(pod, offset_ip([10, 96, 0, 10], s), proto, 40000, dport);
            p.iif = Some("cni0".into());
            assert_same(&rs, &plain, &p);
        }
    }
}

/// A verdict map of exact, prefix and range elements, looked up by address
/// and port: overlapping elements answer differently, so the index must
/// find the element a scan finds first, not just any element.
fn map_json(elements: &[String]) -> String {
    let key = r#"{"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "th", "field": "dport"}}]}"#;
    format!(
        r#"{{"nftables": [{{"table": {{"family": "ip", "name": "t"}}}},
        {{"map": {{"family": "ip", "table": "t", "name": "m", "type": ["ipv4_addr", "inet_service"], "map": "verdict", "flags": ["interval"], "elem": [{}]}}}},
        {{"chain": {{"family": "ip", "table": "t", "name": "c", "type": "filter", "hook": "prerouting", "prio": 0, "policy": "accept"}}}},
        {{"rule": {{"family": "ip", "table": "t", "chain": "c", "expr": [{{"vmap": {{"key": {key}, "data": "@m"}}}}]}}}}]}}"#,
        elements.join(", ")
    )
}

fn element() -> impl Strategy<Value = String> {
    let addr = prop_oneof![
        (0u8..8).prop_map(|h| format!("\"10.0.0.{h}\"")),
        Just(r#"{"prefix": {"addr": "10.0.0.0", "len": 30}}"#.to_string()),
        Just(r#"{"range": ["10.0.0.2", "10.0.0.5"]}"#.to_string()),
    ];
    let port = prop_oneof![
        (79u16..83).prop_map(|p| p.to_string()),
        Just(r#"{"range": [80, 81]}"#.to_string()),
    ];
    let verdict = prop_oneof![Just(r#"{"accept": null}"#), Just(r#"{"drop": null}"#)];
    (addr, port, verdict).prop_map(|(a, p, v)| format!(r#"[{{"concat": [{a}, {p}]}}, {v}]"#))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_maps_answer_the_same(
        elements in prop::collection::vec(element(), 16..40),
        host in 0u8..9,
        dport in 78u16..84,
    ) {
        let json = map_json(&elements);
        let (rs, plain) = (nft(&json), nft(&json).without_indexes());
        let p = NfPacket::new(
            "10.1.0.1".parse().unwrap(),
            format!("10.0.0.{host}").parse().unwrap(),
            6,
            40000,
            dport,
        );
        prop_assert_eq!(
            rs.eval_hook(Hook::Prerouting, &p, &Node, true),
            plain.eval_hook(Hook::Prerouting, &p, &Node, true)
        );
    }
}
