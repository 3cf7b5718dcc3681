//! One passing and one failing case per finding code, over small clusters
//! built in code (checks_builders.rs), plus model detection and the
//! determinism of the report.

#[path = "checks_builders.rs"]
mod builders;

use builders::*;
use cnictl_analyzers::checks;
use cnictl_analyzers::expected::{Expected, Options};
use cnictl_analyzers::infer::{infer, CniModel};
use cnictl_analyzers::Code;
use cnictl_analyzers::{Report, Severity};
use cnictl_model::{ClusterSnapshot, Protocol, Route, RouteType, Rule, RuleAction, VxlanDf};

fn report(snap: &ClusterSnapshot) -> Report {
    checks::run(snap)
}

/// `(code, node)` of every error/warning finding.
fn problems(r: &Report) -> Vec<(String, Option<String>)> {
    r.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| (f.code.to_string(), f.node.clone()))
        .collect()
}

/// Asserts that the only error/warning findings have this code, and that
/// there is at least one; returns them.
fn only(r: &Report, code: &str) -> Vec<cnictl_analyzers::Finding> {
    let bad: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info && f.code != code)
        .collect();
    assert!(
        bad.is_empty(),
        "unexpected findings besides {code}: {bad:#?}"
    );
    let hits: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == code)
        .cloned()
        .collect();
    assert!(!hits.is_empty(), "no {code} finding in {:#?}", r.findings);
    hits
}

fn del_route(snap: &mut ClusterSnapshot, node: &str, dst: &str) {
    let n = node_mut(snap, node);
    let before = n.routes.len();
    n.routes.retain(|r| r.dst != net(dst));
    assert!(n.routes.len() < before, "no route {dst} on {node}");
}

#[test]
fn healthy_clusters_of_every_model_are_clean() {
    for model in MODELS {
        let snap = cluster(model, 3);
        let r = report(&snap);
        assert_eq!(r.model, *model, "model of {model}");
        assert!(problems(&r).is_empty(), "{model}: {:#?}", r.findings);
        assert!(r.skipped.is_empty(), "{model}: {:#?}", r.skipped);
    }
}

#[test]
fn every_model_is_detected_with_evidence() {
    for model in MODELS {
        let inf = infer(&cluster(model, 2));
        assert_eq!(inf.model.as_str(), *model);
        assert_eq!(CniModel::parse(model), Some(inf.model));
        for n in &inf.per_node {
            assert!(!n.evidence.is_empty(), "{model}/{}: no evidence", n.node);
        }
    }
}

#[test]
fn codes_table_covers_every_design_code() {
    let design = [
        "pod-cidr-overlap",
        "service-cidr-overlap",
        "missing-pod-route",
        "wrong-next-hop",
        "next-hop-not-adjacent",
        "vxlan-fdb-missing",
        "vxlan-neigh-missing",
        "vxlan-fdb-mismatch",
        "mtu-mismatch",
        "bgp-session-down",
        "bgp-route-missing",
        "ipvs-service-missing",
        "ipvs-no-backends",
        "ipvs-stale-backend",
        "route-shadowed",
        "pod-route-missing",
        "ip-forward-disabled",
        "cni-model-mixed",
        "rp-filter-strict",
        "stale-pod-route",
        "agent-unreachable",
        "netfilter-forward-drop",
        "netfilter-blocks-overlay",
        "iptables-backend-mixed",
        "br-netfilter-missing",
        "conntrack-near-full",
        "service-no-backends",
        "service-stale-backend",
        "service-backend-missing",
        "service-rules-missing",
        "masquerade-missing",
        "policy-not-enforced",
        "policy-drift",
        "nodeport-no-local-endpoint",
        "node-address-mismatch",
        "vxlan-checksum-offload",
        "macvlan-host-unreachable",
        "ipam-leaked-affinity",
        "ipam-block-multiple-routes",
        "pod-ip-outside-pools",
        "cilium-tunnel-missing",
    ];
    for c in design {
        assert!(Code::parse(c).is_some(), "{c} missing from Code");
    }
    assert_eq!(Code::ALL.len(), design.len());
}

