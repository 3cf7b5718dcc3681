//! Tests of the Service checks (service-*, masquerade-missing,
//! nodeport-no-local-endpoint): a generated 3-node flannel-vxlan cluster
//! with 3 Services (2 ready endpoints each, pods on different nodes) whose
//! nodes carry kube-proxy's rules as the generators write them from the
//! cluster's objects (`gen::kube_proxy::iptables_save`,
//! `gen::kube_proxy_nft::nft_json`), in iptables and nftables mode. A
//! fault is the rules kube-proxy writes from *other* objects (a stale
//! endpoint, one missing, a Service it never saw) or a rule removed by
//! hand.

use std::net::IpAddr;

use cnictl_formats::iptables::parse_iptables_save;
use cnictl_formats::nft::parse_nft_ruleset;
use cnictl_gen::{generate, GenModel, GenSpec};
use cnictl_model::netfilter::{Netfilter, Source};
use cnictl_model::{ClusterSnapshot, K8s};
use ipnet::IpNet;

use super::nftest::{findings, skips};
use crate::code::Code;
use crate::finding::Severity;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Iptables,
    Nft,
}

const MODES: [Mode; 2] = [Mode::Iptables, Mode::Nft];

fn cidr() -> IpNet {
    "10.244.0.0/16".parse().unwrap()
}

/// The generated cluster, kube-proxy not in IPVS mode (no ipvsadm dump,
/// no kube-ipvs0) and no netfilter collected yet.
fn cluster() -> ClusterSnapshot {
    let mut spec = GenSpec::new(GenModel::FlannelVxlan, 3);
    spec.pods_per_node = 2;
    spec.services = 3;
    let mut snap = generate(&spec).expect("generate");
    for n in snap.nodes.values_mut() {
        n.ipvs = None;
        n.links.retain(|l| l.name != "kube-ipvs0");
        n.addrs.retain(|a| a.dev != "kube-ipvs0");
        n.routes.retain(|r| r.dev.as_deref() != Some("kube-ipvs0"));
    }
    snap
}

fn node_ip(snap: &ClusterSnapshot, node: &str) -> IpAddr {
    snap.k8s.node(node).expect("node").internal_ips[0]
}

/// kube-proxy's rules for `k8s` on `node`, in `mode`, through `edit`.
fn program(
    snap: &mut ClusterSnapshot,
    node: &str,
    k8s: &K8s,
    mode: Mode,
    edit: &dyn Fn(String) -> String,
) {
    let mut nf = Netfilter::default();
    let (source, tables) = match mode {
        Mode::Iptables => {
            let text = edit(cnictl_gen::kube_proxy::iptables_save(k8s, cidr()));
            let t = parse_iptables_save(&text, Source::IptablesSave).expect("parses");
            (Source::IptablesSave, t)
        }
        Mode::Nft => {
            let ip = node_ip(snap, node);
            let text = edit(cnictl_gen::kube_proxy_nft::nft_json(k8s, cidr(), ip));
            (
                Source::NftRuleset,
                parse_nft_ruleset(&text).expect("parses"),
            )
        }
    };
    nf.tables = tables;
    nf.sources.push(source);
    snap.nodes.get_mut(node).expect("node").netfilter = Some(nf);
}

/// Every node gets the rules kube-proxy writes for the cluster's objects.
fn healthy(mode: Mode) -> ClusterSnapshot {
    let mut snap = cluster();
    let k8s = snap.k8s.clone();
    for n in ["node-1", "node-2", "node-3"] {
        program(&mut snap, n, &k8s, mode, &|t| t);
    }
    snap
}

fn codes() -> [Code; 5] {
    [
        Code::ServiceStaleBackend,
        Code::ServiceBackendMissing,
        Code::ServiceRulesMissing,
        Code::MasqueradeMissing,
        Code::ServiceNoBackends,
    ]
}

