//! nft JSON parser tests on rulesets captured from nft 1.0.6 and one written
//! by hand in an older release's shape (see tests/data/netfilter/README.md).

use cnictl_model::netfilter::*;

use super::parse_nft_ruleset;

const KUBE_PROXY: &str = include_str!("../../tests/data/netfilter/nft-ruleset-kube-proxy.json");
const COMPAT: &str = include_str!("../../tests/data/netfilter/nft-ruleset-iptables-nft.json");
const OLD_SHAPE: &str = include_str!("../../tests/data/netfilter/nft-ruleset-0.9-shape.json");

fn chain<'a>(t: &'a Table, name: &str) -> &'a Chain {
    t.chains.iter().find(|c| c.name == name).unwrap()
}

fn kube_proxy() -> Table {
    let tables = parse_nft_ruleset(KUBE_PROXY).unwrap();
    tables.into_iter().find(|t| t.name == "kube-proxy").unwrap()
}

#[test]
fn base_chains_sets_and_maps() {
    let t = kube_proxy();
    assert_eq!(
        (t.family, t.backend, t.source),
        (Family::Ip, Backend::Nftables, Source::NftRuleset)
    );
    let base = chain(&t, "filter-prerouting").base.clone().unwrap();
    assert_eq!(
        (base.hook, base.priority, base.kind),
        (Hook::Prerouting, -110, ChainKind::Filter)
    );
    assert_eq!(
        chain(&t, "nat-postrouting").base.as_ref().unwrap().priority,
        100
    );
    let svc = t.sets.iter().find(|s| s.name == "service-ips").unwrap();
    assert_eq!(svc.key_types, ["ipv4_addr", "inet_proto", "inet_service"]);
    assert_eq!(svc.map_type.as_deref(), Some("verdict"));
    let ip: std::net::IpAddr = "10.96.0.10".parse().unwrap();
    assert_eq!(
        svc.elements[0].key,
        vec![
            Value::Net(ip.into()),
            Value::Num(17, 17),
            Value::Num(53, 53)
        ]
    );
    let target = "service-ULMVA6XW-kube-system/kube-dns/udp/dns".to_string();
    assert_eq!(
        svc.elements[0].value,
        Some(MapValue::Verdict(Verdict::Goto(target)))
    );
    let cidrs = t.sets.iter().find(|s| s.name == "cidrs").unwrap();
    assert!(matches!(cidrs.elements[1].key[0], Value::AddrRange(..)));
    let noep = t
        .sets
        .iter()
        .find(|s| s.name == "no-endpoint-services")
        .unwrap();
    assert_eq!(
        noep.elements.len(),
        1,
        "an element with a comment is unwrapped"
    );
    let inet = parse_nft_ruleset(KUBE_PROXY)
        .unwrap()
        .into_iter()
        .find(|t| t.family == Family::Inet)
        .unwrap();
    assert_eq!(
        chain(&inet, "input").base.as_ref().unwrap().policy,
        Verdict::Drop
    );
}

#[test]
fn kube_proxy_service_and_endpoint_rules() {
    let t = kube_proxy();
    let services = chain(&t, "services");
    let lookup = Lookup {
        keys: vec![Key::Daddr, Key::L4Proto, Key::Dport],
        set: SetRef::Named("service-ips".into()),
    };
    assert_eq!(services.rules[0].exprs, vec![Expr::Vmap(lookup)]);
    assert_eq!(
        services.rules[0].text,
        "ip daddr . meta l4proto . th dport vmap @service-ips"
    );
    let fib = Match::AddrType {
        dir: Dir::Dst,
        types: vec![AddrType::Local],
        neg: false,
        limit_iface: None,
    };
    assert_eq!(services.rules[1].exprs[0], Expr::Match(fib));
    let svc = chain(&t, "service-ULMVA6XW-kube-system/kube-dns/udp/dns");
    assert_eq!(
        svc.rules[0].exprs[2],
        Expr::Match(Match::Addr {
            dir: Dir::Src,
            nets: vec!["10.244.0.0/16".parse().unwrap()],
            neg: true
        })
    );
    let Expr::NumgenVmap(ng) = &svc.rules[1].exprs[0] else {
        panic!("{:?}", svc.rules[1].exprs)
    };
    assert_eq!((ng.modulus, ng.offset, ng.arms.len()), (2, 0, 2));
    assert!(matches!(&ng.arms[1], (1, 1, Verdict::Goto(c)) if c.contains("10.244.1.2")));
    let ep = chain(
        &t,
        "endpoint-5OJB2KTY-kube-system/kube-dns/udp/dns__10.244.0.2/53",
    );
    let a: std::net::IpAddr = "10.244.0.2".parse().unwrap();
    assert_eq!(
        ep.rules[1].exprs[1],
        Expr::Stmt(Stmt::Dnat(NatTarget {
            addr: Some((a, a)),
            ports: Some((53, 53))
        }))
    );
    assert_eq!(ep.rules[1].text, "meta l4proto udp dnat to 10.244.0.2:53");
    let masq = chain(&t, "masquerading");
    assert_eq!(
        masq.rules[0].exprs[0],
        Expr::Match(Match::Mark {
            value: 0,
            mask: 0x4000,
            neg: false
        })
    );
    assert_eq!(
        masq.rules[1].exprs[0],
        Expr::Stmt(Stmt::Mark {
            value: 0x4000,
            mask: 0
        })
    );
    assert_eq!(
        masq.rules[2].exprs[0],
        Expr::Stmt(Stmt::Masquerade {
            ports: None,
            random_fully: true
        })
    );
    let mark = chain(&t, "mark-for-masquerade");
    assert_eq!(
        mark.rules[0].exprs[0],
        Expr::Stmt(Stmt::Mark {
            value: 0x4000,
            mask: 0x4000
        })
    );
}

