//! Calico topologies beyond the full mesh, against a real namespace lab:
//! `cnictl lab up calico-bgp --reflectors 1` (node-1 reflects, BIRD as
//! Calico's confd renders reflector and clients, the BGPConfiguration and
//! BGPPeer in k8s/) must check clean; after `lab break bgp-session-down`
//! on a client's session to the reflector, `check` must name that session
//! and explain's verdict must equal the real ping for every ordered pod
//! pair. A leaked block affinity (`lab break ipam-leaked-affinity`: BIRD
//! on node-1 blackholes and announces node-2's block) must be found, with
//! the ECMP it causes elsewhere as its consequence, and explain's round
//! trip (there and back: ping needs both) must equal ping for every pair
//! whose path takes no multipath route (explain follows the first next hop
//! of a multipath route; the kernel hashes). Calico's autodetection
//! picking docker0 on a node (`lab break node-address-mismatch`) must be
//! found as the root of the sessions it kills, and explain equal ping.
//! Runs as root with BIRD 2;
//! skips with a printed reason otherwise. Each lab has its own prefix
//! (`cnlk` + the process id in base 36 + a letter) and is torn down by a
//! guard even when an assertion fails.

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

mod common;
use common::lab::{json, ping, Lab};

fn skip_reason() -> Option<String> {
    common::lab::skip_reason(&["ip", "ping", "bash", "bird", "birdc"])
}

fn pods(bundle: &Path) -> Vec<(String, IpAddr)> {
    let snap = cnictl_collect::bundle::load_dir(bundle).expect("bundle loads");
    let pods = snap.k8s.pods.iter().filter(|p| !p.host_network);
    pods.filter_map(|p| Some((p.key(), *p.ips.first()?)))
        .collect()
}

/// Every ordered pod pair: explain's verdict equals the real ping; returns
/// how many pairs were dropped.
fn verdicts_match_ping(lab: &Lab, bundle: &Path) -> usize {
    let b = bundle.to_string_lossy().into_owned();
    let pods = pods(bundle);
    let mut dropped = 0;
    for (src, _) in &pods {
        let ns = lab.pod_netns(src);
        for (dst, ip) in pods.iter().filter(|(d, _)| d != src) {
            let (v, _) = json(&["explain", src, dst, "--bundle", &b, "-O", "json"]);
            let delivered = v["verdict"] == "delivered";
            assert_eq!(ping(&ns, *ip), delivered, "{src} → {dst}: explain {v:#}");
            if !delivered {
                dropped += 1;
                // The drop's own finding (the session on the dropping node,
                // or the block a reflector client never learned), rooted
                // in the shut session.
                let d = &v["drop"];
                let code = d["code"].as_str().unwrap_or_default();
                assert!(
                    matches!(code, "bgp-session-down" | "bgp-route-missing"),
                    "{src} → {dst}: {v:#}"
                );
                let root = d["root_cause"]["finding"]["code"].as_str().unwrap_or(code);
                assert_eq!(root, "bgp-session-down", "{src} → {dst}: {v:#}");
            }
        }
    }
    dropped
}

#[test]
fn route_reflector_lab_checks_clean_and_a_client_session_down_is_found() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping calico_live: {why}");
        return;
    }
    let lab = Lab::up(
        "cnlk",
        'r',
        "calico-bgp",
        &["--nodes", "4", "--reflectors", "1"],
    );
    let healthy = lab.bundle("healthy");
    let h = healthy.to_string_lossy().into_owned();
    let (v, code) = json(&["check", "--bundle", &h, "-O", "json"]);
    assert_eq!(code, 0, "a healthy reflector topology is clean: {v:#}");
    assert_eq!(verdicts_match_ping(&lab, &healthy), 0);

    // node-2 (a client) shuts its session to node-1 (the reflector).
    lab.break_("bgp-session-down", "node-2");
    let broken = lab.bundle("broken");
    let b = broken.to_string_lossy().into_owned();
    let (v, code) = json(&["check", "--bundle", &b, "-O", "json"]);
    assert_eq!(code, 1, "{v:#}");
    let findings = v["findings"].as_array().expect("findings");
    let on = |node: &str, peer: &str| {
        findings.iter().any(|f| {
            f["code"] == "bgp-session-down"
                && f["node"] == node
                && f["summary"].as_str().is_some_and(|s| s.contains(peer))
        })
    };
    assert!(
        on("node-2", "node-1 (192.0.2.11)") && on("node-1", "node-2 (192.0.2.12)"),
        "{v:#}"
    );
    assert!(
        verdicts_match_ping(&lab, &broken) > 0,
        "the break drops traffic"
    );
}