#[test]
fn healthy_rules_raise_nothing_in_either_mode() {
    for mode in MODES {
        let snap = healthy(mode);
        for code in codes() {
            assert_eq!(findings(&snap, code), vec![], "{mode:?} {code}");
            assert_eq!(skips(&snap, code), vec![], "{mode:?} {code}");
        }
    }
}

/// The first Service's first ready endpoint.
fn first_endpoint(k8s: &K8s) -> IpAddr {
    let slices = k8s.endpoint_slices.as_ref().expect("slices");
    slices[0].endpoints[0].addresses[0]
}

#[test]
fn a_stale_endpoint_in_one_nodes_rules_is_an_error_with_its_share() {
    for mode in MODES {
        let mut snap = healthy(mode);
        let mut stale = snap.k8s.clone();
        let slices = stale.endpoint_slices.as_mut().expect("slices");
        let mut gone = slices[0].endpoints[0].clone();
        gone.addresses = vec!["10.244.2.99".parse().unwrap()];
        slices[0].endpoints.push(gone);
        let n = slices[0].endpoints.len();
        program(&mut snap, "node-2", &stale, mode, &|t| t);
        let f = findings(&snap, Code::ServiceStaleBackend);
        assert_eq!(f.len(), 1, "{mode:?}: {f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].node.as_deref(), Some("node-2"));
        let share = format!("1 of {n} new connections");
        assert!(f[0].summary.contains(&share), "{}", f[0].summary);
        assert!(
            f[0].evidence.iter().any(|e| e.contains("10.244.2.99:")),
            "{mode:?}: {:#?}",
            f[0].evidence
        );
        assert_eq!(findings(&snap, Code::ServiceBackendMissing), vec![]);
    }
}

#[test]
fn a_ready_endpoint_missing_from_one_nodes_rules_is_a_warning() {
    for mode in MODES {
        let mut snap = healthy(mode);
        let gone = first_endpoint(&snap.k8s);
        let mut old = snap.k8s.clone();
        old.endpoint_slices.as_mut().expect("slices")[0]
            .endpoints
            .remove(0);
        program(&mut snap, "node-3", &old, mode, &|t| t);
        let f = findings(&snap, Code::ServiceBackendMissing);
        assert_eq!(f.len(), 1, "{mode:?}: {f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].node.as_deref(), Some("node-3"));
        let want = format!("ready endpoint {gone}:");
        assert!(
            f[0].evidence.iter().any(|e| e.starts_with(&want)),
            "{:#?}",
            f[0].evidence
        );
        assert_eq!(findings(&snap, Code::ServiceStaleBackend), vec![]);
    }
}

#[test]
fn rules_that_reject_a_service_with_ready_endpoints_are_an_error() {
    for mode in MODES {
        let mut snap = healthy(mode);
        let mut old = snap.k8s.clone();
        old.endpoint_slices.as_mut().expect("slices")[0]
            .endpoints
            .clear();
        program(&mut snap, "node-1", &old, mode, &|t| t);
        let f = findings(&snap, Code::ServiceBackendMissing);
        assert_eq!(f.len(), 1, "{mode:?}: {f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].evidence.iter().any(|e| e.starts_with("rejected by")),
            "{:#?}",
            f[0].evidence
        );
        assert_eq!(
            findings(&snap, Code::ServiceRulesMissing),
            vec![],
            "{mode:?}"
        );
    }
}

#[test]
fn a_service_missing_from_one_nodes_rules_is_an_error() {
    for mode in MODES {
        let mut snap = healthy(mode);
        let mut old = snap.k8s.clone();
        old.services.as_mut().expect("services").remove(1);
        program(&mut snap, "node-1", &old, mode, &|t| t);
        let f = findings(&snap, Code::ServiceRulesMissing);
        assert_eq!(f.len(), 1, "{mode:?}: {f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].node.as_deref(), Some("node-1"));
        assert!(
            f[0].summary.contains("svc/default/svc-2"),
            "{}",
            f[0].summary
        );
    }
}

#[test]
fn a_node_without_rules_is_skipped_by_name() {
    let mut snap = healthy(Mode::Iptables);
    snap.nodes.get_mut("node-2").expect("node").netfilter = None;
    for code in [
        Code::ServiceStaleBackend,
        Code::ServiceRulesMissing,
        Code::MasqueradeMissing,
    ] {
        let s = skips(&snap, code);
        assert_eq!(s.len(), 1, "{code}: {s:#?}");
        assert_eq!(s[0].node.as_deref(), Some("node-2"));
        assert!(
            s[0].reason.contains("netfilter checks skipped"),
            "{}",
            s[0].reason
        );
    }
}

#[test]
fn rules_handling_no_service_skip_rather_than_flag_every_port() {
    let mut snap = healthy(Mode::Iptables);
    let none = K8s::default();
    program(&mut snap, "node-3", &none, Mode::Iptables, &|t| t);
    assert_eq!(findings(&snap, Code::ServiceRulesMissing), vec![]);
    let s = skips(&snap, Code::ServiceRulesMissing);
    assert_eq!(s.len(), 1, "{s:#?}");
    assert!(
        s[0].reason.contains("DNAT or reject no Service"),
        "{}",
        s[0].reason
    );
}

#[test]
fn an_ipvs_node_is_left_to_the_ipvs_checks() {
    let mut spec = GenSpec::new(GenModel::FlannelVxlan, 3);
    spec.pods_per_node = 2;
    spec.services = 3;
    let mut snap = generate(&spec).expect("generate");
    // IPVS mode: the iptables rules beside the IPVS table DNAT nothing.
    program(&mut snap, "node-1", &K8s::default(), Mode::Iptables, &|t| t);
    for code in [Code::ServiceRulesMissing, Code::ServiceBackendMissing] {
        assert_eq!(findings(&snap, code), vec![], "{code}");
        let on_node1 = skips(&snap, code);
        assert!(
            on_node1.iter().all(|s| s.node.as_deref() != Some("node-1")),
            "{on_node1:#?}"
        );
    }
}

/// Drops kube-proxy's masquerade-by-mark rule, in either front end.
fn without_kube_masquerade(mode: Mode, text: String) -> String {
    match mode {
        Mode::Iptables => text
            .lines()
            .filter(|l| !(l.starts_with("-A KUBE-POSTROUTING") && l.contains("MASQUERADE")))
            .map(|l| format!("{l}\n"))
            .collect(),
        Mode::Nft => {
            let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
            let items = v["nftables"].as_array_mut().expect("nftables array");
            let before = items.len();
            items
                .retain(|o| !(o.get("rule").is_some() && o.to_string().contains("\"masquerade\"")));
            assert_eq!(items.len(), before - 1, "one masquerade rule");
            v.to_string()
        }
    }
}

#[test]
fn kube_proxys_masquerade_removed_on_one_node_is_an_error() {
    for mode in MODES {
        let mut snap = healthy(mode);
        let k8s = snap.k8s.clone();
        program(&mut snap, "node-2", &k8s, mode, &|t| {
            without_kube_masquerade(mode, t)
        });
        let f = findings(&snap, Code::MasqueradeMissing);
        assert_eq!(f.len(), 1, "{mode:?}: {f:#?}");
        assert_eq!(f[0].node.as_deref(), Some("node-2"));
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].summary.contains("mark Service traffic"),
            "{}",
            f[0].summary
        );
    }
}

/// flanneld `--ip-masq`'s nat rules (flannel v0.25 `pkg/trafficmngr/
/// iptables`: `MasqRules`), added to kube-proxy's nat table.
fn with_flannel_masq(text: String) -> String {
    let decl = ":POSTROUTING ACCEPT [0:0]\n";
    let text = text.replacen(decl, &format!("{decl}:FLANNEL-POSTRTG - [0:0]\n"), 1);
    let rules = "-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully
COMMIT
";
    let at = text.rfind("COMMIT\n").expect("nat COMMIT");
    format!("{}{rules}", &text[..at])
}

#[test]
fn pod_egress_not_masqueraded_where_peers_do_is_an_error() {
    let mut snap = cluster();
    let k8s = snap.k8s.clone();
    for n in ["node-1", "node-2", "node-3"] {
        program(&mut snap, n, &k8s, Mode::Iptables, &with_flannel_masq);
    }
    assert_eq!(findings(&snap, Code::MasqueradeMissing), vec![]);
    program(&mut snap, "node-3", &k8s, Mode::Iptables, &|t| t);
    let f = findings(&snap, Code::MasqueradeMissing);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].node.as_deref(), Some("node-3"));
    assert!(f[0].summary.contains("pod egress"), "{}", f[0].summary);
    assert!(f[0].summary.contains("node-1, node-2"), "{}", f[0].summary);
}