#[test]
fn cni_model_mixed() {
    let mut snap = cluster("flannel-host-gw", 3);
    let other = cluster("calico-bgp", 3);
    snap.nodes
        .insert("node-3".into(), other.nodes["node-3"].clone());
    let r = report(&snap);
    assert_eq!(r.model, "mixed");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "cni-model-mixed")
        .collect();
    assert_eq!(f.len(), 1);
    assert!(
        f[0].summary.contains("calico-bgp (1 node: node-3)"),
        "{}",
        f[0].summary
    );
}

#[test]
fn pod_cidr_overlap() {
    let mut snap = cluster("flannel-host-gw", 3);
    snap.k8s.nodes[1].pod_cidrs = vec![net("10.244.1.0/25")];
    let r = report(&snap);
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "pod-cidr-overlap")
        .collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert!(f[0]
        .summary
        .contains("node-1 has 10.244.1.0/24, node-2 has 10.244.1.0/25"));
    assert!(f[0]
        .evidence
        .iter()
        .any(|e| e.starts_with("node/node-2 podCIDR 10.244.1.0/25 InternalIP 192.0.2.12")));
}

#[test]
fn service_cidr_overlap() {
    let snap = cluster("flannel-host-gw", 2);
    let clean = checks::run_with(
        &snap,
        &Options {
            service_cidr: Some(net("10.96.0.0/12")),
        },
    );
    assert!(problems(&clean).is_empty());
    let r = checks::run_with(
        &snap,
        &Options {
            service_cidr: Some(net("10.244.0.0/16")),
        },
    );
    let f = only(&r, "service-cidr-overlap");
    assert_eq!(f.len(), 2);
    let mut snap = cluster("flannel-host-gw", 2);
    snap.k8s.nodes[1].pod_cidrs = vec![net("192.0.2.128/25")];
    let r = report(&snap);
    assert!(r.findings.iter().any(|f| f.code == "service-cidr-overlap"
        && f.summary
            == "node-2's pod CIDR 192.0.2.128/25 overlaps node-1's node subnet 192.0.2.0/24"));
}

#[test]
fn service_cidr_is_inferred_from_cluster_ips() {
    let snap = cluster("bridge", 2);
    let exp = Expected::build(&snap);
    assert_eq!(
        exp.service_cidr.as_ref().map(|s| s.net),
        Some(net("10.96.0.0/28"))
    );
}

#[test]
fn missing_pod_route() {
    let mut snap = cluster("flannel-vxlan", 3);
    del_route(&mut snap, "node-1", "10.244.2.0/24");
    let f = only(&report(&snap), "missing-pod-route");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].node.as_deref(), Some("node-1"));
    assert!(f[0]
        .summary
        .contains("no route to node-2's pod CIDR 10.244.2.0/24"));
    assert!(f[0]
        .summary
        .contains("default route default via 192.0.2.1 dev eth0"));
    assert!(f[0]
        .hint
        .contains("ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"));
}

#[test]
fn wrong_next_hop() {
    let mut snap = cluster("flannel-host-gw", 3);
    let n = node_mut(&mut snap, "node-1");
    let r = n
        .routes
        .iter_mut()
        .find(|r| r.dst == net("10.244.2.0/24"))
        .unwrap();
    r.gateway = Some(ip("192.0.2.13"));
    let f = only(&report(&snap), "wrong-next-hop");
    assert_eq!(f.len(), 1);
    assert!(
        f[0].summary.contains(
            "via 192.0.2.13 (node-3) dev eth0, expected 10.244.2.0/24 via 192.0.2.12 dev eth0"
        ),
        "{}",
        f[0].summary
    );
    assert!(f[0]
        .evidence
        .contains(&"10.244.2.0/24 via 192.0.2.13 dev eth0".to_string()));
}

