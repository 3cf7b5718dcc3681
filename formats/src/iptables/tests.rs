//! iptables-save parser tests on dumps captured from the real tools (see
//! formats/tests/data/netfilter/README.md for the commands).

use cnictl_model::netfilter::*;

use super::parse_iptables_save;

const NFT_DUMP: &str = include_str!("../../tests/data/netfilter/iptables-save-nft.txt");

fn table<'a>(tables: &'a [Table], name: &str) -> &'a Table {
    tables.iter().find(|t| t.name == name).unwrap()
}

fn chain<'a>(t: &'a Table, name: &str) -> &'a Chain {
    t.chains.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn captured_dump_has_both_tables_with_policies_and_backend() {
    let tables = parse_iptables_save(NFT_DUMP, Source::IptablesSave).unwrap();
    assert_eq!(tables.len(), 2);
    let filter = table(&tables, "filter");
    assert_eq!(filter.backend, Backend::IptablesNft);
    assert_eq!(filter.family, Family::Ip);
    let fwd = chain(filter, "FORWARD");
    let base = fwd.base.as_ref().unwrap();
    assert_eq!(
        (base.hook, base.priority, &base.policy),
        (Hook::Forward, 0, &Verdict::Drop)
    );
    assert_eq!(fwd.rules.len(), 7);
    assert_eq!(fwd.rules[0].position, 1);
    assert_eq!(
        fwd.rules[0].text,
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"
    );
    assert_eq!(
        fwd.rules[0].comment.as_deref(),
        Some("kubernetes forwarding rules")
    );
    assert_eq!(
        fwd.rules[0].exprs,
        vec![Expr::Verdict(Verdict::Jump("KUBE-FORWARD".into()))]
    );
    assert_eq!(
        fwd.rules[0].counters,
        Some(Counters {
            packets: 0,
            bytes: 0
        })
    );
    let nat = table(&tables, "nat");
    assert_eq!(
        chain(nat, "POSTROUTING").base.as_ref().unwrap().priority,
        100
    );
    assert!(chain(nat, "KUBE-SERVICES").base.is_none());
}

#[test]
fn kube_proxy_service_chain_shapes() {
    let tables = parse_iptables_save(NFT_DUMP, Source::IptablesSave).unwrap();
    let nat = table(&tables, "nat");
    let svc = chain(nat, "KUBE-SVC-TCOU7JCQXEZGVUNU");
    let masq = &svc.rules[0].exprs;
    assert_eq!(
        masq[0],
        Expr::Match(Match::Addr {
            dir: Dir::Src,
            nets: vec!["10.244.0.0/16".parse().unwrap()],
            neg: true
        })
    );
    assert_eq!(
        masq[1],
        Expr::Match(Match::Addr {
            dir: Dir::Dst,
            nets: vec!["10.96.0.10/32".parse().unwrap()],
            neg: false
        })
    );
    assert_eq!(
        masq[2],
        Expr::Match(Match::Proto {
            protos: vec![17],
            neg: false
        })
    );
    assert_eq!(
        masq[3],
        Expr::Match(Match::Port {
            dir: Dir::Dst,
            ranges: vec![(53, 53)],
            neg: false
        })
    );
    assert_eq!(
        masq[4],
        Expr::Verdict(Verdict::Jump("KUBE-MARK-MASQ".into()))
    );
    assert_eq!(
        svc.rules[1].exprs[0],
        Expr::Match(Match::Statistic {
            mode: Statistic::Random { probability: 0.5 },
            neg: false
        })
    );
    let sep = chain(nat, "KUBE-SEP-AAAAAAAAAAAAAAAA");
    let dnat = NatTarget {
        addr: Some(("10.244.0.2".parse().unwrap(), "10.244.0.2".parse().unwrap())),
        ports: Some((53, 53)),
    };
    assert_eq!(
        sep.rules[1].exprs[1..],
        [Expr::Stmt(Stmt::Dnat(dnat)), Expr::Verdict(Verdict::Accept)]
    );
    let post = chain(nat, "KUBE-POSTROUTING");
    assert_eq!(
        post.rules[0].exprs[0],
        Expr::Match(Match::Mark {
            value: 0x4000,
            mask: 0x4000,
            neg: true
        })
    );
    assert_eq!(
        post.rules[1].exprs,
        vec![Expr::Stmt(Stmt::Mark {
            value: 0x4000,
            mask: 0
        })]
    );
    assert_eq!(
        post.rules[2].exprs[0],
        Expr::Stmt(Stmt::Masquerade {
            ports: None,
            random_fully: true
        })
    );
    let services = chain(nat, "KUBE-SERVICES");
    let addrtype = Match::AddrType {
        dir: Dir::Dst,
        types: vec![AddrType::Local],
        neg: false,
        limit_iface: None,
    };
    assert_eq!(services.rules[1].exprs[0], Expr::Match(addrtype));
}

