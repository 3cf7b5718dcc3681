//! explain on snapshots built in code (the dataplane's fixture DSL): SRC/DST
//! resolution, the JSON contract, finding codes for each kind of drop, the
//! text view, services and `--reverse`.

#[path = "../../dataplane/tests/common/mod.rs"]
mod common;

use cnictl_analyzers::explain::{
    explain, parse_proto, render_text, ExplainError, ExplainRequest, Explanation, Verdict,
};
use cnictl_analyzers::hints;
use cnictl_gen::{generate, GenModel, GenSpec};

/// Two Flannel-VXLAN nodes; `a_extra` is appended to node a.
fn flannel(a_neigh: bool, a_fdb: bool, a_extra: &str) -> String {
    let neigh = if a_neigh {
        "neigh 10.244.2.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:02 PERMANENT"
    } else {
        "neigh 192.0.2.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE"
    };
    let fdb = if a_fdb {
        "fdb 0a:0a:0a:0a:0a:02 dev flannel.1 dst 192.0.2.12 self permanent"
    } else {
        "fdb 0a:0a:0a:0a:0a:77 dev flannel.1 dst 192.0.2.77 self permanent"
    };
    format!(
        "
node a
internal-ip 192.0.2.11
link eth0
link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:01
vxlan flannel.1 vni 1 port 8472 local 192.0.2.11
link cni0 kind bridge mtu 1450
addr 192.0.2.11/24 dev eth0
addr 10.244.1.0/32 dev flannel.1
addr 10.244.1.1/24 dev cni0
route default via 192.0.2.1 dev eth0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11
route 10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
{neigh}
{fdb}
sysctl net.ipv4.ip_forward=1
pod default/web 10.244.1.2
pod default/api 10.244.1.3
{a_extra}
node b
internal-ip 192.0.2.12
link eth0
link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:02
vxlan flannel.1 vni 1 port 8472 local 192.0.2.12
link cni0 kind bridge mtu 1450
addr 192.0.2.12/24 dev eth0
addr 10.244.2.0/32 dev flannel.1
addr 10.244.2.1/24 dev cni0
route default via 192.0.2.1 dev eth0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.12
route 10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1
route 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
neigh 10.244.1.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:01 PERMANENT
fdb 0a:0a:0a:0a:0a:01 dev flannel.1 dst 192.0.2.11 self permanent
sysctl net.ipv4.ip_forward=1
pod default/db 10.244.2.2
pod other/web 10.244.2.3
service default/db 10.96.0.20 tcp:5432
"
    )
}

fn run(text: &str, req: &ExplainRequest) -> Result<Explanation, ExplainError> {
    let fx = common::parse(text);
    let dp = hints::dataplane(&fx.snap);
    explain(&fx.snap, &dp, req)
}

fn ok(text: &str, src: &str, dst: &str) -> Explanation {
    run(text, &ExplainRequest::new(src, dst)).expect("explain")
}

/// The explain JSON contract (README "Explain"): verdict, non-empty hops, drop when dropped.
fn assert_contract(ex: &Explanation) {
    let v = serde_json::to_value(ex).expect("serialize");
    let verdict = v["verdict"].as_str().expect("verdict");
    assert!(["delivered", "dropped", "unknown"].contains(&verdict));
    assert_eq!(
        verdict == "unknown",
        v.get("unknown").is_some(),
        "unknown iff unknown: {v:#}"
    );
    assert!(v["netfilter"].is_array(), "netfilter hooks listed: {v:#}");
    assert!(!v["hops"].as_array().expect("hops").is_empty());
    assert_eq!(
        verdict == "dropped",
        v.get("drop").is_some(),
        "drop iff dropped: {v:#}"
    );
    if let Some(d) = v.get("drop") {
        for k in ["hop", "disposition", "reason", "code", "hint"] {
            assert!(d.get(k).is_some(), "drop.{k} present: {d:#}");
        }
        assert_eq!(
            d["hop"].as_u64().unwrap() as usize,
            v["hops"].as_array().unwrap().len(),
            "drop.hop is the last hop"
        );
    }
}

fn code(ex: &Explanation) -> &'static str {
    ex.drop
        .as_ref()
        .and_then(|d| d.code.map(cnictl_analyzers::Code::as_str))
        .unwrap_or("-")
}

