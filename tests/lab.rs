//! Live namespace labs against the collectors and the checks: for each lab
//! model (`cnictl lab up flannel-vxlan | flannel-host-gw | calico-bgp |
//! calico-vxlan`),
//! every node's `cnictl collect --netns …` (netlink, BIRD socket) must equal
//! the bundle import of `lab/collect-node.sh` run in the same netns (`ip -j`,
//! `bridge -j`, `birdc`, /proc/sys) — healthy, and again after faults. Each
//! fault injected with `cnictl lab break` must be visible in a freshly
//! collected snapshot, and `cnictl check` on `cnictl lab bundle` must report
//! its finding code on its node. `cnictl lab down` must leave no namespace
//! with the lab's prefix and none of the lab's BIRD daemons.
//!
//! Normalisation is all in [`fixup`]. Each test owns a unique prefix
//! (`cnl` + `t` + the test process id in base 36 + a digit per model) and a
//! [`LabGuard`] whose `Drop` runs `cnictl lab down`, so a failing assertion
//! still tears its lab down. Runs as root; skips with a printed reason
//! otherwise (and for calico-bgp when BIRD 2 is not installed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cnictl_collect::bundle;
use cnictl_model::{NodeSnapshot, Route, RouteType};

mod common;
use common::*;

const NODES: u32 = 3;
/// Attempts at the live/script comparison, [`RETRY_PAUSE`] apart: the kernel
/// may change a dynamic entry (a neighbour going STALE) between the two
/// dumps, so a difference counts only if it persists.
const ATTEMPTS: usize = 4;
const RETRY_PAUSE: Duration = Duration::from_millis(300);
/// How long IPv6 duplicate address detection may take on a fresh lab: until
/// it ends, link-local addresses are tentative and their `local` routes are
/// missing, so the two dumps would catch different states.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(6);

// ---------------------------------------------------------------- running

/// Why this model's lab cannot run here, if it cannot.
fn skip_reason(model: &str) -> Option<String> {
    if !is_root() {
        return Some("needs root (network namespaces)".into());
    }
    let mut tools = vec!["ip", "bridge", "ping"];
    if model == "calico-bgp" {
        tools.extend(["bird", "birdc"]);
    }
    tools
        .into_iter()
        .find(|t| !in_path(t))
        .map(|t| format!("{t} is not installed"))
}

// ---------------------------------------------------------------- the lab

/// A running lab; `Drop` tears it down whatever happened.
struct LabGuard {
    prefix: String,
    model: &'static str,
}

impl LabGuard {
    fn up(model: &'static str, n: u32) -> Self {
        let prefix = format!("cnlt{}{n}", base36(std::process::id()));
        // A lab left over from a crashed run with the same pid: remove it.
        let _ = cnictl(&["lab", "down", "--prefix", &prefix]);
        let guard = LabGuard { prefix, model };
        cnictl_ok(&["lab", "up", model, "--prefix", &guard.prefix], 0);
        guard
    }

    fn node_ns(&self, n: u32) -> String {
        format!("{}-node-{n}", self.prefix)
    }

    /// The lab's state dir (BIRD sockets, pidfiles), as lab.sh picks it.
    fn run_dir(&self) -> PathBuf {
        let base = std::env::var_os("CNICTL_LAB_RUN").unwrap_or_else(|| "/run/cnictl-lab".into());
        PathBuf::from(base).join(&self.prefix)
    }

    fn bird_socket(&self, n: u32) -> Option<PathBuf> {
        (self.model == "calico-bgp").then(|| self.run_dir().join(format!("bird/node-{n}.ctl")))
    }

    fn break_fault(&self, fault: &str, node: u32) {
        let node = format!("node-{node}");
        cnictl_ok(
            &[
                "lab",
                "break",
                fault,
                "--node",
                &node,
                "--prefix",
                &self.prefix,
            ],
            0,
        );
    }

