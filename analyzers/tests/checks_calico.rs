//! Calico's custom resources in checks: the BGP sessions a route-reflector
//! topology calls for (bgp-session-down) and IPAM truth.

#[path = "checks_builders.rs"]
mod builders;

use builders::*;
use cnictl_analyzers::bgptopo::RR_ANNOTATION;
use cnictl_analyzers::{checks, Report, Severity};
use cnictl_model::{
    BgpConfiguration, BgpPeer, BlockAffinity, ClusterSnapshot, IpPool, NextHop, Protocol, Route,
    RouteType,
};

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

fn codes_on(r: &Report, code: &str) -> Vec<(Option<String>, String)> {
    let hits = r.findings.iter().filter(|f| f.code == code);
    hits.map(|f| (f.node.clone(), f.summary.clone())).collect()
}

fn pool(cidr: &str, disabled: bool) -> IpPool {
    IpPool {
        name: format!("pool-{cidr}"),
        cidr: net(cidr),
        block_size: Some(26),
        ipip_mode: None,
        vxlan_mode: None,
        nat_outgoing: true,
        disabled,
        node_selector: None,
    }
}

#[test]
fn a_blackhole_for_another_nodes_block_is_a_leaked_affinity() {
    let healthy = cluster("calico-bgp", 3);
    assert_eq!(codes_on(&checks::run(&healthy), "ipam-leaked-affinity"), []);
    let mut snap = healthy;
    let mut bh = Route::unicast(net(&block(2)));
    bh.route_type = RouteType::Blackhole;
    bh.protocol = Protocol::BIRD;
    node_mut(&mut snap, "node-3").routes.push(bh);
    let f = codes_on(&checks::run(&snap), "ipam-leaked-affinity");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0.as_deref(), Some("node-3"));
    assert!(
        f[0].1
            .contains("blackholes block 10.244.2.0/26, which belongs to node-2"),
        "{}",
        f[0].1
    );
}

#[test]
fn an_empty_block_is_judged_by_its_affinity_only() {
    let mut snap = cluster("calico-bgp", 3);
    snap.k8s
        .pods
        .retain(|p| p.node.as_deref() != Some("node-2") || p.host_network);
    let mut bh = Route::unicast(net(&block(2)));
    bh.route_type = RouteType::Blackhole;
    bh.protocol = Protocol::BIRD;
    node_mut(&mut snap, "node-3").routes.push(bh);
    assert_eq!(
        codes_on(&checks::run(&snap), "ipam-leaked-affinity"),
        [],
        "nothing says whose"
    );
    snap.k8s.calico.block_affinities = Some(vec![BlockAffinity {
        name: "node-2-10-244-2-0-26".into(),
        node: "node-2".into(),
        cidr: net(&block(2)),
        state: "confirmed".into(),
        deleted: false,
    }]);
    let f = codes_on(&checks::run(&snap), "ipam-leaked-affinity");
    assert_eq!(f.len(), 1, "{f:?}");
}

#[test]
fn a_block_routed_to_two_nodes_is_found() {
    let healthy = cluster("calico-bgp", 3);
    assert_eq!(
        codes_on(&checks::run(&healthy), "ipam-block-multiple-routes"),
        []
    );
    let mut snap = healthy;
    let n1 = node_mut(&mut snap, "node-1");
    let r = n1
        .routes
        .iter_mut()
        .find(|r| r.dst == net(&block(2)))
        .expect("route");
    r.gateway = None;
    r.dev = None;
    r.nexthops = [2, 3]
        .iter()
        .map(|j| NextHop {
            gateway: Some(ip(&node_ip(*j))),
            dev: Some("eth0".into()),
            weight: 1,
            onlink: false,
        })
        .collect();
    let f = codes_on(&checks::run(&snap), "ipam-block-multiple-routes");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].1
            .contains("to 2 nodes (node-2, node-3); it belongs to node-2"),
        "{}",
        f[0].1
    );
}

#[test]
fn pod_ips_outside_enabled_pools() {
    let mut snap = cluster("calico-bgp", 3);
    // Without k8s/ippools.json nothing is judged.
    let mut outside = snap.clone();
    outside.k8s.calico.ip_pools = None;
    let p0 = outside
        .k8s
        .pods
        .iter_mut()
        .find(|p| !p.host_network)
        .unwrap();
    p0.ips = vec![ip("10.99.0.5")];
    assert_eq!(codes_on(&checks::run(&outside), "pod-ip-outside-pools"), []);
    snap.k8s.calico.ip_pools = Some(vec![pool("10.244.0.0/16", false)]);
    assert_eq!(codes_on(&checks::run(&snap), "pod-ip-outside-pools"), []);
    snap.k8s.calico.ip_pools = Some(vec![
        pool("10.244.0.0/23", false),
        pool("10.244.2.0/24", true),
    ]);
    let pods_on_2 = snap
        .k8s
        .pods
        .iter()
        .filter(|p| !p.host_network && p.node.as_deref() == Some("node-2"))
        .count();
    let f = codes_on(&checks::run(&snap), "pod-ip-outside-pools");
    let disabled = f
        .iter()
        .filter(|(_, s)| s.contains("only in disabled IPPool"))
        .count();
    assert_eq!(disabled, pods_on_2, "{f:?}");
    assert!(
        f.iter()
            .any(|(_, s)| s.contains("10.244.3.") && s.ends_with("in no IPPool")),
        "{f:?}"
    );
}

/// A generated Calico cluster past the full mesh's limit (101 nodes, 3
/// reflectors), objects and BIRD state as a real one holds them: the
/// sessions the objects call for are exactly BIRD's, so `check` is clean;
/// a client that lost a reflector session is found, on that client.
#[test]
fn a_generated_reflector_cluster_agrees_with_its_objects() {
    use cnictl_analyzers::bgptopo::BgpTopology;
    use cnictl_gen::{generate, GenModel, GenSpec};
    let mut spec = GenSpec::new(GenModel::CalicoBgp, 101);
    spec.pods_per_node = 2;
    let mut snap = generate(&spec).expect("generate");
    assert_eq!(snap.k8s.calico.node_mesh_enabled(), Some(false));
    let topo = BgpTopology::from_k8s(&snap.k8s).expect("objects");
    for (name, node) in &snap.nodes {
        let bird = node.bgp.as_ref().expect("bird").protocols.iter();
        let sessions: std::collections::BTreeSet<_> =
            bird.filter_map(|p| p.neighbor_address).collect();
        assert_eq!(topo.of(name), Some(&sessions), "{name}");
    }
    assert_eq!(problems(&checks::run(&snap)), []);
    let client = node_mut(&mut snap, "node-50").bgp.as_mut().unwrap();
    client.protocols.retain(|p| p.name != "Node_192_168_0_11");
    let p = problems(&checks::run(&snap));
    let down: Vec<_> = p.iter().filter(|f| f.0 == "bgp-session-down").collect();
    assert_eq!(down.len(), 1, "{p:#?}");
    assert_eq!(down[0].1.as_deref(), Some("node-50"));
}
