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
use live_common::{build_node, skip_reason, unique_prefix, Lab};

fn fixup<T: std::fmt::Debug>(mut v: Vec<T>) -> Vec<T> {
    v.sort_by_cached_key(|x| format!("{x:?}"));
    v
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
    build_node(&lab, &a, &b, &p);

    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name(a.clone())),
        pods: true,
        pod_prefix: Some(format!("{prefix}_")),
        ipvs: false,
        // Netfilter has its own live test (live_netfilter.rs); its tool runs
        // would only widen the window between the two dumps compared here.
        netfilter: false,
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
    // INCOMPLETE entries are resolutions in flight: the kernel adds them
    // whenever something in the lab sends to an unresolved address, so one
    // dump may see them and the next not. Settled entries must agree.
    let settled = |n: Vec<cnictl_model::Neigh>| -> Vec<cnictl_model::Neigh> {
        n.into_iter()
            .filter(|e| !e.state.iter().any(|s| s == "INCOMPLETE"))
            .collect()
    };
    assert_eq!(
        fixup(settled(live.neighbours.clone().unwrap())),
        fixup(settled(neigh))
    );
    assert_eq!(fixup(live.fdb.clone().unwrap()), fixup(fdb));
    let sysctls = live.sysctls.as_ref().expect("sysctls collected");
    assert!(
        sysctls.contains_key("net.ipv4.conf.flannel.1.rp_filter"),
        "{sysctls:?}"
    );
    for (k, v) in sysctls {
        // The conntrack count moves with every connection between reads.
        if k == "net.netfilter.nf_conntrack_count" {
            assert!(sysctl.contains_key(k), "sysctl {k}");
            continue;
        }
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