    /// `cnictl collect` of node N (and its pods) over netlink.
    fn collect_live(&self, n: u32) -> NodeSnapshot {
        let ns = self.node_ns(n);
        let pods = format!("{ns}-");
        let name = format!("node-{n}");
        let mut args = vec!["collect", "--netns", &ns, "--pods", "--pods-prefix", &pods];
        args.extend(["--node-name", &name]);
        let sock = self.bird_socket(n).map(|p| p.display().to_string());
        if let Some(s) = &sock {
            args.extend(["--bird-socket", s]);
        }
        let o = cnictl_ok(&args, 0);
        serde_json::from_slice(&o.stdout).expect("cnictl collect prints a NodeSnapshot")
    }

    /// lab/collect-node.sh in node N's netns, imported as a one-node bundle.
    fn collect_script(&self, n: u32, scratch: &Path) -> NodeSnapshot {
        let root = scratch.join(format!("script-node-{n}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("k8s")).expect("scratch dir");
        for f in ["nodes.json", "pods.json"] {
            std::fs::write(root.join("k8s").join(f), r#"{"items": []}"#).expect("k8s stub");
        }
        let out = root.join(format!("nodes/node-{n}"));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node_ns(n), "sh"])
            .arg(repo().join("lab/collect-node.sh"))
            .args(["--pods-prefix", &format!("{}-", self.node_ns(n))])
            .arg(&out);
        match self.bird_socket(n) {
            Some(s) => cmd.env("BIRD_SOCKET", s),
            None => cmd.arg("--no-bird"),
        };
        let o = cmd.output().expect("ip netns exec runs");
        assert!(o.status.success(), "collect-node.sh: {}", text(&o.stderr));
        let mut snap =
            bundle::load_dir(&root).unwrap_or_else(|e| panic!("importing {}: {e}", root.display()));
        snap.nodes
            .remove(&format!("node-{n}"))
            .expect("the bundle holds the node")
    }

    /// Live collection equals the script's import for every node, allowing
    /// [`ATTEMPTS`] tries for state that moves between the two dumps.
    fn assert_collectors_agree(&self, scratch: &Path, when: &str) {
        self.wait_for_dad();
        for n in 1..=NODES {
            let mut diff = Vec::new();
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    std::thread::sleep(RETRY_PAUSE);
                }
                let mut live = self.collect_live(n);
                let mut script = self.collect_script(n, scratch);
                fixup(&mut live);
                fixup(&mut script);
                diff = differences(&live, &script);
                if diff.is_empty() {
                    break;
                }
            }
            assert!(
                diff.is_empty(),
                "{} {when}: node-{n}: cnictl collect (live) and collect-node.sh (script) differ:\n{}",
                self.model,
                diff.join("\n")
            );
        }
    }

    /// Waits until no namespace of the lab holds a tentative IPv6 address.
    fn wait_for_dad(&self) {
        let start = Instant::now();
        loop {
            let busy: Vec<String> = netns_with_prefix(&self.prefix)
                .into_iter()
                .filter(|ns| has_tentative_addr(ns))
                .collect();
            if busy.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < SETTLE_TIMEOUT,
                "IPv6 DAD still running after {SETTLE_TIMEOUT:?} in {busy:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `cnictl lab bundle` then `cnictl check --output json` on it.
    fn check(&self, scratch: &Path, name: &str, want_exit: i32) -> serde_json::Value {
        let dir = scratch.join(name);
        let d = dir.to_str().expect("utf-8 scratch path");
        cnictl_ok(
            &[
                "lab",
                "bundle",
                "-o",
                d,
                "--force",
                "--prefix",
                &self.prefix,
            ],
            0,
        );
        let o = cnictl_ok(&["check", "--bundle", d, "--output", "json"], want_exit);
        serde_json::from_slice(&o.stdout).expect("check --output json is JSON")
    }

    /// Pids of the lab's BIRD daemons, from its pidfiles.
    fn bird_pids(&self) -> Vec<u32> {
        (1..=NODES)
            .filter_map(|n| {
                let f = self.run_dir().join(format!("bird/node-{n}.pid"));
                std::fs::read_to_string(f).ok()?.trim().parse().ok()
            })
            .collect()
    }

    /// `cnictl lab down`, then nothing of the lab may be left.
    fn down_and_verify(self) {
        let birds = self.bird_pids();
        if self.model == "calico-bgp" {
            assert_eq!(birds.len(), NODES as usize, "one BIRD per node while up");
        }
        cnictl_ok(&["lab", "down", "--prefix", &self.prefix], 0);
        let left = netns_with_prefix(&self.prefix);
        assert!(left.is_empty(), "namespaces left behind: {left:?}");
        for pid in birds {
            assert!(!is_bird(pid), "BIRD pid {pid} still running after down");
        }
        let marker = format!("{}/", self.run_dir().display());
        let stray = processes_mentioning(&marker);
        assert!(
            stray.is_empty(),
            "processes still using {marker}: {stray:?}"
        );
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let want = format!("{prefix}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&want))
                .collect()
        })
        .unwrap_or_default()
}

fn has_tentative_addr(ns: &str) -> bool {
    let o = Command::new("ip")
        .args(["-n", ns, "-6", "addr", "show", "tentative"])
        .output()
        .expect("ip runs");
    !o.stdout.iter().all(u8::is_ascii_whitespace)
}

fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(text(&raw).replace('\0', " "))
}