#[test]
fn cross_node_vxlan_path_is_delivered_with_encap_and_decap() {
    let ex = ok(&flannel(true, true, ""), "default/web", "db");
    assert_contract(&ex);
    assert_eq!(ex.verdict, Verdict::Delivered);
    let rewrites: Vec<&str> = ex
        .hops
        .iter()
        .filter_map(|h| h.rewrite.as_deref())
        .collect();
    assert_eq!(
        rewrites,
        [
            "vxlan encap: outer 192.0.2.11 → 192.0.2.12 udp dport 8472 vni 1 (size 134)",
            "vxlan decap (vni 1)"
        ]
    );
    assert!(
        ex.hops[0].inferred
            && ex
                .notes
                .iter()
                .any(|n| n.contains("netns was not collected"))
    );
    let idx: Vec<usize> = ex.hops.iter().map(|h| h.index).collect();
    assert_eq!(idx, (1..=ex.hops.len()).collect::<Vec<_>>());
}

#[test]
fn same_node_path_stays_on_the_bridge() {
    let ex = ok(&flannel(true, true, ""), "default/web", "default/api");
    assert_eq!(ex.verdict, Verdict::Delivered);
    assert!(ex.hops.iter().all(|h| h.node == "a"));
}

#[test]
fn missing_fdb_maps_to_vxlan_fdb_missing() {
    let ex = ok(&flannel(true, false, ""), "default/web", "default/db");
    assert_contract(&ex);
    assert_eq!(
        (ex.verdict, ex.disposition.as_str(), code(&ex)),
        (Verdict::Dropped, "fdb-missing", "vxlan-fdb-missing")
    );
    assert!(ex.drop.as_ref().unwrap().hint.contains("bridge fdb append"));
}

#[test]
fn missing_neighbour_maps_to_vxlan_neigh_missing() {
    let ex = ok(&flannel(false, true, ""), "default/web", "default/db");
    assert_eq!(
        (ex.disposition.as_str(), code(&ex)),
        ("neighbour-unresolved", "vxlan-neigh-missing")
    );
}

#[test]
fn blackhole_maps_to_route_shadowed() {
    let ex = ok(
        &flannel(true, true, "route blackhole 10.244.2.0/25"),
        "default/web",
        "default/db",
    );
    assert_eq!(
        (ex.disposition.as_str(), code(&ex)),
        ("null-routed", "route-shadowed")
    );
    assert!(ex
        .drop
        .as_ref()
        .unwrap()
        .reason
        .contains("blackhole 10.244.2.0/25"));
}

#[test]
fn missing_pod_route_leaves_the_cluster() {
    let text = flannel(true, true, "").replace(
        "route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\n",
        "",
    );
    let ex = ok(&text, "default/web", "default/db");
    assert_eq!(
        (ex.disposition.as_str(), code(&ex)),
        ("left-cluster", "missing-pod-route")
    );
    assert!(ex.drop.as_ref().unwrap().reason.contains("192.0.2.1"));
}

#[test]
fn oversized_packet_maps_to_mtu_mismatch_and_no_df_passes() {
    let text = flannel(true, true, "");
    let mut req = ExplainRequest::new("default/web", "default/db");
    req.size = Some(1500);
    let ex = run(&text, &req).unwrap();
    assert_eq!(
        (ex.disposition.as_str(), code(&ex)),
        ("mtu-exceeded", "mtu-mismatch")
    );
    req.no_df = true;
    assert_eq!(run(&text, &req).unwrap().verdict, Verdict::Delivered);
}

#[test]
fn ip_forward_off_maps_to_its_code() {
    let text = flannel(true, true, "").replace(
        "sysctl net.ipv4.ip_forward=1\npod default/db",
        "sysctl net.ipv4.ip_forward=0\npod default/db",
    );
    let ex = ok(&text, "default/web", "default/db");
    assert_eq!(
        (ex.disposition.as_str(), code(&ex)),
        ("ip-forward-disabled", "ip-forward-disabled")
    );
    assert_eq!(ex.drop.as_ref().unwrap().node, "b");
}

#[test]
fn gateway_off_subnet_maps_to_next_hop_not_adjacent() {
    let text = flannel(true, true, "").replace(
        "route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
        "route 10.244.2.0/24 via 198.51.100.12 dev eth0",
    );
    let ex = ok(&text, "default/web", "default/db");
    assert_eq!(
        (ex.disposition.as_str(), code(&ex)),
        ("no-route", "next-hop-not-adjacent")
    );
}