#[test]
fn a_selected_service_without_ready_endpoints_is_a_warning() {
    let mut snap = healthy(Mode::Iptables);
    assert_eq!(findings(&snap, Code::ServiceNoBackends), vec![]);
    let svcs = snap.k8s.services.as_mut().expect("services");
    svcs[0].selector.insert("app".into(), "web".into());
    svcs[1].selector.insert("app".into(), "api".into());
    // svc-3 keeps no selector: endpoints managed by hand, not judged.
    for s in snap.k8s.endpoint_slices.as_mut().expect("slices") {
        if s.service.as_deref() != Some("svc-2") {
            s.endpoints.iter_mut().for_each(|e| e.ready = false);
        }
    }
    let f = findings(&snap, Code::ServiceNoBackends);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].summary.contains("svc/default/svc-1"),
        "{}",
        f[0].summary
    );
}

#[test]
fn local_traffic_policy_nodeport_names_nodes_without_a_local_endpoint() {
    let mut snap = cluster();
    let svcs = snap.k8s.services.as_mut().expect("services");
    svcs[0].service_type = "NodePort".into();
    svcs[0].ports[0].node_port = Some(30080);
    assert_eq!(findings(&snap, Code::NodeportNoLocalEndpoint), vec![]);
    let svcs = snap.k8s.services.as_mut().expect("services");
    svcs[0].external_traffic_policy = Some("Local".into());
    let slices = snap.k8s.endpoint_slices.as_mut().expect("slices");
    let eps = &mut slices[0].endpoints;
    eps.retain(|e| e.node.as_deref() != Some("node-2"));
    assert!(!eps.is_empty());
    let with: Vec<String> = slices[0]
        .endpoints
        .iter()
        .filter_map(|e| e.node.clone())
        .collect();
    let f = findings(&snap, Code::NodeportNoLocalEndpoint);
    let nodes: Vec<&str> = f.iter().filter_map(|f| f.node.as_deref()).collect();
    let want: Vec<&str> = ["node-1", "node-2", "node-3"]
        .into_iter()
        .filter(|n| !with.iter().any(|w| w == n))
        .collect();
    assert!(
        !want.is_empty(),
        "test needs a node without an endpoint: {with:?}"
    );
    assert_eq!(nodes, want);
    assert!(f.iter().all(|f| f.severity == Severity::Info));
    assert!(
        f[0].evidence[0].contains("30080/TCP"),
        "{:#?}",
        f[0].evidence
    );
}

