//! macvlan pods against the kernel: a node whose pods hang off its eth0 as
//! macvlan children cannot ping them — and `cnictl check` must say so for
//! exactly the addresses the node cannot reach, before and after a shim
//! routes one of them; `explain` must deliver exactly where ping does,
//! between every pair of node and pod (the pods reach each other and the
//! other node, never their own node without the shim).
//!
//! The namespaces (`cnlmv<pid>-*`, deleted by a guard) are built here with
//! `ip`: an underlay bridge, node-1 (192.0.2.11) and node-2 (192.0.2.12),
//! and two pods on node-1's eth0: web-1 (192.0.2.101, a Kubernetes pod) and
//! web-2 (192.0.2.102, an address no Pod object lists: a secondary network).
//! node-1 is collected with `cnictl collect --pods`; k8s/ is written here.
//! Runs as root; skips with a printed reason otherwise.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

mod common;
use common::*;

struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status();
    assert!(ok.is_ok_and(|s| s.success()), "ip {}", args.join(" "));
}

fn ping(ns: &str, dst: &str) -> bool {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c1", "-W1", "-q", dst])
        .output();
    o.is_ok_and(|o| o.status.success())
}

/// The underlay, two nodes, and node-1's two macvlan pods.
fn build(p: &str) -> Namespaces {
    let (ul, n1, n2) = (
        format!("{p}-ul"),
        format!("{p}-node-1"),
        format!("{p}-node-2"),
    );
    let (w1, w2) = (format!("{p}_web-1"), format!("{p}_web-2"));
    let guard = Namespaces(vec![
        ul.clone(),
        n1.clone(),
        n2.clone(),
        w1.clone(),
        w2.clone(),
    ]);
    for ns in &guard.0 {
        ip(&["netns", "add", ns]);
    }
    ip(&["-n", &ul, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &ul, "link", "set", "br0", "up"]);
    for (i, node) in [(1, &n1), (2, &n2)] {
        let port = format!("ul{i}");
        ip(&[
            "link", "add", &port, "netns", &ul, "type", "veth", "peer", "name", "eth0", "netns",
            node,
        ]);
        ip(&["-n", &ul, "link", "set", &port, "master", "br0", "up"]);
        ip(&[
            "-n",
            node,
            "addr",
            "add",
            &format!("192.0.2.1{i}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", node, "link", "set", "eth0", "up"]);
    }
    for (pod, addr) in [(&w1, "192.0.2.101/24"), (&w2, "192.0.2.102/24")] {
        ip(&[
            "-n", &n1, "link", "add", "mv0", "link", "eth0", "type", "macvlan", "mode", "bridge",
        ]);
        ip(&["-n", &n1, "link", "set", "mv0", "netns", pod]);
        ip(&["-n", pod, "link", "set", "mv0", "name", "eth0"]);
        ip(&["-n", pod, "addr", "add", addr, "dev", "eth0"]);
        ip(&["-n", pod, "link", "set", "eth0", "up"]);
    }
    guard
}

/// Nodes and the one Kubernetes pod, as `kubectl get -o json` prints them.
fn write_k8s(bundle: &Path, p: &str) {
    let node = |name: &str, addr: &str| {
        json!({"kind": "Node", "metadata": {"name": name},
               "status": {"addresses": [{"type": "InternalIP", "address": addr}]}})
    };
    let nodes = json!({"kind": "List", "items": [node("node-1", "192.0.2.11"), node("node-2", "192.0.2.12")]});
    let pod = json!({"kind": "Pod", "metadata": {"namespace": p, "name": "web-1"},
        "spec": {"nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": "192.0.2.101", "podIPs": [{"ip": "192.0.2.101"}]}});
    let pods = json!({"kind": "List", "items": [pod]});
    std::fs::create_dir_all(bundle.join("k8s")).unwrap();
    std::fs::write(bundle.join("k8s/nodes.json"), nodes.to_string()).unwrap();
    std::fs::write(bundle.join("k8s/pods.json"), pods.to_string()).unwrap();
}

/// node-1 collected into a fresh bundle; `check`'s macvlan findings as
/// (address, severity).
fn findings(p: &str, dir: &Path) -> Vec<(String, String)> {
    let _ = std::fs::remove_dir_all(dir);
    write_k8s(dir, p);
    let b = dir.to_string_lossy().into_owned();
    let (n1, n2, pods) = (
        format!("{p}-node-1"),
        format!("{p}-node-2"),
        format!("{p}_"),
    );
    let tail = ["--no-netfilter", "--no-ipvs", "--bundle-dir", &b];
    let one = [
        "collect",
        "--netns",
        &n1,
        "--node-name",
        "node-1",
        "--pods",
        "--pods-prefix",
        &pods,
    ];
    cnictl_ok(&[&one[..], &tail].concat(), 0);
    let two = ["collect", "--netns", &n2, "--node-name", "node-2"];
    cnictl_ok(&[&two[..], &tail].concat(), 0);
    let o = cnictl(&["check", "--bundle", &b, "-o", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("check JSON");
    let all = v["findings"].as_array().cloned().unwrap_or_default();
    let mine = all
        .iter()
        .filter(|f| f["code"] == "macvlan-host-unreachable");
    let addr = |f: &Value| {
        ["192.0.2.101", "192.0.2.102"]
            .into_iter()
            .find(|a| f["summary"].as_str().unwrap_or("").contains(a))
    };
    mine.map(|f| {
        (
            addr(f).unwrap_or("?").to_string(),
            f["severity"].as_str().unwrap_or("").to_string(),
        )
    })
    .collect()
}

/// Every ordered pair of node-1, node-2, web-1 and web-2: explain's
/// verdict both ways (`--reverse`: ping needs the reply) equals ping's; a
/// drop between node-1 and its own pods is macvlan-host-unreachable, with
/// the finding about that pod's address.
fn explain_agrees(p: &str, bundle: &Path) {
    let b = bundle.to_string_lossy().into_owned();
    let ends = [
        (format!("{p}-node-1"), "192.0.2.11"),
        (format!("{p}-node-2"), "192.0.2.12"),
        (format!("{p}_web-1"), "192.0.2.101"),
        (format!("{p}_web-2"), "192.0.2.102"),
    ];
    for (src_ns, src) in &ends {
        for (_, dst) in ends.iter().filter(|(_, d)| d != src) {
            let args = [
                "explain",
                src,
                dst,
                "--bundle",
                &b,
                "-o",
                "json",
                "--reverse",
            ];
            let v: Value = serde_json::from_slice(&cnictl(&args).stdout).expect("explain JSON");
            let both = v["verdict"] == "delivered" && v["reverse"]["verdict"] == "delivered";
            assert_eq!(both, ping(src_ns, dst), "{src} → {dst}: {v:#}");
            for drop in [&v["drop"], &v["reverse"]["drop"]]
                .into_iter()
                .filter(|d| !d.is_null())
            {
                assert_eq!(
                    drop["code"], "macvlan-host-unreachable",
                    "{src} → {dst}: {v:#}"
                );
                let pod = [src, dst].into_iter().find(|a| a.starts_with("192.0.2.10"));
                let summary = drop["finding"]["summary"].as_str().unwrap_or("");
                assert!(
                    summary.contains(&format!("at {} ", pod.unwrap())),
                    "{src} → {dst}: {v:#}"
                );
            }
        }
    }
}

#[test]
fn check_names_exactly_the_macvlan_pods_the_node_cannot_reach() {
    if !is_root() || !in_path("ping") {
        eprintln!("macvlan_live: skipped: needs root, iproute2 and ping");
        return;
    }
    let p = format!("cnlmv{}", base36(std::process::id()));
    let _ns = build(&p);
    let (n1, n2) = (format!("{p}-node-1"), format!("{p}-node-2"));
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    // The kernel: node-2 reaches both pods, node-1 neither.
    assert!(ping(&n2, "192.0.2.101") && ping(&n2, "192.0.2.102"));
    assert!(!ping(&n1, "192.0.2.101") && !ping(&n1, "192.0.2.102"));
    let mut got = findings(&p, &bundle);
    got.sort();
    let want = [("192.0.2.101", "error"), ("192.0.2.102", "warning")];
    assert_eq!(got, want.map(|(a, s)| (a.to_string(), s.to_string())));
    explain_agrees(&p, &bundle);

    // A shim on eth0 routing web-1 only.
    ip(&[
        "-n",
        &n1,
        "link",
        "add",
        "eth0-shim",
        "link",
        "eth0",
        "type",
        "macvlan",
        "mode",
        "bridge",
    ]);
    ip(&[
        "-n",
        &n1,
        "addr",
        "add",
        "192.0.2.200/32",
        "dev",
        "eth0-shim",
    ]);
    ip(&["-n", &n1, "link", "set", "eth0-shim", "up"]);
    ip(&[
        "-n",
        &n1,
        "route",
        "add",
        "192.0.2.101/32",
        "dev",
        "eth0-shim",
    ]);
    assert!(ping(&n1, "192.0.2.101") && !ping(&n1, "192.0.2.102"));
    let got = findings(&p, &bundle);
    assert_eq!(
        got,
        vec![("192.0.2.102".to_string(), "warning".to_string())]
    );
    explain_agrees(&p, &bundle);
}
