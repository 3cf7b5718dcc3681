//! The parsers on IPIP and IPVS output recorded in a VM running Debian's
//! 6.1 kernel (the development kernel has neither): node-1 of
//! `lab/vm/ipip-lab.sh` (calico-ipip + kube-proxy IPVS), recorded by
//! `sudo lab/vm/run.sh --record collect/tests/data/vm` — see
//! tests/data/vm/README.md for the exact commands.
//!
//! Beyond reading each file right, the recorded `cnictl collect` of the same
//! node at the same moment (collect.json: netlink links/routes, generic
//! netlink IPVS) must equal what the parsers make of the tools' output, and
//! `ipvsadm -Ln` must agree with /proc/net/ip_vs.

use cnictl_formats::{parse_addrs, parse_ipvsadm, parse_links, parse_proc_ip_vs, parse_routes};
use cnictl_model::route::{TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{Forward, IpvsProto, NodeSnapshot, Protocol, RouteType, Scope, VirtualService};

/// CONFIG_HZ of the recording kernel (Debian amd64): /proc/net/ip_vs gives
/// persistence timeouts in jiffies.
const HZ: u32 = 250;

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/vm/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Lists in a stable order: dump order is not part of any contract.
fn sorted<T: serde::Serialize + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_by_cached_key(|x| serde_json::to_string(x).unwrap_or_default());
    v
}

fn sorted_ipvs(v: &[VirtualService]) -> Vec<VirtualService> {
    let mut v = v.to_vec();
    v.iter_mut().for_each(|s| s.reals = sorted(&s.reals));
    sorted(&v)
}

fn collected() -> NodeSnapshot {
    serde_json::from_str(&data("collect.json")).expect("collect.json is a NodeSnapshot")
}

#[test]
fn tunl0_is_an_ipip_link_with_no_fixed_endpoints() {
    let links = parse_links(&data("ip-link.json")).unwrap();
    let tunl0 = links.iter().find(|l| l.name == "tunl0").expect("tunl0");
    assert_eq!(tunl0.kind.as_deref(), Some("ipip"));
    assert_eq!(tunl0.link_type.as_deref(), Some("ipip"));
    assert_eq!(tunl0.mtu, 1440);
    assert!(tunl0.flags.iter().any(|f| f == "NOARP") && tunl0.is_up());
    // The fallback device: `local any remote any`, so no addresses.
    let t = tunl0.tunnel.as_ref().expect("tunnel info");
    assert_eq!((t.local, t.remote), (None, None));
    let ipvs0 = links
        .iter()
        .find(|l| l.name == "kube-ipvs0")
        .expect("kube-ipvs0");
    assert_eq!(ipvs0.kind.as_deref(), Some("dummy"));
    let addrs = parse_addrs(&data("ip-addr.json")).unwrap();
    let on = |dev: &str| -> Vec<String> {
        let mut v: Vec<String> = addrs
            .iter()
            .filter(|a| a.dev == dev)
            .map(|a| a.addr.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(on("tunl0"), ["10.244.1.0/32"]);
    assert_eq!(
        on("kube-ipvs0"),
        ["10.96.0.10/32", "10.96.100.10/32", "10.96.200.20/32"]
    );
}

#[test]
fn ipip_routes_are_onlink_via_the_peer_node() {
    let routes = parse_routes(&data("ip-route.json")).unwrap();
    let find = |dst: &str, table| {
        routes
            .iter()
            .find(|r| r.dst.to_string() == dst && r.table == table)
            .unwrap_or_else(|| panic!("no route {dst} in table {table}"))
    };
    let peer = find("10.244.2.0/26", TABLE_MAIN);
    assert_eq!(peer.dev.as_deref(), Some("tunl0"));
    assert_eq!(peer.gateway, Some("192.0.2.12".parse().unwrap()));
    assert!(peer.onlink);
    assert_eq!((peer.protocol, peer.metric), (Protocol::BIRD, 32));
    let block = find("10.244.1.0/26", TABLE_MAIN);
    assert_eq!(
        (block.route_type, block.protocol),
        (RouteType::Blackhole, Protocol::BIRD)
    );
    let local = find("10.244.1.0/32", TABLE_LOCAL);
    assert_eq!(
        (local.route_type, local.scope, local.dev.as_deref()),
        (RouteType::Local, Scope::HOST, Some("tunl0"))
    );
    let vip = find("10.96.100.10/32", TABLE_LOCAL);
    assert_eq!(vip.dev.as_deref(), Some("kube-ipvs0"));
}

#[test]
fn ipvsadm_lists_each_scheduler_and_real_server() {
    let vs = parse_ipvsadm(&data("ipvsadm.txt")).unwrap();
    let keys: Vec<String> = vs.iter().map(VirtualService::key).collect();
    assert_eq!(
        keys,
        [
            "TCP 10.96.100.10:80",
            "TCP 10.96.200.20:8080",
            "UDP 10.96.0.10:53",
            "FWM 100"
        ]
    );
    let by = |k: &str| vs.iter().find(|v| v.key() == k).unwrap();
    let sh = by("TCP 10.96.200.20:8080");
    assert_eq!((sh.scheduler.as_str(), sh.persistent), ("sh", Some(300)));
    let wrr = by("UDP 10.96.0.10:53");
    assert_eq!(wrr.proto, IpvsProto::Udp);
    let mut weights: Vec<(String, u32)> = wrr
        .reals
        .iter()
        .map(|r| (r.ip.to_string(), r.weight))
        .collect();
    weights.sort();
    assert_eq!(
        weights,
        [("10.244.1.3".to_string(), 1), ("10.244.2.3".to_string(), 2)]
    );
    // guest.sh connected to the web ClusterIP once per web pod (rr), and
    // the connections had closed: one inactive connection per real server.
    let web = by("TCP 10.96.100.10:80");
    assert!(web
        .reals
        .iter()
        .all(|r| (r.active_conns, r.inactive_conns) == (0, 1)));
    let fwm = by("FWM 100");
    assert_eq!(
        (fwm.proto, fwm.fwmark, fwm.vip),
        (IpvsProto::Fwmark, Some(100), None)
    );
    assert!(vs
        .iter()
        .flat_map(|v| &v.reals)
        .all(|r| r.forward == Forward::Masq));
}

#[test]
fn proc_net_ip_vs_agrees_with_ipvsadm() {
    let from_proc = parse_proc_ip_vs(&data("proc-ip_vs.txt"), HZ).unwrap();
    let from_ipvsadm = parse_ipvsadm(&data("ipvsadm.txt")).unwrap();
    assert_eq!(sorted_ipvs(&from_proc), sorted_ipvs(&from_ipvsadm));
}

#[test]
fn live_collection_equals_the_import_of_the_tools_output() {
    let live = collected();
    assert_eq!(
        sorted(&live.links),
        sorted(&parse_links(&data("ip-link.json")).unwrap())
    );
    assert_eq!(
        sorted(&live.addrs),
        sorted(&parse_addrs(&data("ip-addr.json")).unwrap())
    );
    assert_eq!(
        sorted(&live.routes),
        sorted(&parse_routes(&data("ip-route.json")).unwrap())
    );
    let ipvs = live.ipvs.as_deref().expect("IPVS collected");
    assert_eq!(
        sorted_ipvs(ipvs),
        sorted_ipvs(&parse_ipvsadm(&data("ipvsadm.txt")).unwrap())
    );
}