#[test]
fn filter_matches_of_every_kind() {
    let tables = parse_iptables_save(NFT_DUMP, Source::IptablesSave).unwrap();
    let filter = table(&tables, "filter");
    let fwd = chain(filter, "FORWARD");
    let r = &fwd.rules[2].exprs;
    assert_eq!(
        r[0],
        Expr::Match(Match::Iface {
            dir: Dir::Src,
            name: "cni0".into(),
            neg: false
        })
    );
    assert_eq!(
        r[1],
        Expr::Match(Match::Iface {
            dir: Dir::Dst,
            name: "eth+".into(),
            neg: false
        })
    );
    assert_eq!(
        r[3],
        Expr::Match(Match::Port {
            dir: Dir::Dst,
            ranges: vec![(80, 80), (443, 443), (8000, 8080)],
            neg: false
        })
    );
    assert_eq!(
        r[4],
        Expr::Match(Match::CtState {
            states: vec![CtState::New, CtState::Established],
            neg: false
        })
    );
    let r = &fwd.rules[3].exprs;
    assert_eq!(
        r[0],
        Expr::Match(Match::PhysDev(PhysDev {
            is_bridged: Some(true),
            ..PhysDev::default()
        }))
    );
    assert_eq!(
        r[1],
        Expr::Match(Match::IpSet {
            name: "KUBE-CLUSTER-IP".into(),
            dirs: vec![Dir::Dst, Dir::Dst],
            neg: false
        })
    );
    assert_eq!(
        fwd.rules[4].verdict(),
        Some(&Verdict::Reject(Some("icmp-port-unreachable".into())))
    );
    let nth = Match::Statistic {
        mode: Statistic::Nth {
            every: 3,
            packet: 0,
        },
        neg: false,
    };
    assert_eq!(fwd.rules[6].exprs[0], Expr::Match(nth));
    assert!(
        matches!(&fwd.rules[6].exprs[1], Expr::Stmt(Stmt::Log { text }) if text.contains("--log-prefix"))
    );
    let input = chain(filter, "INPUT");
    assert_eq!(
        input.rules[0].exprs[0],
        Expr::Match(Match::Proto {
            protos: vec![4],
            neg: false
        })
    );
    assert_eq!(
        input.rules[1].exprs[2],
        Expr::Match(Match::ConnMark {
            value: 1,
            mask: u32::MAX,
            neg: false
        })
    );
    assert_eq!(
        input.rules[1].exprs[3],
        Expr::Stmt(Stmt::ConnMark(ConnMarkOp::Set {
            value: 2,
            mask: u32::MAX
        }))
    );
}

#[test]
fn unknown_extensions_are_kept_verbatim_not_dropped() {
    let dump = "*filter\n:INPUT ACCEPT [0:0]\n:FOO - [0:0]\n-A INPUT -m limit --limit 5/sec -j FOO\n-A INPUT -j NFQUEUE --queue-num 3\nCOMMIT\n";
    let tables = parse_iptables_save(dump, Source::IptablesLegacySave).unwrap();
    assert_eq!(tables[0].backend, Backend::Legacy);
    let input = &tables[0].chains[0];
    assert_eq!(
        input.rules[0].exprs[0],
        Expr::Match(Match::Unknown {
            text: "-m limit --limit 5/sec".into()
        })
    );
    assert_eq!(input.rules[0].verdict(), Some(&Verdict::Jump("FOO".into())));
    assert_eq!(
        input.rules[1].exprs,
        vec![Expr::Stmt(Stmt::Unknown {
            text: "-j NFQUEUE --queue-num 3".into()
        })]
    );
}

#[test]
fn old_iptables_without_backend_in_header_is_legacy() {
    let dump = "# Generated by iptables-save v1.6.1 on Mon Jan  1 00:00:00 2018\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    assert_eq!(
        parse_iptables_save(dump, Source::IptablesSave).unwrap()[0].backend,
        Backend::Legacy
    );
}

