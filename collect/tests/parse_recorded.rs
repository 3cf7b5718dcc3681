//! The parsers on real recorded outputs (tests/data, see its README) and on
//! hand-written odd/older formats.

use std::net::IpAddr;

use cnictl_formats::*;
use cnictl_model::route::{TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{Forward, IpvsProto, Protocol, Route, RouteType, RuleAction, Scope};
use ipnet::IpNet;

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn find<'a>(routes: &'a [Route], dst: &str, table: u32) -> &'a Route {
    routes
        .iter()
        .find(|r| r.dst == net(dst) && r.table == table)
        .unwrap_or_else(|| panic!("no route {dst} in table {table}"))
}

#[test]
fn recorded_routes_every_type_and_table() {
    let routes = parse_routes(&data("ip-route.json")).unwrap();
    assert_eq!(routes.len(), 51);
    let t = |dst, table| find(&routes, dst, table).route_type;
    assert_eq!(t("10.250.0.0/16", TABLE_MAIN), RouteType::Blackhole);
    assert_eq!(t("10.251.0.0/16", TABLE_MAIN), RouteType::Unreachable);
    assert_eq!(t("10.252.0.0/16", TABLE_MAIN), RouteType::Prohibit);
    assert_eq!(t("10.253.0.0/16", 100), RouteType::Throw);
    assert_eq!(t("10.254.0.1/32", 1000), RouteType::Local);
    assert_eq!(t("192.0.2.255/32", TABLE_LOCAL), RouteType::Broadcast);
    assert_eq!(t("ff00::/8", TABLE_LOCAL), RouteType::Multicast);

    let gw = find(&routes, "10.9.0.0/16", 1000);
    assert_eq!(
        (gw.gateway, gw.dev.as_deref()),
        (Some(ip("192.0.2.12")), Some("eth0"))
    );

    let p80 = find(&routes, "10.7.0.0/16", TABLE_MAIN);
    assert_eq!((p80.protocol, p80.metric), (Protocol(80), 50));
    assert_eq!(
        find(&routes, "10.244.3.0/26", TABLE_MAIN).protocol,
        Protocol::BIRD
    );
    let bh = find(&routes, "10.244.1.0/26", TABLE_MAIN);
    assert_eq!(
        (bh.route_type, bh.protocol),
        (RouteType::Blackhole, Protocol::BIRD)
    );

    let mp = find(&routes, "10.8.0.0/16", TABLE_MAIN);
    let w: Vec<(Option<IpAddr>, u32)> = mp.nexthops.iter().map(|n| (n.gateway, n.weight)).collect();
    assert_eq!(
        w,
        [(Some(ip("192.0.2.12")), 2), (Some(ip("192.0.2.13")), 1)]
    );

    let vx = find(&routes, "10.244.2.0/24", TABLE_MAIN);
    assert!(vx.onlink && vx.flags.is_empty());
    assert_eq!(vx.gateway, Some(ip("10.244.2.0")));
    let host = find(&routes, "10.244.1.9/32", TABLE_MAIN);
    assert_eq!(
        (host.scope, host.dev.as_deref()),
        (Scope::LINK, Some("cali0123456789a"))
    );
    let src = find(&routes, "10.6.0.0/16", TABLE_MAIN);
    assert_eq!(
        (src.prefsrc, src.protocol),
        (Some(ip("192.0.2.11")), Protocol::STATIC)
    );

    // Both defaults: IPv4 via the gateway's family, IPv6 as ::/0.
    assert_eq!(
        find(&routes, "0.0.0.0/0", TABLE_MAIN).gateway,
        Some(ip("192.0.2.1"))
    );
    let d6 = find(&routes, "::/0", TABLE_MAIN);
    assert_eq!((d6.gateway, d6.metric), (Some(ip("2001:db8::1")), 1024));
    let mp6 = find(&routes, "2001:db8:2::/64", TABLE_MAIN);
    assert_eq!(
        mp6.nexthops.iter().map(|n| n.weight).collect::<Vec<_>>(),
        [3, 1]
    );
}

