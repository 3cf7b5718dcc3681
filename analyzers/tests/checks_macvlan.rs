//! macvlan-host-unreachable: a node and its own macvlan/ipvlan pods.

#[path = "checks_builders.rs"]
mod builders;

use builders::*;
use cnictl_analyzers::{checks, Finding, Report, Severity};
use cnictl_model::{ClusterSnapshot, Pod, PodNetns};

const CODE: &str = "macvlan-host-unreachable";

/// node-1 of a Flannel cluster gets a pod `mv/db-1` whose eth0 is a
/// `kind` child of node-1's eth0 (ifindex 2) holding 192.0.2.101/24.
fn with_child(kind: &str) -> ClusterSnapshot {
    let mut snap = cluster("flannel-vxlan", 2);
    let mut eth0 = link(3, "eth0", Some(kind), 1500);
    eth0.peer_ifindex = Some(2);
    eth0.peer_netnsid = Some(0);
    let pod = PodNetns {
        namespace: "mv".into(),
        name: "db-1".into(),
        links: vec![eth0],
        addrs: vec![addr(3, "eth0", "192.0.2.101/24")],
        routes: vec![route("192.0.2.0/24", None, Some("eth0"))],
    };
    node_mut(&mut snap, "node-1")
        .pods
        .insert("mv/db-1".into(), pod);
    snap
}

fn hits(r: &Report) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.code == CODE).collect()
}

#[test]
fn a_secondary_macvlan_address_without_a_shim_is_a_warning() {
    let r = checks::run(&with_child("macvlan"));
    let f = hits(&r);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].summary
            .contains("mv/db-1 at 192.0.2.101 (macvlan on eth0)"),
        "{}",
        f[0].summary
    );
    assert!(
        f[0].evidence[1].contains("192.0.2.0/24"),
        "{:?}",
        f[0].evidence
    );
    assert!(f[0]
        .hint
        .contains("ip link add eth0-shim link eth0 type macvlan mode bridge"));
}

#[test]
fn the_pods_own_address_is_an_error_for_ipvlan_too() {
    let mut snap = with_child("ipvlan");
    snap.k8s.pods.push(Pod {
        namespace: "mv".into(),
        name: "db-1".into(),
        node: Some("node-1".into()),
        ips: vec![ip("192.0.2.101")],
        phase: "Running".into(),
        ..Pod::default()
    });
    let r = checks::run(&snap);
    let f = hits(&r);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].summary.contains("ipvlan on eth0"), "{}", f[0].summary);
    assert!(f[0].hint.contains("type ipvlan mode l2"), "{}", f[0].hint);
}

#[test]
fn a_shim_on_the_same_parent_makes_it_reachable() {
    let mut snap = with_child("macvlan");
    let n1 = node_mut(&mut snap, "node-1");
    let mut shim = link(20, "eth0-shim", Some("macvlan"), 1500);
    shim.peer_ifindex = Some(2);
    n1.links.push(shim);
    n1.routes
        .push(route("192.0.2.101/32", None, Some("eth0-shim")));
    let r = checks::run(&snap);
    assert!(hits(&r).is_empty(), "{:#?}", r.findings);
    // A macvlan device on another parent is no shim for this one.
    let n1 = node_mut(&mut snap, "node-1");
    n1.links
        .iter_mut()
        .find(|l| l.name == "eth0-shim")
        .unwrap()
        .peer_ifindex = Some(1);
    assert_eq!(hits(&checks::run(&snap)).len(), 1);
}

#[test]
fn veth_pods_are_not_concerned() {
    let r = checks::run(&cluster("flannel-vxlan", 3));
    assert!(hits(&r).is_empty());
}