#[test]
fn next_hop_not_adjacent() {
    let mut snap = cluster("flannel-host-gw", 2);
    snap.k8s.nodes[1].internal_ips = vec![ip("198.51.100.12")];
    let key = "flannel.alpha.coreos.com/public-ip";
    (snap.k8s.nodes[1].annotations).insert(key.into(), "198.51.100.12".into());
    let n2 = node_mut(&mut snap, "node-2");
    n2.addrs[0] = addr(2, "eth0", "198.51.100.12/24");
    let r = report(&snap);
    let f = only(&r, "next-hop-not-adjacent");
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f.iter().any(|f| f.node.as_deref() == Some("node-1")
        && f.summary.starts_with(
            "node-2's node IP 198.51.100.12 is not on a subnet node-1 is connected to"
        )));
}

#[test]
fn vxlan_fdb_missing() {
    let mut snap = cluster("flannel-vxlan", 3);
    node_mut(&mut snap, "node-1")
        .fdb
        .as_mut()
        .unwrap()
        .retain(|e| e.mac != vtep_mac(2));
    let f = only(&report(&snap), "vxlan-fdb-missing");
    assert_eq!(f.len(), 1);
    assert!(f[0].hint.contains(
        "bridge fdb append 0a:00:00:00:00:02 dev flannel.1 dst 192.0.2.12 self permanent"
    ));
}

#[test]
fn vxlan_neigh_missing() {
    let mut snap = cluster("calico-vxlan", 3);
    node_mut(&mut snap, "node-2")
        .neighbours
        .as_mut()
        .unwrap()
        .retain(|n| n.dst != ip("10.244.3.1"));
    let f = only(&report(&snap), "vxlan-neigh-missing");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].node.as_deref(), Some("node-2"));
    assert!(f[0].hint.contains(
        "ip neigh replace 10.244.3.1 lladdr 0a:00:00:00:00:03 dev vxlan.calico nud permanent"
    ));
}

#[test]
fn vxlan_fdb_mismatch() {
    let mut snap = cluster("flannel-vxlan", 3);
    let fdb = node_mut(&mut snap, "node-1").fdb.as_mut().unwrap();
    fdb.iter_mut().find(|e| e.mac == vtep_mac(2)).unwrap().dst = Some(ip("192.0.2.13"));
    let f = only(&report(&snap), "vxlan-fdb-mismatch");
    assert_eq!(f.len(), 1);
    assert!(
        f[0].summary
            .contains("points at 192.0.2.13 (node-3), expected 192.0.2.12"),
        "{}",
        f[0].summary
    );
    // A neighbour entry with the wrong MAC is the same code.
    let mut snap = cluster("flannel-vxlan", 2);
    node_mut(&mut snap, "node-2").neighbours.as_mut().unwrap()[0].lladdr =
        Some("0a:00:00:00:00:99".into());
    let f = only(&report(&snap), "vxlan-fdb-mismatch");
    assert!(f[0]
        .summary
        .contains("has MAC 0a:00:00:00:00:99, expected 0a:00:00:00:00:01"));
}

#[test]
fn mtu_mismatch() {
    let mut snap = cluster("flannel-vxlan", 2);
    node_mut(&mut snap, "node-1")
        .links
        .iter_mut()
        .find(|l| l.name == "flannel.1")
        .unwrap()
        .mtu = 1500;
    let f = only(&report(&snap), "mtu-mismatch");
    assert_eq!(f.len(), 1);
    assert!(f[0].summary.starts_with(
        "flannel.1 mtu 1500 + 50 bytes of flannel-vxlan encapsulation exceeds eth0 mtu 1500"
    ));
    // No df in the dump: the kernel default, unset — fragmented, delivered.
    assert_eq!(f[0].severity, Severity::Warning, "{}", f[0].summary);
    assert!(
        f[0].summary.contains("fragmented on eth0"),
        "{}",
        f[0].summary
    );
    for (df, severity) in [
        (VxlanDf::Unset, Severity::Warning),
        (VxlanDf::Set, Severity::Error),
        (VxlanDf::Inherit, Severity::Error),
    ] {
        let flannel = node_mut(&mut snap, "node-1")
            .links
            .iter_mut()
            .find(|l| l.name == "flannel.1")
            .unwrap();
        flannel.vxlan.as_mut().unwrap().df = Some(df);
        let f = only(&report(&snap), "mtu-mismatch");
        assert_eq!(f[0].severity, severity, "df {df:?}: {}", f[0].summary);
    }
    let mut snap = cluster("calico-ipip", 2);
    for l in &mut node_mut(&mut snap, "node-2").links {
        if l.name.starts_with("cali") {
            l.mtu = 1500;
        }
    }
    let f = only(&report(&snap), "mtu-mismatch");
    assert!(
        f[0].summary.starts_with("2 pod-facing device(s) on node-2"),
        "{}",
        f[0].summary
    );
}