fn multipath(v: &Value) -> bool {
    let hops = v["hops"].as_array().into_iter().flatten();
    hops.filter_map(|h| h["entry"].as_str())
        .any(|e| e.contains("[multipath:"))
}

#[test]
fn a_leaked_block_affinity_is_found_and_explains_the_drops() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping calico_live: {why}");
        return;
    }
    let lab = Lab::up("cnlk", 'l', "calico-bgp", &[]);
    lab.break_("ipam-leaked-affinity", "node-1");
    let bundle = lab.bundle("leaked");
    let b = bundle.to_string_lossy().into_owned();
    let (v, code) = json(&["check", "--bundle", &b, "-O", "json"]);
    assert_eq!(code, 1, "{v:#}");
    let findings = v["findings"].as_array().expect("findings");
    let has = |c: &str, n: &str| findings.iter().any(|f| f["code"] == c && f["node"] == n);
    assert!(has("ipam-leaked-affinity", "node-1"), "{v:#}");
    assert!(has("ipam-block-multiple-routes", "node-3"), "{v:#}");
    assert_eq!(
        v["groups"].as_array().map(Vec::len),
        Some(1),
        "one root cause: {v:#}"
    );

    let pods = pods(&bundle);
    let (mut compared, mut dropped) = (0, 0);
    for (src, _) in &pods {
        let ns = lab.pod_netns(src);
        for (dst, ip) in pods.iter().filter(|(d, _)| d != src) {
            let (there, _) = json(&["explain", src, dst, "--bundle", &b, "-O", "json"]);
            let (back, _) = json(&["explain", dst, src, "--bundle", &b, "-O", "json"]);
            if multipath(&there) || multipath(&back) {
                continue;
            }
            let both = there["verdict"] == "delivered" && back["verdict"] == "delivered";
            assert_eq!(ping(&ns, *ip), both, "{src} ⇄ {dst}: {there:#} {back:#}");
            compared += 1;
            for way in [&there, &back]
                .into_iter()
                .filter(|w| w["verdict"] != "delivered")
            {
                dropped += 1;
                assert_eq!(way["drop"]["code"], "ipam-leaked-affinity", "{way:#}");
            }
        }
    }
    assert!(
        compared >= 20 && dropped > 0,
        "compared {compared}, dropped {dropped}"
    );
}

/// Calico's IP autodetection picked docker0 on node-1 (`lab break
/// node-address-mismatch`): its IPv4Address annotation, BIRD's router id
/// and source address, and its peers' neighbour address for it all say
/// 172.17.0.1, so none of its sessions comes up. `check` must name the
/// address as the root of what follows, and explain must equal ping for
/// every ordered pair, each drop rooted in the wrong address.
#[test]
fn a_bgp_address_on_docker0_is_found_and_explains_the_drops() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping calico_live: {why}");
        return;
    }
    let lab = Lab::up("cnlk", 'a', "calico-bgp", &[]);
    lab.break_("node-address-mismatch", "node-1");
    let bundle = lab.bundle("docker0");
    let b = bundle.to_string_lossy().into_owned();
    let (v, code) = json(&["check", "--bundle", &b, "-O", "json"]);
    assert_eq!(code, 1, "{v:#}");
    let findings = v["findings"].as_array().expect("findings");
    let mismatch = findings
        .iter()
        .find(|f| f["code"] == "node-address-mismatch" && f["node"] == "node-1");
    let summary = mismatch
        .and_then(|f| f["summary"].as_str())
        .unwrap_or_default();
    assert!(summary.contains("172.17.0.1"), "{v:#}");

    let pods = pods(&bundle);
    let mut dropped = 0;
    for (src, _) in &pods {
        let ns = lab.pod_netns(src);
        for (dst, ip) in pods.iter().filter(|(d, _)| d != src) {
            let (v, _) = json(&["explain", src, dst, "--bundle", &b, "-O", "json"]);
            let delivered = v["verdict"] == "delivered";
            assert_eq!(ping(&ns, *ip), delivered, "{src} → {dst}: explain {v:#}");
            if !delivered {
                dropped += 1;
                let d = &v["drop"];
                let root = d["root_cause"]["finding"]["code"].as_str();
                let root = root.or(d["code"].as_str());
                assert_eq!(root, Some("node-address-mismatch"), "{src} → {dst}: {v:#}");
            }
        }
    }
    assert!(dropped >= 8, "node-1's pods are cut off: {dropped} drops");
}
