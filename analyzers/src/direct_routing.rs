//! Whether a Flannel VXLAN cluster runs with `"DirectRouting": true`.
//!
//! flanneld (flannel-io/flannel at 067ed7f: `pkg/backend/vxlan/vxlan_network.go`,
//! `handleSubnetEvents`) with DirectRouting routes a peer whose public IP
//! the kernel reaches without a gateway (`ip.DirectRouting`) as `<subnet>
//! via <public-ip>` on the underlay, and writes no neighbour or FDB entry
//! for it; every other peer gets the usual neighbour, FDB entry and `via
//! <VTEP> dev flannel.1 onlink` route. Without DirectRouting every peer is
//! routed over VXLAN.
//!
//! Nothing but the routes says which: the setting lives in the
//! kube-flannel-cfg ConfigMap (not part of a bundle), and the lease's
//! `backend-data` annotation carries only `VNI` and `VtepMAC`. The
//! ConfigMap is one for the whole cluster, so any node's route to an
//! on-link peer's subnet tells it: the direct shape only DirectRouting
//! writes, the VXLAN shape (via that peer's own VTEP) only its absence.
//! Routes of any other shape (broken ones) say nothing. When no node has an
//! on-link peer the setting changes nothing and stays unknown; when nodes
//! disagree it is unknown too, and the checks then accept either shape for
//! an on-link peer rather than guess.

use std::net::IpAddr;

use cnictl_model::{ClusterSnapshot, NodeSnapshot, Route, RouteType};
use ipnet::IpNet;

use crate::checks::fib::FastMap as HashMap;
use crate::expected::NodeExpect;
use crate::infer::CniModel;

/// The cluster's DirectRouting setting as its Flannel VXLAN nodes' routes
/// show it (`None`: cannot tell). O(routes of the dumped nodes).
pub fn flannel_direct_routing(snap: &ClusterSnapshot, nodes: &[NodeExpect]) -> Option<bool> {
    let flannel = |n: &&NodeExpect| n.model == CniModel::FlannelVxlan;
    let by_cidr: HashMap<IpNet, &NodeExpect> = nodes
        .iter()
        .filter(flannel)
        .flat_map(|n| n.pod_cidrs.iter().map(move |c| (c.net, n)))
        .collect();
    let (mut direct, mut vxlan) = (false, false);
    for me in nodes.iter().filter(flannel) {
        let Some(dump) = snap.nodes.get(&me.name) else {
            continue;
        };
        for r in dump.routes.iter().filter(|r| is_main_unicast(r)) {
            let Some(peer) = by_cidr.get(&r.dst).filter(|p| p.name != me.name) else {
                continue;
            };
            match shape(dump, r, peer) {
                Some(true) => direct = true,
                Some(false) => vxlan = true,
                None => {}
            }
        }
    }
    match (direct, vxlan) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

fn is_main_unicast(r: &Route) -> bool {
    r.table == cnictl_model::route::TABLE_MAIN && r.route_type == RouteType::Unicast
}

/// What one route to an on-link peer's subnet says: `Some(true)` the
/// direct shape, `Some(false)` via the peer's VTEP, `None` nothing (the
/// peer is not on-link, or the route is neither).
fn shape(dump: &NodeSnapshot, r: &Route, peer: &NodeExpect) -> Option<bool> {
    let peer_ip = peer.ip()?;
    if !on_link(dump, peer_ip) {
        return None;
    }
    let gw = r.gateway?;
    let vtep = peer.vtep.as_ref().map(|v| v.ip);
    if gw == peer_ip && !r.onlink {
        Some(true)
    } else if Some(gw) == vtep && r.onlink {
        Some(false)
    } else {
        None
    }
}

/// The node reaches `ip` without a gateway: it lies in one of the node's
/// connected subnets (flannel's `ip.DirectRouting` asks the kernel the same).
pub fn on_link(dump: &NodeSnapshot, ip: IpAddr) -> bool {
    dump.addrs
        .iter()
        .filter(|a| a.scope == "global" && a.addr.prefix_len() < a.addr.max_prefix_len())
        .any(|a| a.addr.trunc().contains(&ip))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cnictl_model::ClusterSnapshot;

    use crate::expected::Expected;

    fn fixture(name: &str) -> ClusterSnapshot {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(name);
        cnictl_collect::bundle::load_dir(&dir).expect("fixture loads")
    }

    fn setting(snap: &ClusterSnapshot) -> Option<bool> {
        Expected::build(snap).flannel_direct_routing
    }

    #[test]
    fn direct_routes_to_on_link_peers_mean_on() {
        assert_eq!(
            setting(&fixture("flannel-vxlan-direct-routing")),
            Some(true)
        );
    }

    #[test]
    fn vxlan_routes_to_on_link_peers_mean_off() {
        assert_eq!(setting(&fixture("flannel-vxlan")), Some(false));
    }

    /// node-1 routes its on-link peer node-3 over VXLAN while node-3 routes
    /// node-1 directly: the nodes disagree, so the setting is unknown.
    #[test]
    fn disagreeing_nodes_leave_it_unknown() {
        let mut snap = fixture("flannel-vxlan-direct-routing");
        let n1 = snap.nodes.get_mut("node-1").expect("node-1");
        let r = n1
            .routes
            .iter_mut()
            .find(|r| r.dst.to_string() == "10.244.3.0/24" && r.table == 254)
            .expect("route to node-3's subnet");
        r.gateway = Some("10.244.3.0".parse().expect("ip"));
        r.dev = Some("flannel.1".into());
        r.onlink = true;
        assert_eq!(setting(&snap), None);
    }

    /// Peers on another subnet say nothing: only they are left.
    #[test]
    fn no_on_link_peer_leaves_it_unknown() {
        let mut snap = fixture("flannel-vxlan-direct-routing");
        snap.nodes.retain(|name, _| name != "node-3");
        snap.k8s.nodes.retain(|n| n.name != "node-3");
        assert_eq!(setting(&snap), None);
    }
}