#[test]
fn every_match_kind_and_unknowns_kept() {
    let t = kube_proxy();
    let misc = chain(&t, "misc");
    let r = &misc.rules[0].exprs;
    assert_eq!(
        r[0],
        Expr::Match(Match::Iface {
            dir: Dir::Src,
            name: "cali+".into(),
            neg: false
        })
    );
    assert_eq!(
        r[1],
        Expr::Match(Match::Iface {
            dir: Dir::Dst,
            name: "eth0".into(),
            neg: true
        })
    );
    assert_eq!(
        r[2],
        Expr::Match(Match::Port {
            dir: Dir::Dst,
            ranges: vec![(80, 80), (8000, 8080)],
            neg: false
        })
    );
    assert_eq!(
        r[3],
        Expr::Match(Match::CtState {
            states: vec![CtState::Established, CtState::Related],
            neg: false
        })
    );
    assert_eq!(
        misc.rules[1].exprs[0],
        Expr::Match(Match::SetLookup {
            lookup: Lookup {
                keys: vec![Key::Saddr],
                set: SetRef::Named("cidrs".into())
            },
            neg: false
        })
    );
    assert_eq!(
        misc.rules[2].exprs[0],
        Expr::Match(Match::IcmpType {
            icmp: 8,
            code: None,
            neg: false
        })
    );
    assert_eq!(
        misc.rules[3].exprs[0],
        Expr::Match(Match::Proto {
            protos: vec![4],
            neg: false
        })
    );
    assert_eq!(
        misc.rules[4].verdict(),
        Some(&Verdict::Reject(Some("port-unreachable".into())))
    );
    assert_eq!(
        misc.rules[5].exprs[1],
        Expr::Stmt(Stmt::ConnMark(ConnMarkOp::Set {
            value: 2,
            mask: u32::MAX
        }))
    );
    assert!(
        matches!(&misc.rules[6].exprs[0], Expr::Stmt(Stmt::Unknown { text }) if text.starts_with("limit"))
    );
    assert!(misc.rules.iter().all(|r| r.handle.is_some()));
}

#[test]
fn iptables_nft_tables_are_marked_as_such() {
    let tables = parse_nft_ruleset(COMPAT).unwrap();
    assert!(!tables.is_empty());
    assert!(
        tables.iter().all(|t| t.backend == Backend::IptablesNft),
        "{:?}",
        tables
            .iter()
            .map(|t| (&t.name, t.backend))
            .collect::<Vec<_>>()
    );
}

#[test]
fn older_release_shape_parses() {
    let tables = parse_nft_ruleset(OLD_SHAPE).unwrap();
    let t = &tables[0];
    assert_eq!(
        t.sets[0].key_types,
        ["ipv4_addr", "inet_proto", "inet_service"]
    );
    let fwd = chain(t, "filter-forward");
    assert_eq!(
        fwd.rules[0].counters,
        Some(Counters {
            packets: 3,
            bytes: 252
        })
    );
    assert!(matches!(
        fwd.rules[0].exprs[0],
        Expr::Match(Match::SetLookup { .. })
    ));
    assert_eq!(fwd.rules[0].verdict(), Some(&Verdict::Accept));
}

#[test]
fn errors_say_what_was_expected() {
    for (text, expected) in [
        ("[]", "{\"nftables\""),
        ("{\"x\": 1}", "{\"nftables\""),
        ("{\"nftables\": {}}", "the \"nftables\" array"),
        ("{\"nftables\": [{\"chain\": {\"family\": \"ip\", \"table\": \"t\", \"name\": \"c\"}}]}", "nftables[0]: table t is not declared"),
        ("{\"nftables\": [{\"table\": {\"family\": \"ipx\", \"name\": \"t\"}}]}", "unknown family"),
        ("{\"nftables\": [", "EOF"),
    ] {
        let err = parse_nft_ruleset(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "\\PC{0,200}") {
        let _ = parse_nft_ruleset(&text);
    }

    /// A captured listing cut anywhere is an error at a position within
    /// the text, saying what was expected — never a panic.
    #[test]
    fn truncated_listings_are_errors_at_a_position(cut in 0usize..10_000) {
        let text = include_str!("../../tests/data/netfilter/nft-ruleset-kube-proxy.json");
        let cut = (0..=cut.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        if cut < text.trim_end().len() {
            let e = parse_nft_ruleset(&text[..cut]).unwrap_err();
            let lines = text[..cut].lines().count().max(1);
            proptest::prop_assert!((1..=lines + 1).contains(&e.line()), "{e}");
            proptest::prop_assert!(e.column() >= 1, "{e}");
            proptest::prop_assert!(!e.message().is_empty(), "{e}");
        }
    }

    /// Structurally valid documents with arbitrary expression objects.
    #[test]
    fn never_panics_on_odd_expressions(expr in "[\\[\\]{}\":,a-z0-9@ ]{0,80}") {
        let doc = format!("{{\"nftables\": [{{\"table\": {{\"family\": \"ip\", \"name\": \"t\"}}}}, {{\"chain\": {{\"family\": \"ip\", \"table\": \"t\", \"name\": \"c\"}}}}, {{\"rule\": {{\"family\": \"ip\", \"table\": \"t\", \"chain\": \"c\", \"expr\": [{expr}]}}}}]}}");
        let _ = parse_nft_ruleset(&doc);
    }
}
