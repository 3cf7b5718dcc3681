//! Calico nodes: cali* veths with /32 scope-link routes, a blackhole per own
//! /26 block, and per remote block a `proto bird` route (via the peer's
//! underlay IP, or via tunl0 onlink for IPIP), plus BIRD's view of it.
//!
//! BGP topology follows Calico's guidance: a full node-to-node mesh up to
//! 100 nodes, route reflectors (the first three nodes) above that.

use cnictl_model::{
    Bgp, BgpProtocol, BgpRoute, Link, NodeSnapshot, Protocol, Route, RouteType, Scope, TunnelInfo,
};
use ipnet::{IpNet, Ipv4Net};

use crate::node::{self, addr, flags, neigh, veth};
use crate::plan::{host, mac, v4, Plan};
use crate::GenModel;

const TUNL0: u32 = 3;
const MESH_LIMIT: usize = 100;
const REFLECTORS: usize = 3;
pub(crate) const AS: u32 = 64512;

pub fn node(plan: &Plan, i: usize) -> NodeSnapshot {
    let ipip = plan.model() == GenModel::CalicoIpip;
    let mut n = node::base(plan, i);
    let blocks = plan.node_blocks(i);
    if ipip {
        n.links.push(tunl0());
        let tun_ip = blocks[0].network();
        n.addrs.push(addr(TUNL0, "tunl0", host(tun_ip), "global"));
        n.routes.extend(node::local_table(tun_ip, "tunl0"));
    }
    for block in &blocks {
        let mut r = Route::unicast(IpNet::V4(*block));
        r.route_type = RouteType::Blackhole;
        r.protocol = Protocol::BIRD;
        n.routes.push(r);
    }
    pods(plan, i, ipip, &mut n);
    for peer in (0..plan.spec.nodes).filter(|&p| p != i) {
        for block in plan.node_blocks(peer) {
            n.routes.push(peer_route(plan, peer, block, ipip));
        }
    }
    n.bgp = Some(bird(plan, i, ipip));
    n
}

fn tunl0() -> Link {
    Link {
        ifindex: TUNL0,
        name: "tunl0".into(),
        kind: Some("ipip".into()),
        link_type: Some("ipip".into()),
        mtu: 1480,
        mac: None,
        flags: flags(&["NOARP", "UP", "LOWER_UP"]),
        operstate: Some("UNKNOWN".into()),
        tunnel: Some(TunnelInfo {
            local: None,
            remote: None,
            ttl: Some(0),
        }),
        ..Link::default()
    }
}

fn pods(plan: &Plan, i: usize, ipip: bool, n: &mut NodeSnapshot) {
    let mtu = if ipip { 1480 } else { 1500 };
    for k in 0..plan.spec.pods_per_node {
        let ifindex = 10 + k as u32;
        let name = format!("cali{:011x}", ((i as u64) << 16) | k as u64);
        n.links.push(veth(
            ifindex,
            name.clone(),
            mtu,
            "ee:ee:ee:ee:ee:ee".into(),
            None,
            k,
        ));
        let ip = plan.pod_ip(i, k);
        let mut r = Route::unicast(host(ip));
        r.dev = Some(name.clone());
        r.scope = Scope::LINK;
        n.routes.push(r);
        n.neighbours.get_or_insert_with(Vec::new).push(neigh(
            ip,
            &name,
            &mac(5, i, k),
            "REACHABLE",
        ));
        let sysctls = n.sysctls.get_or_insert_with(Default::default);
        sysctls.insert(format!("net.ipv4.conf.{name}.proxy_arp"), "1".into());
        sysctls.insert(format!("net.ipv4.conf.{name}.rp_filter"), "0".into());
    }
}

fn peer_route(plan: &Plan, peer: usize, block: Ipv4Net, ipip: bool) -> Route {
    let mut r = Route::unicast(IpNet::V4(block));
    r.protocol = Protocol::BIRD;
    r.gateway = Some(v4(plan.node_ip(peer)));
    if ipip {
        r.dev = Some("tunl0".into());
        r.onlink = true;
    } else {
        r.dev = Some("eth0".into());
    }
    r
}

/// Whether the cluster runs route reflectors rather than the full mesh.
pub(crate) fn reflected(plan: &Plan) -> bool {
    plan.spec.nodes > MESH_LIMIT
}

/// Whether node `i` is one of the route reflectors.
pub(crate) fn is_reflector(plan: &Plan, i: usize) -> bool {
    reflected(plan) && i < REFLECTORS
}

