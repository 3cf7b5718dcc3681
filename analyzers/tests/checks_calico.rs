//! Calico's custom resources in checks: the BGP sessions a route-reflector
//! topology calls for (bgp-session-down) and IPAM truth.

#[path = "checks_builders.rs"]
mod builders;

use builders::*;
use cnictl_analyzers::bgptopo::RR_ANNOTATION;
use cnictl_analyzers::{checks, Report, Severity};
use cnictl_model::{BgpConfiguration, BgpPeer, ClusterSnapshot};

fn problems(r: &Report) -> Vec<(String, Option<String>, String)> {
    r.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| (f.code.to_string(), f.node.clone(), f.summary.clone()))
        .collect()
}

/// calico-bgp with 4 nodes, node-1 the route reflector: clients keep only
/// their session to node-1 (BIRD still learns every block, reflected).
fn reflected(peer_selector: &str) -> ClusterSnapshot {
    let mut snap = cluster("calico-bgp", 4);
    let rr_ip = ip(&node_ip(1));
    for n in snap.k8s.nodes.iter_mut().filter(|n| n.name == "node-1") {
        n.annotations
            .insert(RR_ANNOTATION.into(), "244.0.0.1".into());
        n.labels.insert("route-reflector".into(), "true".into());
    }
    for i in 2..=4 {
        let bgp = node_mut(&mut snap, &format!("node-{i}"))
            .bgp
            .as_mut()
            .unwrap();
        bgp.protocols.retain(|p| p.neighbor_address == Some(rr_ip));
    }
    let c = &mut snap.k8s.calico;
    c.bgp_configurations = Some(vec![BgpConfiguration {
        name: "default".into(),
        node_to_node_mesh_enabled: Some(false),
        as_number: Some(64512),
    }]);
    c.bgp_peers = Some(vec![BgpPeer {
        name: "peer-with-route-reflectors".into(),
        node_selector: Some("all()".into()),
        peer_selector: Some(peer_selector.into()),
        ..BgpPeer::default()
    }]);
    snap
}

#[test]
fn a_healthy_reflector_topology_is_clean() {
    let snap = reflected("route-reflector == 'true'");
    assert_eq!(problems(&checks::run(&snap)), []);
}

#[test]
fn a_missing_client_session_is_found() {
    let mut snap = reflected("route-reflector == 'true'");
    node_mut(&mut snap, "node-3")
        .bgp
        .as_mut()
        .unwrap()
        .protocols
        .clear();
    let p = problems(&checks::run(&snap));
    let down: Vec<_> = p.iter().filter(|f| f.0 == "bgp-session-down").collect();
    assert_eq!(down.len(), 1, "{p:#?}");
    assert_eq!(down[0].1.as_deref(), Some("node-3"));
    assert!(
        down[0]
            .2
            .contains("to node-1 (192.0.2.11) is not configured"),
        "{}",
        down[0].2
    );
}

#[test]
fn a_down_reflector_session_is_found_and_a_stray_one_is_not_judged() {
    let mut snap = reflected("route-reflector == 'true'");
    let bgp = node_mut(&mut snap, "node-1").bgp.as_mut().unwrap();
    let p = bgp
        .protocols
        .iter_mut()
        .find(|p| p.neighbor_address == Some(ip(&node_ip(2))))
        .unwrap();
    p.state = "start".into();
    p.info = "Active        Socket: Connection refused".into();
    p.bgp_state = Some("Active".into());
    // A client↔client session Calico would not configure, down: not judged.
    let mut stray = p.clone();
    stray.neighbor_address = Some(ip(&node_ip(4)));
    node_mut(&mut snap, "node-3")
        .bgp
        .as_mut()
        .unwrap()
        .protocols
        .push(stray);
    let p = problems(&checks::run(&snap));
    let down: Vec<_> = p.iter().filter(|f| f.0 == "bgp-session-down").collect();
    assert_eq!(down.len(), 1, "{p:#?}");
    assert!(
        down[0]
            .2
            .contains("on node-1 to node-2 (192.0.2.12) is Active"),
        "{}",
        down[0].2
    );
}

#[test]
fn an_unsupported_selector_is_named_not_guessed() {
    let mut snap = reflected("route-reflector in {'true'}");
    node_mut(&mut snap, "node-3")
        .bgp
        .as_mut()
        .unwrap()
        .protocols
        .clear();
    let r = checks::run(&snap);
    assert!(problems(&r).iter().all(|f| f.0 != "bgp-session-down"));
    let skip = r
        .skipped
        .iter()
        .find(|s| s.check == "bgp-session-down")
        .expect("a skip");
    assert!(
        skip.reason.contains("route-reflector in {'true'}"),
        "{}",
        skip.reason
    );
}
