//! Calico BGP dual-stack against a real namespace lab: `cnictl lab up
//! calico-bgp --dual-stack` runs BIRD 2 with an IPv6 session per peer
//! between the nodes' IPv6 addresses (as confd's bird6.cfg renders them),
//! IPv6 /122 blocks and pods routed the Calico CNI plugin's way (default
//! via the host veth's link-local fe80::ecee:eeff:feee:eeee). One lab:
//! healthy, `check` is clean and explain (with the reply) equals ping for
//! every ordered pod pair over IPv4 and IPv6; then `lab break
//! bgp-route-missing-v6` on node-1 (its IPv6 session to node-2 rejects
//! node-2's IPv6 block) and `lab break bgp-session-down-v6` on node-2 (its
//! IPv6 session to node-3 shut): `check` names the missing IPv6 block and
//! the IPv6 session down, as it does for IPv4, the IPv4 side stays clean,
//! and explain equals ping -6 (and ping) for every pair again. Runs as
//! root with BIRD 2; skips with a printed reason otherwise.

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

mod common;
use common::lab::{json, ping, skip_reason, Lab};

/// The non-hostNetwork pods and their address of one family.
fn pods(bundle: &Path, v6: bool) -> Vec<(String, IpAddr)> {
    let snap = cnictl_collect::bundle::load_dir(bundle).expect("bundle loads");
    let pods = snap.k8s.pods.iter().filter(|p| !p.host_network);
    let of_family = |p: &cnictl_model::Pod| p.ips.iter().copied().find(|ip| ip.is_ipv6() == v6);
    pods.filter_map(|p| Some((p.key(), of_family(p)?)))
        .collect()
}

/// Every ordered pod pair over `family` ("4" or "6"): explain `--reverse`
/// (ping needs the reply too) exits 0 exactly when the kernel's ping
/// succeeds. Pairs run in parallel: a failing ping waits out its timeout.
/// Returns the explain documents of the pairs that were not delivered.
fn verdicts_match_ping(lab: &Lab, bundle: &Path, family: &str) -> Vec<Value> {
    let b = bundle.to_string_lossy().into_owned();
    let pods = pods(bundle, family == "6");
    assert_eq!(pods.len(), 6, "pods with an IPv{family} address: {pods:?}");
    let pairs: Vec<(&str, &str, IpAddr)> = pods
        .iter()
        .flat_map(|(s, _)| {
            pods.iter()
                .map(move |(d, ip)| (s.as_str(), d.as_str(), *ip))
        })
        .filter(|(s, d, _)| s != d)
        .collect();
    let results: Vec<(bool, Value, i32)> = std::thread::scope(|sc| {
        let runs: Vec<_> = pairs
            .iter()
            .map(|&(src, dst, ip)| {
                let (ns, b) = (lab.pod_netns(src), &b);
                sc.spawn(move || {
                    let args = ["explain", src, dst, "--bundle", b, "--family", family];
                    let (v, code) = json(&[&args[..], &["--reverse", "-O", "json"]].concat());
                    (ping(&ns, ip), v, code)
                })
            })
            .collect();
        runs.into_iter().map(|h| h.join().expect("pair")).collect()
    });
    let mut dropped = Vec::new();
    for (&(src, dst, ip), (reached, v, code)) in pairs.iter().zip(results) {
        assert_eq!(v["dst"]["ip"], ip.to_string(), "{v:#}");
        assert_eq!(reached, code == 0, "{src} → {dst} (IPv{family}): {v:#}");
        assert!(gateway_owned(&v), "{src} → {dst}: {v:#}");
        if !reached {
            dropped.push(v);
        }
    }
    dropped
}

/// The pod's IPv6 gateway is resolved as the host veth's own address
/// (every cali veth holds the same link-local one), never by proxy.
fn gateway_owned(v: &Value) -> bool {
    let hops = v["hops"].as_array().into_iter().flatten();
    let arp = hops.filter(|h| h["kind"] == "arp");
    let gw = arp
        .filter_map(|h| h["entry"].as_str())
        .filter(|e| e.contains(GW6));
    gw.into_iter().all(|e| e.contains("owns it"))
}

const GW6: &str = "fe80::ecee:eeff:feee:eeee";

fn check(bundle: &Path) -> (Vec<Value>, i32) {
    let b = bundle.to_string_lossy().into_owned();
    let (v, code) = json(&["check", "--bundle", &b, "-O", "json"]);
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    (findings, code)
}

/// A finding of `code` on `node` whose summary mentions `text`.
fn has(findings: &[Value], code: &str, node: &str, text: &str) -> bool {
    findings.iter().any(|f| {
        f["code"] == code
            && f["node"] == node
            && f["summary"].as_str().is_some_and(|s| s.contains(text))
    })
}

/// The code an undelivered explain names for its drop (either way).
fn drop_codes(v: &Value) -> Vec<String> {
    let ways = [&v["drop"], &v["reverse"]["drop"]];
    ways.iter()
        .filter_map(|d| d["code"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn calico_bgp_dual_stack_ipv6_sessions_and_routes() {
    if let Some(why) = skip_reason(&["ip", "ping", "bash", "bird", "birdc"]) {
        eprintln!("skipping calico_dualstack_live: {why}");
        return;
    }
    let lab = Lab::up("cnlk", '6', "calico-bgp", &["--dual-stack"]);
    let healthy = lab.bundle("healthy");
    let (findings, code) = check(&healthy);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    assert!(verdicts_match_ping(&lab, &healthy, "4").is_empty());
    assert!(verdicts_match_ping(&lab, &healthy, "6").is_empty());

    lab.break_("bgp-route-missing-v6", "node-1");
    lab.break_("bgp-session-down-v6", "node-2");
    let broken = lab.bundle("broken");
    let (findings, code) = check(&broken);
    assert_eq!(code, 1, "{findings:#?}");
    let route = "node-2's block fd00:10:244:2::/122";
    assert!(
        has(&findings, "bgp-route-missing", "node-1", route),
        "{findings:#?}"
    );
    let session = "Mesh_fd00_192_0_2__13 on node-2 to node-3 (fd00:192:0:2::13)";
    assert!(
        has(&findings, "bgp-session-down", "node-2", session),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .all(|f| !f["summary"].as_str().unwrap_or("").contains("10.244.")),
        "IPv4 stays clean: {findings:#?}"
    );
    assert!(verdicts_match_ping(&lab, &broken, "4").is_empty());
    let dropped = verdicts_match_ping(&lab, &broken, "6");
    assert!(!dropped.is_empty(), "the faults drop IPv6 traffic");
    for v in &dropped {
        let codes = drop_codes(v);
        let bgp = |c: &String| matches!(c.as_str(), "bgp-route-missing" | "bgp-session-down");
        assert!(!codes.is_empty() && codes.iter().all(bgp), "{v:#}");
    }
}
