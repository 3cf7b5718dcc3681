//! One test per forwarding feature, written in the fixture DSL of
//! `common/mod.rs`, plus order-independence properties.

mod common;

use common::check;
use proptest::prelude::*;

/// Two Calico-BGP nodes (no encapsulation): cali veths, /32 host routes,
/// a blackhole for the local block and a BIRD route to the peer's block.
fn calico(extra_a: &str, extra_b: &str) -> String {
    format!(
        "
node a
internal-ip 192.0.2.11
link lo
link eth0 mac 02:00:00:00:00:0a
link cali1 kind veth mac ee:ee:ee:ee:ee:ee
addr 127.0.0.1/8 dev lo
addr 192.0.2.11/24 dev eth0
route default via 192.0.2.1 dev eth0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11
route 10.244.1.2 dev cali1 scope link
route blackhole 10.244.1.0/26 proto bird
route 10.244.2.0/26 via 192.0.2.12 dev eth0 proto bird
hint routed 169.254.1.1 proxy-arp
sysctl net.ipv4.ip_forward=1
pod default/a 10.244.1.2
{extra_a}
node b
internal-ip 192.0.2.12
link lo
link eth0 mac 02:00:00:00:00:0b
link cali2 kind veth mac ee:ee:ee:ee:ee:ee
addr 127.0.0.1/8 dev lo
addr 192.0.2.12/24 dev eth0
route default via 192.0.2.1 dev eth0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.12
route 10.244.2.2 dev cali2 scope link
route blackhole 10.244.2.0/26 proto bird
route 10.244.1.0/26 via 192.0.2.11 dev eth0 proto bird
hint routed 169.254.1.1 proxy-arp
sysctl net.ipv4.ip_forward=1
pod default/b 10.244.2.2
{extra_b}
"
    )
}

/// Two Flannel-VXLAN nodes with cni0 bridges; pods inferred from the bridge.
fn flannel(neigh_a: &str, fdb_a: &str, extra_a: &str) -> String {
    format!(
        "
node a
internal-ip 192.0.2.11
link lo
link eth0 mac 02:00:00:00:00:0a
link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:01
vxlan flannel.1 vni 1 port 8472 local 192.0.2.11
link cni0 kind bridge mtu 1450 mac 0a:58:0a:f4:01:01
addr 192.0.2.11/24 dev eth0
addr 10.244.1.0/32 dev flannel.1
addr 10.244.1.1/24 dev cni0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11
route 10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
{neigh_a}
{fdb_a}
sysctl net.ipv4.ip_forward=1
pod default/a 10.244.1.2
{extra_a}
node b
internal-ip 192.0.2.12
link lo
link eth0 mac 02:00:00:00:00:0b
link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:02
vxlan flannel.1 vni 1 port 8472 local 192.0.2.12
link cni0 kind bridge mtu 1450 mac 0a:58:0a:f4:02:01
addr 192.0.2.12/24 dev eth0
addr 10.244.2.0/32 dev flannel.1
addr 10.244.2.1/24 dev cni0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.12
route 10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1
route 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
neigh 10.244.1.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:01 PERMANENT
fdb 0a:0a:0a:0a:0a:01 dev flannel.1 dst 192.0.2.11 self permanent
sysctl net.ipv4.ip_forward=1
pod default/b 10.244.2.2
"
    )
}

const NEIGH_A: &str = "neigh 10.244.2.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:02 PERMANENT";
const FDB_A: &str = "fdb 0a:0a:0a:0a:0a:02 dev flannel.1 dst 192.0.2.12 self permanent";

#[test]
fn calico_cross_node_via_proxy_arp_and_bird_route() {
    let f = calico("", "") + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "delivered",
        &[
            "default via 169.254.1.1 dev eth0",
            "169.254.1.1 answered by proxy ARP",
            "veth → node a dev cali1",
            "10.244.2.0/26 via 192.0.2.12 dev eth0 proto bird",
            "[forwarded]",
            "ARP would resolve",
            "underlay → node b dev eth0",
            "10.244.2.2 dev cali2 scope link",
            "pod default/b owns it",
            "deliver",
        ],
    );
}

#[test]
fn blackhole_route_null_routes() {
    let f = calico("", "") + "probe from pod default/a to 10.244.1.9";
    check(
        &f,
        "null-routed",
        &[
            "blackhole 10.244.1.0/26 proto bird",
            "null-routed: blackhole route",
        ],
    );
}