fn is_bird(pid: u32) -> bool {
    cmdline(pid).is_some_and(|c| {
        c.split_whitespace()
            .next()
            .is_some_and(|a| a.ends_with("bird"))
    })
}

fn processes_mentioning(marker: &str) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, cmdline(pid)?)))
        .filter(|(_, c)| c.contains(marker))
        .collect()
}

// ---------------------------------------------------------------- comparing

/// The one normalisation between the two collectors, applied to both:
///
/// - every list is sorted (by its JSON form): the kernel's dump order, `ip`'s
///   grouping of addresses under links and BIRD's listing order are not part
///   of the contract;
/// - IPv6 policy rules are dropped: collect-node.sh writes IPv4 rules only,
///   by design (rule JSON has no family field, so merged IPv6 rules could not
///   be told apart), while the netlink collector reads both families;
/// - sysctls that only one collector reads by design are dropped:
///   `net.ipv6.conf.default.forwarding` (netlink collector only);
///   `net.ipv4.neigh.*.proxy_delay`, `net.ipv4.vs.*` (collect-node.sh
///   only); `net.netfilter.nf_conntrack_count`, which both read but which
///   moves between the two reads. Key spelling needs no fixing: the importer
///   maps `sysctl`'s `flannel/1` back to `flannel.1`;
/// - BIRD protocols' `since` is dropped: BIRD renders the start time anew on
///   each query from its monotonic clock and the wall clock, and the two
///   can drift apart by milliseconds between the two collectors' queries;
/// - netfilter packet and byte counters are dropped: the lab nodes' rules
///   count live traffic (BGP keepalives cross INPUT and OUTPUT), so they
///   move between the two collectors' dumps.
fn fixup(node: &mut NodeSnapshot) {
    if let Some(rules) = &mut node.rules {
        rules.retain(|r| r.family == "inet");
    }
    for chain in node
        .netfilter
        .iter_mut()
        .flat_map(|nf| nf.tables.iter_mut())
        .flat_map(|t| t.chains.iter_mut())
    {
        if let Some(base) = &mut chain.base {
            base.counters = None;
        }
        chain.rules.iter_mut().for_each(|r| r.counters = None);
    }
    // nft's JSON as collected carries the same counters: its tables are
    // compared above, parsed.
    if let Some(nf) = &mut node.netfilter {
        nf.nft_json = None;
    }
    if let Some(s) = &mut node.sysctls {
        s.retain(|k, _| !only_one_collector_reads(k));
    }
    sort(&mut node.links);
    sort(&mut node.addrs);
    sort(&mut node.routes);
    sort(node.rules.as_deref_mut().unwrap_or_default());
    sort(node.neighbours.as_deref_mut().unwrap_or_default());
    sort(node.fdb.as_deref_mut().unwrap_or_default());
    if let Some(vs) = &mut node.ipvs {
        vs.iter_mut().for_each(|v| sort(&mut v.reals));
        sort(vs);
    }
    if let Some(bgp) = &mut node.bgp {
        bgp.protocols.iter_mut().for_each(|p| p.since = None);
        sort(&mut bgp.protocols);
        sort(bgp.routes.as_deref_mut().unwrap_or_default());
    }
    for pod in node.pods.values_mut() {
        sort(&mut pod.links);
        sort(&mut pod.addrs);
        sort(&mut pod.routes);
    }
}