/// The BGP peers of node `i` under the mesh / route-reflector rule.
fn peers(plan: &Plan, i: usize) -> Vec<usize> {
    let n = plan.spec.nodes;
    if !reflected(plan) || is_reflector(plan, i) {
        (0..n).filter(|&p| p != i).collect()
    } else {
        (0..REFLECTORS).filter(|&p| p != i).collect()
    }
}

fn bird(plan: &Plan, i: usize, ipip: bool) -> Bgp {
    let peers = peers(plan, i);
    let mut protocols = vec![
        simple("device1", "Device", None),
        simple("direct1", "Direct", Some("master4")),
        simple("kernel1", "Kernel", Some("master4")),
        simple("static1", "Static", Some("master4")),
    ];
    let imported = imported_routes(plan, peers.len());
    protocols.extend(peers.iter().map(|&p| mesh_session(plan, p, imported)));
    Bgp {
        daemon: Some("BIRD 2.0.12".into()),
        protocols,
        routes: Some(bird_routes(plan, i, &peers, ipip)),
    }
}

/// Routes each session imports: a peer's blocks in a full mesh, a share of
/// all the other nodes' blocks through a reflector.
fn imported_routes(plan: &Plan, peers: usize) -> u64 {
    let blocks_per_node = plan.blocks_per_node as u64;
    if peers == plan.spec.nodes - 1 {
        blocks_per_node
    } else {
        blocks_per_node * (plan.spec.nodes as u64 - 1) / peers as u64
    }
}

/// BIRD's name for the session to node `p`, as confd renders it:
/// `Mesh_<ip>` in the mesh, `Node_<ip>` for a BGPPeer's peering.
fn session_name(plan: &Plan, p: usize) -> String {
    let stem = if reflected(plan) { "Node" } else { "Mesh" };
    format!("{stem}_{}", plan.node_ip(p).to_string().replace('.', "_"))
}

/// The Established iBGP session to node `p`.
fn mesh_session(plan: &Plan, p: usize, imported: u64) -> BgpProtocol {
    let ip = plan.node_ip(p);
    BgpProtocol {
        name: session_name(plan, p),
        proto: "BGP".into(),
        table: Some("master4".into()),
        state: "up".into(),
        since: Some("2026-11-01 00:00:00".into()),
        info: "Established".into(),
        bgp_state: Some("Established".into()),
        neighbor_address: Some(v4(ip)),
        source_address: None,
        neighbor_as: Some(AS),
        local_as: Some(AS),
        routes_imported: Some(imported),
        routes_exported: Some(plan.blocks_per_node as u64),
        last_error: None,
    }
}

fn simple(name: &str, proto: &str, table: Option<&str>) -> BgpProtocol {
    BgpProtocol {
        name: name.into(),
        proto: proto.into(),
        table: table.map(str::to_string),
        state: "up".into(),
        since: Some("2026-11-01 00:00:00".into()),
        ..BgpProtocol::default()
    }
}

fn bird_routes(plan: &Plan, i: usize, peers: &[usize], ipip: bool) -> Vec<BgpRoute> {
    let mut out: Vec<BgpRoute> = plan.node_blocks(i).into_iter().map(own_block).collect();
    for peer in (0..plan.spec.nodes).filter(|&p| p != i) {
        // Learned directly from the peer in a mesh, or via the first reflector.
        let from = if peers.contains(&peer) {
            peer
        } else {
            peers[0]
        };
        let from_name = session_name(plan, from);
        let learned = plan.node_blocks(peer).into_iter();
        out.extend(learned.map(|b| learned_block(plan, peer, b, &from_name, ipip)));
    }
    out
}

/// The node's own block, a static blackhole BIRD announces.
fn own_block(block: Ipv4Net) -> BgpRoute {
    BgpRoute {
        prefix: IpNet::V4(block),
        kind: "blackhole".into(),
        via: None,
        dev: None,
        protocol: "static1".into(),
        bgp_next_hop: None,
        best: true,
        as_path: None,
    }
}

/// A peer's block learned over the session `from`.
fn learned_block(plan: &Plan, peer: usize, block: Ipv4Net, from: &str, ipip: bool) -> BgpRoute {
    BgpRoute {
        prefix: IpNet::V4(block),
        kind: "unicast".into(),
        via: Some(v4(plan.node_ip(peer))),
        dev: Some(if ipip { "tunl0" } else { "eth0" }.into()),
        protocol: from.to_string(),
        bgp_next_hop: Some(v4(plan.node_ip(peer))),
        best: true,
        as_path: Some(String::new()),
    }
}