#[test]
fn unreachable_and_prohibit_routes_null_route() {
    let f = calico(
        "route unreachable 10.99.0.0/16\nroute prohibit 10.98.0.0/16",
        "",
    );
    check(
        &(f.clone() + "probe from node a to 10.99.1.1"),
        "null-routed",
        &["unreachable 10.99.0.0/16", "unreachable route"],
    );
    check(
        &(f + "probe from node a to 10.98.1.1"),
        "null-routed",
        &["prohibit 10.98.0.0/16", "prohibit route"],
    );
}

#[test]
fn local_route_delivers_and_default_rules_are_said_assumed() {
    let f = calico("", "") + "probe from node a to 192.0.2.11";
    check(
        &f,
        "delivered",
        &[
            "local 192.0.2.11 dev eth0 table local",
            "derived from addresses",
            "default rules assumed",
            "deliver",
        ],
    );
}

#[test]
fn broadcast_route_delivers_as_broadcast() {
    let f = calico("route broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.11\nroute local 192.0.2.11 dev eth0 table local proto kernel scope host src 192.0.2.11", "")
        + "probe from dev a eth0 to 192.0.2.255";
    check(
        &f,
        "delivered",
        &["broadcast 192.0.2.255", "delivered (broadcast)"],
    );
}

const RULES: &str = "rule 0 lookup local\nrule 32766 lookup main\nrule 32767 lookup default";

#[test]
fn throw_continues_with_the_next_rule() {
    let a = format!("{RULES}\nrule 100 lookup 100\nroute throw 10.244.2.0/24 table 100\nroute blackhole default table 100");
    let f = calico(&a, "") + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "delivered",
        &[
            "throw: throw 10.244.2.0/24 table 100",
            "lookup 100] → next rule",
            "10.244.2.0/26 via 192.0.2.12",
            "deliver",
        ],
    );
}

#[test]
fn goto_skips_rules_in_between() {
    let a = format!("{RULES}\nrule 10 goto 200\nrule 100 blackhole\nrule 200 lookup main");
    let f = calico(&a, "") + "probe from node a to 10.244.2.2";
    check(&f, "delivered", &["200: from all lookup main", "deliver"]);
}

#[test]
fn fwmark_rule_selects_its_table() {
    let a =
        format!("{RULES}\nrule 100 fwmark 0x1/0xff lookup 100\nroute blackhole default table 100");
    let f = calico(&a, "");
    check(
        &(f.clone() + "probe from node a to 10.244.2.2 fwmark 0x101"),
        "null-routed",
        &["blackhole default table 100", "fwmark 0x1/0xff lookup 100"],
    );
    check(
        &(f + "probe from node a to 10.244.2.2 fwmark 0x2"),
        "delivered",
        &["10.244.2.0/26 via 192.0.2.12"],
    );
}

#[test]
fn blackhole_rule_action_drops() {
    let a = format!("{RULES}\nrule 50 to 10.244.2.0/24 blackhole");
    let f = calico(&a, "") + "probe from node a to 10.244.2.2";
    check(
        &f,
        "null-routed",
        &[
            "rule: 50: from all to 10.244.2.0/24 blackhole",
            "a policy rule discards it",
        ],
    );
}

#[test]
fn suppress_prefixlength_rejects_the_default_route() {
    let a = format!("{RULES}\nrule 100 lookup main suppress_prefixlength 0\nrule 200 lookup 200\nroute unreachable default table 200");
    let f = calico(&a, "") + "probe from node a to 8.8.8.8";
    check(
        &f,
        "null-routed",
        &[
            "suppressed: default via 192.0.2.1",
            "unreachable default table 200",
        ],
    );
}

#[test]
fn not_rule_inverts_its_selector() {
    let a = format!(
        "{RULES}\nrule 100 not to 10.244.0.0/16 lookup 100\nroute unreachable default table 100"
    );
    let f = calico(&a, "");
    check(
        &(f.clone() + "probe from node a to 8.8.8.8"),
        "null-routed",
        &["unreachable default table 100"],
    );
    check(&(f + "probe from node a to 10.244.2.2"), "delivered", &[]);
}

#[test]
fn lowest_metric_wins_among_equal_prefixes() {
    let a = "route 10.244.3.0/24 via 192.0.2.99 dev eth0 metric 200\nroute 10.244.3.0/24 via 192.0.2.12 dev eth0 metric 50";
    let f =
        calico(a, "route 10.244.3.0/24 dev cali2 metric 10") + "probe from node a to 10.244.3.3";
    check(
        &f,
        "neighbour-unresolved",
        &[
            "10.244.3.0/24 via 192.0.2.12 dev eth0 metric 50",
            "underlay → node b",
        ],
    );
}