fn only_one_collector_reads(key: &str) -> bool {
    key == "net.ipv6.conf.default.forwarding"
        // Both read it, but it moves with every connection between reads.
        || key == "net.netfilter.nf_conntrack_count"
        || key.starts_with("net.ipv4.vs.")
        || (key.starts_with("net.ipv4.neigh.") && key.ends_with(".proxy_delay"))
}

fn sort<T: serde::Serialize>(v: &mut [T]) {
    v.sort_by_cached_key(|x| serde_json::to_string(x).unwrap_or_default());
}

/// Readable differences between two fixed-up snapshots: per top-level
/// section, the list items only one side has (or both values).
fn differences(live: &NodeSnapshot, script: &NodeSnapshot) -> Vec<String> {
    let (a, b) = (json_map(live), json_map(script));
    let mut out = Vec::new();
    for key in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (x, y) = (&a.get(key), &b.get(key));
        if x == y {
            continue;
        }
        out.push(format!("section {key}:"));
        match (x.and_then(|v| v.as_array()), y.and_then(|v| v.as_array())) {
            (Some(xs), Some(ys)) => {
                xs.iter()
                    .filter(|i| !ys.contains(i))
                    .for_each(|i| out.push(format!("  only live:   {i}")));
                ys.iter()
                    .filter(|i| !xs.contains(i))
                    .for_each(|i| out.push(format!("  only script: {i}")));
            }
            _ => out.push(format!("  live:   {x:?}\n  script: {y:?}")),
        }
    }
    out
}

fn json_map(node: &NodeSnapshot) -> BTreeMap<String, serde_json::Value> {
    match serde_json::to_value(node) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
        other => panic!("a NodeSnapshot serialises to an object, got {other:?}"),
    }
}

// ---------------------------------------------------------------- faults

/// One fault: injected with `cnictl lab break NAME --node node-N`, visible
/// in node N's fresh snapshot, and reported by `cnictl check` as a finding
/// with code NAME on node N whose summary or evidence contains `needle`.
struct Fault {
    name: &'static str,
    node: u32,
    needle: &'static str,
    visible: fn(&NodeSnapshot) -> bool,
}

fn main_route<'a>(node: &'a NodeSnapshot, dst: &str) -> Option<&'a Route> {
    node.routes
        .iter()
        .find(|r| r.table == 254 && r.dst.to_string() == dst)
}

fn gateway_of(node: &NodeSnapshot, dst: &str) -> Option<String> {
    main_route(node, dst)?.gateway.map(|g| g.to_string())
}

fn ip_forward_off(n: &NodeSnapshot) -> bool {
    n.sysctl("net.ipv4.ip_forward") == Some("0")
}

/// A pod veth (not the node's own eth0) detached from its bridge.
fn pod_veth_detached(n: &NodeSnapshot) -> bool {
    n.links
        .iter()
        .any(|l| l.is_kind("veth") && l.name.starts_with("veth") && l.master.is_none())
}

