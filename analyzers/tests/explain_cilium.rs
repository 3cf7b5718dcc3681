//! explain from Cilium's own state: endpoint → ipcache → tunnel / native
//! route → endpoint, every hop marked `cilium` and inferred; unknown where
//! the maps do not decide.

#[path = "checks_builders.rs"]
mod builders;

use std::path::PathBuf;

use builders::*;
use cnictl_analyzers::explain::{explain, render_text, ExplainRequest, Explanation, Verdict};
use cnictl_analyzers::hints;
use cnictl_model::ClusterSnapshot;

fn run(snap: &ClusterSnapshot, src: &str, dst: &str) -> Explanation {
    let dp = hints::dataplane(snap);
    explain(snap, &dp, &ExplainRequest::new(src, dst)).expect("explains")
}

fn fixture(name: &str) -> ClusterSnapshot {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    cnictl_collect::bundle::load_dir(&dir).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn kinds(ex: &Explanation) -> Vec<&str> {
    ex.hops.iter().map(|h| h.kind.as_str()).collect()
}

#[test]
fn vxlan_fixture_tunnels_by_the_ipcache_to_the_destination_node() {
    let ex = run(&fixture("cilium-vxlan"), "default/web-1", "default/api-2");
    assert_eq!(ex.verdict, Verdict::Delivered, "{}", render_text(&ex));
    assert_eq!(kinds(&ex), ["cilium"; 4]);
    assert!(ex.hops.iter().all(|h| h.inferred));
    let encap = &ex.hops[2];
    assert_eq!(encap.out_dev.as_deref(), Some("cilium_vxlan"));
    assert!(encap.entry.contains("192.0.2.12"), "{}", encap.entry);
    assert!(render_text(&ex).contains("(from Cilium's ipcache)"));
    assert_eq!(ex.hops[3].node, "node-2");
}

#[test]
fn native_fixture_follows_the_kernel_route_to_the_peer() {
    let ex = run(&fixture("cilium-native"), "default/web-1", "default/api-2");
    assert_eq!(ex.verdict, Verdict::Delivered, "{}", render_text(&ex));
    assert!(
        ex.hops[2].entry.contains("via 192.0.2.12 dev eth0"),
        "{:?}",
        ex.hops
    );
    assert_eq!(ex.hops[3].node, "node-2");
}

#[test]
fn broken_fixture_drops_with_the_tunnel_finding() {
    let snap = fixture("cilium-vxlan-broken-cilium-tunnel-missing");
    let ex = run(&snap, "default/web-1", "default/api-2");
    let d = ex.drop.as_ref().expect("dropped");
    assert_eq!(d.code.map(|c| c.as_str()), Some("cilium-tunnel-missing"));
    assert_eq!(d.node, "node-1");
    // node-3 still reaches node-2.
    let ok = run(&snap, "default/web-3", "default/api-2");
    assert_eq!(ok.verdict, Verdict::Delivered, "{}", render_text(&ok));
}

#[test]
fn enforced_policy_is_unknown_naming_the_policy_map() {
    let mut snap = cluster("cilium-vxlan", 2);
    let c = node_mut(&mut snap, "node-2")
        .cilium
        .as_mut()
        .expect("state");
    for e in c.endpoints.as_mut().expect("endpoints") {
        e.policy_enabled = Some("ingress".into());
    }
    let ex = run(&snap, "default/pod-1-0", "default/pod-2-1");
    assert_eq!(ex.verdict, Verdict::Unknown, "{}", render_text(&ex));
    let why = &ex.unknown.as_ref().expect("unknown").reason;
    assert!(why.contains("bpf policy get"), "{why}");
}

#[test]
fn an_endpoint_not_ready_or_state_not_collected_is_unknown() {
    let mut snap = cluster("cilium-native", 2);
    let c = node_mut(&mut snap, "node-1")
        .cilium
        .as_mut()
        .expect("state");
    c.endpoints.as_mut().expect("endpoints")[0].state = "waiting-for-identity".into();
    let ex = run(&snap, "default/pod-1-0", "default/pod-2-0");
    assert_eq!(ex.verdict, Verdict::Unknown);
    assert!(ex
        .unknown
        .as_ref()
        .expect("why")
        .reason
        .contains("not ready"));
    node_mut(&mut snap, "node-1").cilium = None;
    let ex = run(&snap, "default/pod-1-0", "default/pod-2-0");
    assert_eq!(ex.verdict, Verdict::Unknown, "{}", render_text(&ex));
    let why = &ex.unknown.as_ref().expect("why").reason;
    assert!(why.contains("cilium/endpoints.json"), "{why}");
}

#[test]
fn a_tunnel_to_the_wrong_node_is_a_drop() {
    let mut snap = cluster("cilium-vxlan", 3);
    let c = node_mut(&mut snap, "node-1")
        .cilium
        .as_mut()
        .expect("state");
    for e in c.ipcache.as_mut().expect("ipcache") {
        if e.prefix.to_string() == "10.244.2.2/32" {
            e.tunnel_endpoint = Some(ip(&node_ip(3)));
        }
    }
    let ex = run(&snap, "default/pod-1-0", "default/pod-2-0");
    let d = ex.drop.as_ref().expect("dropped");
    assert!(d.reason.contains("not to node-2"), "{}", d.reason);
}

#[test]
fn weave_beyond_the_bridge_is_unknown_and_said_by_model_and_check() {
    let snap = cluster("weave", 2);
    let ex = run(&snap, "default/pod-1-0", "default/pod-2-0");
    assert_eq!(ex.verdict, Verdict::Unknown, "{}", render_text(&ex));
    let why = &ex.unknown.as_ref().expect("why").reason;
    assert!(why.contains("weave router"), "{why}");
    assert!(ex.hops.iter().all(|h| h.node == "node-1"), "{:?}", ex.hops);
    let report = cnictl_analyzers::checks::run(&snap);
    assert!(
        report.notes.iter().any(|n| n.contains("weave router")),
        "{:?}",
        report.notes
    );
    let inf = cnictl_analyzers::infer::infer(&snap);
    assert!(inf.per_node[0]
        .evidence
        .iter()
        .any(|e| e.starts_with("not modelled:")));
    // Same node: the bridge alone decides, as traced.
    let local = run(&snap, "default/pod-1-0", "default/pod-1-1");
    assert_ne!(local.verdict, Verdict::Unknown, "{}", render_text(&local));
}

#[test]
fn a_service_from_a_cilium_pod_is_unknown_without_kernel_leftovers() {
    let ex = run(&fixture("cilium-vxlan"), "default/web-1", "svc/default/web");
    assert_eq!(ex.verdict, Verdict::Unknown, "{}", render_text(&ex));
    assert!(ex.backends.is_empty() && ex.delivered_share.is_none());
    assert_eq!(ex.unknown.as_ref().expect("why").hop, 1);
    assert!(ex.unknown.as_ref().expect("why").reason.contains("bpf lb"));
}