#[test]
fn ip6tables_dnat_with_brackets_and_ranges() {
    let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n:X - [0:0]\n-A X -p tcp -j DNAT --to-destination [fd00::5]:8080\n-A X -j SNAT --to-source 192.0.2.1-192.0.2.9:1024-2048\nCOMMIT\n";
    let t = parse_iptables_save(dump, Source::Ip6tablesSave).unwrap();
    assert_eq!(t[0].family, Family::Ip6);
    let x = &t[0].chains[1];
    let a: std::net::IpAddr = "fd00::5".parse().unwrap();
    assert_eq!(
        x.rules[0].exprs[1],
        Expr::Stmt(Stmt::Dnat(NatTarget {
            addr: Some((a, a)),
            ports: Some((8080, 8080))
        }))
    );
    let (lo, hi) = ("192.0.2.1".parse().unwrap(), "192.0.2.9".parse().unwrap());
    assert_eq!(
        x.rules[1].exprs[0],
        Expr::Stmt(Stmt::Snat(NatTarget {
            addr: Some((lo, hi)),
            ports: Some((1024, 2048))
        }))
    );
}

#[test]
fn errors_name_line_column_and_expectation() {
    let cases = [
        (
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n",
            3,
            "an address or prefix",
        ),
        (
            "*filter\n:INPUT ACCEPT [0:0]\n-A NOPE -j ACCEPT\nCOMMIT\n",
            3,
            "a chain declared",
        ),
        ("*filter\n:INPUT MAYBE [0:0]\nCOMMIT\n", 2, "ACCEPT, DROP"),
        ("*filter\n:INPUT ACCEPT [0:0]\n", 2, "COMMIT"),
        ("-A INPUT -j ACCEPT\n", 1, "'*table' line first"),
        (
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"open\nCOMMIT\n",
            3,
            "closing",
        ),
        (
            "*filter\n:INPUT ACCEPT [x:0]\nCOMMIT\n",
            2,
            "[packets:bytes]",
        ),
        ("hello\n", 1, "'*table' line first"),
        ("*filter\n:INPUT ACCEPT [0:0]\nhello\n", 3, "'-A CHAIN'"),
    ];
    for (text, line, expected) in cases {
        let err = parse_iptables_save(text, Source::IptablesSave).unwrap_err();
        assert_eq!(err.line(), line, "{text:?}: {err}");
        assert!(err.to_string().contains(expected), "{text:?}: {err}");
    }
}

proptest::proptest! {
    /// Never a panic, whatever the bytes.
    #[test]
    fn never_panics(text in "\\PC{0,300}") {
        let _ = parse_iptables_save(&text, Source::IptablesSave);
    }

    /// Lines made of real iptables-save vocabulary never panic either.
    #[test]
    fn never_panics_on_shuffled_vocabulary(words in proptest::collection::vec(proptest::sample::select(vocabulary()), 0..20)) {
        let text = format!("*filter\n:INPUT ACCEPT [0:0]\n{}\nCOMMIT\n", words.join(" "));
        let _ = parse_iptables_save(&text, Source::IptablesSave);
    }

    /// Every error points into the input — a line that exists, a column
    /// within it — and says what was expected.
    #[test]
    fn errors_point_into_the_input(
        lines in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vocabulary()), 0..12), 0..6),
    ) {
        let rules: Vec<String> = lines.iter().map(|w| w.join(" ")).collect();
        let text = format!("*filter\n:INPUT ACCEPT [0:0]\n{}\nCOMMIT\n", rules.join("\n"));
        if let Err(e) = parse_iptables_save(&text, Source::IptablesSave) {
            let at = text.lines().nth(e.line() - 1);
            proptest::prop_assert!(at.is_some(), "line {} of {text:?}: {e}", e.line());
            proptest::prop_assert!(e.column() >= 1 && e.column() <= at.unwrap_or("").len() + 1, "{e}");
            proptest::prop_assert!(e.to_string().contains("expected"), "{e}");
        }
    }
}

