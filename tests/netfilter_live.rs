//! Netfilter fidelity: in namespace labs whose nodes carry the rules their
//! components really install (kube-proxy, Flannel), and after each netfilter
//! fault `cnictl lab break` injects with the real iptables binaries
//! (forward-drop, block-vxlan, block-bgp, backend-mixed), `explain` must
//! say what the kernel does.
//!
//! For every ordered pod pair, ICMP (a real ping) and TCP (a real connect to
//! a python listener in every pod): the kernel's one-way result is read
//! from the destination pod's own counters (`/proc/net/snmp` in its netns:
//! Icmp InEchos, Tcp InSegs) and must equal explain's one-way verdict
//! ("delivered" ⇔ the packet arrived); the round trip (ping / connect
//! success) must equal "delivered both ways" (`--reverse`). Where explain
//! says a netfilter rule dropped the packet, that rule's packet counter
//! (`iptables-save -c` of its backend, or `nft -j list ruleset`), read in
//! that node's netns before and after the probe, must be the one that moved.
//! `cnictl check` must raise the fault's finding on the broken node. On
//! failure the test prints the whole table (fault, pair, proto, kernel,
//! explain).
//!
//! Each lab owns a unique prefix (`cnln`, the test process id in base 36, the
//! model's last letter, a letter) and a [`LabGuard`] whose `Drop` runs
//! `cnictl lab down`; the listeners are killed by PID. Runs as root; skips
//! with a printed reason otherwise (and calico-bgp without BIRD 2).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::*;

/// The port every pod's listener binds (the lab Services' target port).
const PORT: u16 = 8080;

/// The node every fault is injected on.
const BROKEN: &str = "node-1";

/// A tiny accept-and-close TCP server (python3's standard library only).
const SERVER: &str = "import socket\n\
s = socket.socket()\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('0.0.0.0', 8080))\n\
s.listen(128)\n\
while True:\n    c, _ = s.accept()\n    c.close()\n";

fn python() -> &'static str {
    // Debian's interpreter itself, not a shim that may fork: the listener's
    // PID must be the process to kill.
    if Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn skip_reason(model: &str) -> Option<String> {
    if !is_root() {
        return Some("not root: namespace labs need root".into());
    }
    let mut needs = vec![
        "ip",
        "ping",
        "bash",
        "timeout",
        "iptables-restore",
        "iptables-save",
        "iptables-legacy",
        "iptables-legacy-save",
        "nft",
    ];
    if model == "calico-bgp" {
        needs.extend(["bird", "birdc"]);
    }
    if !Path::new(python()).is_file() && !in_path("python3") {
        return Some("python3 not installed (the pods' TCP listeners)".into());
    }
    needs
        .iter()
        .find(|t| !in_path(t))
        .map(|t| format!("{t} not installed"))
}

// ---------------------------------------------------------------- the lab

/// A running lab; `Drop` tears it down whatever happened.
struct LabGuard {
    prefix: String,
    dir: tempfile::TempDir,
}

/// A pod of the lab: `default/web-1`, its netns and address.
struct Pod {
    key: String,
    netns: String,
    ip: String,
}

