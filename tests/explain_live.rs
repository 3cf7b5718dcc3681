//! `cnictl explain --validate / --probe` against real namespace labs.
//!
//! In a flannel-vxlan, a flannel-host-gw and a calico-bgp lab (`cnictl lab up`), for every
//! ordered pod pair the reference verdict must equal the real ping result
//! (`ip netns exec <pod-ns> ping -c1 -W1`) and `--validate` must find the
//! kernel agreeing on every routing hop. After `cnictl lab break` changes
//! the kernel behind an older bundle, `--validate` with the OLD bundle must
//! report the disagreement (exit 1); `--probe` must see the VXLAN packet on
//! the underlay with the predicted outer addresses and VNI, and after the
//! break the wrong outer destination. Two more compare verdicts with ping
//! where the answer depends on less common kernel behaviour: a VXLAN
//! device's `df` setting over an underlay with a smaller MTU, and
//! dual-stack labs (flannel-host-gw, flannel-vxlan) over IPv6.
//!
//! Each test owns a unique prefix (`cnlv`, the test process id in base 36
//! and a letter per lab) and a [`LabGuard`] whose `Drop` runs `cnictl lab
//! down`, so a failing assertion still tears its lab down. Runs as root;
//! skips with a printed reason otherwise (and calico-bgp without BIRD 2).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::*;

/// `--probe` captures with libpcap only in builds with the `probe`
/// feature (test.sh builds with --all-features); say so when it is off.
fn probe_built() -> bool {
    if !cfg!(feature = "probe") {
        eprintln!("explain_live: --probe checks skipped: built without --features probe (libpcap)");
    }
    cfg!(feature = "probe")
}

/// Why this machine cannot run the live tests, if it cannot.
fn skip_reason(needs: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("not root: namespace labs need root".into());
    }
    needs
        .iter()
        .find(|t| !in_path(t))
        .map(|t| format!("{t} not installed"))
}

/// A running lab; `Drop` tears it down whatever happened.
struct LabGuard {
    prefix: String,
    dir: tempfile::TempDir,
}

impl LabGuard {
    fn up(model: &str, letter: char) -> LabGuard {
        Self::up_with(model, letter, &[])
    }