fn flannel_vxlan_faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "vxlan-fdb-mismatch",
            node: 1,
            needle: "0e:f1:0a:f4:02:00",
            visible: |n| {
                let fdb = n.fdb.as_deref().unwrap_or_default();
                fdb.iter().any(|f| {
                    f.mac == "0e:f1:0a:f4:02:00"
                        && f.dst.map(|d| d.to_string()).as_deref() == Some("192.0.2.13")
                })
            },
        },
        Fault {
            name: "mtu-mismatch",
            node: 1,
            needle: "flannel.1",
            visible: |n| {
                let pod_eth0_1500 = n.pods.values().any(|p| {
                    p.name.ends_with("-web-1")
                        && p.links.iter().any(|l| l.name == "eth0" && l.mtu == 1500)
                });
                pod_eth0_1500
                    && n.links
                        .iter()
                        .any(|l| l.name.starts_with("veth") && l.mtu == 1500)
            },
        },
        Fault {
            name: "vxlan-neigh-missing",
            node: 2,
            needle: "10.244.3.0",
            visible: |n| {
                let neigh = n.neighbours.as_deref().unwrap_or_default();
                !neigh.iter().any(|e| {
                    e.dev == "flannel.1" && e.dst.to_string() == "10.244.3.0" && e.is_usable()
                })
            },
        },
        Fault {
            name: "pod-route-missing",
            node: 2,
            needle: "10.244.2.2",
            visible: pod_veth_detached,
        },
        Fault {
            name: "node-address-mismatch",
            node: 3,
            needle: "172.17.0.1",
            visible: |n| {
                let fl = n.links.iter().find(|l| l.name == "flannel.1");
                let local = fl.and_then(|l| l.vxlan.as_ref()?.local);
                local.map(|a| a.to_string()).as_deref() == Some("172.17.0.1")
                    && n.addrs.iter().any(|a| a.dev == "docker0")
            },
        },
        Fault {
            name: "ip-forward-disabled",
            node: 3,
            needle: "ip_forward",
            visible: ip_forward_off,
        },
        Fault {
            name: "missing-pod-route",
            node: 3,
            needle: "10.244.1.0/24",
            visible: |n| main_route(n, "10.244.1.0/24").is_none(),
        },
    ]
}

fn flannel_host_gw_faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "wrong-next-hop",
            node: 1,
            needle: "192.0.2.13",
            visible: |n| gateway_of(n, "10.244.2.0/24").as_deref() == Some("192.0.2.13"),
        },
        Fault {
            name: "pod-route-missing",
            node: 1,
            needle: "10.244.1.2",
            visible: pod_veth_detached,
        },
        Fault {
            name: "next-hop-not-adjacent",
            node: 2,
            needle: "198.51.100.13",
            visible: |n| {
                main_route(n, "10.244.3.0/24").is_some_and(|r| {
                    r.onlink && r.gateway.map(|g| g.to_string()).as_deref() == Some("198.51.100.13")
                })
            },
        },
        Fault {
            name: "ip-forward-disabled",
            node: 2,
            needle: "ip_forward",
            visible: ip_forward_off,
        },
        Fault {
            name: "route-shadowed",
            node: 3,
            needle: "blackhole 10.244.1.0/25",
            visible: |n| {
                main_route(n, "10.244.1.0/25").is_some_and(|r| r.route_type == RouteType::Blackhole)
            },
        },
    ]
}

fn calico_bgp_faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "bgp-session-down",
            node: 1,
            needle: "Mesh_192_0_2_12",
            visible: |n| {
                let protos = n
                    .bgp
                    .as_ref()
                    .map(|b| b.protocols.as_slice())
                    .unwrap_or_default();
                protos
                    .iter()
                    .any(|p| p.name == "Mesh_192_0_2_12" && !p.is_established())
            },
        },
        Fault {
            name: "bgp-route-missing",
            node: 2,
            needle: "10.244.3.0/26",
            visible: |n| {
                let bird_has = n
                    .bgp
                    .as_ref()
                    .and_then(|b| b.routes.as_ref())
                    .is_some_and(|rs| rs.iter().any(|r| r.prefix.to_string() == "10.244.3.0/26"));
                !bird_has && main_route(n, "10.244.3.0/26").is_none()
            },
        },
        Fault {
            name: "ip-forward-disabled",
            node: 2,
            needle: "ip_forward",
            visible: ip_forward_off,
        },
        Fault {
            name: "route-shadowed",
            node: 3,
            needle: "blackhole 10.244.1.0/27",
            visible: |n| {
                main_route(n, "10.244.1.0/27").is_some_and(|r| r.route_type == RouteType::Blackhole)
            },
        },
        Fault {
            name: "pod-route-missing",
            node: 3,
            needle: "10.244.3.2",
            visible: |n| main_route(n, "10.244.3.2/32").is_none(),
        },
    ]
}

