//! explain on bundles recorded from real namespace labs (fixtures/): known
//! paths — same node, cross node, to a service, into a blackhole, through a
//! missing FDB entry — and the finding code each broken bundle should yield.

use std::path::PathBuf;

use cnictl_analyzers::explain::{
    explain, render_text, ExplainRequest, Explanation, Family, Verdict,
};
use cnictl_analyzers::hints;

fn fixture(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: fixture {name} not present at {}", dir.display());
        None
    }
}

/// Explains SRC → DST on a fixture (None when the fixture is absent).
fn run(name: &str, req: ExplainRequest) -> Option<Explanation> {
    let dir = fixture(name)?;
    let snap =
        cnictl_collect::bundle::load_dir(&dir).unwrap_or_else(|e| panic!("loading {name}: {e}"));
    let dp = hints::dataplane(&snap);
    let ex = explain(&snap, &dp, &req).unwrap_or_else(|e| panic!("{name}: {e}"));
    let v = serde_json::to_value(&ex).expect("serialize");
    assert!(
        !v["hops"].as_array().expect("hops").is_empty(),
        "{name}: hops"
    );
    assert_eq!(
        ex.verdict == Verdict::Dropped,
        v.get("drop").is_some(),
        "{name}: drop iff dropped"
    );
    Some(ex)
}

fn expect(
    name: &str,
    src: &str,
    dst: &str,
    verdict: Verdict,
    code: Option<&str>,
) -> Option<Explanation> {
    let ex = run(name, ExplainRequest::new(src, dst))?;
    let got = ex
        .drop
        .as_ref()
        .and_then(|d| d.code.map(cnictl_analyzers::Code::as_str));
    assert_eq!(
        (ex.verdict, got),
        (verdict, code),
        "{name} {src} → {dst}:\n{}",
        render_text(&ex)
    );
    Some(ex)
}

#[test]
fn healthy_models_deliver_same_node_and_cross_node() {
    for name in [
        "flannel-vxlan",
        "flannel-host-gw",
        "calico-bgp",
        "calico-ipip",
    ] {
        expect(
            name,
            "default/web-1",
            "default/api-1",
            Verdict::Delivered,
            None,
        );
        if let Some(ex) = expect(
            name,
            "default/web-1",
            "default/web-3",
            Verdict::Delivered,
            None,
        ) {
            let nodes: Vec<&str> = ex.hops.iter().map(|h| h.node.as_str()).collect();
            assert!(
                nodes.contains(&"node-1") && nodes.contains(&"node-3"),
                "{name}: {nodes:?}"
            );
        }
    }
}

#[test]
fn flannel_vxlan_cross_node_encapsulates_with_vni_1_on_8472() {
    if let Some(ex) = expect("flannel-vxlan", "web-1", "web-2", Verdict::Delivered, None) {
        let rw: Vec<&str> = ex
            .hops
            .iter()
            .filter_map(|h| h.rewrite.as_deref())
            .collect();
        assert!(
            rw.iter()
                .any(|r| r
                    .contains("vxlan encap: outer 192.0.2.11 → 192.0.2.12 udp dport 8472 vni 1")),
            "{rw:?}"
        );
        assert!(rw.iter().any(|r| r.starts_with("vxlan decap")), "{rw:?}");
    }
}

#[test]
fn service_paths_reach_every_backend() {
    if let Some(ex) = expect(
        "flannel-vxlan-ipvs",
        "default/web-1",
        "svc/default/api",
        Verdict::Delivered,
        None,
    ) {
        assert!(ex.backends.len() >= 2, "{}", render_text(&ex));
        assert!(ex.backends.iter().all(|b| b.verdict == Verdict::Delivered));
    }
}

#[test]
fn broken_bundles_give_their_finding_code() {
    let cases = [
        (
            "flannel-vxlan-broken-vxlan-fdb-missing",
            "web-1",
            "web-2",
            "vxlan-fdb-missing",
        ),
        (
            "flannel-vxlan-broken-vxlan-neigh-missing",
            "web-1",
            "web-2",
            "vxlan-neigh-missing",
        ),
        (
            "flannel-vxlan-broken-route-shadowed",
            "web-1",
            "web-2",
            "route-shadowed",
        ),
        (
            "calico-bgp-broken-route-shadowed",
            "web-1",
            "web-2",
            "route-shadowed",
        ),
        (
            "flannel-vxlan-broken-missing-pod-route",
            "web-1",
            "web-2",
            "missing-pod-route",
        ),
        (
            "flannel-vxlan-broken-ip-forward-disabled",
            "web-2",
            "web-1",
            "ip-forward-disabled",
        ),
        (
            "flannel-host-gw-broken-next-hop-not-adjacent",
            "web-1",
            "web-2",
            "next-hop-not-adjacent",
        ),
        (
            "calico-bgp-broken-bgp-route-missing",
            "web-1",
            "web-2",
            "bgp-route-missing",
        ),
        (
            "calico-bgp-broken-pod-route-missing",
            "web-2",
            "web-1",
            "pod-route-missing",
        ),
        (
            "flannel-vxlan-broken-pod-route-missing",
            "web-2",
            "web-1",
            "pod-route-missing",
        ),
        (
            "flannel-vxlan-ipvs-broken-ipvs-service-missing",
            "web-2",
            "svc/default/web",
            "ipvs-service-missing",
        ),
        (
            "flannel-vxlan-ipvs-broken-ipvs-no-backends",
            "web-1",
            "svc/default/api",
            "ipvs-no-backends",
        ),
        (
            "flannel-vxlan-broken-vxlan-fdb-mismatch",
            "web-1",
            "web-2",
            "vxlan-fdb-mismatch",
        ),
        (
            "calico-bgp-broken-bgp-session-down",
            "web-1",
            "web-2",
            "bgp-session-down",
        ),
        (
            "calico-bgp-broken-ipam-leaked-affinity",
            "web-1",
            "web-2",
            "ipam-leaked-affinity",
        ),
        (
            "calico-bgp-route-reflector-broken-bgp-session-down",
            "web-2",
            "web-3",
            "bgp-session-down",
        ),
    ];
    for (name, src, dst, code) in cases {
        expect(name, src, dst, Verdict::Dropped, Some(code));
    }
}

