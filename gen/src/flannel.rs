//! Flannel nodes: cni0 bridge with veths, and per remote node either the
//! VXLAN triplet (route via flannel.1 onlink, neighbour, FDB) or a host-gw
//! route via the peer's underlay IP.

use std::net::Ipv4Addr;

use cnictl_model::{FdbEntry, Link, NodeSnapshot, Route, VxlanDf, VxlanInfo};
use ipnet::{IpAdd, IpNet, Ipv4Net};

use crate::node::{self, addr, connected, flags, neigh, up, veth};
use crate::plan::{host, mac, v4, Plan};
use crate::GenModel;

const FLANNEL1: u32 = 3;
const CNI0: u32 = 4;

pub fn node(plan: &Plan, i: usize) -> cnictl_model::NodeSnapshot {
    let vxlan = plan.model() == GenModel::FlannelVxlan;
    let mtu = if vxlan { 1450 } else { 1500 };
    let mut n = node::base(plan, i);
    let vtep = plan.node_cidr(i).network();
    if vxlan {
        n.links.push(flannel1(plan, i));
        n.addrs
            .push(addr(FLANNEL1, "flannel.1", host(vtep), "global"));
    }
    cni0(plan, i, mtu, &mut n);
    if vxlan {
        n.routes.extend(node::local_table(vtep, "flannel.1"));
    }
    pods(plan, i, mtu, &mut n);
    for peer in (0..plan.spec.nodes).filter(|&p| p != i) {
        peer_entries(plan, peer, vxlan, &mut n);
    }
    n
}

/// The cni0 bridge with the pod CIDR's .1, its connected and local routes.
fn cni0(plan: &Plan, i: usize, mtu: u32, n: &mut NodeSnapshot) {
    let cidr = plan.node_cidr(i);
    let gw = cidr.network().saturating_add(1);
    n.links.push(bridge(i, mtu));
    // Cannot fail: Ipv4Net::new only rejects prefix lengths over 32.
    let net = IpNet::V4(Ipv4Net::new(gw, 24).expect("/24"));
    n.addrs.push(addr(CNI0, "cni0", net, "global"));
    n.routes.push(connected(IpNet::V4(cidr), "cni0", gw));
    n.routes.extend(node::local_table(gw, "cni0"));
}

fn flannel1(plan: &Plan, i: usize) -> Link {
    Link {
        ifindex: FLANNEL1,
        name: "flannel.1".into(),
        kind: Some("vxlan".into()),
        link_type: Some("ether".into()),
        mtu: 1450,
        mac: Some(mac(2, i, 0)),
        flags: up(),
        operstate: Some("UNKNOWN".into()),
        vxlan: Some(VxlanInfo {
            vni: 1,
            local: Some(v4(plan.node_ip(i))),
            remote: None,
            port: 8472,
            learning: false,
            dev: Some("eth0".into()),
            df: Some(VxlanDf::Unset),
        }),
        ..Link::default()
    }
}

fn bridge(i: usize, mtu: u32) -> Link {
    Link {
        ifindex: CNI0,
        name: "cni0".into(),
        kind: Some("bridge".into()),
        link_type: Some("ether".into()),
        mtu,
        mac: Some(mac(3, i, 0)),
        flags: up(),
        operstate: Some("UP".into()),
        ..Link::default()
    }
}

fn pods(plan: &Plan, i: usize, mtu: u32, n: &mut NodeSnapshot) {
    for k in 0..plan.spec.pods_per_node {
        pod(plan, i, k, mtu, n);
    }
}

/// Pod `k`'s host veth on cni0, its neighbour entry and both FDB entries.
fn pod(plan: &Plan, i: usize, k: usize, mtu: u32, n: &mut NodeSnapshot) {
    let name = format!("veth{:08x}", (i as u32) << 12 | k as u32);
    let (host_mac, pod_mac) = (mac(4, i, k), mac(5, i, k));
    let ifindex = 10 + k as u32;
    n.links.push(veth(
        ifindex,
        name.clone(),
        mtu,
        host_mac.clone(),
        Some("cni0"),
        k,
    ));
    let neighbour = neigh(plan.pod_ip(i, k), "cni0", &pod_mac, "REACHABLE");
    n.neighbours.get_or_insert_with(Vec::new).push(neighbour);
    let fdb = n.fdb.get_or_insert_with(Vec::new);
    fdb.push(bridge_fdb(&host_mac, &name, "permanent"));
    fdb.push(bridge_fdb(&pod_mac, &name, ""));
}

fn bridge_fdb(mac: &str, dev: &str, state: &str) -> FdbEntry {
    FdbEntry {
        mac: mac.into(),
        dev: dev.into(),
        dst: None,
        vlan: None,
        vni: None,
        port: None,
        master: Some("cni0".into()),
        flags: flags(&["master"]),
        state: state.into(),
    }
}

fn peer_entries(plan: &Plan, peer: usize, vxlan: bool, n: &mut NodeSnapshot) {
    let cidr = plan.node_cidr(peer);
    let route = match vxlan {
        true => vxlan_peer(plan, peer, n),
        false => via(IpNet::V4(cidr), plan.node_ip(peer), "eth0"),
    };
    n.routes.push(route);
}

/// `P via <gw> dev <dev>`.
fn via(dst: IpNet, gw: Ipv4Addr, dev: &str) -> Route {
    let mut r = Route::unicast(dst);
    r.gateway = Some(v4(gw));
    r.dev = Some(dev.into());
    r
}

/// The peer's VTEP: its neighbour and FDB entries, and the onlink route.
fn vxlan_peer(plan: &Plan, peer: usize, n: &mut NodeSnapshot) -> Route {
    let cidr = plan.node_cidr(peer);
    let vtep = mac(2, peer, 0);
    let neighbour = neigh(cidr.network(), "flannel.1", &vtep, "PERMANENT");
    n.neighbours.get_or_insert_with(Vec::new).push(neighbour);
    n.fdb
        .get_or_insert_with(Vec::new)
        .push(vtep_fdb(vtep, plan.node_ip(peer)));
    let mut r = via(IpNet::V4(cidr), cidr.network(), "flannel.1");
    r.onlink = true;
    r
}

/// `<VTEP MAC> dev flannel.1 dst <node IP> self permanent`.
fn vtep_fdb(mac: String, dst: Ipv4Addr) -> FdbEntry {
    FdbEntry {
        mac,
        dev: "flannel.1".into(),
        dst: Some(v4(dst)),
        vlan: None,
        vni: None,
        port: None,
        master: None,
        flags: flags(&["self"]),
        state: "permanent".into(),
    }
}