    /// `lab up MODEL` with more options (`--dual-stack`).
    fn up_with(model: &str, letter: char, extra: &[&str]) -> LabGuard {
        let prefix = format!("cnlv{}{letter}", base36(std::process::id()));
        let guard = LabGuard {
            prefix,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let mut args = vec!["lab", "up", model, "--prefix", &guard.prefix];
        args.extend_from_slice(extra);
        cnictl_ok(&args, 0);
        guard
    }

    /// `cnictl lab bundle` into a fresh directory named `name`.
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
        let dir = Path::new("/run/cnictl-lab").join(&self.prefix);
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

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

/// Pod-network pods of a bundle (not hostNetwork DaemonSets) with their first IP.
fn pods(bundle: &Path) -> Vec<(String, IpAddr)> {
    let snap = cnictl_collect::bundle::load_dir(bundle).expect("bundle loads");
    snap.k8s
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .filter_map(|p| Some((format!("{}/{}", p.namespace, p.name), *p.ips.first()?)))
        .collect()
}

fn ping(netns: &str, ip: IpAddr) -> bool {
    Command::new("ip")
        .args(["netns", "exec", netns, "ping", "-c1", "-W1", "-q"])
        .arg(ip.to_string())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `explain SRC DST --bundle B --lab P -O json` plus `extra`; its JSON and
/// exit code.
fn explain(lab: &LabGuard, bundle: &Path, src: &str, dst: &str, extra: &[&str]) -> (Value, i32) {
    let b = bundle.to_string_lossy().into_owned();
    let mut args = vec![
        "explain",
        src,
        dst,
        "--bundle",
        &b,
        "--lab",
        &lab.prefix,
        "-O",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = cnictl(&args);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "explain {src} {dst}: not JSON ({e})\nstdout:\n{}\nstderr:\n{}",
            text(&o.stdout),
            text(&o.stderr)
        )
    });
    (v, o.status.code().unwrap_or(-1))
}

fn statuses(v: &Value) -> Vec<(u64, String, String)> {
    v["validation"]
        .as_array()
        .expect("validation array")
        .iter()
        .map(|h| {
            (
                h["hop"].as_u64().unwrap_or(0),
                h["status"].as_str().unwrap_or("").to_string(),
                h["kernel"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every ordered pod pair: the reference verdict equals the real ping and
/// the kernel agrees with every routing hop.
fn pairs_agree(lab: &LabGuard, bundle: &Path) {
    let pods = pods(bundle);
    let netns = lab.pod_netns();
    assert!(pods.len() >= 6, "lab pods: {pods:?}");
    for (src, _) in &pods {
        for (dst, dst_ip) in pods.iter().filter(|(d, _)| d != src) {
            let (v, code) = explain(lab, bundle, src, dst, &["--validate"]);
            let st = statuses(&v);
            let bad: Vec<_> = st.iter().filter(|(_, s, _)| s != "agree").collect();
            assert!(!st.is_empty() && bad.is_empty(), "{src} → {dst}: {v:#}");
            let delivered = v["verdict"] == "delivered";
            assert_eq!(code, if delivered { 0 } else { 1 }, "{src} → {dst}");
            let ns = netns.get(src).expect("pod netns in the lab's pod map");
            assert_eq!(
                ping(ns, *dst_ip),
                delivered,
                "{src} → {dst}: reference says {}, ping disagrees",
                v["verdict"]
            );
        }
    }
}

#[test]
fn flannel_vxlan_validate_and_probe_against_the_kernel_and_the_wire() {
    if let Some(why) = skip_reason(&["ip", "ping", "bash"]) {
        eprintln!("skipping explain_live flannel-vxlan: {why}");
        return;
    }
    let lab = LabGuard::up("flannel-vxlan", 'f');
    let old = lab.bundle("healthy");
    pairs_agree(&lab, &old);

    if probe_built() {
        let (v, code) = explain(
            &lab,
            &old,
            "default/web-1",
            "default/api-2",
            &["--probe", "--probe-timeout", "400"],
        );
        assert_eq!(code, 0, "{v:#}");
        let pts = v["probe"]["points"].as_array().expect("probe points");
        let ul = pts
            .iter()
            .find(|p| p["role"] == "underlay")
            .expect("underlay point");
        assert_eq!(ul["status"], "agree", "{v:#}");
        assert_eq!(ul["outer"], serde_json::json!(["192.0.2.11", "192.0.2.12"]));
        assert_eq!(ul["vxlan"], serde_json::json!([1, 8472]));
        let seen = ul["seen"].as_str().unwrap_or("");
        assert!(
            seen.contains("192.0.2.11 → 192.0.2.12 vxlan vni 1"),
            "{seen}"
        );
        assert!(pts.iter().all(|p| p["status"] == "agree"), "{v:#}");
    }

    // node-1's route to node-2's pods now points at node-3's VTEP.
    lab.break_("wrong-next-hop");
    let (v, code) = explain(
        &lab,
        &old,
        "default/web-1",
        "default/api-2",
        &["--validate"],
    );
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(
        v["verdict"], "delivered",
        "the old bundle still says delivered"
    );
    let st = statuses(&v);
    let bad: Vec<_> = st.iter().filter(|(_, s, _)| s == "disagree").collect();
    assert_eq!(bad.len(), 1, "{st:?}");
    assert!(bad[0].2.contains("via 10.244.3.0 dev flannel.1"), "{st:?}");

    if probe_built() {
        let (v, code) = explain(
            &lab,
            &old,
            "default/web-1",
            "default/api-2",
            &["--probe", "--probe-timeout", "400"],
        );
        assert_eq!(code, 1, "{v:#}");
        let ul = v["probe"]["points"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["role"] == "underlay").cloned())
            .expect("underlay point");
        assert_eq!(ul["status"], "disagree", "{v:#}");
        assert!(
            ul["seen"]
                .as_str()
                .unwrap_or("")
                .contains("saw 192.0.2.11 → 192.0.2.13"),
            "{ul:#}"
        );
    }
}

#[test]
fn calico_bgp_validate_against_the_kernel() {
    if let Some(why) = skip_reason(&["ip", "ping", "bash", "bird"]) {
        eprintln!("skipping explain_live calico-bgp: {why}");
        return;
    }
    let lab = LabGuard::up("calico-bgp", 'c');
    let old = lab.bundle("healthy");
    pairs_agree(&lab, &old);

    // node-1 loses its /32 route to web-1: traffic for it now hits the
    // IPAM block's blackhole route.
    lab.break_("pod-route-missing");
    let (v, code) = explain(
        &lab,
        &old,
        "default/api-2",
        "default/web-1",
        &["--validate"],
    );
    assert_eq!(code, 1, "{v:#}");
    let st = statuses(&v);
    let bad: Vec<_> = st.iter().filter(|(_, s, _)| s == "disagree").collect();
    assert_eq!(bad.len(), 1, "{st:?}");
    assert!(bad[0].2.contains("refused"), "{st:?}");
    let netns = lab.pod_netns();
    assert!(!ping(
        &netns["default/api-2"],
        "10.244.1.2".parse().unwrap()
    ));
}

#[test]
fn flannel_host_gw_validate_against_the_kernel() {
    if let Some(why) = skip_reason(&["ip", "ping", "bash"]) {
        eprintln!("skipping explain_live flannel-host-gw: {why}");
        return;
    }
    let lab = LabGuard::up("flannel-host-gw", 'h');
    let old = lab.bundle("healthy");
    pairs_agree(&lab, &old);

    // node-1's route to node-2's pod CIDR disappears: the kernel now sends
    // that traffic to the default gateway, which is no node.
    lab.break_("missing-pod-route");
    let (v, code) = explain(
        &lab,
        &old,
        "default/web-1",
        "default/api-2",
        &["--validate"],
    );
    assert_eq!(code, 1, "{v:#}");
    let st = statuses(&v);
    let bad: Vec<_> = st.iter().filter(|(_, s, _)| s == "disagree").collect();
    assert_eq!(bad.len(), 1, "{st:?}");
    let netns = lab.pod_netns();
    assert!(!ping(
        &netns["default/web-1"],
        "10.244.2.3".parse().unwrap()
    ));
}

/// Every ordered pod pair: the reference verdict equals the real ping
/// (no `--validate`: the point is the verdict).
fn verdicts_match_ping(lab: &LabGuard, bundle: &Path) {
    let netns = lab.pod_netns();
    for (src, _) in &pods(bundle) {
        for (dst, dst_ip) in pods(bundle).iter().filter(|(d, _)| d != src) {
            let (v, _) = explain(lab, bundle, src, dst, &[]);
            let ns = netns.get(src).expect("pod netns in the lab's pod map");
            let delivered = v["verdict"] == "delivered";
            assert_eq!(ping(ns, *dst_ip), delivered, "{src} → {dst}: explain {v:#}");
        }
    }
}

/// A VXLAN device set down on the receiving node: the kernel closes its
/// UDP socket, so what other nodes encapsulate towards it is dropped there
/// (and its own routes through the device are gone). explain must say
/// dropped — at the receiving node — wherever ping fails.
#[test]
fn a_vxlan_device_down_drops_what_arrives_for_it() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("explain_live: skipped: {why}");
        return;
    }
    let lab = LabGuard::up("flannel-vxlan", 't');
    let node2 = format!("{}-node-2", lab.prefix);
    let down = Command::new("ip")
        .args(["-n", &node2, "link", "set", "flannel.1", "down"])
        .status()
        .expect("ip runs");
    assert!(down.success(), "ip -n {node2} link set flannel.1 down");
    let bundle = lab.bundle("tunnel-down");
    verdicts_match_ping(&lab, &bundle);
    let (v, code) = explain(&lab, &bundle, "default/web-1", "default/web-2", &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["drop"]["node"], "node-2", "{v:#}");
    let reason = v["drop"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("tunnel device") && reason.contains("down"),
        "{reason}"
    );
}

/// Every ordered pair: explain with `--reverse` (a ping needs its reply
/// back) delivers exactly when ping does. Returns the drops' JSON.
fn round_trips_match_ping(lab: &LabGuard, bundle: &Path) -> Vec<Value> {
    let netns = lab.pod_netns();
    let pods = pods(bundle);
    let mut drops = Vec::new();
    for (src, _) in &pods {
        for (dst, dst_ip) in pods.iter().filter(|(d, _)| d != src) {
            let (v, code) = explain(lab, bundle, src, dst, &["--reverse"]);
            let both = v["verdict"] == "delivered" && v["reverse"]["verdict"] == "delivered";
            assert_eq!(code, if both { 0 } else { 1 }, "{src} → {dst}: {v:#}");
            let ns = netns.get(src).expect("pod netns in the lab's pod map");
            assert_eq!(ping(ns, *dst_ip), both, "{src} → {dst}: explain {v:#}");
            drops.extend(
                [&v, &v["reverse"]]
                    .into_iter()
                    .filter_map(|x| x.get("drop").cloned()),
            );
        }
    }
    drops
}

/// Docker on node-1 and flanneld's autodetection picked docker0: node-1
/// speaks from 172.17.0.1, its peers send its pods' traffic there, and
/// nothing arrives. Every pair's round trip equals ping, and every drop
/// names the peer's FDB entry with node-1's address as its root cause.
#[test]
fn a_node_speaking_from_docker0_is_the_root_cause_of_its_peers_drops() {
    if let Some(why) = skip_reason(&["ip", "ping", "bridge"]) {
        eprintln!("explain_live: skipped: {why}");
        return;
    }
    let lab = LabGuard::up("flannel-vxlan", 'a');
    lab.break_("node-address-mismatch");
    let bundle = lab.bundle("docker0");
    let drops = round_trips_match_ping(&lab, &bundle);
    // node-1's 2 pods × 4 pods elsewhere, both directions, each a drop
    // (the request or its reply) on node-2 or node-3.
    assert_eq!(drops.len(), 16, "{drops:#?}");
    for d in &drops {
        assert_eq!(d["code"], "vxlan-fdb-mismatch", "{d:#}");
        assert_eq!(
            d["finding"]["peers"],
            serde_json::json!(["node-1"]),
            "{d:#}"
        );
        assert_eq!(
            d["root_cause"]["finding"]["code"], "node-address-mismatch",
            "{d:#}"
        );
        assert_eq!(d["root_cause"]["finding"]["node"], "node-1", "{d:#}");
    }
}

/// `ping -c1 -W1` of an IP packet of `size` bytes (ICMP payload size − 28)
/// with DF set (`-M do`) or clear (`-M dont`).
fn ping_sized(netns: &str, ip: IpAddr, size: u32, df: bool) -> bool {
    let payload = (size - 28).to_string();
    let pmtu = if df { "do" } else { "dont" };
    Command::new("ip")
        .args(["netns", "exec", netns, "ping", "-c1", "-W1", "-q"])
        .args(["-M", pmtu, "-s", &payload])
        .arg(ip.to_string())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `ip -n NS …` inside the lab, which must succeed.
fn lab_ip(ns: &str, args: &[&str]) {
    let ok = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .status()
        .expect("ip runs");
    assert!(ok.success(), "ip -n {ns} {}", args.join(" "));
}

/// Every ordered pod pair at `size` bytes with and without DF: explain's
/// verdict equals ping's. Returns how many of the DF pings were delivered.
fn sized_verdicts_match_ping(lab: &LabGuard, bundle: &Path, size: u32) -> usize {
    let netns = lab.pod_netns();
    let pods = pods(bundle);
    let mut delivered_df = 0;
    let sz = size.to_string();
    for (src, _) in &pods {
        for (dst, dst_ip) in pods.iter().filter(|(d, _)| d != src) {
            for df in [true, false] {
                let mut extra = vec!["--size", &sz];
                if !df {
                    extra.push("--no-df");
                }
                let (v, _) = explain(lab, bundle, src, dst, &extra);
                let kernel = ping_sized(&netns[src], *dst_ip, size, df);
                let said = v["verdict"] == "delivered";
                assert_eq!(kernel, said, "{src} → {dst} size {size} df {df}: {v:#}");
                delivered_df += usize::from(df && kernel);
            }
        }
    }
    delivered_df
}

/// `cnictl check` on `bundle`: exit code and the mtu-mismatch findings.
fn mtu_findings(bundle: &Path) -> (i32, Vec<Value>) {
    let b = bundle.to_string_lossy().into_owned();
    let o = cnictl(&["check", "--bundle", &b, "-O", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("check JSON");
    let found = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "mtu-mismatch")
        .cloned()
        .collect();
    (o.status.code().unwrap_or(-1), found)
}

/// The VXLAN device's `df` decides what the underlay does with an outer
/// packet larger than its MTU: with the default `df unset` the kernel
/// sends it without DF, so it is fragmented and delivered; `df set` drops
/// it whatever the inner DF; `df inherit` drops it only when the inner
/// packet has DF. The underlay here is lowered to 1400 under flannel.1's
/// 1450, and every pair is pinged at 1450 bytes (fits flannel.1, not the
/// underlay once wrapped) with and without DF; explain must agree each
/// time, and mtu-mismatch must say fragmented (warning) or dropped (error).
#[test]
fn vxlan_df_decides_fragment_or_drop_on_a_smaller_underlay() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("explain_live: skipped: {why}");
        return;
    }
    let lab = LabGuard::up("flannel-vxlan", 'd');
    for n in 1..=3 {
        lab_ip(
            &format!("{}-node-{n}", lab.prefix),
            &["link", "set", "eth0", "mtu", "1400"],
        );
        lab_ip(
            &format!("{}-ul", lab.prefix),
            &["link", "set", &format!("ul{n}"), "mtu", "1400"],
        );
    }
    let unset = lab.bundle("df-unset");
    // 2 pods × 4 cross-node pods per node, plus 6 same-node pairs.
    assert_eq!(sized_verdicts_match_ping(&lab, &unset, 1450), 30);
    let (code, found) = mtu_findings(&unset);
    assert_eq!(code, 0, "fragmentation is no error: {found:#?}");
    assert!(
        found.iter().all(|f| f["severity"] == "warning"),
        "{found:#?}"
    );
    assert!(found[0]["summary"]
        .as_str()
        .unwrap_or("")
        .contains("fragmented on eth0"));

    for (df, delivered) in [("set", 6), ("inherit", 6)] {
        for n in 1..=3 {
            let ns = format!("{}-node-{n}", lab.prefix);
            lab_ip(
                &ns,
                &["link", "set", "flannel.1", "type", "vxlan", "df", df],
            );
        }
        let b = lab.bundle(&format!("df-{df}"));
        assert_eq!(
            sized_verdicts_match_ping(&lab, &b, 1450),
            delivered,
            "df {df}"
        );
        let (code, found) = mtu_findings(&b);
        assert_eq!(code, 1, "df {df}: {found:#?}");
        assert!(found
            .iter()
            .any(|f| f["severity"] == "error"
                && f["summary"].as_str().unwrap_or("").contains("dropped")));
    }
}

/// Pod-network pods of a bundle with their IPv6 address (dual-stack labs).
fn pods_v6(bundle: &Path) -> Vec<(String, IpAddr)> {
    let snap = cnictl_collect::bundle::load_dir(bundle).expect("bundle loads");
    snap.k8s
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .filter_map(|p| {
            let v6 = p.ips.iter().find(|ip| ip.is_ipv6())?;
            Some((format!("{}/{}", p.namespace, p.name), *v6))
        })
        .collect()
}

/// Every ordered pod pair over IPv6 (`explain --family 6 --reverse`)
/// against `ping -6`; returns the pairs ping reached. The pings run all at
/// once (a lost one waits its full second).
fn v6_verdicts_match_ping(lab: &LabGuard, bundle: &Path) -> usize {
    let netns = lab.pod_netns();
    let pods = pods_v6(bundle);
    assert!(pods.len() >= 6, "dual-stack pods: {pods:?}");
    // (src, dst, dst's IPv6 address) for every ordered pair.
    let pairs: Vec<(&str, &str, IpAddr)> = pods
        .iter()
        .flat_map(|(s, _)| {
            let others = pods.iter().filter(move |(d, _)| d != s);
            others.map(move |(d, ip)| (s.as_str(), d.as_str(), *ip))
        })
        .collect();
    // ping needs the answer back too: --reverse, and exit 0 only when both
    // ways are delivered. Two explains at a time.
    let run = |ps: &[(&str, &str, IpAddr)]| -> Vec<(Value, i32)> {
        let args = ["--family", "6", "--reverse"];
        ps.iter()
            .map(|(src, dst, _)| explain(lab, bundle, src, dst, &args))
            .collect()
    };
    let (first, second) = pairs.split_at(pairs.len() / 2);
    let explained: Vec<(Value, i32)> = std::thread::scope(|sc| {
        let first = sc.spawn(|| run(first));
        let mut all = run(second);
        let mut head = first.join().expect("explain thread");
        head.append(&mut all);
        head
    });
    let targets: Vec<(&str, IpAddr)> = pairs
        .iter()
        .map(|(src, _, ip)| (netns[*src].as_str(), *ip))
        .collect();
    let kernel = pings(&targets);
    for (((src, dst, ip), (v, code)), k) in pairs.iter().zip(&explained).zip(&kernel) {
        assert_eq!(v["dst"]["ip"], ip.to_string(), "{v:#}");
        assert_eq!(*k, *code == 0, "{src} → {dst} (IPv6): {v:#}");
    }
    kernel.iter().filter(|k| **k).count()
}

/// One ping per (netns, address), all in flight together; whether each
/// was answered.
fn pings(targets: &[(&str, IpAddr)]) -> Vec<bool> {
    let children: Vec<_> = targets
        .iter()
        .map(|(ns, ip)| {
            Command::new("ip")
                .args(["netns", "exec", ns, "ping", "-c1", "-W1", "-q"])
                .arg(ip.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("ping runs")
        })
        .collect();
    children
        .into_iter()
        .map(|mut c| c.wait().is_ok_and(|s| s.success()))
        .collect()
}

/// A dual-stack flannel-host-gw lab (`lab up --dual-stack`): `check` is
/// clean, explain over IPv4 and IPv6 equals ping / ping -6 for every
/// ordered pair; after `lab break missing-pod-route-v6` (node-1 loses its
/// IPv6 route to node-2's pods, the IPv4 one stays) check finds it as it
/// finds the IPv4 fault, and explain says dropped exactly where ping -6
/// fails while IPv4 still delivers.
#[test]
fn dual_stack_flannel_host_gw_ipv6_is_first_class() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("explain_live: skipped: {why}");
        return;
    }
    let prefix = format!("cnlv{}s", base36(std::process::id()));
    let lab = LabGuard {
        prefix,
        dir: tempfile::tempdir().expect("temp dir"),
    };
    cnictl_ok(
        &[
            "lab",
            "up",
            "flannel-host-gw",
            "--dual-stack",
            "--prefix",
            &lab.prefix,
        ],
        0,
    );
    let healthy = lab.bundle("healthy");
    let b = healthy.to_string_lossy().into_owned();
    let o = cnictl_ok(&["check", "--bundle", &b, "-O", "json"], 0);
    let v: Value = serde_json::from_slice(&o.stdout).expect("check JSON");
    assert_eq!(v["findings"], serde_json::json!([]), "{v:#}");
    verdicts_match_ping(&lab, &healthy);
    assert_eq!(v6_verdicts_match_ping(&lab, &healthy), 30);
    // The kernel agrees with every IPv6 routing hop (RTM_GETROUTE).
    let (v, code) = explain(
        &lab,
        &healthy,
        "default/web-1",
        "default/api-2",
        &["--family", "6", "--validate"],
    );
    let st = statuses(&v);
    assert_eq!(code, 0, "{v:#}");
    assert!(
        !st.is_empty() && st.iter().all(|(_, s, _)| s == "agree"),
        "{st:?}"
    );

    lab.break_("missing-pod-route-v6");
    let broken = lab.bundle("broken");
    let b = broken.to_string_lossy().into_owned();
    let o = cnictl_ok(&["check", "--bundle", &b, "-O", "json"], 1);
    let v: Value = serde_json::from_slice(&o.stdout).expect("check JSON");
    let found = v["findings"].as_array().expect("findings");
    assert_eq!(found.len(), 1, "{v:#}");
    assert_eq!(found[0]["code"], "missing-pod-route");
    assert_eq!(found[0]["node"], "node-1");
    let summary = found[0]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("fd00:10:244:2::/64"), "{summary}");
    // node-1's two pods and node-2's two lose each other over IPv6 only
    // (the answers from node-1 take the default route too).
    assert_eq!(v6_verdicts_match_ping(&lab, &broken), 22);
    verdicts_match_ping(&lab, &broken);
    let (v, code) = explain(
        &lab,
        &broken,
        "default/web-1",
        "default/api-2",
        &["--family", "6"],
    );
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["drop"]["code"], "missing-pod-route", "{v:#}");
}

