//! Live netfilter collection in a network namespace this test creates
//! (`cnl-nfl-<pid>`, deleted by a guard) holding real rules in every
//! backend: iptables-nft (kube-proxy and Flannel chain shapes), the legacy
//! backend, native nftables (kube-proxy nftables-mode shape) and an ipset.
//! Proves (1) the live collector reads what the tools print, and (2)
//! nothing cnictl runs changes the ruleset: `iptables-save`,
//! `iptables-legacy-save`, `nft list ruleset` and `ipset save` are
//! byte-identical before and after the live collector and
//! `lab/collect-node.sh` ran. Also (3): the kube-proxy iptables-mode rules
//! `cnictl_gen::kube_proxy` writes load with `iptables-restore`, and what
//! `iptables-save -c` then prints parses to the same rules as the text
//! that was loaded; (4) likewise the kube-proxy nftables-mode JSON
//! `cnictl_gen::kube_proxy_nft` writes: `nft -j -f` loads it and
//! `nft -j list ruleset` prints it back item for item. Needs root,
//! iproute2, iptables, nftables and ipset;
//! skips with a printed reason otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_collect::live::{collect, LiveOptions, NetnsTarget};
use cnictl_formats::iptables::parse_iptables_save;
use cnictl_formats::nft::parse_nft_ruleset;
use cnictl_model::k8s::{Endpoint, EndpointPort, EndpointSlice, K8s, Service, ServicePort};
use cnictl_model::netfilter::{Backend, Expr, Match, Source, Statistic, Table};

struct Netns(String);