#[test]
fn bgp_session_down() {
    let mut snap = cluster("calico-bgp", 3);
    let p = &mut node_mut(&mut snap, "node-1")
        .bgp
        .as_mut()
        .unwrap()
        .protocols[0];
    p.state = "start".into();
    p.info = "Active        Socket: Connection refused".into();
    p.bgp_state = Some("Active".into());
    let f = only(&report(&snap), "bgp-session-down");
    assert_eq!(f.len(), 1);
    assert!(
        f[0].summary
            .starts_with("BGP session Mesh_192_0_2_12 on node-1 to node-2 (192.0.2.12) is Active"),
        "{}",
        f[0].summary
    );
}

#[test]
fn bgp_route_missing_not_learned_and_not_in_kernel() {
    let mut snap = cluster("calico-bgp", 3);
    let bgp = node_mut(&mut snap, "node-1").bgp.as_mut().unwrap();
    bgp.routes
        .as_mut()
        .unwrap()
        .retain(|r| r.prefix != net(&block(2)));
    let f = only(&report(&snap), "bgp-route-missing");
    assert!(f[0]
        .summary
        .contains("has not learned node-2's block 10.244.2.0/26"));
    let mut snap = cluster("calico-ipip", 3);
    del_route(&mut snap, "node-3", &block(1));
    let r = report(&snap);
    let codes: Vec<_> = problems(&r).into_iter().map(|(c, _)| c).collect();
    assert_eq!(codes, vec!["bgp-route-missing", "missing-pod-route"]);
}

#[test]
fn ipvs_service_missing() {
    let mut snap = cluster("calico-bgp", 2);
    node_mut(&mut snap, "node-2")
        .ipvs
        .as_mut()
        .unwrap()
        .retain(|v| v.port != 80);
    let f = only(&report(&snap), "ipvs-service-missing");
    assert_eq!(
        f[0].summary,
        "node-2 has no IPVS virtual server for svc/default/web TCP 10.96.0.10:80"
    );
}

#[test]
fn ipvs_no_backends() {
    let mut snap = cluster("flannel-vxlan", 2);
    node_mut(&mut snap, "node-1").ipvs.as_mut().unwrap()[1]
        .reals
        .clear();
    let f = only(&report(&snap), "ipvs-no-backends");
    assert_eq!(f[0].severity, Severity::Error);
    // No ready endpoint: the dataplane is right, info only.
    let mut snap = cluster("flannel-vxlan", 2);
    for s in snap.k8s.endpoint_slices.as_mut().unwrap() {
        if s.service.as_deref() == Some("web") {
            s.endpoints.clear();
        }
    }
    for n in snap.nodes.values_mut() {
        n.ipvs.as_mut().unwrap()[1].reals.clear();
    }
    let r = report(&snap);
    assert!(problems(&r).is_empty());
    assert!(r
        .findings
        .iter()
        .all(|f| f.code == "ipvs-no-backends" && f.severity == Severity::Info));
}