#[test]
fn recorded_v6_only_dump_and_plain_dump() {
    let v6 = parse_routes(&data("ip-route-v6.json")).unwrap();
    assert!(v6.iter().all(|r| r.dst.addr().is_ipv6()), "{v6:?}");
    assert_eq!(v6.len(), 25);
    let plain = parse_routes(&data("ip-route-nodetail.json")).unwrap();
    assert!(plain.iter().all(|r| r.table == TABLE_MAIN));
    let d = find(&plain, "0.0.0.0/0", TABLE_MAIN);
    assert_eq!((d.protocol, d.onlink), (Protocol::BOOT, true));
}

#[test]
fn old_route_formats() {
    let (routes, names) = parse_routes_with_names(&data("ip-route-old.json")).unwrap();
    assert_eq!(routes[0].metric, 100);
    assert_eq!(routes[1].dst, net("10.244.1.2/32"));
    let calico = custom_table_id("calico");
    assert_eq!(
        (routes[3].table, routes[3].protocol),
        (calico, Protocol(80))
    );
    assert_eq!(names.get(&calico).map(String::as_str), Some("calico"));
    assert_eq!((routes[4].table, routes[4].scope), (300, Scope::LINK));
    assert_eq!(routes[4].flags, ["linkdown"]);
    assert_eq!(routes[5].protocol.name(), Some("ospf"));
    let nh = &routes[5].nexthops;
    assert_eq!((nh[0].weight, nh[1].weight, nh[1].onlink), (1, 4, true));
    assert_eq!(nh[1].gateway, Some(ip("fe80::1")));
    // the second array's default has only `pref` to say it is IPv6
    assert_eq!(routes[6].dst, net("::/0"));
    assert_eq!(routes[6].route_type, RouteType::Unreachable);
    assert_eq!(routes[7].dst, net("2001:db8:5::1/128"));
}

#[test]
fn recorded_links() {
    let links = parse_links(&data("ip-link.json")).unwrap();
    let l = |name: &str| links.iter().find(|l| l.name == name).unwrap();
    let eth0 = l("eth0");
    assert_eq!(
        (eth0.kind.as_deref(), eth0.peer_netnsid),
        (Some("veth"), Some(0))
    );
    assert!(eth0.peer_ifindex.is_some() && eth0.lower.is_none());
    let veth = l("veth1a2b3c");
    assert_eq!(
        (veth.master.as_deref(), veth.peer_netnsid),
        (Some("cni0"), Some(1))
    );
    assert_eq!(l("cni0").kind.as_deref(), Some("bridge"));
    assert_eq!(
        l("cali0123456789a").mac.as_deref(),
        Some("ee:ee:ee:ee:ee:ee")
    );
    let fl = l("flannel.1");
    let v = fl.vxlan.as_ref().unwrap();
    assert_eq!((v.vni, v.port, v.learning), (1, 8472, false));
    assert_eq!(
        (v.local, v.remote, v.dev.as_deref()),
        (Some(ip("192.0.2.11")), None, Some("eth0"))
    );
    assert_eq!(
        (fl.mtu, fl.mac.as_deref()),
        (1450, Some("0e:01:0a:0b:0c:0d"))
    );
    let v100 = l("vxlan100").vxlan.clone().unwrap();
    assert_eq!(
        (v100.vni, v100.port, v100.learning, v100.remote),
        (100, 4789, true, Some(ip("192.0.2.12")))
    );
    assert!(l("lo").flags.contains(&"LOOPBACK".to_string()));
}