impl LabGuard {
    fn up(model: &str, letter: char) -> LabGuard {
        // The three models' tests run at once: each needs its own prefixes
        // (the model's last letter: n, w, p).
        let m = model.chars().last().unwrap_or('x');
        let prefix = format!("cnln{}{m}{letter}", base36(std::process::id()));
        let guard = LabGuard {
            prefix,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        cnictl_ok(&["lab", "up", model, "--prefix", &guard.prefix], 0);
        guard
    }

    fn bundle(&self, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        let o = out.to_string_lossy().into_owned();
        cnictl_ok(&["lab", "bundle", "-o", &o, "--prefix", &self.prefix], 0);
        out
    }

    fn break_(&self, fault: &str) {
        let args = [
            "lab",
            "break",
            fault,
            "--node",
            BROKEN,
            "--prefix",
            &self.prefix,
        ];
        cnictl_ok(&args, 0);
    }

    fn node_ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// Every pod, from the lab's plan (`cnictl lab plan --state`).
    fn pods(&self) -> Vec<Pod> {
        let state = format!("/run/cnictl-lab/{}.state", self.prefix);
        let o = cnictl_ok(&["lab", "plan", "--state", &state, "--format", "json"], 0);
        let plan: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
        let names = plan["POD_NAME"].as_object().expect("POD_NAME");
        let mut out: Vec<Pod> = names
            .iter()
            .map(|(k, name)| Pod {
                key: format!("default/{}", name.as_str().unwrap_or("")),
                netns: plan["POD_NS"][k].as_str().unwrap_or("").to_string(),
                ip: plan["POD_IP"][k].as_str().unwrap_or("").to_string(),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

/// One TCP listener per pod, killed by PID on drop.
struct Listeners(Vec<Child>);

impl Listeners {
    fn start(pods: &[Pod]) -> Listeners {
        let mut all = Listeners(Vec::new());
        for p in pods {
            let child = Command::new("ip")
                .args(["netns", "exec", &p.netns, python(), "-c", SERVER])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ip netns exec python3 starts");
            all.0.push(child);
        }
        for p in pods {
            wait_listening(&p.netns);
        }
        all
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (≤ 5 s) until something listens on [`PORT`] in `netns`.
fn wait_listening(netns: &str) {
    let want = format!(":{PORT:04X} 00000000:0000 0A");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if run_in(netns, &["cat", "/proc/net/tcp"]).contains(&want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no listener on port {PORT} in {netns} after 5 s");
}

/// `ip netns exec NETNS ARGS...`'s standard output ("" if it fails to run).
fn run_in(netns: &str, args: &[&str]) -> String {
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args(args)
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default()
}

fn succeeds_in(netns: &str, args: &[&str]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ---------------------------------------------------------------- probes

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Icmp,
    Tcp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Icmp => "icmp",
            Proto::Tcp => "tcp",
        }
    }

    /// The destination netns counter that counts this probe's arrival.
    fn arrival_counter(self) -> (&'static str, &'static str) {
        match self {
            Proto::Icmp => ("Icmp", "InEchos"),
            Proto::Tcp => ("Tcp", "InSegs"),
        }
    }
}

/// One field of `/proc/net/snmp` in `netns` (a header line then a value
/// line per section).
fn snmp(netns: &str, (section, field): (&str, &str)) -> u64 {
    let body = run_in(netns, &["cat", "/proc/net/snmp"]);
    let prefix = format!("{section}:");
    let lines: Vec<&str> = body.lines().filter(|l| l.starts_with(&prefix)).collect();
    let (Some(head), Some(vals)) = (lines.first(), lines.get(1)) else {
        panic!("no {section} section in /proc/net/snmp of {netns}");
    };
    let idx = head
        .split_whitespace()
        .position(|h| h == field)
        .unwrap_or_else(|| panic!("no {section} {field} in /proc/net/snmp"));
    vals.split_whitespace()
        .nth(idx)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad {section} {field} value in {netns}"))
}

/// The real probe from `src`'s netns: a ping, or a TCP connect (1 s).
fn probe(src: &Pod, dst: &Pod, proto: Proto) -> bool {
    match proto {
        Proto::Icmp => succeeds_in(&src.netns, &["ping", "-c1", "-W1", "-q", &dst.ip]),
        Proto::Tcp => {
            let script = format!("exec 3<>/dev/tcp/{}/{PORT}", dst.ip);
            succeeds_in(&src.netns, &["timeout", "1", "bash", "-c", &script])
        }
    }
}

// ---------------------------------------------------------------- explain

/// `explain SRC DST --bundle B --reverse -O json` (TCP: `--port`).
fn explain(bundle: &Path, src: &Pod, dst: &Pod, proto: Proto) -> Value {
    let b = bundle.to_string_lossy().into_owned();
    let port = PORT.to_string();
    let mut args = vec!["explain", &src.key, &dst.key, "--bundle", &b];
    args.extend(["--reverse", "-O", "json", "--proto", proto.name()]);
    if proto == Proto::Tcp {
        args.extend(["--port", &port]);
    }
    let o = cnictl(&args);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "explain {} {}: not JSON ({e})\nstdout:\n{}\nstderr:\n{}",
            src.key,
            dst.key,
            text(&o.stdout),
            text(&o.stderr)
        )
    })
}

/// The netfilter rule (or chain policy) explain says dropped the packet.
#[derive(Debug, Clone)]
struct NamedRule {
    node: String,
    family: String,
    table: String,
    chain: String,
    backend: String,
    /// 1-based position in its chain; None: the chain policy.
    position: Option<u64>,
    handle: Option<u64>,
    entry: String,
}

/// The hop `drop.hop` names when its disposition is a netfilter drop.
fn netfilter_drop(ex: &Value) -> Option<NamedRule> {
    let drop = &ex["drop"];
    let disp = drop["disposition"].as_str()?;
    if disp != "netfilter-drop" && disp != "netfilter-reject" {
        return None;
    }
    let idx = drop["hop"].as_u64();
    let hop = ex["hops"]
        .as_array()?
        .iter()
        .find(|h| h["index"].as_u64() == idx)?;
    let nf = &hop["netfilter"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    Some(NamedRule {
        node: s(&hop["node"]),
        family: s(&nf["family"]),
        table: s(&nf["table"]),
        chain: s(&nf["chain"]),
        backend: s(&nf["backend"]),
        position: nf["position"].as_u64(),
        handle: nf["handle"].as_u64(),
        entry: s(&hop["entry"]),
    })
}

// ---------------------------------------------------------------- counters

/// The named rule's packet counter, read in its node's netns with its
/// backend's own list command.
fn counter(lab: &LabGuard, r: &NamedRule) -> Option<u64> {
    let ns = lab.node_ns(&r.node);
    let v6 = r.family == "ip6";
    let tool = match (r.backend.as_str(), v6) {
        ("legacy", false) => "iptables-legacy-save",
        ("legacy", true) => "ip6tables-legacy-save",
        ("iptables-nft", false) => "iptables-nft-save",
        ("iptables-nft", true) => "ip6tables-nft-save",
        _ => return nft_counter(&run_in(&ns, &["nft", "-j", "list", "ruleset"]), r),
    };
    save_counter(&run_in(&ns, &[tool, "-c"]), &r.table, &r.chain, r.position)
}

/// From `iptables-save -c` text: the packets of rule `position` of
/// `table`/`chain` (counted as `iptables -L --line-numbers` does), or of the
/// chain's policy.
fn save_counter(save: &str, table: &str, chain: &str, position: Option<u64>) -> Option<u64> {
    let mut in_table = false;
    let mut seen = 0;
    let policy = format!(":{chain} ");
    let append = format!("-A {chain} ");
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            in_table = t == table;
        } else if !in_table {
        } else if position.is_none() && line.starts_with(&policy) {
            return bracket_packets(line.rsplit_once(' ')?.1);
        } else if let Some((counts, rule)) = line.split_once("] ") {
            if rule.starts_with(&append) {
                seen += 1;
                if Some(seen) == position {
                    return bracket_packets(&format!("{counts}]"));
                }
            }
        }
    }
    None
}

/// "[packets:bytes]" → packets.
fn bracket_packets(s: &str) -> Option<u64> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    inner.split(':').next()?.parse().ok()
}

/// From `nft -j list ruleset`: the packets of the counter in the rule with
/// the named handle.
fn nft_counter(json: &str, r: &NamedRule) -> Option<u64> {
    let v: Value = serde_json::from_str(json).ok()?;
    let rule = v["nftables"].as_array()?.iter().find_map(|o| {
        let rule = o.get("rule")?;
        let same = rule["family"] == r.family.as_str()
            && rule["table"] == r.table.as_str()
            && rule["chain"] == r.chain.as_str()
            && rule["handle"].as_u64() == r.handle;
        same.then_some(rule)
    })?;
    rule["expr"]
        .as_array()?
        .iter()
        .find_map(|e| e["counter"]["packets"].as_u64())
}

// ---------------------------------------------------------------- one scenario

/// One probe's row: what the kernel did and what explain said.
struct Row {
    scenario: String,
    pair: String,
    proto: Proto,
    /// The packet reached the destination pod (its counters moved).
    arrived: bool,
    /// The probe succeeded (reply back too).
    round_trip: bool,
    verdict: String,
    reverse: String,
    /// The netfilter drops explain names (way out, and back when the way
    /// out is delivered), each with whether its counter moved.
    rules: Vec<(NamedRule, bool)>,
    problems: Vec<String>,
}

fn measure(lab: &LabGuard, bundle: &Path, src: &Pod, dst: &Pod, proto: Proto) -> Row {
    let ex = explain(bundle, src, dst, proto);
    let mut named: Vec<NamedRule> = netfilter_drop(&ex).into_iter().collect();
    if ex["verdict"] == "delivered" {
        named.extend(netfilter_drop(&ex["reverse"]));
    }
    let before: Vec<Option<u64>> = named.iter().map(|r| counter(lab, r)).collect();
    let arrivals = snmp(&dst.netns, proto.arrival_counter());
    let round_trip = probe(src, dst, proto);
    let arrived = snmp(&dst.netns, proto.arrival_counter()) > arrivals;
    let rules = named
        .into_iter()
        .zip(before)
        .map(|(r, b)| {
            let moved = matches!((b, counter(lab, &r)), (Some(b), Some(a)) if a > b);
            (r, moved)
        })
        .collect();
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut row = Row {
        scenario: String::new(),
        pair: format!("{} → {}", src.key, dst.key),
        proto,
        arrived,
        round_trip,
        verdict: s(&ex["verdict"]),
        reverse: s(&ex["reverse"]["verdict"]),
        rules,
        problems: Vec::new(),
    };
    judge(&mut row, &ex);
    row
}

/// What must hold for one row; each failure is a line in `problems`.
fn judge(row: &mut Row, ex: &Value) {
    let one_way = row.verdict == "delivered";
    if one_way != row.arrived {
        row.problems.push(format!(
            "one way: kernel {} but explain says {}; drop: {}",
            if row.arrived { "delivered" } else { "dropped" },
            row.verdict,
            ex["drop"]
        ));
    }
    let both = one_way && row.reverse == "delivered";
    if both != row.round_trip {
        row.problems.push(format!(
            "round trip: kernel {} but explain says {} / reverse {}; reverse drop: {}",
            if row.round_trip {
                "succeeded"
            } else {
                "failed"
            },
            row.verdict,
            row.reverse,
            ex["reverse"]["drop"]
        ));
    }
    for (r, moved) in &row.rules {
        if !moved {
            row.problems.push(format!(
                "the counter of the rule explain names did not move: {r:?}"
            ));
        }
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<22} {:<34} {:<5} {:<22} {:<30} {}\n",
        "fault", "pair", "proto", "kernel (arrived/rtt)", "explain (fwd/rev)", "named rule (moved)"
    );
    for r in rows {
        let kernel = format!("{}/{}", yes(r.arrived), yes(r.round_trip));
        let explain = format!("{}/{}", r.verdict, r.reverse);
        let named: Vec<String> = r
            .rules
            .iter()
            .map(|(n, m)| format!("{}: {} ({})", n.node, n.entry, yes(*m)))
            .collect();
        let rule = if named.is_empty() {
            "-".into()
        } else {
            named.join("; ")
        };
        let flag = if r.problems.is_empty() { "" } else { "  ✗" };
        let _ = writeln!(
            out,
            "{:<22} {:<34} {:<5} {:<22} {:<30} {rule}{flag}",
            r.scenario,
            r.pair,
            r.proto.name(),
            kernel,
            explain
        );
        for p in &r.problems {
            let _ = writeln!(out, "      {p}");
        }
    }
    out
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Every ordered pair, ICMP then TCP, in one lab state.
fn measure_all(lab: &LabGuard, bundle: &Path, scenario: &str) -> Vec<Row> {
    let pods = lab.pods();
    let _listeners = Listeners::start(&pods);
    let mut rows = Vec::new();
    for src in &pods {
        for dst in pods.iter().filter(|d| d.key != src.key) {
            for proto in [Proto::Icmp, Proto::Tcp] {
                let mut row = measure(lab, bundle, src, dst, proto);
                row.scenario = scenario.to_string();
                rows.push(row);
            }
        }
    }
    rows
}

/// `cnictl check --bundle B -O json`'s findings as (code, node).
fn findings(bundle: &Path) -> Vec<(String, String)> {
    let b = bundle.to_string_lossy().into_owned();
    let o = cnictl(&["check", "--bundle", &b, "-O", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let all = v["findings"].as_array().cloned().unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    all.iter().map(|f| (s(&f["code"]), s(&f["node"]))).collect()
}

/// The findings the netfilter faults raise (a healthy lab raises none).
const NETFILTER_CODES: [&str; 3] = [
    "netfilter-forward-drop",
    "netfilter-blocks-overlay",
    "iptables-backend-mixed",
];

/// The finding each fault must raise on the broken node. On calico-bgp,
/// Felix's own FORWARD rules accept workload traffic whatever the policy:
/// forward-drop changes nothing there, and must raise nothing.
fn expected_code(model: &str, fault: &str) -> Option<&'static str> {
    match fault {
        "forward-drop" if model == "calico-bgp" => None,
        "forward-drop" => Some("netfilter-forward-drop"),
        "block-vxlan" | "block-bgp" => Some("netfilter-blocks-overlay"),
        "backend-mixed" => Some("iptables-backend-mixed"),
        _ => None,
    }
}

/// One fresh lab of `model`, `fault` injected on node-1 (None: healthy),
/// measured; returns its rows and check problems.
fn scenario(model: &str, fault: Option<&str>, letter: char) -> (Vec<Row>, Vec<String>) {
    let lab = LabGuard::up(model, letter);
    if let Some(f) = fault {
        lab.break_(f);
    }
    let name = format!("{model}/{}", fault.unwrap_or("healthy"));
    let bundle = lab.bundle(fault.unwrap_or("healthy"));
    let mut problems = bundle_files_problems(&bundle, fault);
    let found = findings(&bundle);
    match fault.and_then(|f| expected_code(model, f)) {
        Some(code) if !found.iter().any(|(c, n)| c == code && n == BROKEN) => problems.push(
            format!("{name}: check raised no {code} on {BROKEN}; findings: {found:?}"),
        ),
        None if found
            .iter()
            .any(|(c, _)| NETFILTER_CODES.contains(&c.as_str())) =>
        {
            problems.push(format!(
                "{name}: rules that pass all pod traffic raised netfilter findings: {found:?}"
            ))
        }
        _ => {}
    }
    let rows = measure_all(&lab, &bundle, &name);
    problems.extend(probe_counter_problem(&lab, &bundle, &rows));
    (rows, problems)
}

/// `explain --probe` on the first ICMP pair explain says a netfilter rule
/// drops: the probe must see the named rule's counter move (builds with
/// the `probe` feature; test.sh builds with --all-features).
fn probe_counter_problem(lab: &LabGuard, bundle: &Path, rows: &[Row]) -> Option<String> {
    if !cfg!(feature = "probe") {
        eprintln!("netfilter_live: --probe counter check skipped: built without --features probe");
        return None;
    }
    let row = rows
        .iter()
        .find(|r| r.proto == Proto::Icmp && r.verdict == "dropped" && !r.rules.is_empty())?;
    let (src, dst) = row.pair.split_once(" → ")?;
    let b = bundle.to_string_lossy().into_owned();
    let args = [
        "explain",
        src,
        dst,
        "--bundle",
        &b,
        "--lab",
        &lab.prefix,
        "--probe",
        "-O",
        "json",
    ];
    let o = cnictl(&args);
    let v: Value = match serde_json::from_slice(&o.stdout) {
        Ok(v) => v,
        Err(e) => {
            let err = text(&o.stderr);
            return Some(format!(
                "{}: --probe {src} → {dst}: no JSON ({e}): {err}",
                row.scenario
            ));
        }
    };
    let moved = v["probe"]["counter"]["moved"].as_bool();
    eprintln!(
        "{}: --probe {src} → {dst}: counter {}",
        row.scenario, v["probe"]["counter"]
    );
    (moved != Some(true)).then(|| {
        format!(
            "{}: --probe {src} → {dst}: the named rule's counter did not move: {}",
            row.scenario, v["probe"]
        )
    })
}

/// The bundle holds each node's netfilter dumps (non-empty where rules
/// exist), and the legacy dump only on the node backend-mixed broke.
fn bundle_files_problems(bundle: &Path, fault: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for node in ["node-1", "node-2", "node-3"] {
        let dir = bundle.join("nodes").join(node);
        for f in ["iptables-save.txt", "nft-ruleset.json", "tool-versions.txt"] {
            let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
            if len == 0 {
                out.push(format!("{node}/{f} missing or empty"));
            }
        }
        let legacy = dir.join("iptables-legacy-save.txt");
        let want = fault == Some("backend-mixed") && node == BROKEN;
        let has = std::fs::read_to_string(&legacy).is_ok_and(|s| s.contains("-A FORWARD"));
        if has != want {
            out.push(format!(
                "{node}/iptables-legacy-save.txt: want rules {want}, has {has}"
            ));
        }
    }
    out
}

/// Runs every scenario of `model`; fails with the whole table.
fn run_model(model: &str, faults: &[&str]) {
    if let Some(why) = skip_reason(model) {
        eprintln!("skipping netfilter_live {model}: {why}");
        return;
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let letters = ['a', 'b', 'c', 'd', 'e'];
    let all = std::iter::once(None).chain(faults.iter().map(|f| Some(*f)));
    for (fault, letter) in all.zip(letters) {
        let (r, p) = scenario(model, fault, letter);
        rows.extend(r);
        problems.extend(p);
    }
    let bad = rows.iter().filter(|r| !r.problems.is_empty()).count();
    assert!(
        bad == 0 && problems.is_empty(),
        "{model}: {bad} probe(s) where explain and the kernel disagree; other problems: {problems:#?}\n{}",
        table(&rows)
    );
    eprintln!("{}", table(&rows));
}

#[test]
fn flannel_vxlan_netfilter_faults_match_the_kernel() {
    run_model(
        "flannel-vxlan",
        &["forward-drop", "block-vxlan", "backend-mixed"],
    );
}

#[test]
fn flannel_host_gw_netfilter_faults_match_the_kernel() {
    run_model("flannel-host-gw", &["forward-drop", "backend-mixed"]);
}

#[test]
fn calico_bgp_netfilter_faults_match_the_kernel() {
    run_model(
        "calico-bgp",
        &["forward-drop", "block-bgp", "backend-mixed"],
    );
}

#[test]
fn counters_are_read_from_iptables_save_text() {
    let save = "*nat\n:POSTROUTING ACCEPT [9:9]\nCOMMIT\n*filter\n:INPUT ACCEPT [1:2]\n\
                :FORWARD DROP [7:420]\n[0:0] -A FORWARD -j KUBE-FORWARD\n\
                [3:180] -A FORWARD -d 10.244.1.2/32 -j DROP\n[5:5] -A INPUT -j X\nCOMMIT\n";
    assert_eq!(save_counter(save, "filter", "FORWARD", None), Some(7));
    assert_eq!(save_counter(save, "filter", "FORWARD", Some(2)), Some(3));
    assert_eq!(save_counter(save, "filter", "FORWARD", Some(3)), None);
    assert_eq!(save_counter(save, "nat", "POSTROUTING", None), Some(9));
    assert_eq!(save_counter(save, "filter", "INPUT", Some(1)), Some(5));
}