#[test]
fn ipvs_stale_backend() {
    let mut snap = cluster("flannel-vxlan", 2);
    let vs = &mut node_mut(&mut snap, "node-1").ipvs.as_mut().unwrap()[1];
    vs.reals[0].ip = ip("10.244.9.9");
    let f = only(&report(&snap), "ipvs-stale-backend");
    assert!(
        f[0].summary.ends_with("1 stale, 1 missing"),
        "{}",
        f[0].summary
    );
    assert!(f[0]
        .evidence
        .iter()
        .any(|e| e == "10.244.9.9:8080 is not a ready endpoint (no live pod has this IP)"));
}

#[test]
fn route_shadowed_by_blackhole_narrower_and_rule() {
    let mut snap = cluster("flannel-host-gw", 3);
    let mut bh = Route::unicast(net("10.244.2.0/25"));
    bh.route_type = RouteType::Blackhole;
    node_mut(&mut snap, "node-1").routes.push(bh);
    let f = only(&report(&snap), "route-shadowed");
    assert!(f[0]
        .summary
        .contains("narrower route(s) inside node-2's pod CIDR 10.244.2.0/24"));

    let mut snap = cluster("flannel-host-gw", 3);
    let n = node_mut(&mut snap, "node-1");
    let mut rules = Rule::defaults_v4();
    rules.push(Rule {
        priority: 100,
        action: RuleAction::Table(100),
        ..rules[1].clone()
    });
    n.rules = Some(rules);
    let mut r = route("10.244.2.0/24", Some("192.0.2.13"), Some("eth0"));
    r.table = 100;
    n.routes.push(r);
    let f = only(&report(&snap), "route-shadowed");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(f[0]
        .evidence
        .iter()
        .any(|e| e == "hidden: 10.244.2.0/24 via 192.0.2.12 dev eth0"));
}

#[test]
fn pod_route_missing() {
    let mut snap = cluster("calico-bgp", 2);
    del_route(&mut snap, "node-1", "10.244.1.2/32");
    let f = only(&report(&snap), "pod-route-missing");
    assert_eq!(f.len(), 1);
    assert!(f[0]
        .summary
        .starts_with("pod default/pod-1-0 (10.244.1.2) on node-1 is unreachable from the host"));
    let mut snap = cluster("flannel-host-gw", 2);
    node_mut(&mut snap, "node-2")
        .links
        .iter_mut()
        .find(|l| l.name == "cni0")
        .unwrap()
        .flags = vec!["BROADCAST".into()];
    let f = only(&report(&snap), "pod-route-missing");
    assert_eq!(f.len(), 2);
    assert!(f[0].summary.ends_with("cni0 is down"));
}

#[test]
fn stale_pod_route() {
    let mut snap = cluster("calico-bgp", 2);
    let n = node_mut(&mut snap, "node-1");
    let mut gone = route("10.244.1.9/32", None, Some("cali00000000dea"));
    gone.scope = cnictl_model::Scope::LINK;
    n.routes.push(gone);
    let r = report(&snap);
    let f = only(&r, "stale-pod-route");
    assert_eq!(f[0].severity, Severity::Warning);
    let mut snap = cluster("calico-bgp", 2);
    let n = node_mut(&mut snap, "node-1");
    let dev = n
        .links
        .iter()
        .find(|l| l.name.starts_with("cali"))
        .unwrap()
        .name
        .clone();
    n.routes.push(route("10.244.2.2/32", None, Some(&dev)));
    let r = report(&snap);
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "stale-pod-route")
        .collect();
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].summary
            .ends_with("10.244.2.2 now belongs to pod default/pod-2-0 on node-2"),
        "{}",
        f[0].summary
    );
}

#[test]
fn ip_forward_disabled() {
    let mut snap = cluster("bridge", 2);
    node_mut(&mut snap, "node-2")
        .sysctls
        .as_mut()
        .unwrap()
        .insert("net.ipv4.ip_forward".into(), "0".into());
    let f = only(&report(&snap), "ip-forward-disabled");
    assert_eq!(f[0].evidence, vec!["net.ipv4.ip_forward = 0".to_string()]);
}

