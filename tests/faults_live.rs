//! Every live lab model, every fault it lists: `cnictl lab up
//! flannel-vxlan`, `flannel-host-gw`, `calico-bgp`, `calico-vxlan`,
//! `calico-vxlan --cross-subnet` (vxlanMode CrossSubnet on two underlay
//! subnets) and `flannel-vxlan --direct-routing`.
//!
//! For each: the healthy lab's bundle is named by `cnictl model`, `cnictl
//! check` exits 0 with no error finding, and for every ordered pod pair
//! `cnictl explain --reverse` (the echo and its reply) equals a real ping. Then, each in a fresh
//! lab, every fault `cnictl lab faults MODEL` lists (but the policy faults,
//! which need a lab up with --policies, and ipam-leaked-affinity, whose
//! ECMP route explain follows by its first next hop where the kernel
//! hashes: tests/calico_live.rs covers it) is injected on node-1 and `check`
//! must report the fault's finding code (on node-1, or cluster-wide for
//! the object faults), and explain must still equal ping for every pair.
//!
//! Each lab owns a unique prefix (`cnlx`, the test process id in base 36,
//! a letter per variant, the fault's index) and a guard whose `Drop` runs
//! `cnictl lab down`. Runs as root; skips with a printed reason otherwise.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::*;

/// The finding a fault must produce: its code, and whether it is reported
/// on the broken node (else cluster-wide). `None`: the model's own rules
/// absorb the fault and check must stay clean (Felix accepts workload
/// traffic before a DROP policy of FORWARD is reached).
fn expected_code(model: &str, fault: &str) -> Option<(&'static str, bool)> {
    Some(match fault {
        "forward-drop" if model.starts_with("calico") => return None,
        "forward-drop" => ("netfilter-forward-drop", true),
        "block-vxlan" | "block-bgp" => ("netfilter-blocks-overlay", true),
        "backend-mixed" => ("iptables-backend-mixed", true),
        "nodeport-local" => ("nodeport-no-local-endpoint", true),
        "pod-cidr-overlap" => ("pod-cidr-overlap", false),
        "service-cidr-overlap" => ("service-cidr-overlap", false),
        "service-no-backends" => ("service-no-backends", false),
        other => (code_named(other)?, true),
    })
}

/// Faults named after the code they produce.
fn code_named(fault: &str) -> Option<&'static str> {
    const SAME: &[&str] = &[
        "missing-pod-route",
        "wrong-next-hop",
        "vxlan-fdb-missing",
        "vxlan-neigh-missing",
        "vxlan-fdb-mismatch",
        "mtu-mismatch",
        "route-shadowed",
        "pod-route-missing",
        "ip-forward-disabled",
        "service-stale-backend",
        "service-rules-missing",
        "masquerade-missing",
        "node-address-mismatch",
        "next-hop-not-adjacent",
        "bgp-session-down",
        "bgp-route-missing",
        "ipam-leaked-affinity",
    ];
    SAME.iter().copied().find(|c| *c == fault)
}

fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some("not root: namespace labs need root".into());
    }
    [
        "ip",
        "bridge",
        "ping",
        "bash",
        "iptables-restore",
        "ipset",
        "bird",
        "birdc",
    ]
    .into_iter()
    .find(|t| !in_path(t))
    .map(|t| format!("{t} not installed"))
}

/// A running lab; `Drop` tears it down whatever happened.
struct Lab {
    prefix: String,
    dir: tempfile::TempDir,
}