#[test]
fn ambiguous_and_unknown_names_are_errors() {
    let text = flannel(true, true, "");
    match run(&text, &ExplainRequest::new("web", "default/db")) {
        Err(ExplainError::Ambiguous { candidates, .. }) => {
            assert_eq!(candidates, ["default/web", "other/web"])
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    let err = run(&text, &ExplainRequest::new("default/nope", "default/db")).unwrap_err();
    assert_eq!(err.code(), "unknown_endpoint");
    assert!(err.to_string().contains("default/nope"));
    assert!(matches!(
        run(&text, &ExplainRequest::new("svc/default/db", "default/web")),
        Err(ExplainError::ServiceAsSource(_))
    ));
    assert!(matches!(
        run(
            &text,
            &ExplainRequest::new("default/web", "svc/default/db:99")
        ),
        Err(ExplainError::NoSuchPort { .. })
    ));
    assert!(parse_proto("sctp").is_err() && parse_proto("UDP").is_ok());
}

#[test]
fn ips_resolve_to_pods_and_nodes() {
    let ex = ok(&flannel(true, true, ""), "10.244.1.2", "192.0.2.12");
    assert_eq!(ex.src.pod.as_deref(), Some("default/web"));
    assert_eq!(ex.dst.node.as_deref(), Some("b"));
    assert_eq!(ex.verdict, Verdict::Delivered);
}

#[test]
fn external_destination_leaves_the_cluster_without_a_drop() {
    let ex = ok(&flannel(true, true, ""), "default/web", "8.8.8.8");
    assert_eq!(ex.verdict, Verdict::Delivered);
    assert!(ex.notes.iter().any(|n| n.contains("outside the cluster")));
}

#[test]
fn service_without_ipvs_service_is_ipvs_service_missing() {
    let text = flannel(
        true,
        true,
        "link kube-ipvs0 kind dummy\naddr 10.96.0.20/32 dev kube-ipvs0",
    );
    let ex = ok(&text, "default/web", "svc/default/db");
    assert_contract(&ex);
    assert_eq!(code(&ex), "ipvs-service-missing");
    assert_eq!(ex.packet.dport, Some(5432));
}

#[test]
fn service_backends_are_each_traced() {
    let text = flannel(true, true, "link kube-ipvs0 kind dummy\naddr 10.96.0.20/32 dev kube-ipvs0\nipvs tcp 10.96.0.20:5432 -> 10.244.2.2:5432 10.244.2.9:5432");
    let ex = ok(&text, "default/web", "svc/default/db:5432");
    assert_contract(&ex);
    assert_eq!(ex.backends.len(), 2);
    assert_eq!(ex.backends[0].verdict, Verdict::Delivered);
    assert_eq!(ex.backends[1].verdict, Verdict::Dropped);
    assert_eq!(ex.verdict, Verdict::Dropped);
    assert!(ex
        .hops
        .iter()
        .any(|h| h.rewrite.as_deref()
            == Some("DNAT → 10.244.2.9:5432 (SNAT/masquerade not modelled)")));
    assert!(render_text(&ex).contains("10.244.2.2:5432 (default/db): delivered"));
}

#[test]
fn service_without_ipvs_table_uses_endpoint_slices() {
    let text = flannel(true, true, "") + "endpoints default/db 5432 10.244.2.2 10.244.1.3\n";
    let ex = ok(&text, "default/web", "svc/default/db");
    assert_contract(&ex);
    assert_eq!(ex.verdict, Verdict::Delivered, "{}", render_text(&ex));
    let ips: Vec<String> = ex
        .backends
        .iter()
        .map(|b| format!("{}:{}", b.ip, b.port))
        .collect();
    assert_eq!(ips, ["10.244.1.3:5432", "10.244.2.2:5432"]);
    assert!(ex.notes.iter().any(|n| n.contains("EndpointSlice")));
    assert_eq!(ex.hops[0].index, 1);
}

#[test]
fn reverse_is_traced_and_symmetric_paths_say_so() {
    let mut req = ExplainRequest::new("default/web", "default/db");
    req.reverse = true;
    let ex = run(&flannel(true, true, ""), &req).unwrap();
    let back = ex.reverse.as_ref().expect("reverse");
    assert_eq!(back.verdict, Verdict::Delivered);
    assert_eq!(back.src.pod.as_deref(), Some("default/db"));
    assert_eq!(ex.asymmetric, Some(false));
}

#[test]
fn reverse_flags_an_asymmetric_return_path() {
    let text = flannel(true, true, "").replace("route 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink\n", "route 10.244.1.0/24 via 192.0.2.13 dev eth0\n")
        + "node c\ninternal-ip 192.0.2.13\nlink eth0\naddr 192.0.2.13/24 dev eth0\nroute 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.13\nroute 10.244.1.0/24 via 192.0.2.11 dev eth0\n";
    let mut req = ExplainRequest::new("default/web", "default/db");
    req.reverse = true;
    let ex = run(&text, &req).unwrap();
    assert_eq!(ex.asymmetric, Some(true), "{}", render_text(&ex));
    assert!(
        ex.notes
            .iter()
            .any(|n| n.starts_with("asymmetric: out via [a, b], back via [a, c, b]")),
        "{:?}",
        ex.notes
    );
    let back = ex.reverse.as_ref().unwrap();
    assert!(back.notes.iter().any(|n| n.contains("detours via node c")));
}

#[test]
fn text_view_numbers_hops_and_ends_with_the_verdict() {
    let ex = ok(&flannel(true, false, ""), "default/web", "default/db");
    let text = render_text(&ex);
    assert!(text.starts_with("explain default/web (10.244.1.2, a) → default/db (10.244.2.2, b): icmp, 84 bytes, DF\n"), "{text}");
    assert!(
        text.contains("  1. [a pod default/web out eth0] route: default via 10.244.1.1 dev eth0"),
        "{text}"
    );
    assert!(text.contains("verdict: DROPPED at hop"), "{text}");
    assert!(
        text.contains(
            "  finding: no matching finding on a (the drop is of the vxlan-fdb-missing kind"
        ) && text.contains("\n  hint: add `bridge fdb append"),
        "{text}"
    );
}

#[test]
fn every_generated_model_explains_pod_to_pod_and_service() {
    for model in GenModel::ALL {
        let snap = generate(&GenSpec {
            model,
            nodes: 3,
            pods_per_node: 2,
            services: 1,
        })
        .expect("generate");
        let dp = hints::dataplane(&snap);
        let pods = &snap.k8s.pods;
        let (a, b) = (pods.first().unwrap().key(), pods.last().unwrap().key());
        let ex = explain(&snap, &dp, &ExplainRequest::new(a.clone(), b)).expect("explain");
        assert_contract(&ex);
        assert_eq!(
            ex.verdict,
            Verdict::Delivered,
            "{model}\n{}",
            render_text(&ex)
        );
        let svc = snap.k8s.services.as_ref().unwrap()[0].key();
        let ex = explain(&snap, &dp, &ExplainRequest::new(a, format!("svc/{svc}")))
            .expect("explain svc");
        assert_contract(&ex);
        assert!(!ex.backends.is_empty(), "{model}\n{}", render_text(&ex));
    }
}

// ---- netfilter -----------------------------------------------------------

/// `flannel` with iptables-save lines on node b (after its sysctl line).
fn flannel_b_rules(rules: &str) -> String {
    let lines: String = rules
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("iptables {l}\n"))
        .collect();
    flannel(true, true, "").replacen(
        "sysctl net.ipv4.ip_forward=1\npod default/db",
        &format!("sysctl net.ipv4.ip_forward=1\n{lines}pod default/db"),
        1,
    )
}

#[test]
fn a_forward_drop_policy_is_a_netfilter_forward_drop_naming_the_policy() {
    let text = flannel_b_rules("*filter\n:FORWARD DROP [0:0]\nCOMMIT");
    let ex = ok(&text, "default/web", "default/db");
    assert_contract(&ex);
    assert_eq!(
        (ex.verdict, ex.disposition.as_str()),
        (Verdict::Dropped, "netfilter-drop")
    );
    assert_eq!(code(&ex), "netfilter-forward-drop");
    let hop = ex.hops.last().unwrap();
    assert_eq!(hop.kind, "netfilter");
    let nf = hop.netfilter.as_ref().expect("netfilter detail");
    assert_eq!(
        (
            nf.hook,
            nf.table.as_str(),
            nf.chain.as_str(),
            nf.rule.as_deref(),
            nf.action
        ),
        ("forward", "filter", "FORWARD", None, "drop")
    );
    assert_eq!(
        (nf.backend, nf.source),
        ("iptables-nft", "iptables-save.txt")
    );
    let text_view = render_text(&ex);
    assert!(
        text_view.contains("ip filter FORWARD policy DROP"),
        "{text_view}"
    );
    // Node a's rules were not collected: the answer says so.
    assert!(
        ex.notes.iter().any(|n| n.contains("not collected on a")),
        "{:?}",
        ex.notes
    );
}

#[test]
fn a_firewall_on_the_vxlan_port_is_netfilter_blocks_overlay() {
    let text = flannel_b_rules(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 8472 -m comment --comment \"block vxlan\" -j DROP\nCOMMIT",
    );
    let ex = ok(&text, "default/web", "default/db");
    assert_contract(&ex);
    assert_eq!(code(&ex), "netfilter-blocks-overlay");
    let nf = ex.hops.last().unwrap().netfilter.clone().unwrap();
    assert_eq!(
        (nf.hook, nf.chain.as_str(), nf.position),
        ("input", "INPUT", Some(1))
    );
    assert_eq!(nf.comment.as_deref(), Some("block vxlan"));
}

#[test]
fn a_rule_cnictl_cannot_evaluate_is_an_unknown_verdict_naming_it() {
    let text = flannel_b_rules(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m u32 --u32 \"0>>22&0x3C@4>>16=0x1F90\" -j DROP\nCOMMIT",
    );
    let ex = ok(&text, "default/web", "default/db");
    assert_contract(&ex);
    assert_eq!(
        (ex.verdict, ex.disposition.as_str()),
        (Verdict::Unknown, "unknown")
    );
    let u = ex.unknown.as_ref().unwrap();
    assert_eq!(u.node, "b");
    assert!(u.reason.contains("-m u32"), "{}", u.reason);
    assert!(render_text(&ex).contains("verdict: UNKNOWN"));
}

#[test]
fn verbose_lists_every_rule_evaluated_and_plain_does_not() {
    let text = flannel_b_rules(
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.244.9.0/24 -j ACCEPT\n-A FORWARD -d 10.244.2.0/24 -j ACCEPT\nCOMMIT",
    );
    let mut req = ExplainRequest::new("default/web", "default/db");
    let plain = run(&text, &req).unwrap();
    assert_eq!(plain.verdict, Verdict::Delivered);
    assert!(plain.netfilter.iter().all(|h| h.evaluated.is_none()));
    req.verbose = true;
    let verbose = run(&text, &req).unwrap();
    let fwd = verbose
        .netfilter
        .iter()
        .find(|h| h.node == "b" && h.hook == "forward")
        .expect("node b forward");
    let rules: Vec<_> = fwd
        .evaluated
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| (r.rule.position, r.matched))
        .collect();
    assert_eq!(rules, [(Some(1), Some(false)), (Some(2), Some(true))]);
}

