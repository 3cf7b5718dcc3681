//! The live netlink collector against the bundle importer on a real
//! kernel: a namespace lab with veth (across namespaces and within one),
//! a bridge with a static FDB entry, a Flannel-style VXLAN device with FDB
//! and neighbour entries, routes of every type in main, local and tables
//! 100 / 1000 (> 255), multipath, IPv6, and policy rules of each action.
//! `collect_node` for that namespace must equal the import of `ip -d -j
//! link show`, `ip -j addr show`, `ip -d -j route show table all`, `ip -4 -j
//! rule show` + `ip -6 -j rule show`, `ip -j neigh show` and `bridge -j fdb
//! show` run in it.
//!
//! Normalisation (`fixup`): every list is sorted by its Debug form, since
//! the kernel's dump order and `ip`'s grouping differ for addresses; and
//! sysctls are compared as a subset of `sysctl -a` (the collector reads
//! only the forwarding-related keys). Runs as root; skips with a printed
//! reason otherwise.

mod live_common;

use cnictl_collect::live::{collect_node, LiveOptions, NetnsTarget};
use cnictl_formats as formats;
use live_common::{skip_reason, unique_prefix, Lab};

fn fixup<T: std::fmt::Debug>(mut v: Vec<T>) -> Vec<T> {
    v.sort_by_cached_key(|x| format!("{x:?}"));
    v
}

/// Builds the node namespace `a` (peer node `b`, pod `p`).
fn build(lab: &Lab, a: &str, b: &str, p: &str) {
    let ip = |ns: &str, cmd: &str| lab.ip(ns, cmd);
    ip(
        a,
        &format!("link add veth0 type veth peer name eth0 netns {b}"),
    );
    ip(
        a,
        &format!("link add vpod type veth peer name eth0 netns {p}"),
    );
    ip(a, "link add br0 type bridge");
    ip(a, "link add vp0 type veth peer name vp1");
    ip(a, "link set vp0 master br0");
    ip(a, "link set vpod master br0");
    ip(a, "link add flannel.1 address 0e:00:00:00:00:01 type vxlan id 1 local 192.0.2.11 dev veth0 dstport 8472 nolearning");
    ip(a, "link set flannel.1 mtu 1450");
    for dev in ["lo", "veth0", "br0", "vp0", "vp1", "vpod", "flannel.1"] {
        ip(a, &format!("link set {dev} up"));
    }
    for dev in ["lo", "eth0"] {
        ip(b, &format!("link set {dev} up"));
        ip(p, &format!("link set {dev} up"));
    }
    ip(b, "addr add 192.0.2.12/24 dev eth0");
    ip(p, "addr add 10.244.1.5/24 dev eth0");
    ip(p, "route add default via 10.244.1.1");
    ip(a, "addr add 192.0.2.11/24 dev veth0");
    ip(a, "addr add 2001:db8::11/64 dev veth0");
    ip(a, "addr add 10.244.1.1/24 dev br0");
    ip(a, "addr add 10.244.1.0/32 dev flannel.1");
    ip(a, "addr add 10.99.0.1 peer 10.99.0.2/32 dev vp1");
    ip(
        a,
        "neigh replace 10.244.2.0 lladdr 0e:00:00:00:00:02 dev flannel.1 nud permanent",
    );
    ip(
        a,
        "neigh replace 192.0.2.99 lladdr 02:00:00:00:00:99 dev veth0 nud stale",
    );
    ip(
        a,
        "neigh replace 2001:db8::99 lladdr 02:00:00:00:00:98 dev veth0 nud permanent router",
    );
    run_bridge(
        a,
        "fdb append 0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.12 self permanent",
    );
    run_bridge(
        a,
        "fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.13 self permanent",
    );
    run_bridge(a, "fdb add 02:11:22:33:44:55 dev vp0 master static");
    run_bridge(a, "fdb add 02:00:00:00:00:01 dev vp0 master extern_learn");
    run_bridge(a, "fdb add 02:00:00:00:00:02 dev vp0 master static sticky");
    run_bridge(a, "fdb add 02:00:00:00:00:04 dev vp0 master dynamic");
    run_bridge(
        a,
        "fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.14 vni 5 port 4789 self permanent",
    );
    for r in [
        "route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
        "route add default via 192.0.2.1 dev veth0 metric 100",
        "route add blackhole 10.9.0.0/16 proto 80",
        "route add unreachable 10.8.0.0/16 table 1000",
        "route add prohibit 10.7.0.0/16 table 100",
        "route add throw 10.4.0.0/16 table 100",
        "route add 10.6.0.0/16 table 1000 nexthop via 192.0.2.2 dev veth0 weight 3 nexthop via 192.0.2.3 dev veth0",
        "route add 10.5.0.0/16 via 192.0.2.4 src 192.0.2.11 proto bird",
        "route add 10.244.1.5 dev vpod scope link",
        "-6 route add 2001:db8:1::/64 via 2001:db8::1 dev veth0",
        "-6 route add 2001:db8:2::/64 table 1000 dev veth0 metric 5",
        "-6 route add 2001:db8:3::/64 table 1000 nexthop via 2001:db8::2 dev veth0 nexthop via 2001:db8::3 dev veth0 weight 2",
        "rule add from 10.244.0.0/16 to 10.6.0.0/16 lookup 1000 pref 100",
        "rule add fwmark 0x10/0xff lookup 100 pref 200",
        "rule add fwmark 0x20 iif br0 lookup 100 pref 210",
        "rule add iif br0 goto 32766 pref 300",
        "rule add lookup main suppress_prefixlength 0 pref 400",
        "rule add not to 10.0.0.0/8 blackhole pref 500",
        "rule add oif veth0 unreachable pref 510",
        "rule add to 10.1.0.0/16 prohibit pref 520",
        "rule add nop pref 530",
        "-6 rule add oif veth0 lookup 1000 pref 600",
    ] {
        ip(a, r);
    }
}

