//! The netlink decoders on reply bytes captured from a kernel (see
//! tests/data/netlink/README.md), against the `ip -j` / `bridge -j` JSON of
//! the same state read by this crate's parsers — as rust-netlink tests its
//! decoders on captured bytes, not on messages built by hand.
//!
//! Normalisation (`fixup`): lists are compared sorted by their Debug form,
//! since the kernel's dump order and `ip`'s grouping differ (addresses).

use std::collections::HashMap;
use std::path::Path;

use cnictl_formats::netlink::consts::{
    RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTM_NEWRULE,
};
use cnictl_formats::netlink::{link, messages, neigh, route};
use cnictl_formats::{
    parse_addrs, parse_fdb, parse_links, parse_neighbours, parse_routes, parse_rules,
};
use cnictl_model::{Link, RouteType, RuleAction};

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/netlink")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(data(name)).expect("utf-8 JSON")
}

/// The payloads of the data messages of type `kind` in a recorded dump.
fn payloads(bytes: &[u8], kind: u16) -> Vec<&[u8]> {
    messages(bytes)
        .map(|m| m.expect("a well-formed recording"))
        .filter(|m| m.kind == kind)
        .map(|m| m.payload)
        .collect()
}

/// Decodes every message of `kind` in `file` with `decode`.
fn decode_all<T>(file: &str, kind: u16, decode: impl Fn(&[u8]) -> Option<T>) -> Vec<T> {
    payloads(&data(file), kind)
        .into_iter()
        .filter_map(decode)
        .collect()
}

fn fixup<T: std::fmt::Debug>(mut v: Vec<T>) -> Vec<T> {
    v.sort_by_cached_key(|x| format!("{x:?}"));
    v
}

fn links() -> Vec<Link> {
    link::resolve_links(decode_all("links.bin", RTM_NEWLINK, link::decode_link))
}

fn names() -> HashMap<u32, String> {
    links().into_iter().map(|l| (l.ifindex, l.name)).collect()
}

#[test]
fn links_decode_as_ip_d_j_link_prints_them() {
    let links = links();
    assert_eq!(
        fixup(links.clone()),
        fixup(parse_links(&text("ip-link.json")).unwrap())
    );
    let vx = links
        .iter()
        .find(|l| l.name == "flannel.1")
        .and_then(|l| l.vxlan.clone());
    let vx = vx.expect("the VXLAN device and its info_data");
    assert_eq!((vx.vni, vx.port, vx.learning), (1, 8472, false));
    let veth = links.iter().find(|l| l.name == "veth0").expect("veth0");
    assert!(veth.peer_netnsid.is_some(), "a peer in another namespace");
}

#[test]
fn addresses_decode_as_ip_j_addr_prints_them() {
    let names = names();
    let addrs = decode_all("addrs.bin", RTM_NEWADDR, |p| link::decode_addr(p, &names));
    assert_eq!(
        fixup(addrs.clone()),
        fixup(parse_addrs(&text("ip-addr.json")).unwrap())
    );
    assert!(
        addrs.iter().any(|a| a.peer.is_some()),
        "a point-to-point peer"
    );
}

#[test]
fn routes_decode_as_ip_d_j_route_prints_them() {
    let names = names();
    let routes = decode_all("routes.bin", RTM_NEWROUTE, |p| {
        route::decode_route(p, &names)
    });
    let json = parse_routes(&text("ip-route.json")).unwrap();
    assert_eq!(fixup(routes.clone()), fixup(json));
    let has =
        |t: RouteType, table: u32| routes.iter().any(|r| r.route_type == t && r.table == table);
    assert!(has(RouteType::Blackhole, 254) && has(RouteType::Unreachable, 1000));
    assert!(has(RouteType::Local, 255) && has(RouteType::Throw, 100));
    assert!(routes
        .iter()
        .any(|r| r.table == 1000 && r.nexthops.len() == 2));
}

#[test]
fn rules_decode_as_ip_j_rule_prints_them() {
    let rules = decode_all("rules.bin", RTM_NEWRULE, route::decode_rule);
    assert_eq!(
        fixup(rules.clone()),
        fixup(parse_rules(&text("ip-rule.json")).unwrap())
    );
    assert!(rules.iter().any(|r| r.action == RuleAction::Table(1000)));
    assert!(rules.iter().any(|r| r.fwmask.is_some() && !r.not));
    assert!(rules
        .iter()
        .any(|r| r.not && r.action == RuleAction::Blackhole));
}

#[test]
fn neighbours_decode_as_ip_j_neigh_prints_them() {
    let names = names();
    let neigh = decode_all("neighbours.bin", RTM_NEWNEIGH, |p| {
        neigh::decode_neigh(p, &names)
    });
    let json = parse_neighbours(&text("ip-neigh.json")).unwrap();
    assert_eq!(fixup(neigh.clone()), fixup(json));
    assert!(neigh.iter().any(|n| n.dev == "flannel.1"));
}

#[test]
fn fdb_decodes_as_bridge_j_fdb_prints_it() {
    let names = names();
    let fdb = decode_all("fdb.bin", RTM_NEWNEIGH, |p| neigh::decode_fdb(p, &names));
    assert_eq!(
        fixup(fdb.clone()),
        fixup(parse_fdb(&text("bridge-fdb.json")).unwrap())
    );
    assert!(fdb.iter().any(|f| f.dev == "flannel.1" && f.dst.is_some()));
    assert!(fdb.iter().any(|f| f.vni == Some(5) && f.port == Some(4789)));
}

#[test]
fn every_recorded_dump_ends_with_nlmsg_done() {
    const NLMSG_DONE: u16 = cnictl_formats::netlink::consts::NLMSG_DONE;
    for (file, dumps) in [
        ("links.bin", 1),
        ("addrs.bin", 1),
        ("routes.bin", 2),
        ("rules.bin", 2),
        ("neighbours.bin", 2),
        ("fdb.bin", 1),
    ] {
        let bytes = data(file);
        assert_eq!(payloads(&bytes, NLMSG_DONE).len(), dumps, "{file}");
    }
}