impl Lab {
    fn up(model: &str, flags: &[&str], letter: char, index: usize) -> Lab {
        let prefix = format!("cnlx{}{letter}{index}", base36(std::process::id()));
        let _ = cnictl(&["lab", "down", "--prefix", &prefix]);
        let lab = Lab {
            prefix,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let mut args = vec!["lab", "up", model, "--prefix", &lab.prefix];
        args.extend_from_slice(flags);
        cnictl_ok(&args, 0);
        lab
    }

    fn bundle(&self, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        let o = out.to_string_lossy().into_owned();
        cnictl_ok(&["lab", "bundle", "-o", &o, "--prefix", &self.prefix], 0);
        out
    }

    fn break_(&self, fault: &str) {
        cnictl_ok(&["lab", "break", fault, "--prefix", &self.prefix], 0);
    }

    /// Pod key (`default/web-1`) → its netns, from the lab's pod maps.
    fn pod_netns(&self) -> BTreeMap<String, String> {
        let base = std::env::var_os("CNICTL_LAB_RUN").unwrap_or_else(|| "/run/cnictl-lab".into());
        let dir = PathBuf::from(base).join(&self.prefix);
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(&dir).expect("lab state dir").flatten() {
            if !e.file_name().to_string_lossy().starts_with("podmap-") {
                continue;
            }
            let body = std::fs::read_to_string(e.path()).expect("pod map");
            for line in body.lines() {
                if let Some((ns, key)) = line.split_once(' ') {
                    out.insert(key.replacen('_', "/", 1), ns.to_string());
                }
            }
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

/// Pod-network pods of a bundle with their first IP.
fn pods(bundle: &Path) -> Vec<(String, IpAddr)> {
    let snap = cnictl_collect::bundle::load_dir(bundle).expect("bundle loads");
    snap.k8s
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .filter_map(|p| Some((format!("{}/{}", p.namespace, p.name), *p.ips.first()?)))
        .collect()
}

fn check(bundle: &Path) -> (Value, i32) {
    let b = bundle.to_string_lossy().into_owned();
    let o = cnictl(&["check", "--bundle", &b, "-O", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("check prints JSON");
    (v, o.status.code().unwrap_or(-1))
}

fn errors(report: &Value) -> Vec<String> {
    let all = report["findings"].as_array().cloned().unwrap_or_default();
    all.iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| format!("{} {} {}", f["code"], f["node"], f["summary"]))
        .collect()
}

/// check's exit code for a report: 1 with an error finding, else 0.
fn exit_for(report: &Value) -> i32 {
    i32::from(!errors(report).is_empty())
}

fn has_code(report: &Value, code: &str, on_node_1: bool) -> bool {
    let all = report["findings"].as_array().cloned().unwrap_or_default();
    all.iter()
        .any(|f| f["code"] == code && (!on_node_1 || f["node"] == "node-1"))
}

/// explain's verdicts (echo and reply) for every ordered pod pair, then every pair's ping
/// at once (a failing ping waits its whole second: in parallel the matrix
/// costs one).
fn verdicts_match_ping(lab: &Lab, bundle: &Path, what: &str) {
    let netns = lab.pod_netns();
    let pods = pods(bundle);
    assert!(pods.len() >= 5, "{what}: lab pods {pods:?}");
    let b = bundle.to_string_lossy().into_owned();
    let mut pairs = Vec::new();
    for (src, _) in &pods {
        for (dst, ip) in pods.iter().filter(|(d, _)| d != src) {
            let args = [
                "explain",
                src,
                dst,
                "--bundle",
                &b,
                "--reverse",
                "-O",
                "json",
            ];
            let explain = cnictl_spawn(&args);
            let ns = netns
                .get(src)
                .expect("pod netns in the lab's pod map")
                .clone();
            let ping = Command::new("ip")
                .args(["netns", "exec", &ns, "ping", "-c1", "-W1", "-q"])
                .arg(ip.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("ping runs");
            pairs.push((src.clone(), dst.clone(), explain, ping));
        }
    }
    for (src, dst, explain, mut ping) in pairs {
        let o = explain.wait_with_output().expect("explain runs");
        let v: Value = serde_json::from_slice(&o.stdout).expect("explain prints JSON");
        let pinged = ping.wait().map(|s| s.success()).unwrap_or(false);
        // A ping needs its echo and the reply: both directions delivered.
        // A reply through a node the echo did not cross is `unknown` when
        // that node drops INVALID packets (explain/ctgap.rs).
        let delivered = v["verdict"] == "delivered" && v["reverse"]["verdict"] == "delivered";
        assert_eq!(
            pinged, delivered,
            "{what}: {src} → {dst}: explain says {} / reply {}, ping {}: {v:#}",
            v["verdict"], v["reverse"]["verdict"], pinged
        );
    }
}

/// Healthy lab, then one fresh lab per fault, three labs at a time (a lab
/// mostly waits: on the kernel, on pings, on cnictl reading its bundle).
fn run_variant(model: &str, flags: &[&str], letter: char) {
    if let Some(why) = skip_reason() {
        eprintln!("skipped faults_live {model} {flags:?}: {why}");
        return;
    }
    let lab = Lab::up(model, flags, letter, 0);
    let healthy = lab.bundle("healthy");
    let b = healthy.to_string_lossy().into_owned();
    let m = cnictl_ok(&["model", "--bundle", &b, "-O", "json"], 0);
    let m: Value = serde_json::from_slice(&m.stdout).expect("model prints JSON");
    assert_eq!(m["model"], model, "{m:#}");
    let (report, code) = check(&healthy);
    assert_eq!(
        (code, errors(&report)),
        (0, vec![]),
        "{model} {flags:?} healthy"
    );
    verdicts_match_ping(&lab, &healthy, "healthy");
    drop(lab);

    let listed = cnictl_ok(&["lab", "faults", model], 0);
    let faults: Vec<String> = text(&listed.stdout)
        .lines()
        .filter(|f| !f.is_empty() && !f.starts_with("policy-"))
        .filter(|f| *f != "ipam-leaked-affinity")
        .map(String::from)
        .collect();
    assert!(faults.len() >= 9, "{faults:?}");
    let numbered: Vec<(usize, &String)> = faults.iter().enumerate().collect();
    for batch in numbered.chunks(3) {
        std::thread::scope(|s| {
            for &(i, fault) in batch {
                s.spawn(move || run_fault(model, flags, letter, i + 1, fault));
            }
        });
    }
}

/// One fault in a fresh lab: its finding, and explain equal to ping.
fn run_fault(model: &str, flags: &[&str], letter: char, index: usize, fault: &str) {
    let lab = Lab::up(model, flags, letter, index);
    lab.break_(fault);
    let broken = lab.bundle(fault);
    let (report, code) = check(&broken);
    match expected_code(model, fault) {
        Some((want, on_node)) => assert!(
            has_code(&report, want, on_node) && code == exit_for(&report),
            "{model} {flags:?} {fault}: want {want} (exit {code}); errors:\n{}",
            errors(&report).join("\n")
        ),
        None => assert_eq!(code, 0, "{fault}: {:?}", errors(&report)),
    }
    verdicts_match_ping(&lab, &broken, fault);
}

#[test]
fn flannel_vxlan_lab() {
    run_variant("flannel-vxlan", &[], 'f');
}

#[test]
fn flannel_host_gw_lab() {
    run_variant("flannel-host-gw", &[], 'h');
}

#[test]
fn calico_bgp_lab() {
    run_variant("calico-bgp", &[], 'b');
}

#[test]
fn calico_vxlan_lab() {
    run_variant("calico-vxlan", &[], 'c');
}

#[test]
fn calico_vxlan_cross_subnet_lab() {
    run_variant("calico-vxlan", &["--cross-subnet"], 's');
}

#[test]
fn flannel_vxlan_direct_routing_lab() {
    run_variant("flannel-vxlan", &["--direct-routing"], 'd');
}

#[test]
fn every_listed_fault_has_an_expected_code() {
    for model in [
        "calico-vxlan",
        "flannel-vxlan",
        "flannel-host-gw",
        "calico-bgp",
    ] {
        let listed = cnictl_ok(&["lab", "faults", model], 0);
        for fault in text(&listed.stdout).lines().filter(|f| !f.is_empty()) {
            let known = fault.starts_with("policy-") || expected_code(model, fault).is_some();
            assert!(known || fault == "forward-drop", "{model}: {fault}");
        }
    }
}