fn run_bridge(ns: &str, args: &str) {
    let mut argv = vec!["bridge", "-n", ns];
    argv.extend(args.split_whitespace());
    live_common::run(&argv);
}

#[test]
fn live_node_equals_bundle_import_of_ip_json() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let prefix = unique_prefix("n");
    let (a, b, p) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("{prefix}_web"),
    );
    let lab = Lab::new(&[a.clone(), b.clone(), p.clone()]);
    build(&lab, &a, &b, &p);

    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name(a.clone())),
        pods: true,
        pod_prefix: Some(format!("{prefix}_")),
        ipvs: false,
        ..LiveOptions::default()
    };
    let live = collect_node(&opts).expect("live collection");

    let j = |cmd: &str| lab.exec(&a, cmd);
    let links = formats::parse_links(&j("ip -d -j link show")).unwrap();
    let addrs = formats::parse_addrs(&j("ip -j addr show")).unwrap();
    let routes = formats::parse_routes(&j("ip -d -j route show table all")).unwrap();
    let rules_text = j("ip -4 -j rule show") + &j("ip -6 -j rule show");
    let rules = formats::parse_rules(&rules_text).unwrap();
    let neigh = formats::parse_neighbours(&j("ip -j neigh show")).unwrap();
    let fdb = formats::parse_fdb(&j("bridge -j fdb show")).unwrap();
    let sysctl = formats::parse_sysctl(&j("sysctl -a")).unwrap();

    assert_eq!(live.name, a);
    assert_eq!(fixup(live.links.clone()), fixup(links));
    assert_eq!(fixup(live.addrs.clone()), fixup(addrs));
    assert_eq!(fixup(live.routes.clone()), fixup(routes));
    assert_eq!(fixup(live.rules.clone().unwrap()), fixup(rules));
    assert_eq!(fixup(live.neighbours.clone().unwrap()), fixup(neigh));
    assert_eq!(fixup(live.fdb.clone().unwrap()), fixup(fdb));
    let sysctls = live.sysctls.as_ref().expect("sysctls collected");
    assert!(
        sysctls.contains_key("net.ipv4.conf.flannel.1.rp_filter"),
        "{sysctls:?}"
    );
    for (k, v) in sysctls {
        assert_eq!(sysctl.get(k), Some(v), "sysctl {k}");
    }

    // Spot checks that the lab really exercises what the comparison claims.
    assert!(live
        .routes
        .iter()
        .any(|r| r.table == 1000 && r.nexthops.len() == 2));
    assert!(live.routes.iter().any(|r| r.table == 255));
    assert!(live
        .fdb
        .as_ref()
        .unwrap()
        .iter()
        .any(|f| f.dst.is_some() && f.dev == "flannel.1"));
    let vx = live
        .link("flannel.1")
        .and_then(|l| l.vxlan.clone())
        .expect("vxlan info");
    assert_eq!(
        (vx.vni, vx.port, vx.learning, vx.dev.as_deref()),
        (1, 8472, false, Some("veth0"))
    );
    let veth = live.link("veth0").unwrap();
    assert!(veth.peer_netnsid.is_some() && veth.peer_ifindex.is_some());

    // The pod namespace, by the `<namespace>_<pod>` naming.
    let pod = live
        .pods
        .get(&format!("{prefix}/web"))
        .expect("pod netns collected");
    assert_eq!(live.pods.len(), 1, "only namespaces with the pod prefix");
    let pj = |cmd: &str| lab.exec(&p, cmd);
    assert_eq!(
        fixup(pod.links.clone()),
        fixup(formats::parse_links(&pj("ip -d -j link show")).unwrap())
    );
    assert_eq!(
        fixup(pod.addrs.clone()),
        fixup(formats::parse_addrs(&pj("ip -j addr show")).unwrap())
    );
    assert_eq!(
        fixup(pod.routes.clone()),
        fixup(formats::parse_routes(&pj("ip -d -j route show table all")).unwrap())
    );

    // A prefix that also matches the node's own namespace: that one is
    // skipped (same nsfs inode); the peer node's has no `_` and maps to
    // namespace `netns`.
    let wide = collect_node(&LiveOptions {
        pod_prefix: Some(prefix.clone()),
        ..opts
    })
    .unwrap();
    let keys: Vec<&String> = wide.pods.keys().collect();
    assert_eq!(keys, [&format!("{prefix}/web"), &format!("netns/{b}")]);
}

#[test]
fn unknown_namespace_is_an_error_naming_it() {
    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name("cnlh5-does-not-exist".into())),
        ..LiveOptions::default()
    };
    let err = collect_node(&opts).unwrap_err();
    assert!(
        err.to_string().contains("/run/netns/cnlh5-does-not-exist"),
        "{err}"
    );
}