#[test]
fn odd_links() {
    let links = parse_links(&data("ip-link-odd.json")).unwrap();
    let tunl = &links[2];
    let t = tunl.tunnel.as_ref().unwrap();
    assert_eq!(
        (t.local, t.remote, t.ttl, tunl.mac.as_deref()),
        (None, None, None, None)
    );
    let v = links[3].vxlan.as_ref().unwrap();
    assert_eq!(
        (v.vni, v.port, v.learning, v.dev.as_deref()),
        (4096, 4789, false, Some("eth0"))
    );
    assert_eq!((v.local, links[3].mtu), (Some(ip("2001:db8::11")), 1450));
    assert_eq!(links[3].mac.as_deref(), Some("66:0e:01:02:03:04"));
    assert_eq!(
        (links[4].lower.as_deref(), links[4].peer_ifindex),
        (Some("eth0"), Some(2))
    );
    assert_eq!(links[1].mac.as_deref(), Some("52:54:00:12:34:56"));
    let gre = links[5].tunnel.as_ref().unwrap();
    assert_eq!((gre.remote, gre.ttl), (Some(ip("192.0.2.12")), Some(64)));
}

#[test]
fn recorded_addrs() {
    let addrs = parse_addrs(&data("ip-addr.json")).unwrap();
    let a = |s: &str| addrs.iter().find(|a| a.addr == net(s)).unwrap();
    assert_eq!(
        (
            a("192.0.2.11/24").dev.as_str(),
            a("192.0.2.11/24").scope.as_str()
        ),
        ("eth0", "global")
    );
    assert_eq!(a("10.244.1.1/24").dev, "cni0");
    assert_eq!(a("10.244.1.0/32").dev, "flannel.1");
    assert_eq!(a("127.0.0.1/8").scope, "host");
    assert_eq!(a("2001:db8::11/64").ifindex, a("192.0.2.11/24").ifindex);
    assert!(addrs
        .iter()
        .any(|a| a.scope == "link" && a.addr.addr().is_ipv6()));
    let pod = parse_addrs(&data("pod-ip-addr.json")).unwrap();
    assert!(pod
        .iter()
        .any(|a| a.addr == net("10.244.1.5/24") && a.dev == "eth0"));
}

#[test]
fn recorded_rules() {
    let rules = parse_rules(&data("ip-rule.json")).unwrap();
    let r = |p: u32| rules.iter().find(|r| r.priority == p).unwrap();
    assert!(rules.iter().all(|r| r.family == "inet"));
    assert_eq!(r(0).action, RuleAction::Table(TABLE_LOCAL));
    assert_eq!(
        (r(100).src, r(100).action),
        (Some(net("10.244.0.0/16")), RuleAction::Table(100))
    );
    assert_eq!(
        (r(110).dst, r(110).action),
        (Some(net("10.9.0.0/16")), RuleAction::Table(1000))
    );
    assert_eq!((r(120).fwmark, r(120).fwmask), (Some(0x4000), Some(0xff00)));
    assert_eq!(
        (r(130).iif.as_deref(), r(130).action),
        (Some("eth0"), RuleAction::Goto(32766))
    );
    assert_eq!(r(140).action, RuleAction::Blackhole);
    assert!(r(150).not);
    assert_eq!(r(155).action, RuleAction::Unreachable);
    assert_eq!(r(160).action, RuleAction::Prohibit);
    assert_eq!(r(170).suppress_prefixlen, Some(0));
    assert_eq!(r(180).oif.as_deref(), Some("eth0"));
    assert_eq!(
        (r(190).src, r(190).fwmark, r(190).fwmask),
        (Some(net("10.70.0.1/32")), Some(16), None)
    );
    assert_eq!(r(200).action, RuleAction::Nop);
    let v6 = parse_rules(&data("ip-rule-v6.json")).unwrap();
    assert!(v6.iter().all(|r| r.family == "inet6"));
    // concatenated as a collector script would
    let both = parse_rules(&(data("ip-rule.json") + &data("ip-rule-v6.json"))).unwrap();
    assert_eq!(both.len(), rules.len() + v6.len());
    assert_eq!(both.last().unwrap().family, "inet6");
    let old = parse_rules(&data("ip-rule-old.json")).unwrap();
    assert_eq!(
        (old[1].fwmark, old[1].fwmask),
        (Some(16384), Some(0xffff_0000))
    );
    assert_eq!(old[1].action, RuleAction::Table(custom_table_id("calico")));
    assert_eq!(old[2].action, RuleAction::Table(0));
}