#[test]
fn rp_filter_strict_only_warns_when_paths_are_asymmetric() {
    let mut snap = cluster("flannel-vxlan", 2);
    node_mut(&mut snap, "node-1")
        .sysctls
        .as_mut()
        .unwrap()
        .insert("net.ipv4.conf.flannel/1.rp_filter".into(), "1".into());
    let r = report(&snap);
    assert!(problems(&r).is_empty());
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "rp-filter-strict" && f.severity == Severity::Info));
    // Calico IPIP CrossSubnet: a same-subnet peer routed via eth0.
    let mut snap = cluster("calico-ipip", 3);
    let n = node_mut(&mut snap, "node-1");
    n.sysctls
        .as_mut()
        .unwrap()
        .insert("net.ipv4.conf.all.rp_filter".into(), "1".into());
    let r2 = n
        .routes
        .iter_mut()
        .find(|r| r.dst == net(&block(2)))
        .unwrap();
    r2.dev = Some("eth0".into());
    r2.onlink = false;
    let f = only(&report(&snap), "rp-filter-strict");
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn missing_inputs_are_skipped_naming_node_and_file() {
    let mut snap = cluster("flannel-vxlan", 2);
    let n = node_mut(&mut snap, "node-2");
    n.fdb = None;
    n.sysctls = None;
    n.ipvs = None;
    let r = report(&snap);
    assert!(problems(&r).is_empty());
    let reasons: Vec<_> = r
        .skipped
        .iter()
        .map(|s| (s.check.as_str(), s.reason.as_str()))
        .collect();
    assert!(reasons.contains(&(
        "vxlan-fdb-missing",
        "node-2 has no bridge-fdb.json: VXLAN FDB checks skipped"
    )));
    assert!(reasons.contains(&(
        "ip-forward-disabled",
        "node-2 has no sysctl.txt: ip_forward check skipped"
    )));
    assert!(reasons.contains(&(
        "ipvs-service-missing",
        "node-2 has no ipvsadm.txt: IPVS checks skipped"
    )));
    let mut snap = cluster("calico-bgp", 2);
    node_mut(&mut snap, "node-1").bgp = None;
    let r = report(&snap);
    assert!(r
        .skipped
        .iter()
        .any(|s| s.check == "bgp-session-down" && s.node.as_deref() == Some("node-1")));
}

#[test]
fn calico_blocks_come_from_blackholes_or_peer_routes() {
    let mut snap = cluster("calico-bgp", 3);
    snap.nodes.remove("node-3");
    let exp = Expected::build(&snap);
    let n3 = exp.node("node-3").unwrap();
    assert_eq!(
        n3.pod_cidrs.iter().map(|c| c.net).collect::<Vec<_>>(),
        vec![net(&block(3))]
    );
    assert!(
        n3.describe()
            .contains("block (seen on node-1) 10.244.3.0/26"),
        "{}",
        n3.describe()
    );
    let n1 = exp.node("node-1").unwrap();
    assert_eq!(
        n1.describe(),
        "node/node-1 block 10.244.1.0/26 InternalIP 192.0.2.11"
    );
}

#[test]
fn run_node_matches_the_cluster_run() {
    let mut snap = cluster("flannel-vxlan", 3);
    del_route(&mut snap, "node-2", "10.244.3.0/24");
    let exp = Expected::build(&snap);
    let (findings, _) = checks::run_node(&exp, &snap.nodes["node-2"]);
    let from_run: Vec<_> = report(&snap)
        .findings
        .into_iter()
        .filter(|f| f.node.as_deref() == Some("node-2"))
        .collect();
    assert_eq!(findings, from_run);
    assert_eq!(findings.len(), 1);
}

