//! Loader proof for the kube-proxy generators with NodePorts, external
//! traffic policy Local and the IPVS companions: in a network namespace
//! this test creates (`cnlg-kp-<pid>`, deleted by a guard even on
//! failure), each generator's output for one node of a generated cluster
//! is loaded with the real tool (`iptables-restore`, `nft -j -f`,
//! `ipset restore` then `iptables-restore`), read back with the real list
//! command (`iptables-save`, `nft -j list ruleset`, `ipset save`) and the
//! listing parses with cnictl's own parsers to the same model as the text
//! that was loaded. Needs root, iproute2, iptables, nftables and ipset;
//! skips with a printed reason otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

use cnictl_formats::iptables::parse_iptables_save;
use cnictl_formats::nft::parse_nft_ruleset;
use cnictl_formats::parse_ipset_save;
use cnictl_gen::kube_proxy::{iptables_save_for, KpNode};
use cnictl_gen::kube_proxy_ipvs::ipvs_companions;
use cnictl_gen::kube_proxy_nft::nft_json_for;
use cnictl_gen::{generate_with, GenModel, GenSpec, KubeProxyMode, ServiceSpec};
use cnictl_model::netfilter::{Expr, IpSet, Match, Source, Statistic, Table};
use cnictl_model::K8s;

struct Netns(String);

impl Netns {
    /// A new empty namespace `cnlg-kp-<what>-<pid>` (a leftover of a
    /// crashed run with the same pid is deleted first).
    fn fresh(what: &str) -> Self {
        let ns = Netns(format!("cnlg-kp-{what}-{}", std::process::id()));
        let _ = (Command::new("ip").args(["netns", "del", &ns.0]))
            .stderr(Stdio::null())
            .status();
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

fn why_not() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    ["ip", "iptables-restore", "nft", "ipset"]
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
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// A 3-node cluster with 40 Services (2 endpoints each, every 10th a
/// NodePort, every 20th eTP Local, one external IP, one LB IP) and node-1
/// as kube-proxy sees it.
fn cluster() -> (K8s, KpNode) {
    let spec = GenSpec {
        model: GenModel::FlannelVxlan,
        nodes: 3,
        pods_per_node: 2,
        services: 40,
    };
    let svc = ServiceSpec {
        kube_proxy: KubeProxyMode::Iptables,
        endpoints_per_service: Some(2),
        node_ports: true,
    };
    let mut snap = generate_with(&spec, &svc).unwrap();
    // External destinations too: an external IP on svc-2 (Cluster), a
    // load-balancer IP on svc-1 (NodePort, eTP Local).
    let services = snap.k8s.services.as_mut().unwrap();
    services[1].external_ips = vec!["198.51.100.7".parse().unwrap()];
    services[0].load_balancer_ips = vec!["198.51.100.8".parse().unwrap()];
    let node = KpNode {
        name: Some("node-1".into()),
        addresses: vec!["192.168.0.11".parse().unwrap()],
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
    };
    (snap.k8s, node)
}

/// (table, chain, rule shapes) sorted; statistic probabilities rounded
/// (iptables-save prints them to 11 digits of the kernel's fixed point).
fn shapes(tables: &[Table]) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<_> = (tables.iter())
        .flat_map(|t| {
            t.chains.iter().map(move |c| {
                let rules = c.rules.iter().map(|r| shape(&r.exprs)).collect();
                (t.name.clone(), c.name.clone(), rules)
            })
        })
        .collect();
    out.sort();
    out
}

fn shape(exprs: &[Expr]) -> String {
    let rounded: Vec<Expr> = (exprs.iter())
        .map(|e| match e {
            Expr::Match(Match::Statistic {
                mode: Statistic::Random { probability },
                neg,
            }) => Expr::Match(Match::Statistic {
                mode: Statistic::Random {
                    probability: (probability * 1e6).round() / 1e6,
                },
                neg: *neg,
            }),
            other => other.clone(),
        })
        .collect();
    format!("{rounded:?}")
}

/// Loads `text` with `iptables-restore` and checks `iptables-save` reads
/// back to the same rules.
fn iptables_round_trip(ns: &str, text: &str) -> String {
    run(ns, &["iptables-restore"], Some(text));
    let saved = run(ns, &["iptables-save"], None);
    let ours = parse_iptables_save(text, Source::IptablesSave).unwrap();
    let theirs = parse_iptables_save(&saved, Source::IptablesSave).unwrap();
    assert_eq!(shapes(&ours), shapes(&theirs));
    saved
}

#[test]
fn iptables_mode_with_node_ports_loads_and_reads_back() {
    if let Some(why) = why_not() {
        eprintln!("skipping iptables_mode_with_node_ports_loads_and_reads_back: {why}");
        return;
    }
    let ns = Netns::fresh("ipt");
    let (k8s, node) = cluster();
    let saved = iptables_round_trip(&ns.0, &iptables_save_for(&k8s, &node));
    assert!(saved.contains("-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/svc-1:http\" -m tcp --dport 30000 -j KUBE-EXT-"), "{saved}");
    assert!(saved.contains("masquerade LOCAL traffic for default/svc-1:http external destinations"));
    assert!(saved.contains("-A KUBE-SERVICES -d 198.51.100.7/32 -p tcp -m comment --comment \"default/svc-2:http external IP\""), "{saved}");
}

/// nft lists a table's sets before its chains, but verdict-map elements
/// name chains: the listing loads chains first.
fn loadable(listing: &serde_json::Value) -> serde_json::Value {
    let items = listing["nftables"].as_array().unwrap();
    let ordered: Vec<serde_json::Value> = ["table", "chain", "set", "map", "rule"]
        .into_iter()
        .flat_map(|k| items.iter().filter(move |i| i.get(k).is_some()).cloned())
        .collect();
    serde_json::json!({ "nftables": ordered })
}

/// Tables with set elements sorted (nft lists a hash set in hash order).
fn sorted_elements(mut tables: Vec<Table>) -> Vec<Table> {
    for set in tables.iter_mut().flat_map(|t| t.sets.iter_mut()) {
        set.elements.sort_by_key(|e| format!("{e:?}"));
    }
    tables
}

#[test]
fn nftables_mode_with_node_ports_loads_and_lists_back() {
    if let Some(why) = why_not() {
        eprintln!("skipping nftables_mode_with_node_ports_loads_and_lists_back: {why}");
        return;
    }
    let ns = Netns::fresh("nft");
    let (k8s, node) = cluster();
    let text = nft_json_for(&k8s, &node);
    let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), loadable(&ours).to_string()).unwrap();
    run(
        &ns.0,
        &["nft", "-j", "-f", file.path().to_str().unwrap()],
        None,
    );
    let listed = run(&ns.0, &["nft", "-j", "list", "ruleset"], None);
    let model = |t: &str| sorted_elements(parse_nft_ruleset(t).unwrap());
    assert_eq!(model(&text), model(&listed));
    for needle in ["external-", "local-", "no-endpoint-nodeports", "30000"] {
        assert!(listed.contains(needle), "{needle} not listed: {listed}");
    }
}