#[test]
fn onlink_gateway_is_accepted_and_a_non_adjacent_one_is_not() {
    let f = calico("route 10.244.5.0/24 via 198.51.100.12 dev eth0 onlink\nroute 10.244.6.0/24 via 198.51.100.12 dev eth0", "");
    check(
        &(f.clone() + "probe from node a to 10.244.5.5"),
        "neighbour-unresolved",
        &[
            "10.244.5.0/24 via 198.51.100.12 dev eth0 onlink",
            "gateway 198.51.100.12 is not on a connected subnet",
        ],
    );
    let g = f.replace("link eth0 mac 02:00:00:00:00:0a", "link eth0 mac 02:00:00:00:00:0a\nneigh 198.51.100.12 dev eth0 lladdr 02:00:00:00:00:99 REACHABLE");
    check(
        &(g + "probe from node a to 10.244.5.5"),
        "left-cluster",
        &[
            "10.244.5.0/24 via 198.51.100.12 dev eth0 onlink",
            "neighbour: 198.51.100.12 dev eth0",
            "gateway 198.51.100.12, which is no node",
        ],
    );
    check(
        &(f + "probe from node a to 10.244.6.6"),
        "no-route",
        &[
            "10.244.6.0/24 via 198.51.100.12",
            "gateway 198.51.100.12 is not on a connected subnet",
        ],
    );
}

#[test]
fn multipath_lists_every_branch_and_follows_the_first() {
    let a = "route 10.244.4.0/24 nexthop via 192.0.2.12 dev eth0 weight 1 nexthop via 192.0.2.13 dev eth0 weight 1";
    let f = calico(
        a,
        "link cali3 kind veth\nroute 10.244.4.4 dev cali3 scope link\npod default/c 10.244.4.4",
    ) + "probe from node a to 10.244.4.4";
    check(
        &f,
        "delivered",
        &[
            "nexthop via 192.0.2.12 dev eth0 weight 1 nexthop via 192.0.2.13",
            "following nexthop 1 of 2",
            "underlay → node b",
        ],
    );
}

/// One node, a cni0 bridge and two collected pod netns behind veths.
fn bridge_node(fdb: &str) -> String {
    format!(
        "
node a
internal-ip 192.0.2.11
link eth0
link cni0 kind bridge mac 0a:58:0a:f4:01:01
link vethA kind veth master cni0 mac 0a:00:00:00:00:aa
link vethB kind veth master cni0 mac 0a:00:00:00:00:bb
addr 192.0.2.11/24 dev eth0
addr 10.244.1.1/24 dev cni0
route 10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11
neigh 192.0.2.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE
{fdb}
podns default/a
link lo
link eth0 kind veth mac 0a:00:00:00:01:02 peer vethA
addr 10.244.1.2/24 dev eth0
route default via 10.244.1.1 dev eth0
route 10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2
podns default/b
link lo
link eth0 kind veth mac 0a:00:00:00:01:03 peer vethB
addr 10.244.1.3/24 dev eth0
route default via 10.244.1.1 dev eth0
route 10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.3
"
    )
}

#[test]
fn bridge_forwards_by_fdb_across_veths() {
    let f = bridge_node("fdb 0a:00:00:00:01:03 dev vethB master cni0")
        + "probe from pod default/a to 10.244.1.3";
    check(
        &f,
        "delivered",
        &[
            "10.244.1.0/24 dev eth0",
            "ARP would resolve (node a netns default/b dev eth0",
            "veth → node a dev vethA",
            "fdb: 0a:00:00:00:01:03 dev vethB master cni0",
            "veth → node a netns default/b dev eth0",
            "deliver",
        ],
    );
}

#[test]
fn bridge_floods_an_unknown_mac() {
    let f = bridge_node("") + "probe from pod default/a to 10.244.1.3";
    check(
        &f,
        "delivered",
        &["flooded to [vethA, vethB]; taken by vethB", "deliver"],
    );
}

#[test]
fn bridge_delivers_to_its_own_address() {
    let f = bridge_node("") + "probe from pod default/a to 10.244.1.1";
    check(
        &f,
        "delivered",
        &[
            "10.244.1.0/24 dev eth0",
            "10.244.1.1 is the bridge cni0's own address",
            "bridge: frame addressed to the bridge itself",
            "local 10.244.1.1 dev cni0",
            "deliver",
        ],
    );
}