#[test]
fn recorded_neighbours() {
    let n = parse_neighbours(&data("ip-neigh.json")).unwrap();
    let e = |dst: &str| n.iter().find(|e| e.dst == ip(dst)).unwrap();
    let vtep = e("10.244.2.0");
    assert_eq!(
        (vtep.dev.as_str(), vtep.lladdr.as_deref()),
        ("flannel.1", Some("0e:02:0a:0b:0c:0d"))
    );
    assert_eq!(vtep.state, ["PERMANENT"]);
    assert!(vtep.is_usable());
    assert_eq!(e("192.0.2.99").state, ["STALE"]);
    assert_eq!(e("192.0.2.12").state, ["REACHABLE"]);
    assert!(!e("192.0.2.200").is_usable());
    assert!(n.iter().any(|e| e.dst.is_ipv6()));
    let old = parse_neighbours(&data("ip-neigh-old.json")).unwrap();
    assert_eq!(
        (old[0].lladdr.as_deref(), old[0].router),
        (Some("52:54:00:ab:0c:01"), true)
    );
    assert_eq!(old[0].state, ["REACHABLE"]);
    assert!(old[1].proxy && old[1].lladdr.is_none());
}

#[test]
fn recorded_fdb() {
    let f = parse_fdb(&data("bridge-fdb.json")).unwrap();
    let vtep = f.iter().find(|e| e.mac == "0e:02:0a:0b:0c:0d").unwrap();
    assert_eq!(
        (vtep.dev.as_str(), vtep.dst, vtep.state.as_str()),
        ("flannel.1", Some(ip("192.0.2.12")), "permanent")
    );
    assert_eq!(vtep.flags, ["self"]);
    let zero = f
        .iter()
        .find(|e| e.is_all_zero() && e.dev == "flannel.1")
        .unwrap();
    assert_eq!(zero.dst, Some(ip("192.0.2.13")));
    let v = f.iter().find(|e| e.mac == "02:00:00:00:01:00").unwrap();
    assert_eq!((v.vni, v.port), (Some(200), Some(4790)));
    let learned = f
        .iter()
        .find(|e| e.master.as_deref() == Some("cni0") && e.state.is_empty());
    assert!(
        learned.is_some(),
        "a learned entry (state \"\") on the bridge port"
    );
    let old = parse_fdb(&data("bridge-fdb-old.json")).unwrap();
    assert_eq!(
        (old[0].mac.as_str(), old[0].vlan, old[0].dev.as_str()),
        ("02:42:ac:11:00:02", Some(1), "veth9f")
    );
    assert_eq!((old[1].vni, old[1].port), (Some(4096), Some(4789)));
    assert_eq!(old[1].flags, ["self", "extern_learn"]);
}