#[test]
fn rules_holding_only_the_nodes_own_endpoints_are_internal_traffic_local() {
    for mode in MODES {
        let mut snap = healthy(mode);
        let mut local = snap.k8s.clone();
        let slices = local.endpoint_slices.as_mut().expect("slices");
        let eps = &mut slices[0].endpoints;
        eps.retain(|e| e.node.as_deref() == Some("node-1"));
        assert_eq!(eps.len(), 1, "one endpoint of svc-1 on node-1");
        program(&mut snap, "node-1", &local, mode, &|t| t);
        assert_eq!(
            findings(&snap, Code::ServiceBackendMissing),
            vec![],
            "{mode:?}"
        );
    }
}

#[test]
fn terminating_endpoints_kube_proxy_falls_back_to_are_not_stale() {
    let mut snap = healthy(Mode::Iptables);
    let slices = snap.k8s.endpoint_slices.as_mut().expect("slices");
    slices[0].endpoints.iter_mut().for_each(|e| e.ready = false);
    assert_eq!(findings(&snap, Code::ServiceStaleBackend), vec![]);
    // A target no live pod holds stays stale.
    let mut stale = snap.k8s.clone();
    let slices = stale.endpoint_slices.as_mut().expect("slices");
    slices[0].endpoints[0].addresses = vec!["10.244.2.99".parse().unwrap()];
    slices[0].endpoints[0].ready = true;
    program(&mut snap, "node-2", &stale, Mode::Iptables, &|t| t);
    let f = findings(&snap, Code::ServiceStaleBackend);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].summary.contains("1 of 1 new connections"),
        "{}",
        f[0].summary
    );
}