#[test]
fn unowned_address_on_a_bridge_is_unresolved() {
    let f = bridge_node("") + "probe from node a to 10.244.1.50";
    check(
        &f,
        "neighbour-unresolved",
        &["no neighbour entry for 10.244.1.50 and nothing on that segment owns it"],
    );
}

#[test]
fn pod_netns_does_not_forward_for_others() {
    let f = bridge_node("") + "probe from dev a cni0 to 10.9.9.9";
    check(&f, "no-route", &["no rule's table has a route"]);
}

#[test]
fn vxlan_encapsulates_by_neighbour_and_fdb_and_decapsulates() {
    let f = flannel(NEIGH_A, FDB_A, "") + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "delivered",
        &[
            "default via 10.244.1.1 dev eth0 (pod netns not collected",
            "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
            "vxlan-encap: 10.244.2.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:02 PERMANENT; 0a:0a:0a:0a:0a:02 dev flannel.1 dst 192.0.2.12 self permanent [vxlan encap: outer 192.0.2.11 → 192.0.2.12 udp dport 8472 vni 1 (size 134)]",
            "underlay → node b dev eth0",
            "local 192.0.2.12",
            "vxlan decap (vni 1)",
            "10.244.2.0/24 dev cni0",
            "pod default/b owns it",
            "deliver",
        ],
    );
}

#[test]
fn vxlan_all_zero_fdb_entry_is_the_default_destination() {
    let f = flannel(
        NEIGH_A,
        "fdb 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.12 self permanent",
        "",
    ) + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "delivered",
        &[
            "00:00:00:00:00:00 dev flannel.1 dst 192.0.2.12",
            "vxlan decap",
        ],
    );
}

#[test]
fn vxlan_without_fdb_entry_is_fdb_missing() {
    let f = flannel(
        NEIGH_A,
        "fdb 0a:0a:0a:0a:0a:99 dev flannel.1 dst 192.0.2.99 self permanent",
        "",
    ) + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "fdb-missing",
        &[
            "neighbour: 10.244.2.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:02",
            "no FDB entry (nor all-zero default) maps the VTEP MAC",
        ],
    );
}

#[test]
fn vxlan_without_neighbour_is_unresolved() {
    let f = flannel(
        "neigh 192.0.2.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE",
        FDB_A,
        "",
    ) + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "neighbour-unresolved",
        &["no neighbour entry for VTEP 10.244.2.0 on the VXLAN device"],
    );
}

#[test]
fn vxlan_outer_packet_must_fit_the_underlay_mtu() {
    let f = flannel(NEIGH_A, FDB_A, "");
    let wide = f
        .replace(
            "link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:01",
            "link flannel.1 mtu 1500 mac 0a:0a:0a:0a:0a:01",
        )
        .replace(
            "link cni0 kind bridge mtu 1450 mac 0a:58:0a:f4:01:01",
            "link cni0 kind bridge mtu 1500 mac 0a:58:0a:f4:01:01",
        );
    // The kernel default (df unset): the outer packet carries no DF, so
    // the underlay fragments it and it arrives, to meet node b's cni0
    // (still 1450) after decapsulation.
    check(
        &(wide.clone() + "probe from pod default/a to 10.244.2.2 size 1480"),
        "mtu-exceeded",
        &[
            "vxlan encap",
            "(size 1530)",
            "b decap",
            "packet of 1480 bytes with DF exceeds MTU 1450",
        ],
    );
    // df set (and inherit, for an inner packet with DF): dropped.
    for df in ["set", "inherit"] {
        let strict = wide.replace(
            "vxlan flannel.1 vni 1 port 8472 local 192.0.2.11",
            &format!("vxlan flannel.1 vni 1 port 8472 local 192.0.2.11 df {df}"),
        );
        check(
            &(strict + "probe from pod default/a to 10.244.2.2 size 1480"),
            "mtu-exceeded",
            &[
                "vxlan encap",
                "packet of 1530 bytes with DF exceeds MTU 1500",
            ],
        );
    }
    check(
        &(f + "probe from pod default/a to 10.244.2.2 size 1400"),
        "delivered",
        &["(size 1450)"],
    );
}

#[test]
fn mtu_exceeded_with_df_and_passes_without() {
    let f = calico("", "");
    check(
        &(f.clone() + "probe from pod default/a to 10.244.2.2 size 1600"),
        "mtu-exceeded",
        &["packet of 1600 bytes with DF exceeds MTU 1500"],
    );
    check(
        &(f + "probe from pod default/a to 10.244.2.2 size 1600 nodf"),
        "delivered",
        &[],
    );
}