#[test]
fn broken_mtu_drops_a_full_size_packet() {
    let mut req = ExplainRequest::new("web-1", "web-2");
    req.size = Some(1500);
    if let Some(ex) = run("flannel-vxlan-broken-mtu-mismatch", req) {
        let code = ex
            .drop
            .as_ref()
            .and_then(|d| d.code.map(cnictl_analyzers::Code::as_str));
        assert_eq!(code, Some("mtu-mismatch"), "{}", render_text(&ex));
    }
}

#[test]
fn wrong_next_hop_is_a_detour_or_a_drop() {
    for name in [
        "flannel-vxlan-broken-wrong-next-hop",
        "flannel-host-gw-broken-wrong-next-hop",
    ] {
        let Some(ex) = run(name, ExplainRequest::new("web-1", "web-2")) else {
            continue;
        };
        let flagged = ex.notes.iter().any(|n| n.contains("wrong-next-hop"))
            || ex
                .drop
                .as_ref()
                .and_then(|d| d.code.map(cnictl_analyzers::Code::as_str))
                == Some("wrong-next-hop");
        assert!(flagged, "{name}:\n{}", render_text(&ex));
    }
}

/// A drop whose finding is a consequence names its root cause: web-2 →
/// web-1 dies on node-2, whose session is down because node-1's end is.
#[test]
fn a_drop_on_a_symptom_names_the_root_cause_to_fix_first() {
    let Some(dir) = fixture("calico-bgp-broken-bgp-session-down") else {
        return;
    };
    let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
    let a = cnictl_analyzers::pipeline::Analysis::new(std::sync::Arc::new(snap));
    let ex = a
        .explain(&ExplainRequest::new("default/web-2", "default/web-1"))
        .expect("explains");
    let drop = ex.drop.as_ref().expect("dropped");
    let f = drop.finding.as_ref().expect("a finding about the drop");
    assert_eq!(
        (f.code.as_str(), f.node.as_deref()),
        ("bgp-session-down", Some("node-2"))
    );
    let rc = drop.root_cause.as_ref().expect("a root cause");
    assert_eq!(rc.finding.node.as_deref(), Some("node-1"));
    assert_eq!(rc.because, "the other end of the same session");
    let text = render_text(&ex);
    assert!(
        text.contains("root cause: [bgp-session-down] on node-1"),
        "{text}"
    );
    // The root's own drop has no root cause above it.
    let ex = a
        .explain(&ExplainRequest::new("default/web-1", "default/web-2"))
        .expect("explains");
    let drop = ex.drop.as_ref().expect("dropped");
    assert_eq!(
        drop.finding.as_ref().and_then(|f| f.node.as_deref()),
        Some("node-1")
    );
    assert!(drop.root_cause.is_none());
}

/// One explain of a pod pair over `family`, by name: its verdict, drop
/// code, and the addresses it chose.
fn by_family(name: &str, src: &str, dst: &str, family: Family) -> Option<Explanation> {
    let mut req = ExplainRequest::new(src, dst);
    req.family = Some(family);
    run(name, req)
}

fn drop_code(ex: &Explanation) -> Option<&'static str> {
    ex.drop
        .as_ref()
        .and_then(|d| d.code.map(cnictl_analyzers::Code::as_str))
}

