//! node-address-mismatch: a node speaking from an address other than its
//! InternalIP, and the symptoms on its peers grouped under it.

#[path = "checks_builders.rs"]
mod builders;

use builders::*;
use cnictl_analyzers::checks;
use cnictl_analyzers::{Finding, Report, Severity};

const CODE: &str = "node-address-mismatch";

fn findings<'r>(r: &'r Report, code: &str) -> Vec<&'r Finding> {
    r.findings.iter().filter(|f| f.code == code).collect()
}

/// node-1 of a Flannel VXLAN cluster as autodetection on a Docker host
/// leaves it: docker0 (no ports) holds 172.17.0.1, flanneld annotated it as
/// the public IP and created flannel.1 with it, and the peers' FDB entries
/// for node-1's VTEP point at it.
fn docker0_flannel(n: usize) -> cnictl_model::ClusterSnapshot {
    let mut snap = cluster("flannel-vxlan", n);
    let k = snap
        .k8s
        .nodes
        .iter_mut()
        .find(|k| k.name == "node-1")
        .unwrap();
    let key = "flannel.alpha.coreos.com/public-ip";
    k.annotations.insert(key.into(), "172.17.0.1".into());
    let n1 = node_mut(&mut snap, "node-1");
    n1.links.push(link(9, "docker0", Some("bridge"), 1500));
    n1.addrs.push(addr(9, "docker0", "172.17.0.1/16"));
    let f = n1.links.iter_mut().find(|l| l.name == "flannel.1").unwrap();
    f.vxlan.as_mut().unwrap().local = Some(ip("172.17.0.1"));
    for j in 2..=n {
        let peer = node_mut(&mut snap, &format!("node-{j}"));
        let mut e = peer.fdb.as_mut().unwrap().iter_mut();
        let e = e.find(|e| e.mac == vtep_mac(1)).unwrap();
        e.dst = Some(ip("172.17.0.1"));
    }
    snap
}

#[test]
fn healthy_clusters_have_no_address_findings() {
    for model in [
        "flannel-vxlan",
        "flannel-host-gw",
        "calico-bgp",
        "calico-vxlan",
    ] {
        let r = checks::run(&cluster(model, 3));
        assert!(findings(&r, CODE).is_empty(), "{model}: {:#?}", r.findings);
    }
}

#[test]
fn docker0_address_is_the_root_of_the_peers_fdb_mismatches() {
    let r = checks::run(&docker0_flannel(3));
    let f = findings(&r, CODE);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].node.as_deref(), Some("node-1"));
    assert!(f[0].summary.contains("172.17.0.1"), "{}", f[0].summary);
    assert!(f[0].summary.contains("on docker0"), "{}", f[0].summary);
    assert!(f[0]
        .summary
        .contains("annotation flannel.alpha.coreos.com/public-ip"));
    assert!(f[0].summary.contains("flannel.1's VXLAN local address"));
    assert!(f[0].hint.contains("--iface"), "{}", f[0].hint);
    // The two peers' FDB mismatches are consequences, and the only root
    // with errors is node-1's address.
    let mismatches = findings(&r, "vxlan-fdb-mismatch");
    assert_eq!(mismatches.len(), 2, "{:#?}", r.findings);
    let roots: Vec<&Finding> = r.groups.iter().map(|g| &r.findings[g.root]).collect();
    let error_roots: Vec<_> = roots
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(error_roots, vec![CODE], "{:#?}", r.groups);
}

#[test]
fn an_address_on_another_nic_is_a_warning() {
    let mut snap = cluster("flannel-vxlan", 2);
    let k = snap
        .k8s
        .nodes
        .iter_mut()
        .find(|k| k.name == "node-2")
        .unwrap();
    let key = "flannel.alpha.coreos.com/public-ip";
    k.annotations.insert(key.into(), "198.51.100.12".into());
    let n2 = node_mut(&mut snap, "node-2");
    n2.links.push(link(9, "eth1", None, 1500));
    n2.addrs.push(addr(9, "eth1", "198.51.100.12/24"));
    let r = checks::run(&snap);
    let f = findings(&r, CODE);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].summary.contains("on eth1"), "{}", f[0].summary);
}

#[test]
fn a_calico_address_no_interface_holds_is_an_error() {
    let mut snap = cluster("calico-bgp", 2);
    let k = snap
        .k8s
        .nodes
        .iter_mut()
        .find(|k| k.name == "node-1")
        .unwrap();
    let key = "projectcalico.org/IPv4Address";
    k.annotations.insert(key.into(), "10.0.0.5/24".into());
    let r = checks::run(&snap);
    let f = findings(&r, CODE);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].summary.contains("no interface of node-1"),
        "{}",
        f[0].summary
    );
    assert!(
        f[0].hint.contains("IP_AUTODETECTION_METHOD"),
        "{}",
        f[0].hint
    );
}

#[test]
fn a_bgp_source_address_on_docker0_is_found() {
    let mut snap = cluster("calico-bgp", 2);
    let n1 = node_mut(&mut snap, "node-1");
    n1.links.push(link(9, "docker0", Some("bridge"), 1500));
    n1.addrs.push(addr(9, "docker0", "172.17.0.1/16"));
    let bgp = n1.bgp.as_mut().unwrap();
    let p = bgp.protocols.iter_mut().find(|p| p.is_bgp()).unwrap();
    p.source_address = Some(ip("172.17.0.1"));
    let r = checks::run(&snap);
    let f = findings(&r, CODE);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert!(f[0].summary.contains("source address"), "{}", f[0].summary);
    assert!(f[0].summary.contains("on docker0"), "{}", f[0].summary);
}