#[test]
fn ipip_encapsulates_to_the_onlink_gateway() {
    let a = "link tunl0 kind ipip mtu 1480\naddr 10.244.1.64/32 dev tunl0\nroute 10.244.8.0/26 via 192.0.2.12 dev tunl0 proto bird onlink";
    let b = "link tunl0 kind ipip mtu 1480\nlink cali3 kind veth\nroute 10.244.8.8 dev cali3 scope link\npod default/c 10.244.8.8";
    let f = calico(a, b) + "probe from pod default/a to 10.244.8.8";
    check(
        &f,
        "delivered",
        &[
            "10.244.8.0/26 via 192.0.2.12 dev tunl0 proto bird onlink",
            "ipip encap: outer 192.0.2.11 → 192.0.2.12 proto 4 (size 104)",
            "underlay → node b",
            "ipip decap",
            "10.244.8.8 dev cali3",
            "deliver",
        ],
    );
}

#[test]
fn ipvs_dnats_to_every_real_server() {
    let a = "link kube-ipvs0 kind dummy\naddr 10.96.0.10/32 dev kube-ipvs0\nipvs tcp 10.96.0.10:80 -> 10.244.1.2:8080 10.244.2.2:8080";
    let f = calico(a, "") + "probe from pod default/a to 10.96.0.10 tcp 80";
    check(
        &f,
        "delivered",
        &[
            "local 10.96.0.10 dev kube-ipvs0",
            "branch:",
            "TCP 10.96.0.10:80 rr  -> 10.244.1.2:8080",
            "DNAT → 10.244.1.2:8080",
            "pod default/a owns it",
            "branch:",
            "DNAT → 10.244.2.2:8080",
            "underlay → node b",
            "deliver",
        ],
    );
}

#[test]
fn ipvs_branch_drop_makes_the_trace_drop() {
    let a = "link kube-ipvs0 kind dummy\naddr 10.96.0.10/32 dev kube-ipvs0\nipvs tcp 10.96.0.10:80 -> 10.244.1.2:8080 10.244.1.9:8080";
    let f = calico(a, "") + "probe from pod default/a to 10.96.0.10 tcp 80";
    check(
        &f,
        "null-routed",
        &[
            "branch:",
            "delivered",
            "branch:",
            "null-routed",
            "blackhole 10.244.1.0/26",
        ],
    );
}

#[test]
fn ip_forward_off_drops_on_the_forwarding_node() {
    let f = calico("", "").replace(
        "sysctl net.ipv4.ip_forward=1\npod default/b",
        "sysctl net.ipv4.ip_forward=0\npod default/b",
    ) + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "ip-forward-disabled",
        &["underlay → node b", "net.ipv4.ip_forward = 0"],
    );
}

#[test]
fn routing_loop_is_detected() {
    let f = calico(
        "route 10.244.9.0/24 via 192.0.2.12 dev eth0",
        "route 10.244.9.0/24 via 192.0.2.11 dev eth0",
    ) + "probe from node a to 10.244.9.9";
    check(&f, "loop", &["TTL expired"]);
}

#[test]
fn pod_destination_through_a_non_node_gateway_left_the_cluster() {
    let f = calico("", "") + "probe from pod default/a to 10.244.7.7";
    check(
        &f,
        "left-cluster",
        &[
            "default via 192.0.2.1 dev eth0",
            "left the cluster towards gateway 192.0.2.1",
        ],
    );
}

#[test]
fn underlay_router_carries_traffic_to_a_node_in_another_subnet() {
    let a = "route 10.244.3.0/26 via 192.0.2.1 dev eth0";
    let extra = "\nnode c\ninternal-ip 198.51.100.13\nlink eth0\nlink cali3 kind veth\naddr 198.51.100.13/24 dev eth0\nroute 10.244.3.3 dev cali3 scope link\npod default/c 10.244.3.3\n";
    let f = calico(a, "") + extra + "probe from node a to 198.51.100.13";
    check(
        &f,
        "delivered",
        &["via router 192.0.2.1 (not a node", "deliver"],
    );
}

#[test]
fn missing_route_device_is_reported() {
    let f = calico("route 10.244.5.0/24 dev nosuch0", "") + "probe from node a to 10.244.5.5";
    check(
        &f,
        "no-route",
        &["the route names a device that does not exist"],
    );
}