/// Words iptables-save prints, and near misses.
fn vocabulary() -> Vec<&'static str> {
    vec![
        "-A",
        "INPUT",
        "!",
        "-s",
        "10.0.0.0/8",
        "-m",
        "tcp",
        "--dport",
        "80:",
        "-j",
        "DNAT",
        "--to-destination",
        ":",
        "[",
        "]",
        "\"",
        "-g",
        "statistic",
        "--mode",
        "nth",
        "--every",
        "set",
        "--match-set",
        "x",
        "src,dst",
        "physdev",
        "--physdev-in",
        "MARK",
        "--set-xmark",
        "0x/",
        "*nat",
        ":X",
        "COMMIT",
        "[1:2]",
        "-d",
        "10.0.0.1/33",
        "-p",
        "sctp",
        "--comment",
        "\"a b\"",
    ]
}

#[test]
fn legacy_dump_from_the_same_node_is_the_legacy_backend() {
    let text = include_str!("../../tests/data/netfilter/iptables-legacy-save.txt");
    let tables = parse_iptables_save(text, Source::IptablesLegacySave).unwrap();
    assert_eq!(tables[0].backend, Backend::Legacy);
    assert_eq!(
        tables[0].chains[0].rules[0].exprs[1],
        Expr::Match(Match::Port {
            dir: Dir::Dst,
            ranges: vec![(9, 9)],
            neg: false
        })
    );
    // Read as the node's plain `iptables-save` (a legacy-only node), the
    // header without "(nf_tables)" says legacy as well.
    assert_eq!(
        parse_iptables_save(text, Source::IptablesSave).unwrap()[0].backend,
        Backend::Legacy
    );
}

#[test]
fn written_dumps_read_back_the_same() {
    for (text, source) in [
        (NFT_DUMP, Source::IptablesSave),
        (
            include_str!("../../tests/data/netfilter/iptables-legacy-save.txt"),
            Source::IptablesLegacySave,
        ),
    ] {
        let tables = parse_iptables_save(text, source).unwrap();
        let refs: Vec<&Table> = tables.iter().collect();
        let again = parse_iptables_save(&super::write_iptables_save(&refs), source).unwrap();
        assert_eq!(again, tables);
    }
    // An old legacy-only node read as plain iptables-save stays legacy.
    let old = "# Generated by iptables-save v1.6.1 on Mon Jan  1 00:00:00 2018\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    let tables = parse_iptables_save(old, Source::IptablesSave).unwrap();
    let written = super::write_iptables_save(&tables.iter().collect::<Vec<_>>());
    assert_eq!(
        parse_iptables_save(&written, Source::IptablesSave).unwrap(),
        tables
    );
}

#[test]
fn quoted_words_keep_escaped_quotes_and_backslashes() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"say \\\"hi\\\" \\\\ to ünïcode\" -j ACCEPT\n-A INPUT -m comment --comment \"\" -j DROP\nCOMMIT\n";
    let tables = parse_iptables_save(text, Source::IptablesSave).unwrap();
    let rules = &tables[0].chains[0].rules;
    assert_eq!(
        rules[0].comment.as_deref(),
        Some("say \"hi\" \\ to ünïcode")
    );
    assert_eq!(rules[0].verdict(), Some(&Verdict::Accept));
    assert_eq!(rules[1].comment.as_deref(), Some(""));
    // An escape that runs off the end leaves the quote open.
    let open = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"a\\\nCOMMIT\n";
    let err = parse_iptables_save(open, Source::IptablesSave).unwrap_err();
    assert_eq!((err.line(), err.column()), (3, 31), "{err}");
}

/// iptables-restore input (Felix writes its comment first) may put a
/// built-in option after a module's options; it is still a built-in.
#[test]
fn builtin_options_after_a_module_are_builtins() {
    let text = "*filter\n:X - [0:0]\n-A X -m comment --comment \"cali:abc\" -p 4 --in-interface cali+ --jump DROP\nCOMMIT\n";
    let tables = parse_iptables_save(text, Source::IptablesSave).expect("parses");
    let rule = &chain(table(&tables, "filter"), "X").rules[0];
    assert_eq!(rule.comment.as_deref(), Some("cali:abc"));
    let protos = rule
        .exprs
        .iter()
        .any(|e| matches!(e, Expr::Match(Match::Proto { protos, .. }) if protos == &[4]));
    let iface = rule
        .exprs
        .iter()
        .any(|e| matches!(e, Expr::Match(Match::Iface { name, .. }) if name == "cali+"));
    assert!(protos && iface, "{:?}", rule.exprs);
}
