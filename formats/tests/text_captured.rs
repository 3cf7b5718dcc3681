//! The text form of iproute2's listings against the JSON of the same state:
//! captured in the same node netns of `cnictl lab up flannel-vxlan` and
//! `calico-bgp` (tests/data/iproute2-text/), one right after the other,
//! both forms must read into the same model values. The only field the
//! text cannot carry is listed where it is compared: a veth peer in a
//! named namespace prints `link-netns NAME`, not the netns id.

use cnictl_formats::text::{self, FromText};
use cnictl_formats::{self as formats, ParseError};
use cnictl_model::Link;

const NODES: &[&str] = &["flannel-vxlan-node-1", "calico-bgp-node-1"];

fn read(node: &str, file: &str) -> String {
    let path = format!(
        "{}/tests/data/iproute2-text/{node}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn both<T: PartialEq + std::fmt::Debug>(
    node: &str,
    name: &str,
    json: fn(&str) -> Result<T, ParseError>,
    txt: fn(&str) -> Result<FromText<T>, ParseError>,
) -> (T, FromText<T>) {
    let j = json(&read(node, &format!("{name}.json"))).expect("JSON parses");
    let t = txt(&read(node, &format!("{name}.txt"))).expect("text parses");
    (j, t)
}

/// The netns id of a peer in a named namespace is not in the text.
fn without_netnsid(mut links: Vec<Link>) -> Vec<Link> {
    for l in &mut links {
        l.peer_netnsid = None;
    }
    links
}

#[test]
fn text_and_json_of_the_same_node_read_the_same() {
    for node in NODES {
        let (j, t) = both(
            node,
            "ip-link",
            formats::parse_links,
            text::parse_links_text,
        );
        assert!(t.lacks.is_empty(), "{node}: {:?}", t.lacks);
        assert!(
            j.iter().any(|l| l.peer_netnsid.is_some()),
            "{node}: the capture has veth peers"
        );
        assert_eq!(
            without_netnsid(t.value),
            without_netnsid(j),
            "{node} ip-link"
        );
        let (j, t) = both(
            node,
            "ip-addr",
            formats::parse_addrs,
            text::parse_addrs_text,
        );
        assert_eq!(t.value, j, "{node} ip-addr");
        let (j, t) = both(
            node,
            "ip-route",
            formats::parse_routes,
            text::parse_routes_text,
        );
        assert!(t.lacks.is_empty(), "{node}: {:?}", t.lacks);
        assert_eq!(t.value, j, "{node} ip-route");
        let (j, t) = both(
            node,
            "ip-neigh",
            formats::parse_neighbours,
            text::parse_neighbours_text,
        );
        assert_eq!(t.value, j, "{node} ip-neigh");
        let (j, t) = both(
            node,
            "ip-rule",
            formats::parse_rules,
            text::parse_rules_text,
        );
        assert_eq!(t.value, j, "{node} ip-rule");
        let (j, t) = both(node, "bridge-fdb", formats::parse_fdb, text::parse_fdb_text);
        assert_eq!(t.value, j, "{node} bridge-fdb");
    }
}

#[test]
fn vxlan_details_come_from_the_text() {
    let t = text::parse_links_text(&read("flannel-vxlan-node-1", "ip-link.txt")).unwrap();
    let vx = t.value.iter().find(|l| l.name == "flannel.1").unwrap();
    assert_eq!(vx.kind.as_deref(), Some("vxlan"));
    let info = vx.vxlan.as_ref().unwrap();
    assert_eq!((info.vni, info.port, info.learning), (1, 8472, false));
    assert_eq!(info.dev.as_deref(), Some("eth0"));
}

#[test]
fn ip_link_without_details_says_what_it_lacks() {
    let t = text::parse_links_text(&read("flannel-vxlan-node-1", "ip-link-nod.txt")).unwrap();
    assert_eq!(t.lacks.len(), 1);
    assert!(t.lacks[0].contains("ip -d link show"), "{:?}", t.lacks);
    let kind = |name: &str| {
        let l = t.value.iter().find(|l| l.name == name).unwrap();
        (l.kind.clone().unwrap_or_default(), l.vxlan.is_some())
    };
    // Unknown, not guessed: flannel.1 could be any kind, and so could eth0
    // (a veth here, a NIC on a real node: its peer's netns says veth).
    assert_eq!(kind("flannel.1"), (Link::KIND_UNKNOWN.to_string(), false));
    assert_eq!(kind("cni0"), ("bridge".to_string(), false));
    assert_eq!(kind("lo"), (String::new(), false));
    let veth = t.value.iter().find(|l| l.name.starts_with("veth")).unwrap();
    assert_eq!(veth.kind.as_deref(), Some("veth"));
    assert_eq!(veth.master.as_deref(), Some("cni0"));
    assert_eq!(veth.peer_ifindex, Some(2));
}

#[test]
fn plain_ip_route_reads_the_main_table_and_says_what_it_lacks() {
    let t = text::parse_routes_text(&read("flannel-vxlan-node-1", "ip-route-plain.txt")).unwrap();
    let all = formats::parse_routes(&read("flannel-vxlan-node-1", "ip-route.json")).unwrap();
    let main_v4: Vec<_> = all
        .into_iter()
        .filter(|r| r.table == 254 && r.dst.addr().is_ipv4())
        .collect();
    assert_eq!(t.value, main_v4);
    assert!(t.lacks[0].contains("local table"), "{:?}", t.lacks);
}

#[test]
fn errors_name_line_column_and_what_was_expected() {
    let bad = "default via 192.0.2.1 dev eth0\n10.244.1.0/24 dev cni0 bogus 1\n";
    let e = text::parse_routes_text(bad).unwrap_err();
    assert_eq!((e.line(), e.column()), (2, 24), "{e}");
    assert!(
        e.message().contains("route attribute") && e.message().contains("bogus"),
        "{e}"
    );
    let e = text::parse_links_text("1: lo: <UP> mtu\n").unwrap_err();
    assert_eq!((e.line(), e.column()), (1, 16), "{e}");
    assert!(e.message().contains("an MTU"), "{e}");
    let e = text::parse_neighbours_text("10.0.0.1 dev eth0 lladdr\n").unwrap_err();
    assert!(e.message().contains("link-layer address"), "{e}");
    let e = text::parse_rules_text("0:\tfrom all lookup local\nx: from all\n").unwrap_err();
    assert_eq!((e.line(), e.column()), (2, 1), "{e}");
    let e = text::parse_fdb_text("aa:bb:cc:dd:ee:ff dst 1.2.3.4\n").unwrap_err();
    assert!(e.message().contains("dev NAME"), "{e}");
    let e = text::parse_addrs_text("    inet 10.0.0.1/24 scope global eth0\n").unwrap_err();
    assert!(e.message().contains("link header"), "{e}");
}

#[test]
fn multipath_nexthops_and_rules_with_marks() {
    let t = text::parse_routes_text(
        "10.0.0.0/24 proto bird metric 20 \n\tnexthop via 192.0.2.12 dev eth0 weight 1 \n\tnexthop via 192.0.2.13 dev eth0 weight 2 onlink\n",
    )
    .unwrap();
    let r = &t.value[0];
    assert_eq!(r.nexthops.len(), 2);
    assert_eq!((r.nexthops[1].weight, r.nexthops[1].onlink), (2, true));
    let rules = text::parse_rules_text(
        "0:\tfrom all lookup local\n100:\tnot from 10.0.0.0/8 fwmark 0x4000/0xffff iif eth0 lookup 100\n0:\tfrom all lookup local\n32766:\tfrom all lookup main\n",
    )
    .unwrap()
    .value;
    assert_eq!(rules[1].fwmark, Some(0x4000));
    assert_eq!(rules[1].fwmask, Some(0xffff));
    assert!(rules[1].not);
    assert_eq!(rules[1].family, "inet");
    assert_eq!(
        rules[2].family, "inet6",
        "a second listing is the other family"
    );
}

#[test]
fn is_text_tells_json_from_text() {
    assert!(text::is_text("1: lo: <UP>"));
    assert!(!text::is_text(" [{\"x\":1}]"));
    assert!(!text::is_text(""));
}