#[test]
fn fixture_rules_none_uses_defaults() {
    let f = calico("", "") + "probe from node a to 10.244.2.2";
    check(&f, "delivered", &["default rules assumed"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The trace does not depend on the order of routes, rules, neighbours or
    /// FDB entries in the snapshot.
    #[test]
    fn trace_is_independent_of_entry_order(seed in any::<u64>()) {
        let texts = [
            flannel(NEIGH_A, FDB_A, &format!("{RULES}\nrule 100 lookup 100\nroute throw 10.244.2.0/24 table 100\nroute 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink metric 7")) + "probe from pod default/a to 10.244.2.2",
            calico("route 10.244.2.0/26 via 192.0.2.99 dev eth0 metric 5\nroute 10.244.2.0/26 via 192.0.2.12 dev eth0 metric 5", "") + "probe from pod default/a to 10.244.2.2",
        ];
        for text in texts {
            let fx = common::parse(&text);
            let dp = cnictl_dataplane::Dataplane::with_hints(&fx.snap, &fx.hints);
            let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
            let want = common::render(&dp, &dp.trace(&pkt, ing));
            let mut snap = fx.snap.clone();
            let mut rng = seed;
            for node in snap.nodes.values_mut() {
                shuffle(&mut node.routes, &mut rng);
                if let Some(r) = node.rules.as_mut() { shuffle(r, &mut rng); }
                if let Some(n) = node.neighbours.as_mut() { shuffle(n, &mut rng); }
                if let Some(f) = node.fdb.as_mut() { shuffle(f, &mut rng); }
            }
            let dp2 = cnictl_dataplane::Dataplane::with_hints(&snap, &fx.hints);
            let (pkt2, ing2) = common::probe_input(&dp2, &snap, &fx.probes[0]);
            prop_assert_eq!(common::render(&dp2, &dp2.trace(&pkt2, ing2)), want);
        }
    }
}

/// Fisher–Yates with a xorshift generator seeded by proptest.
fn shuffle<T>(v: &mut [T], rng: &mut u64) {
    for i in (1..v.len()).rev() {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let j = (*rng % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

#[test]
fn strict_rp_filter_drops_when_the_way_back_is_elsewhere() {
    let b = "sysctl net.ipv4.conf.all.rp_filter=1\nlink eth1\naddr 198.51.100.12/24 dev eth1\nroute 10.244.1.0/26 via 198.51.100.11 dev eth1";
    let f = calico("", b).replace(
        "route 10.244.1.0/26 via 192.0.2.11 dev eth0 proto bird\n",
        "",
    );
    check(
        &(f.clone() + "probe from pod default/a to 10.244.2.2"),
        "no-route",
        &["underlay → node b dev eth0", "strict rp_filter"],
    );
    let loose = f.replace("rp_filter=1", "rp_filter=2");
    check(
        &(loose + "probe from pod default/a to 10.244.2.2"),
        "delivered",
        &[],
    );
}

#[test]
fn collected_pod_without_peer_index_pairs_by_host_route() {
    let b = "podns default/b\nlink lo\nlink eth0 kind veth\naddr 10.244.2.2/32 dev eth0\nroute 169.254.1.1 dev eth0 scope link\nroute default via 169.254.1.1 dev eth0";
    let f = calico("", b) + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "delivered",
        &[
            "10.244.2.2 dev cali2 scope link",
            "veth → node b netns default/b dev eth0",
            "deliver",
        ],
    );
}

#[test]
fn routed_pod_without_a_hint_has_no_inferred_gateway() {
    // Without the CNI's hint the snapshot cannot tell an uncollected pod's
    // default gateway; traffic to the pod still finds its routed veth.
    let f = calico("", "").replace("hint routed 169.254.1.1 proxy-arp\n", "");
    check(
        &(f.clone() + "probe from pod default/a to 10.244.2.2"),
        "insufficient-info",
        &["veth peer / bridge port) is not in the snapshot"],
    );
    check(
        &(f + "probe from node a to 10.244.2.2"),
        "delivered",
        &["veth → pod default/b eth0 (pod netns inferred)"],
    );
}

#[test]
fn collected_proxy_arp_sysctl_wins_over_the_hint() {
    let f = calico("sysctl net.ipv4.conf.cali1.proxy_arp=0", "")
        + "probe from pod default/a to 10.244.2.2";
    check(
        &f,
        "neighbour-unresolved",
        &["no neighbour entry for 169.254.1.1"],
    );
}