#[test]
fn dual_stack_pods_explain_over_either_family() {
    let name = "flannel-host-gw-dual-stack";
    let Some(v4) = by_family(name, "default/web-1", "default/api-2", Family::V4) else {
        return;
    };
    assert_eq!(v4.verdict, Verdict::Delivered, "{}", render_text(&v4));
    assert!(v4.dst.ip.is_ipv4());
    let v6 = by_family(name, "default/web-1", "default/api-2", Family::V6).expect("fixture");
    assert_eq!(v6.verdict, Verdict::Delivered, "{}", render_text(&v6));
    assert_eq!(v6.dst.ip.to_string(), "fd00:10:244:2::3");
    assert_eq!(v6.src.ip.to_string(), "fd00:10:244:1::2");
    // An IPv6 address for one end picks the pod's IPv6 address for the other.
    let ex = run(
        name,
        ExplainRequest::new("default/web-1", "fd00:10:244:3::2"),
    )
    .expect("fixture");
    assert_eq!(ex.src.ip.to_string(), "fd00:10:244:1::2");
    assert_eq!(ex.verdict, Verdict::Delivered, "{}", render_text(&ex));
    // The default is IPv4.
    let ex = run(name, ExplainRequest::new("default/web-1", "default/api-2")).expect("fixture");
    assert!(ex.dst.ip.is_ipv4());
}

#[test]
fn asking_for_ipv6_of_an_ipv4_only_pod_is_a_usage_error() {
    let Some(dir) = fixture("flannel-host-gw") else {
        return;
    };
    let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
    let dp = hints::dataplane(&snap);
    let mut req = ExplainRequest::new("default/web-1", "default/api-2");
    req.family = Some(Family::V6);
    let err = explain(&snap, &dp, &req).expect_err("no IPv6 address");
    assert!(err.to_string().contains("no IPv6 address"), "{err}");
}

#[test]
fn a_missing_ipv6_pod_route_drops_ipv6_only() {
    let name = "flannel-host-gw-dual-stack-broken-missing-pod-route";
    let Some(v6) = by_family(name, "default/web-1", "default/api-2", Family::V6) else {
        return;
    };
    assert_eq!(v6.verdict, Verdict::Dropped, "{}", render_text(&v6));
    assert_eq!(drop_code(&v6), Some("missing-pod-route"));
    let v4 = by_family(name, "default/web-1", "default/api-2", Family::V4).expect("fixture");
    assert_eq!(v4.verdict, Verdict::Delivered, "{}", render_text(&v4));
    let back = by_family(name, "default/api-2", "default/web-1", Family::V6).expect("fixture");
    assert_eq!(back.verdict, Verdict::Delivered, "{}", render_text(&back));
}

/// Flannel VXLAN dual-stack: IPv6 crosses flannel-v6.1 in an IPv6 outer
/// header 70 bytes larger than the inner packet (IPv4's is 50), and the
/// receiving node hands it to flannel-v6.1, not to flannel.1, which shares
/// its VNI and port but listens on an IPv4 socket: with flannel.1 down on
/// the receiver IPv4 is dropped there while IPv6 still arrives, as the
/// kernel does.
#[test]
fn dual_stack_vxlan_ipv6_rides_flannel_v6_1() {
    let name = "flannel-vxlan-dual-stack";
    let Some(v6) = by_family(name, "default/web-1", "default/api-2", Family::V6) else {
        return;
    };
    let text = render_text(&v6);
    assert_eq!(v6.verdict, Verdict::Delivered, "{text}");
    assert!(
        text.contains("outer fd00:192:0:2::11 → fd00:192:0:2::12 udp dport 8472 vni 1 (size 154)"),
        "{text}"
    );
    assert!(text.contains("[node-2 eth0→flannel-v6.1] decap"), "{text}");

    let dir = fixture(name).expect("fixture");
    let mut snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
    let node2 = snap.nodes.get_mut("node-2").expect("node-2");
    let dev = node2.links.iter_mut().find(|l| l.name == "flannel.1");
    dev.expect("flannel.1").flags.retain(|f| f != "UP");
    let dp = hints::dataplane(&snap);
    let mut req = ExplainRequest::new("default/web-1", "default/api-2");
    let v4 = explain(&snap, &dp, &req).expect("explains");
    assert_eq!(v4.verdict, Verdict::Dropped, "{}", render_text(&v4));
    req.family = Some(Family::V6);
    let v6 = explain(&snap, &dp, &req).expect("explains");
    assert_eq!(v6.verdict, Verdict::Delivered, "{}", render_text(&v6));
}

#[test]
fn dual_stack_vxlan_ipv6_faults_drop_ipv6_only() {
    for (name, code) in [
        (
            "flannel-vxlan-dual-stack-broken-vxlan-fdb-missing",
            "vxlan-fdb-missing",
        ),
        (
            "flannel-vxlan-dual-stack-broken-vxlan-neigh-missing",
            "vxlan-neigh-missing",
        ),
        (
            "flannel-vxlan-dual-stack-broken-missing-pod-route",
            "missing-pod-route",
        ),
    ] {
        let Some(v6) = by_family(name, "default/web-1", "default/api-2", Family::V6) else {
            return;
        };
        assert_eq!(drop_code(&v6), Some(code), "{}", render_text(&v6));
        let v4 = by_family(name, "default/web-1", "default/api-2", Family::V4).expect("fixture");
        assert_eq!(v4.verdict, Verdict::Delivered, "{}", render_text(&v4));
    }
}