/// kube-proxy's session affinity rule (`sessionAffinity: ClientIP`,
/// proxier.go `writeServiceToEndpointRules`) in front of the first
/// Service chain's endpoint jumps.
fn with_session_affinity(text: String) -> String {
    let svc_rule = text
        .lines()
        .find(|l| l.starts_with("-A KUBE-SVC-") && l.contains("-j KUBE-SEP-"));
    let svc_rule = svc_rule.expect("a KUBE-SVC rule jumping to an endpoint");
    let chain = svc_rule.split_whitespace().nth(1).expect("chain");
    let sep = svc_rule
        .rsplit("-j ")
        .next()
        .expect("target")
        .split_whitespace()
        .next()
        .expect("sep");
    let affinity = format!("-A {chain} -m comment --comment \"affinity\" -m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j {sep}\n");
    let at = text.find(svc_rule).expect("rule in text");
    format!("{}{affinity}{}", &text[..at], &text[at..])
}

#[test]
fn ports_reaching_a_rule_cnictl_cannot_evaluate_are_skipped_not_judged() {
    let mut snap = healthy(Mode::Iptables);
    let k8s = snap.k8s.clone();
    program(
        &mut snap,
        "node-1",
        &k8s,
        Mode::Iptables,
        &with_session_affinity,
    );
    for code in [Code::ServiceBackendMissing, Code::ServiceRulesMissing] {
        assert_eq!(findings(&snap, code), vec![], "{code}");
        let s = skips(&snap, code);
        assert_eq!(s.len(), 1, "{code}: {s:#?}");
        assert!(s[0].reason.contains("1 Service port(s)"), "{}", s[0].reason);
    }
    assert_eq!(findings(&snap, Code::ServiceStaleBackend), vec![]);
}

#[test]
fn an_ipvs_node_without_ipvsadm_is_recognised_by_its_dummy_device() {
    let mut spec = GenSpec::new(GenModel::FlannelVxlan, 3);
    spec.pods_per_node = 2;
    spec.services = 3;
    let mut snap = generate(&spec).expect("generate");
    let mut some = snap.k8s.clone();
    some.services.as_mut().expect("services").truncate(1);
    // Rules that handle one Service only, as if kube-proxy wrote them.
    program(&mut snap, "node-1", &some, Mode::Iptables, &|t| t);
    snap.nodes.get_mut("node-1").expect("node").ipvs = None;
    assert_eq!(findings(&snap, Code::ServiceRulesMissing), vec![]);
    snap.nodes
        .get_mut("node-1")
        .expect("node")
        .links
        .retain(|l| l.name != "kube-ipvs0");
    assert_eq!(findings(&snap, Code::ServiceRulesMissing).len(), 2);
}