#[test]
fn reverse_traces_the_reply_as_established() {
    // Node b forwards new connections only outward; replies pass by state.
    let text = flannel_b_rules(
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -i cni0 -j ACCEPT\nCOMMIT",
    );
    let mut req = ExplainRequest::new("default/db", "default/web");
    req.reverse = true;
    let ex = run(&text, &req).unwrap();
    assert_eq!(ex.verdict, Verdict::Delivered, "{}", render_text(&ex));
    assert_eq!(ex.reverse.as_ref().unwrap().verdict, Verdict::Delivered);
    let first = ok(&text, "default/web", "default/db");
    assert_eq!(
        first.verdict,
        Verdict::Dropped,
        "a new connection into b's pods is dropped"
    );
}

#[test]
fn a_path_that_needs_uncollected_data_is_unknown_not_dropped() {
    // Node b's neighbour table was not collected: whether b reaches a's
    // VTEP cannot be known, and the answer says so instead of "dropped".
    let text = flannel(true, true, "").replace(
        "neigh 10.244.1.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:01 PERMANENT\n",
        "",
    );
    let ex = ok(&text, "default/db", "default/web");
    assert_contract(&ex);
    assert_eq!(ex.verdict, Verdict::Unknown, "{}", render_text(&ex));
    assert_eq!(ex.disposition, "insufficient-info");
    let u = ex.unknown.as_ref().unwrap();
    assert_eq!(u.node, "b");
    assert!(
        u.reason.contains("ip-neigh.json was not collected"),
        "{}",
        u.reason
    );
    assert!(ex.drop.is_none());
}