#[test]
fn ipvsadm_hand_written() {
    let v = parse_ipvsadm(&data("ipvsadm.txt")).unwrap();
    assert_eq!(v.len(), 8);
    assert_eq!(v[0].key(), "TCP 10.96.0.1:443");
    assert_eq!(v[1].reals.len(), 2);
    assert_eq!(
        (v[1].reals[1].active_conns, v[1].reals[1].inactive_conns),
        (2, 13)
    );
    assert_eq!(
        (v[2].proto, v[2].scheduler.as_str(), v[2].persistent),
        (IpvsProto::Udp, "wrr", Some(360))
    );
    assert_eq!(v[2].reals[1].weight, 0);
    let fwd: Vec<Forward> = v[3].reals.iter().map(|r| r.forward).collect();
    assert_eq!(fwd, [Forward::Route, Forward::Tunnel, Forward::Local]);
    assert_eq!(v[3].flags, ["persistent", "ops", "sh-fallback", "sh-port"]);
    assert!(v[4].reals.is_empty());
    assert_eq!(v[5].vip, Some(ip("fd00:10:96::a")));
    assert_eq!(v[5].reals[0].ip, ip("fd00:10:244:1::5"));
    assert_eq!(
        (v[6].proto, v[6].fwmark, v[6].vip),
        (IpvsProto::Fwmark, Some(5), None)
    );
    assert_eq!((v[7].fwmark, v[7].scheduler.as_str()), (Some(6), "rr"));
    let err = parse_ipvsadm(&data("ipvsadm-noipvs.txt")).unwrap_err();
    assert_eq!(err.line(), 1);
}

#[test]
fn recorded_bird_protocols_both_forms() {
    let b = parse_bird_protocols(&data("bird-protocols.txt")).unwrap();
    // the raw recording starts after the greeting (the reader consumed it)
    let raw = parse_bird_protocols(&data("bird-protocols.raw.txt")).unwrap();
    assert_eq!(b.protocols, raw.protocols);
    let greeted = parse_bird_protocols(&format!(
        "0001 BIRD 2.0.12 ready.\n{}",
        data("bird-protocols.raw.txt")
    ))
    .unwrap();
    assert_eq!(b, greeted);
    assert_eq!(b.daemon.as_deref(), Some("BIRD 2.0.12"));
    let p = |n: &str| b.protocols.iter().find(|p| p.name == n).unwrap();
    let up = p("Mesh_192_0_2_12");
    assert!(up.is_bgp() && up.is_established());
    assert_eq!(
        (up.neighbor_address, up.neighbor_as, up.local_as),
        (Some(ip("192.0.2.12")), Some(64512), Some(64512))
    );
    assert!(up.routes_imported.is_some());
    let down = p("Mesh_192_0_2_13");
    assert!(!down.is_established());
    assert_eq!(down.state, "start");
    assert!(
        down.last_error
            .as_deref()
            .unwrap_or_default()
            .starts_with("Socket:"),
        "{down:?}"
    );
    let kernel = p("kernel1");
    assert_eq!(
        (
            kernel.proto.as_str(),
            kernel.table.as_deref(),
            kernel.state.as_str()
        ),
        ("Kernel", Some("master4"), "up")
    );
    assert_eq!(p("device1").table, None);
}

#[test]
fn recorded_bird_routes_both_forms() {
    let r = parse_bird_routes(&data("bird-routes.txt")).unwrap();
    let raw = parse_bird_routes(&data("bird-routes.raw.txt")).unwrap();
    assert_eq!(r, raw);
    let e = |p: &str| r.iter().find(|x| x.prefix == net(p)).unwrap();
    let bgp = e("10.244.2.64/26");
    assert_eq!(bgp.protocol, "Mesh_192_0_2_12");
    assert_eq!(
        (bgp.via, bgp.dev.as_deref(), bgp.bgp_next_hop),
        (Some(ip("192.0.2.12")), Some("eth0"), Some(ip("192.0.2.12")))
    );
    assert_eq!((bgp.best, bgp.as_path.as_deref()), (true, Some("")));
    assert_eq!(e("10.244.1.64/26").kind, "blackhole");
    assert_eq!(e("10.252.0.0/16").kind, "prohibited");
    assert_eq!(e("10.244.1.9/32").dev.as_deref(), Some("cali0123456789a"));
    assert_eq!(e("10.8.0.0/16").via, Some(ip("192.0.2.12")));
}

#[test]
fn recorded_sysctl() {
    let s = parse_sysctl(&data("sysctl.txt")).unwrap();
    assert_eq!(s.get("net.ipv4.ip_forward").map(String::as_str), Some("1"));
    assert_eq!(s.len(), 4);
}