/// `cnictl check` on `bundle`: its findings, asserting the exit code.
fn check_findings(bundle: &Path, want: i32) -> Vec<Value> {
    let b = bundle.to_string_lossy().into_owned();
    let o = cnictl_ok(&["check", "--bundle", &b, "-O", "json"], want);
    let v: Value = serde_json::from_slice(&o.stdout).expect("check JSON");
    v["findings"].as_array().expect("findings").clone()
}

/// A dual-stack flannel-vxlan lab (`lab up flannel-vxlan --dual-stack`:
/// flannel.1 for IPv4 and flanneld's flannel-v6.1 for IPv6): `check` is
/// clean and explain equals ping / ping -6 for every ordered pair. Then the
/// three IPv6 faults at once, each on its own node pair so none hides
/// another (node-1 loses its flannel-v6.1 FDB entry for node-2, node-2 its
/// neighbour entry for node-3's VTEP, node-3 its IPv6 route to node-1's
/// pods): check finds exactly those three, explain over IPv6 equals ping -6
/// for every pair again (only same-node pairs still answer), each broken
/// direction drops with its fault's code and IPv4 there still delivers.
#[test]
fn dual_stack_flannel_vxlan_ipv6_over_flannel_v6_1() {
    if let Some(why) = skip_reason(&["ip", "ping", "bridge"]) {
        eprintln!("explain_live: skipped: {why}");
        return;
    }
    let lab = LabGuard::up_with("flannel-vxlan", 'w', &["--dual-stack"]);
    let healthy = lab.bundle("healthy");
    assert_eq!(check_findings(&healthy, 0), Vec::<Value>::new());
    verdicts_match_ping(&lab, &healthy);
    assert_eq!(v6_verdicts_match_ping(&lab, &healthy), 30);
    let (v, code) = explain(
        &lab,
        &healthy,
        "default/web-1",
        "default/api-2",
        &["--family", "6", "--validate"],
    );
    let st = statuses(&v);
    assert_eq!(code, 0, "{v:#}");
    assert!(
        st.iter().any(|(_, _, k)| k.contains("dev flannel-v6.1")),
        "{st:?}"
    );
    assert!(st.iter().all(|(_, s, _)| s == "agree"), "{st:?}");

    // (fault, node, finding code, what its summary names, a pod pair it cuts)
    let faults = [
        (
            "vxlan-fdb-missing-v6",
            "node-1",
            "vxlan-fdb-missing",
            "0e:f6:02:44:02:00 on flannel-v6.1",
            ("default/web-1", "default/api-2"),
        ),
        (
            "vxlan-neigh-missing-v6",
            "node-2",
            "vxlan-neigh-missing",
            "fd00:10:244:3:: on flannel-v6.1",
            ("default/web-2", "default/api-3"),
        ),
        (
            "missing-pod-route-v6",
            "node-3",
            "missing-pod-route",
            "fd00:10:244:1::/64",
            ("default/web-3", "default/api-1"),
        ),
    ];
    for (fault, node, ..) in &faults {
        cnictl_ok(
            &[
                "lab",
                "break",
                fault,
                "--node",
                node,
                "--prefix",
                &lab.prefix,
            ],
            0,
        );
    }
    let broken = lab.bundle("broken");
    let mut found: Vec<(String, String, String)> = check_findings(&broken, 1)
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            (s("node"), s("code"), s("summary"))
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), 3, "{found:#?}");
    for ((_, node, code, names, _), (n, c, summary)) in faults.iter().zip(&found) {
        assert_eq!((n.as_str(), c.as_str()), (*node, *code), "{found:#?}");
        assert!(summary.contains(names), "{summary}");
    }
    // Every cross-node pair crosses one broken direction, either way.
    assert_eq!(v6_verdicts_match_ping(&lab, &broken), 6);
    let netns = lab.pod_netns();
    for (fault, _, code, _, (src, dst)) in faults {
        let (v, c) = explain(&lab, &broken, src, dst, &["--family", "6"]);
        assert_eq!(c, 1, "{fault}: {v:#}");
        assert_eq!(v["drop"]["code"], code, "{fault}: {v:#}");
        let (v, c) = explain(&lab, &broken, src, dst, &["--reverse"]);
        let ip: IpAddr = v["dst"]["ip"]
            .as_str()
            .unwrap_or("")
            .parse()
            .expect("IPv4 dst");
        assert_eq!(c, 0, "{fault}: IPv4 {v:#}");
        assert!(ping(&netns[src], ip), "{fault}: IPv4 {src} → {dst}");
    }
}
