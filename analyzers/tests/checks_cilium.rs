//! cilium-tunnel-missing: Cilium's own maps decide the tunnel, not routes.

#[path = "checks_builders.rs"]
mod builders;

use builders::*;
use cnictl_analyzers::{checks, Report};

const CODE: &str = "cilium-tunnel-missing";

fn hits(r: &Report) -> Vec<&cnictl_analyzers::Finding> {
    r.findings.iter().filter(|f| f.code == CODE).collect()
}

#[test]
fn complete_maps_give_no_finding() {
    for model in ["cilium-vxlan", "cilium-native"] {
        let r = checks::run(&cluster(model, 3));
        assert!(hits(&r).is_empty(), "{model}: {:#?}", r.findings);
    }
}

#[test]
fn a_peer_missing_from_ipcache_and_tunnel_map_is_reported_with_the_peer() {
    let mut snap = cluster("cilium-vxlan", 3);
    let c = node_mut(&mut snap, "node-1")
        .cilium
        .as_mut()
        .expect("state");
    let peer2 = |s: String| s.starts_with("10.244.2.");
    c.ipcache
        .as_mut()
        .expect("ipcache")
        .retain(|e| !peer2(e.prefix.to_string()));
    c.tunnel
        .as_mut()
        .expect("tunnel")
        .retain(|t| !peer2(t.prefix.to_string()));
    let r = checks::run(&snap);
    let h = hits(&r);
    assert_eq!(h.len(), 1, "{:#?}", r.findings);
    assert_eq!(h[0].node.as_deref(), Some("node-1"));
    assert_eq!(h[0].peers, vec!["node-2".to_string()]);
    assert!(
        h[0].evidence.iter().any(|e| e.contains("10.244.2.2")),
        "{:#?}",
        h[0]
    );
}

#[test]
fn a_tunnel_endpoint_naming_the_wrong_node_is_reported() {
    let mut snap = cluster("cilium-vxlan", 3);
    let c = node_mut(&mut snap, "node-1")
        .cilium
        .as_mut()
        .expect("state");
    for e in c.ipcache.as_mut().expect("ipcache") {
        if e.prefix.to_string() == "10.244.3.2/32" {
            e.tunnel_endpoint = Some(ip(&node_ip(2)));
        }
    }
    let h = hits(&checks::run(&snap))
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(h.len(), 1, "{h:#?}");
    assert!(
        h[0].evidence[0].contains("tunnelendpoint 192.0.2.12"),
        "{h:#?}"
    );
}

#[test]
fn without_the_ipcache_tunnel_mode_is_skipped_and_native_is_not_checked() {
    let mut snap = cluster("cilium-vxlan", 2);
    node_mut(&mut snap, "node-1").cilium = None;
    let r = checks::run(&snap);
    assert!(
        r.skipped.iter().any(|s| s.check == CODE),
        "{:#?}",
        r.skipped
    );
    let mut native = cluster("cilium-native", 2);
    node_mut(&mut native, "node-1").cilium = None;
    let r = checks::run(&native);
    assert!(
        !r.skipped.iter().any(|s| s.check == CODE),
        "{:#?}",
        r.skipped
    );
}