#[test]
fn a_finding_about_another_rule_is_not_attached_to_a_netfilter_drop() {
    use cnictl_analyzers::{Code, Finding, Severity};
    let text = flannel_b_rules("*filter\n:FORWARD DROP [0:0]\nCOMMIT");
    let ex = ok(&text, "default/web", "default/db");
    let finding = |node: &str, evidence: &str| Finding {
        code: Code::NetfilterForwardDrop,
        severity: Severity::Error,
        node: Some(node.into()),
        summary: "forward drop".into(),
        evidence: vec![evidence.into()],
        hint: String::new(),
        peers: vec![],
    };
    let other_rule = [finding(
        "b",
        "filter FORWARD #2: -A FORWARD -d 10.0.0.0/8 -j DROP",
    )];
    assert!(cnictl_analyzers::explain::matching_finding(&ex, &other_rule).is_none());
    let off_path = [finding("c", ":FORWARD DROP [0:0]")];
    assert!(cnictl_analyzers::explain::matching_finding(&ex, &off_path).is_none());
    let same = [finding("b", ":FORWARD DROP [0:0]")];
    assert!(cnictl_analyzers::explain::matching_finding(&ex, &same).is_some());
    assert!(render_text(&ex).contains("no matching finding on b"));
}

#[test]
fn reverse_does_not_call_a_dropped_direction_asymmetric() {
    // The way out dies at node a (no FDB entry); the way back is fine.
    // The paths differ because one was cut short, not because the return
    // is routed differently.
    let mut req = ExplainRequest::new("default/web", "default/db");
    req.reverse = true;
    let ex = run(&flannel(true, false, ""), &req).unwrap();
    assert_eq!(ex.verdict, Verdict::Dropped);
    assert_eq!(ex.asymmetric, None);
    assert!(
        !ex.notes.iter().any(|n| n.starts_with("asymmetric")),
        "{:?}",
        ex.notes
    );
    assert!(ex
        .notes
        .iter()
        .any(|n| n.contains("asymmetry not assessed")));
}

