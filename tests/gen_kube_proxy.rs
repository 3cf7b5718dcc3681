//! `cnictl gen --kube-proxy MODE` as a user runs it: each mode's bundle
//! holds the files that mode implies, `check` reads them, and `explain`
//! follows a pod to a Service through the generated rules (iptables'
//! KUBE-SEP DNAT, nftables' endpoint chain, IPVS' virtual server).

use std::path::Path;

mod common;
use common::*;

/// (mode, files every node must have, what explain's DNAT hop shows).
const MODES: [(&str, &[&str], &str); 3] = [
    (
        "iptables",
        &["iptables-save.txt"],
        "netfilter: ip nat KUBE-SEP-",
    ),
    (
        "nftables",
        &["nft-ruleset.json"],
        "netfilter: ip kube-proxy endpoint-",
    ),
    (
        "ipvs",
        &["ipvsadm.txt", "iptables-save.txt", "ipset-save.txt"],
        "ipvs: TCP 10.96.0.11:80",
    ),
];

fn gen(out: &Path, mode: &str) {
    let o = cnictl(&[
        "gen",
        "--model",
        "flannel-vxlan",
        "--nodes",
        "3",
        "--pods-per-node",
        "2",
        "--services",
        "20",
        "--endpoints-per-service",
        "2",
        "--kube-proxy",
        mode,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "gen {mode}: {}", text(&o.stderr));
}

#[test]
fn every_mode_writes_its_rules_and_explain_follows_them() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, files, dnat) in MODES {
        let out = dir.path().join(mode);
        gen(&out, mode);
        for node in ["node-1", "node-2", "node-3"] {
            for f in files {
                let path = out.join("nodes").join(node).join(f);
                assert!(path.is_file(), "{mode}: {} missing", path.display());
            }
        }
        let bundle = out.to_str().unwrap();
        let check = cnictl(&["check", "--bundle", bundle, "--output", "json"]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{mode}: {}",
            text(&check.stdout)
        );
        let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
        let findings = report["findings"].as_array().unwrap();
        let bad: Vec<_> = findings
            .iter()
            .filter(|f| f["severity"] != "info")
            .collect();
        assert!(
            bad.is_empty(),
            "{mode}: a generated cluster is healthy: {bad:?}"
        );
        assert_eq!(
            check.status.code(),
            Some(0),
            "{mode}: {}",
            text(&check.stdout)
        );
        let args = [
            "explain",
            "default/web-1-1",
            "svc/default/svc-2",
            "--bundle",
            bundle,
        ];
        let explain = cnictl(&args);
        let shown = text(&explain.stdout);
        assert_eq!(explain.status.code(), Some(0), "{mode}: {shown}");
        assert!(shown.contains(dnat), "{mode}: no {dnat:?} hop in\n{shown}");
        assert!(shown.contains("verdict: delivered"), "{mode}: {shown}");
    }
}

#[test]
fn unknown_kube_proxy_mode_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let o = cnictl(&[
        "gen",
        "--model",
        "flannel-vxlan",
        "--services",
        "2",
        "--kube-proxy",
        "userspace",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("expected iptables, nftables or ipvs"),
        "{}",
        text(&o.stderr)
    );
}