/// Sets with sorted members, without what `ipset save` adds on its own.
fn sets(text: &str) -> Vec<IpSet> {
    let mut sets = parse_ipset_save(text).unwrap();
    for s in &mut sets {
        s.members.sort_by_key(|m| format!("{m:?}"));
    }
    sets.sort_by(|a, b| a.name.cmp(&b.name));
    sets
}

#[test]
fn ipvs_mode_companions_load_and_read_back() {
    if let Some(why) = why_not() {
        eprintln!("skipping ipvs_mode_companions_load_and_read_back: {why}");
        return;
    }
    let ns = Netns::fresh("ipvs");
    let (k8s, node) = cluster();
    let (rules, ipsets) = ipvs_companions(&k8s, &node);
    run(&ns.0, &["ipset", "restore"], Some(&ipsets));
    let saved_sets = run(&ns.0, &["ipset", "save"], None);
    assert_eq!(sets(&ipsets), sets(&saved_sets));
    let saved = iptables_round_trip(&ns.0, &rules);
    assert!(
        saved.contains("--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"),
        "{saved}"
    );
    assert!(
        saved_sets.contains("add KUBE-NODE-PORT-TCP 30000"),
        "{saved_sets}"
    );
    assert!(
        saved_sets.contains("add KUBE-NODE-PORT-LOCAL-TCP 30000"),
        "{saved_sets}"
    );
}