#[test]
fn an_address_no_pod_has_is_dropped_without_blaming_the_dataplane() {
    let text = flannel(true, true, "").replace(
        "internal-ip 192.0.2.12\n",
        "internal-ip 192.0.2.12\npod-cidr 10.244.2.0/24\n",
    );
    let ex = ok(&text, "default/web", "10.244.2.99");
    assert_contract(&ex);
    assert_eq!(ex.verdict, Verdict::Dropped);
    let d = ex.drop.as_ref().unwrap();
    assert_eq!(d.code, None, "no fault code for an unused address");
    assert!(d.reason.contains("no pod has it"), "{}", d.reason);
    assert!(d.hint.contains("no pod has 10.244.2.99"), "{}", d.hint);
}

#[test]
fn a_cluster_ip_typed_as_an_ip_is_explained_as_its_service() {
    let text = flannel(true, true, "") + "endpoints default/db 5432 10.244.2.2\n";
    let ex = ok(&text, "default/web", "10.96.0.20");
    assert_ne!(ex.disposition, "left-cluster");
    assert_eq!(
        ex.dst.kind,
        cnictl_analyzers::explain::EndpointKind::Service
    );
    assert_eq!(ex.dst.spec, "10.96.0.20");
    assert!(
        ex.notes[0].contains("10.96.0.20 is a Service's ClusterIP: explained as svc/default/db"),
        "{:?}",
        ex.notes
    );
    assert!(
        ex.backends.iter().any(|b| b.ip.to_string() == "10.244.2.2"),
        "{ex:#?}"
    );
}

#[test]
fn unknown_names_suggest_the_closest_pod_node_or_service() {
    let text = flannel(true, true, "");
    let err = |dst: &str| {
        run(&text, &ExplainRequest::new("default/web", dst))
            .unwrap_err()
            .to_string()
    };
    assert!(
        err("default/wbe").ends_with("did you mean \"default/web\"?"),
        "{}",
        err("default/wbe")
    );
    // A Service typed without svc/.
    assert!(err("db-svc").contains("did you mean") || !err("db-svc").is_empty());
    let svc = err("default/db-x");
    assert!(svc.contains("did you mean"), "{svc}");
    assert!(!err("zzzzzzzz").contains("did you mean"));
}