/// A fixed-seed shuffle (xorshift), so failures reproduce.
fn shuffle<T>(v: &mut [T], seed: &mut u64) {
    for i in (1..v.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        v.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

#[test]
fn report_does_not_depend_on_entry_order() {
    let mut snap = cluster("flannel-vxlan", 4);
    del_route(&mut snap, "node-1", "10.244.2.0/24");
    node_mut(&mut snap, "node-3").fdb.as_mut().unwrap().clear();
    node_mut(&mut snap, "node-4")
        .neighbours
        .as_mut()
        .unwrap()
        .pop();
    let n2 = node_mut(&mut snap, "node-2");
    n2.sysctls
        .as_mut()
        .unwrap()
        .insert("net.ipv4.ip_forward".into(), "0".into());
    n2.routes
        .push(route("10.244.2.77/32", None, Some("cali0000000dead")));
    let want = report(&snap);
    assert!(want.findings.len() >= 5);
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..5 {
        shuffle(&mut snap.k8s.nodes, &mut seed);
        shuffle(&mut snap.k8s.pods, &mut seed);
        for n in snap.nodes.values_mut() {
            shuffle(&mut n.routes, &mut seed);
            shuffle(&mut n.links, &mut seed);
            shuffle(&mut n.addrs, &mut seed);
            shuffle(n.fdb.as_mut().unwrap(), &mut seed);
            shuffle(n.neighbours.as_mut().unwrap(), &mut seed);
            shuffle(n.ipvs.as_mut().unwrap(), &mut seed);
        }
        assert_eq!(report(&snap), want);
    }
}

#[test]
fn route_protocol_of_calico_vxlan_is_felix() {
    let snap = cluster("calico-vxlan", 2);
    assert!(snap.nodes["node-1"]
        .routes
        .iter()
        .any(|r| r.protocol == Protocol(80)));
    let exp = Expected::build(&snap);
    assert_eq!(exp.node("node-2").unwrap().pod_cidrs[0].net, net(&block(2)));
}

#[test]
fn node_agent_view_checks_one_node_against_k8s_and_bird() {
    let mut snap = cluster("calico-bgp", 3);
    snap.nodes.retain(|name, _| name == "node-1");
    let exp = Expected::build(&snap);
    let (clean, skipped) = checks::run_node(&exp, &snap.nodes["node-1"]);
    assert!(
        clean.is_empty() && skipped.is_empty(),
        "{clean:#?} {skipped:#?}"
    );
    del_route(&mut snap, "node-1", &block(3));
    let exp = Expected::build(&snap);
    let (f, _) = checks::run_node(&exp, &snap.nodes["node-1"]);
    let codes: Vec<_> = f.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["bgp-route-missing", "missing-pod-route"]);
    assert!(f[0]
        .summary
        .contains("but the kernel has no proto bird route"));
}

#[test]
fn unknown_model_skips_route_checks_and_says_why() {
    let mut snap = cluster("bridge", 2);
    let n = node_mut(&mut snap, "node-2");
    n.links.retain(|l| l.name == "lo" || l.name == "eth0");
    let r = report(&snap);
    assert_eq!(
        r.model, "bridge",
        "unknown nodes do not make the cluster mixed"
    );
    assert!(problems(&r).is_empty(), "{:#?}", r.findings);
    assert!(r.skipped.iter().any(|s| s.check == "missing-pod-route"
        && s.reason == "node-2: CNI model unknown, pod route checks skipped"));
}

#[test]
fn cilium_and_weave_routes_are_checked_too() {
    let mut snap = cluster("cilium-vxlan", 3);
    del_route(&mut snap, "node-2", &pod_cidr(1));
    let f = only(&report(&snap), "missing-pod-route");
    assert!(
        f[0].hint
            .contains("ip route replace 10.244.1.0/24 dev cilium_host"),
        "{}",
        f[0].hint
    );
    let mut snap = cluster("cilium-native", 2);
    let n = node_mut(&mut snap, "node-1");
    n.routes
        .iter_mut()
        .find(|r| r.dst == net(&pod_cidr(2)))
        .unwrap()
        .dev = Some("cilium_host".into());
    only(&report(&snap), "wrong-next-hop");
    let mut snap = cluster("weave", 2);
    let n = node_mut(&mut snap, "node-1");
    n.links
        .iter_mut()
        .find(|l| l.name == "weave")
        .unwrap()
        .flags
        .clear();
    n.links
        .iter_mut()
        .find(|l| l.name == "weave")
        .unwrap()
        .flags
        .push("BROADCAST".into());
    let f = only(&report(&snap), "pod-route-missing");
    assert_eq!(f.len(), 2);
}

#[test]
fn model_evidence_names_the_deciding_facts() {
    let inf = infer(&cluster("flannel-host-gw", 3));
    let ev = &inf.node("node-1").unwrap().evidence;
    assert_eq!(
        ev,
        &vec![
            "annotation flannel.alpha.coreos.com/backend-type=host-gw".to_string(),
            "bridge cni0".to_string(),
            "2 routes via gateways on a connected subnet (host-gw)".to_string(),
        ]
    );
    let inf = infer(&cluster("calico-ipip", 2));
    assert!(inf.per_node[0].evidence[0].contains("proto bird routes via tunl0"));
}

#[test]
fn dual_stack_host_gw_routes_each_family_via_that_family() {
    let mut snap = cluster("flannel-host-gw", 2);
    for i in 1..=2usize {
        let k = &mut snap.k8s.nodes[i - 1];
        k.internal_ips.push(ip(&format!("fd00::{i}")));
        k.pod_cidrs.push(net(&format!("fd10:{i}::/64")));
        let n = node_mut(&mut snap, &format!("node-{i}"));
        n.addrs.push(addr(2, "eth0", &format!("fd00::{i}/64")));
        let j = 3 - i;
        n.routes.push(route(
            &format!("fd10:{j}::/64"),
            Some(&format!("fd00::{j}")),
            Some("eth0"),
        ));
    }
    let r = report(&snap);
    assert!(problems(&r).is_empty(), "{:#?}", r.findings);
    node_mut(&mut snap, "node-1")
        .routes
        .retain(|r| r.dst != net("fd10:2::/64"));
    let f = only(&report(&snap), "missing-pod-route");
    assert!(
        f[0].hint
            .contains("ip route replace fd10:2::/64 via fd00::2"),
        "{}",
        f[0].hint
    );
}

/// A kernel with ipip loaded puts a DOWN tunl0 (MTU 1480) in every pod
/// netns; only devices that are up carry pod traffic (found on the VM lab).
#[test]
fn mtu_mismatch_ignores_down_devices_in_pod_netns() {
    use cnictl_gen::{generate, GenModel, GenSpec};
    use cnictl_model::{Link, PodNetns};
    let spec = GenSpec {
        model: GenModel::FlannelVxlan,
        nodes: 2,
        pods_per_node: 1,
        services: 0,
    };
    let mut snap = generate(&spec).unwrap();
    let link = |ifindex, name: &str, mtu, up: bool| Link {
        ifindex,
        name: name.into(),
        mtu,
        flags: if up {
            vec!["UP".into(), "LOWER_UP".into()]
        } else {
            vec!["NOARP".into()]
        },
        ..Link::default()
    };
    let pod = PodNetns {
        namespace: "default".into(),
        name: "web-1-1".into(),
        links: vec![
            link(1, "lo", 65536, true),
            link(2, "tunl0", 1480, false),
            link(3, "eth0", 1450, true),
        ],
        ..PodNetns::default()
    };
    let node = snap.nodes.get_mut("node-1").unwrap();
    node.pods.insert("default/web-1-1".into(), pod);
    let codes = |s: &ClusterSnapshot| {
        checks::run(s)
            .findings
            .iter()
            .map(|f| f.code.to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        !codes(&snap).contains(&"mtu-mismatch".to_string()),
        "{:?}",
        codes(&snap)
    );
    let pod = snap
        .nodes
        .get_mut("node-1")
        .unwrap()
        .pods
        .get_mut("default/web-1-1")
        .unwrap();
    pod.links[1].flags = vec!["UP".into()];
    assert!(
        codes(&snap).contains(&"mtu-mismatch".to_string()),
        "an up device above the path MTU is still found"
    );
}