fn calico_vxlan_faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "vxlan-neigh-missing",
            node: 1,
            needle: "10.244.2.0",
            visible: |n| {
                let neigh = n.neighbours.as_deref().unwrap_or_default();
                !neigh.iter().any(|e| {
                    e.dev == "vxlan.calico" && e.dst.to_string() == "10.244.2.0" && e.is_usable()
                })
            },
        },
        Fault {
            name: "wrong-next-hop",
            node: 2,
            needle: "10.244.1.0",
            visible: |n| gateway_of(n, "10.244.3.0/26").as_deref() == Some("10.244.1.0"),
        },
        Fault {
            name: "pod-route-missing",
            node: 3,
            needle: "10.244.3.2",
            visible: |n| main_route(n, "10.244.3.2/32").is_none(),
        },
    ]
}

/// Does `report` hold a finding `code` on `node-N` mentioning `needle`?
fn has_finding(report: &serde_json::Value, f: &Fault) -> bool {
    let node = format!("node-{}", f.node);
    report["findings"].as_array().is_some_and(|all| {
        all.iter().any(|x| {
            x["code"] == f.name
                && x["node"] == node.as_str()
                && (x["summary"].as_str().is_some_and(|s| s.contains(f.needle))
                    || x["evidence"].to_string().contains(f.needle))
        })
    })
}

fn codes(report: &serde_json::Value) -> Vec<String> {
    let all = report["findings"].as_array().cloned().unwrap_or_default();
    all.iter()
        .map(|f| format!("{} {} {}", f["code"], f["node"], f["summary"]))
        .collect()
}

// ---------------------------------------------------------------- the tests

/// The whole scenario for one model: up, compare, healthy check, faults,
/// compare again, broken check, down.
fn run_model(model: &'static str, n: u32, faults: Vec<Fault>) {
    if let Some(why) = skip_reason(model) {
        eprintln!("skipped lab {model}: {why}");
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let lab = LabGuard::up(model, n);
    lab.assert_collectors_agree(scratch.path(), "healthy");

    let healthy = lab.check(scratch.path(), "healthy", 0);
    assert_eq!(healthy["model"], model, "{:#?}", codes(&healthy));

    for f in &faults {
        lab.break_fault(f.name, f.node);
        let snap = lab.collect_live(f.node);
        assert!(
            (f.visible)(&snap),
            "{model}: fault {} on node-{} is not visible in a fresh cnictl collect",
            f.name,
            f.node
        );
    }
    lab.assert_collectors_agree(scratch.path(), "after faults");

    let broken = lab.check(scratch.path(), "broken", 1);
    for f in &faults {
        assert!(
            has_finding(&broken, f),
            "{model}: no {} finding on node-{} mentioning {:?}; findings:\n{}",
            f.name,
            f.node,
            f.needle,
            codes(&broken).join("\n")
        );
    }
    lab.down_and_verify();
}

#[test]
fn flannel_vxlan_lab() {
    run_model("flannel-vxlan", 1, flannel_vxlan_faults());
}

#[test]
fn flannel_host_gw_lab() {
    run_model("flannel-host-gw", 2, flannel_host_gw_faults());
}

#[test]
fn calico_bgp_lab() {
    run_model("calico-bgp", 3, calico_bgp_faults());
}

#[test]
fn calico_vxlan_lab() {
    run_model("calico-vxlan", 4, calico_vxlan_faults());
}