impl Netns {
    /// A new empty namespace `PREFIX-<pid>` (a leftover of a crashed run
    /// with the same pid is deleted first).
    fn fresh(prefix: &str) -> Self {
        let ns = Netns(format!("{prefix}-{}", std::process::id()));
        let _ = Command::new("ip").args(["netns", "del", &ns.0]).status();
        let added = Command::new("ip").args(["netns", "add", &ns.0]).status();
        assert!(added.is_ok_and(|s| s.success()), "ip netns add {}", ns.0);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn data(name: &str) -> String {
    let path = format!(
        "{}/../formats/tests/data/netfilter/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn why_not() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    ["ip", "iptables-restore", "iptables-legacy", "nft", "ipset"]
        .into_iter()
        .find_map(|tool| {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .ok()?;
            (!found.status.success()).then(|| {
                format!("{tool} not installed (apt-get install iproute2 iptables nftables ipset)")
            })
        })
}

fn run(ns: &str, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every backend's rules as the tools print them, without counters or the
/// dump-time header lines.
fn rulesets(ns: &str) -> String {
    let mut all = String::new();
    for args in [
        &["iptables-save"][..],
        &["ip6tables-save"],
        &["iptables-legacy-save"],
        &["nft", "list", "ruleset"],
        &["ipset", "save"],
    ] {
        let out = run(ns, args, None);
        all.extend(
            out.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n")),
        );
    }
    all
}

fn load_rules(ns: &str) {
    run(
        ns,
        &["ipset", "create", "KUBE-CLUSTER-IP", "hash:ip,port"],
        None,
    );
    run(
        ns,
        &["ipset", "add", "KUBE-CLUSTER-IP", "10.96.0.10,udp:53"],
        None,
    );
    run(
        ns,
        &["iptables-restore"],
        Some(&data("iptables-restore-input.rules")),
    );
    run(
        ns,
        &[
            "iptables-legacy",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "9",
            "-j",
            "DROP",
        ],
        None,
    );
    run(
        ns,
        &["nft", "-f", "-"],
        Some(&data("nft-ruleset-kube-proxy.nft")),
    );
}

#[test]
fn live_netfilter_reads_every_backend_and_changes_nothing() {
    if let Some(why) = why_not() {
        eprintln!("skipping live_netfilter_reads_every_backend_and_changes_nothing: {why}");
        return;
    }
    let ns = Netns::fresh("cnl-nfl");
    load_rules(&ns.0);
    let before = rulesets(&ns.0);
    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name(ns.0.clone())),
        ipvs: false,
        ..LiveOptions::default()
    };
    let got = collect(&opts).unwrap();
    let nf = got.node.netfilter.expect("netfilter collected");
    assert_eq!(
        nf.sources,
        [
            Source::IptablesSave,
            Source::Ip6tablesSave,
            Source::IptablesLegacySave,
            Source::NftRuleset
        ],
        "{:?}",
        got.notes
    );
    let has = |b: Backend, name: &str| nf.tables.iter().any(|t| t.backend == b && t.name == name);
    assert!(
        has(Backend::IptablesNft, "nat")
            && has(Backend::Legacy, "filter")
            && has(Backend::Nftables, "kube-proxy")
    );
    assert_eq!(nf.ipsets.as_ref().map(|s| s[0].members.len()), Some(1));
    let script = format!("{}/../lab/collect-node.sh", env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("nodes/n");
    run(
        &ns.0,
        &["sh", &script, "--no-pods", dir.to_str().unwrap()],
        None,
    );
    assert!(
        dir.join("iptables-legacy-save.txt").is_file(),
        "a mixed node gets the legacy dump"
    );
    assert_eq!(rulesets(&ns.0), before, "collecting changed the ruleset");
}

fn service(
    name: &str,
    ip: &str,
    port: u16,
    proto: &str,
    endpoints: &[&str],
) -> (Service, EndpointSlice) {
    let svc = Service {
        namespace: "default".into(),
        name: name.into(),
        service_type: "ClusterIP".into(),
        cluster_ips: vec![ip.parse().unwrap()],
        ports: vec![ServicePort {
            name: Some("p".into()),
            protocol: proto.into(),
            port,
            target_port: None,
            node_port: None,
        }],
        selector: BTreeMap::new(),
        ..Default::default()
    };
    let eps = endpoints.iter().map(|e| Endpoint {
        addresses: vec![e.parse::<IpAddr>().unwrap()],
        ready: true,
        node: None,
        pod: None,
    });
    let slice = EndpointSlice {
        namespace: "default".into(),
        name: format!("{name}-x"),
        service: Some(name.into()),
        address_type: "IPv4".into(),
        endpoints: eps.collect(),
        ports: vec![EndpointPort {
            name: Some("p".into()),
            protocol: proto.into(),
            port: 8080,
        }],
    };
    (svc, slice)
}

fn cluster() -> K8s {
    let all = [
        service(
            "web",
            "10.96.0.20",
            80,
            "TCP",
            &["10.244.1.2", "10.244.2.2", "10.244.3.2"],
        ),
        service("dns", "10.96.0.10", 53, "UDP", &["10.244.1.3"]),
        service("empty", "10.96.0.30", 443, "TCP", &[]),
    ];
    let (services, slices) = all.into_iter().unzip();
    K8s {
        services: Some(services),
        endpoint_slices: Some(slices),
        ..K8s::default()
    }
}

/// Rules without their text and counters, probabilities to 1e-6: the
/// kernel keeps a probability as a 32-bit fraction (1/3 prints back as
/// 0.33333333349).
fn shapes(tables: &[Table]) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<_> = tables
        .iter()
        .flat_map(|t| {
            t.chains.iter().map(move |c| {
                (
                    t.name.clone(),
                    c.name.clone(),
                    c.rules.iter().map(|r| shape(&r.exprs)).collect(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

fn shape(exprs: &[Expr]) -> String {
    let rounded: Vec<Expr> = exprs
        .iter()
        .map(|e| match e {
            Expr::Match(Match::Statistic {
                mode: Statistic::Random { probability },
                neg,
            }) => {
                let probability = (probability * 1e6).round() / 1e6;
                Expr::Match(Match::Statistic {
                    mode: Statistic::Random { probability },
                    neg: *neg,
                })
            }
            other => other.clone(),
        })
        .collect();
    format!("{rounded:?}")
}

#[test]
fn generated_kube_proxy_rules_load_and_read_back_the_same() {
    if let Some(why) = why_not() {
        eprintln!("skipping generated_kube_proxy_rules_load_and_read_back_the_same: {why}");
        return;
    }
    let ns = Netns::fresh("cnl-nft");
    let text = cnictl_gen::kube_proxy::iptables_save(&cluster(), "10.244.0.0/16".parse().unwrap());
    run(&ns.0, &["iptables-restore"], Some(&text));
    let saved = run(&ns.0, &["iptables-save", "-c"], None);
    let ours = parse_iptables_save(&text, Source::IptablesSave).unwrap();
    let theirs = parse_iptables_save(&saved, Source::IptablesSave).unwrap();
    assert_eq!(shapes(&ours), shapes(&theirs));
    assert!(saved.contains("-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment \"default/empty:p has no endpoints\""), "{saved}");
    assert!(
        saved.contains("--probability 0.33333333349"),
        "three endpoints: the first branch takes a third: {saved}"
    );
}

/// The listing `cnictl_gen::kube_proxy_nft` writes, in the order `nft`
/// can load it: `nft -j list ruleset` prints a table's sets before its
/// chains, but a verdict map's elements name chains, so a listing loads
/// chains first.
fn loadable(listing: &serde_json::Value) -> serde_json::Value {
    let items = listing["nftables"].as_array().unwrap();
    let ordered: Vec<serde_json::Value> = ["table", "chain", "set", "map", "rule"]
        .into_iter()
        .flat_map(|k| items.iter().filter(move |i| i.get(k).is_some()).cloned())
        .collect();
    serde_json::json!({ "nftables": ordered })
}

/// Items as comparable text, set elements sorted (nft lists a hash set's
/// elements in the kernel's hash order).
fn listed_items(listing: &serde_json::Value) -> Vec<String> {
    let mut items = listing["nftables"].as_array().unwrap().clone();
    for item in &mut items {
        for kind in ["set", "map"] {
            if let Some(elems) = item
                .get_mut(kind)
                .and_then(|s| s.get_mut("elem"))
                .and_then(|e| e.as_array_mut())
            {
                elems.sort_by_key(|e| e.to_string());
            }
        }
    }
    items.iter().map(|i| i.to_string()).collect()
}

fn without_set_comments(listing: &serde_json::Value) -> serde_json::Value {
    let mut listing = listing.clone();
    for item in listing["nftables"].as_array_mut().unwrap() {
        for kind in ["set", "map"] {
            if let Some(set) = item.get_mut(kind).and_then(|s| s.as_object_mut()) {
                set.remove("comment");
            }
        }
    }
    listing
}

/// Tables with set elements sorted, as `listed_items` compares them.
fn sorted_elements(mut tables: Vec<Table>) -> Vec<Table> {
    for set in tables.iter_mut().flat_map(|t| t.sets.iter_mut()) {
        set.elements.sort_by_key(|e| format!("{e:?}"));
    }
    tables
}

#[test]
fn generated_kube_proxy_nft_json_loads_and_lists_back_the_same() {
    if let Some(why) = why_not() {
        eprintln!("skipping generated_kube_proxy_nft_json_loads_and_lists_back_the_same: {why}");
        return;
    }
    let ns = Netns::fresh("cnl-nftj");
    let text = cnictl_gen::kube_proxy_nft::nft_json(
        &cluster(),
        "10.244.0.0/16".parse().unwrap(),
        "192.0.2.11".parse().unwrap(),
    );
    let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), loadable(&ours).to_string()).unwrap();
    let path = file.path().to_str().unwrap();
    run(&ns.0, &["nft", "-j", "-f", path], None);
    let listed = run(&ns.0, &["nft", "-j", "list", "ruleset"], None);
    let theirs: serde_json::Value = serde_json::from_str(&listed).unwrap();
    // What nft prints is what the generator wrote, item for item, handles
    // included (elements in either order) — but for set comments: nft
    // 1.0.6 reads none from JSON input (its text syntax, which kube-proxy
    // writes, keeps them, and `nft -j list` prints them).
    let (ours_items, theirs_items) = (
        listed_items(&without_set_comments(&ours)),
        listed_items(&theirs),
    );
    for (a, b) in ours_items.iter().zip(&theirs_items) {
        assert_eq!(a, b);
    }
    assert_eq!(ours_items.len(), theirs_items.len());
    // And the parser reads both to the same model.
    let model = |t: &str| sorted_elements(parse_nft_ruleset(t).unwrap());
    assert_eq!(model(&text), model(&listed));
    assert!(listed.contains("service-ips"), "{listed}");
}
