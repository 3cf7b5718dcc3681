//! What every node has whatever the CNI: loopback, eth0 on the underlay,
//! the local table, a default route, sysctls.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use cnictl_model::route::{TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{Addr, Link, Neigh, NodeSnapshot, Protocol, Route, RouteType, Scope};
use ipnet::{IpNet, Ipv4Net};

use crate::plan::{host, mac, v4, Plan};

pub const ETH0: u32 = 2;

pub fn base(plan: &Plan, i: usize) -> NodeSnapshot {
    let ip = plan.node_ip(i);
    // Cannot fail: the length comes from a valid Ipv4Net (≤ 32).
    let eth0_net = IpNet::V4(Ipv4Net::new(ip, plan.underlay.prefix_len()).expect("prefix"));
    let gateway = neigh(plan.gateway(), "eth0", &mac(0, 0, 1), "REACHABLE");
    let mut routes = vec![
        default_route(plan, ip),
        connected(IpNet::V4(plan.underlay), "eth0", ip),
    ];
    routes.extend(local_table(ip, "eth0"));
    NodeSnapshot {
        name: plan.node_name(i),
        links: vec![loopback(), eth0(i)],
        addrs: vec![
            // Cannot fail: a literal address or prefix.
            addr(1, "lo", "127.0.0.1/8".parse().expect("constant"), "host"),
            addr(ETH0, "eth0", eth0_net, "global"),
        ],
        routes,
        rules: Some(cnictl_model::Rule::defaults_v4()),
        neighbours: Some(vec![gateway]),
        fdb: Some(Vec::new()),
        ipvs: None,
        bgp: None,
        sysctls: Some(sysctls()),
        pods: BTreeMap::new(),
        netfilter: None,
        offloads: None,
        kernel: None,
        cilium: None,
    }
}

/// `default via <gateway> dev eth0 proto dhcp src <ip> metric 100`.
fn default_route(plan: &Plan, ip: Ipv4Addr) -> Route {
    // Cannot fail: a literal address or prefix.
    let mut default = Route::unicast("0.0.0.0/0".parse().expect("constant"));
    default.gateway = Some(v4(plan.gateway()));
    default.dev = Some("eth0".into());
    default.protocol = Protocol(16); // dhcp
    default.prefsrc = Some(v4(ip));
    default.metric = 100;
    default
}

fn loopback() -> Link {
    Link {
        ifindex: 1,
        name: "lo".into(),
        link_type: Some("loopback".into()),
        mtu: 65536,
        mac: Some("00:00:00:00:00:00".into()),
        flags: flags(&["LOOPBACK", "UP", "LOWER_UP"]),
        operstate: Some("UNKNOWN".into()),
        ..Link::default()
    }
}

fn eth0(i: usize) -> Link {
    Link {
        ifindex: ETH0,
        name: "eth0".into(),
        link_type: Some("ether".into()),
        mtu: 1500,
        mac: Some(mac(1, i, 0)),
        flags: up(),
        operstate: Some("UP".into()),
        ..Link::default()
    }
}

pub fn flags(f: &[&str]) -> Vec<String> {
    f.iter().map(|s| s.to_string()).collect()
}

pub fn up() -> Vec<String> {
    flags(&["BROADCAST", "MULTICAST", "UP", "LOWER_UP"])
}

pub fn addr(ifindex: u32, dev: &str, addr: IpNet, scope: &str) -> Addr {
    Addr {
        ifindex,
        dev: dev.into(),
        addr,
        scope: scope.into(),
        peer: None,
    }
}

pub fn neigh(ip: Ipv4Addr, dev: &str, lladdr: &str, state: &str) -> Neigh {
    Neigh {
        dst: v4(ip),
        dev: dev.into(),
        lladdr: Some(lladdr.into()),
        state: vec![state.into()],
        router: false,
        proxy: false,
    }
}

/// `SUBNET dev DEV proto kernel scope link src IP`.
pub fn connected(subnet: IpNet, dev: &str, src: Ipv4Addr) -> Route {
    let mut r = Route::unicast(subnet.trunc());
    r.dev = Some(dev.into());
    r.protocol = Protocol::KERNEL;
    r.scope = Scope::LINK;
    r.prefsrc = Some(v4(src));
    r
}

/// The local-table entries the kernel adds for an address.
pub fn local_table(ip: Ipv4Addr, dev: &str) -> Vec<Route> {
    let mut out = Vec::new();
    if dev == "eth0" {
        // Cannot fail: a literal address or prefix.
        let mut lo = Route::unicast("127.0.0.0/8".parse().expect("constant"));
        lo.route_type = RouteType::Local;
        lo.dev = Some("lo".into());
        lo.table = TABLE_LOCAL;
        lo.protocol = Protocol::KERNEL;
        lo.scope = Scope::HOST;
        // Cannot fail: a literal address or prefix.
        lo.prefsrc = Some("127.0.0.1".parse().expect("constant"));
        out.push(lo.clone());
        // Cannot fail: a literal address or prefix.
        lo.dst = "127.0.0.1/32".parse().expect("constant");
        out.push(lo);
    }
    let mut r = Route::unicast(host(ip));
    r.route_type = RouteType::Local;
    r.table = TABLE_LOCAL;
    r.dev = Some(dev.into());
    r.protocol = Protocol::KERNEL;
    r.scope = Scope::HOST;
    r.prefsrc = Some(v4(ip));
    out.push(r);
    debug_assert!(out.iter().all(|r| r.table != TABLE_MAIN));
    out
}

fn sysctls() -> BTreeMap<String, String> {
    [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.conf.eth0.rp_filter", "0"),
        ("net.ipv6.conf.all.forwarding", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A pod-facing veth on the host side.
pub fn veth(
    ifindex: u32,
    name: String,
    mtu: u32,
    mac: String,
    master: Option<&str>,
    k: usize,
) -> Link {
    Link {
        ifindex,
        name,
        kind: Some("veth".into()),
        link_type: Some("ether".into()),
        master: master.map(str::to_string),
        mtu,
        mac: Some(mac),
        flags: up(),
        operstate: Some("UP".into()),
        peer_ifindex: Some(2),
        peer_netnsid: Some(k as i32),
        ..Link::default()
    }
}
