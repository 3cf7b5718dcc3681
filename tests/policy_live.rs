//! NetworkPolicy fidelity: in 2 × 2 namespace labs whose nodes carry a
//! policy agent's rules for lab/testdata/policies/lab-policies.yaml
//! (`cnictl lab up --policies`: Felix on calico-bgp, kube-router on
//! flannel-vxlan), for every ordered pod pair a real TCP connect to port
//! 8080 (1 s timeout, one retry) must be what `explain --proto tcp --port
//! 8080 --reverse` says of the lab's bundle (delivered both ways ⇔ the
//! connect succeeds), healthy and after each policy fault
//! (`policy-rules-missing`, `policy-ipset-stale`, each in its own lab, on
//! node-1). Healthy, the kernel must also allow exactly the pairs the
//! policy file intends; each fault must change what the kernel allows.
//!
//! The policy set: a default deny for ingress, web → api by podSelector on
//! a named port, web ← frontends by namespaceSelector + podSelector
//! (matchExpressions) on port 8080, web's egress to app=api and to an
//! ipBlock with an exception. Every pod listens on 8080 (a python3
//! accept-and-close server killed by PID). Labs are named `cnlpa` + the
//! model's last letter + a scenario letter; a guard's `Drop` runs `cnictl
//! lab down`. Root only; skips with a printed reason otherwise.
//!
//! A ping of every ordered pair must be what `explain --reverse` (ICMP)
//! says. `cnictl matrix --proto tcp --port 8080` must say, for every pair, the
//! intent of the policy file (whatever the fault) and, in its dataplane
//! column, what the kernel did.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::*;

const PORT: u16 = 8080;

/// The pairs the policy file allows among web-1, api-1, web-2, api-2.
const INTENDED: [(&str, &str); 5] = [
    ("web-1", "api-1"),
    ("web-1", "api-2"),
    ("web-2", "api-1"),
    ("web-2", "api-2"),
    ("web-2", "web-1"),
];

const SERVER: &str = "import socket\n\
s = socket.socket()\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('0.0.0.0', 8080))\n\
s.listen(128)\n\
while True:\n    c, _ = s.accept()\n    c.close()\n";

/// Connects to each IP argument on 8080 at once (1 s timeout, one retry)
/// and prints `IP ok|fail`.
const CONNECTOR: &str = "import socket, sys\n\
from concurrent.futures import ThreadPoolExecutor\n\
def once(ip):\n    s = socket.socket()\n    s.settimeout(1.0)\n    \
try:\n        s.connect((ip, 8080))\n        return True\n    except OSError:\n        return False\n    \
finally:\n        s.close()\n\
def one(ip):\n    return once(ip) or once(ip)\n\
with ThreadPoolExecutor(16) as ex:\n    res = list(ex.map(one, sys.argv[1:]))\n\
for ip, r in zip(sys.argv[1:], res):\n    print(ip, 'ok' if r else 'fail')\n";

fn python() -> &'static str {
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
    let mut needs = vec!["ip", "bash", "iptables-restore", "iptables-save", "ipset"];
    if model == "calico-bgp" {
        needs.extend(["bird", "birdc"]);
    }
    if !Path::new(python()).is_file() && !in_path("python3") {
        return Some("python3 not installed (listeners and connects)".into());
    }
    needs
        .iter()
        .find(|t| !in_path(t))
        .map(|t| format!("{t} not installed"))
}

struct LabGuard {
    prefix: String,
    dir: tempfile::TempDir,
}

struct Pod {
    name: String,
    netns: String,
    ip: String,
}

impl LabGuard {
    fn up(model: &str, letter: char) -> LabGuard {
        let m = model.chars().last().unwrap_or('x');
        let guard = LabGuard {
            prefix: format!("cnlpa{m}{letter}"),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let _ = cnictl(&["lab", "down", "--prefix", &guard.prefix]);
        let policies = repo().join("lab/testdata/policies/lab-policies.yaml");
        let p = policies.to_string_lossy().into_owned();
        let args = ["lab", "up", model, "--nodes", "2", "--pods", "2"];
        let mut args = args.to_vec();
        args.extend(["--policies", &p, "--prefix", &guard.prefix]);
        cnictl_ok(&args, 0);
        guard
    }

    fn break_(&self, fault: &str) {
        let args = ["lab", "break", fault, "--node", "node-1", "--prefix"];
        let mut args = args.to_vec();
        args.push(&self.prefix);
        cnictl_ok(&args, 0);
    }

    fn bundle(&self) -> PathBuf {
        let out = self.dir.path().join("bundle");
        let o = out.to_string_lossy().into_owned();
        cnictl_ok(&["lab", "bundle", "-o", &o, "--prefix", &self.prefix], 0);
        out
    }

    fn pods(&self) -> Vec<Pod> {
        let state = format!("/run/cnictl-lab/{}.state", self.prefix);
        let o = cnictl_ok(&["lab", "plan", "--state", &state, "--format", "json"], 0);
        let plan: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        let names = plan["POD_NAME"].as_object().expect("POD_NAME");
        let mut pods: Vec<Pod> = names
            .iter()
            .map(|(k, name)| Pod {
                name: s(name),
                netns: s(&plan["POD_NS"][k.as_str()]),
                ip: s(&plan["POD_IP"][k.as_str()]),
            })
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        pods
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

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

fn wait_listening(netns: &str) {
    let want = format!(":{PORT:04X} 00000000:0000 0A");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let out = Command::new("ip")
            .args(["netns", "exec", netns, "cat", "/proc/net/tcp"])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default();
        if out.contains(&want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no listener on port {PORT} in {netns} after 10 s");
}

/// Every ordered pair (source, destination) whose connect succeeded.
fn kernel(pods: &[Pod]) -> Vec<(String, String)> {
    let running: Vec<(&Pod, Child)> = pods
        .iter()
        .map(|src| {
            let dsts = pods
                .iter()
                .filter(|d| d.name != src.name)
                .map(|d| d.ip.as_str());
            let child = Command::new("ip")
                .args(["netns", "exec", &src.netns, python(), "-c", CONNECTOR])
                .args(dsts)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("connector starts");
            (src, child)
        })
        .collect();
    let mut ok = Vec::new();
    for (src, child) in running {
        let o = child.wait_with_output().expect("connector finishes");
        for line in text(&o.stdout).lines() {
            let Some((ip, "ok")) = line.split_once(' ') else {
                continue;
            };
            let dst = pods.iter().find(|p| p.ip == ip).expect("a lab pod");
            ok.push((src.name.clone(), dst.name.clone()));
        }
    }
    ok.sort();
    ok
}

/// Every ordered pair whose single ping (1 s) was answered.
fn pings(pods: &[Pod]) -> Vec<(String, String)> {
    let mut running = Vec::new();
    for s in pods {
        for d in pods.iter().filter(|d| d.name != s.name) {
            let child = Command::new("ip")
                .args([
                    "netns", "exec", &s.netns, "ping", "-n", "-q", "-c", "1", "-W", "1", &d.ip,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ping starts");
            running.push(((s.name.clone(), d.name.clone()), child));
        }
    }
    let mut ok: Vec<(String, String)> = running
        .into_iter()
        .filter_map(|(pair, mut c)| c.wait().ok().filter(|st| st.success()).map(|_| pair))
        .collect();
    ok.sort();
    ok
}

/// explain's answer for a ping (ICMP echo, both ways).
fn explain_ping(bundle: &Path, src: &str, dst: &str) -> bool {
    let b = bundle.to_string_lossy().into_owned();
    let (s, d) = (format!("default/{src}"), format!("default/{dst}"));
    let o = cnictl(&["explain", "-o", "json", "--bundle", &b, &s, &d, "--reverse"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["verdict"] == "delivered" && v["reverse"]["verdict"] == "delivered"
}

/// explain's answer for one pair: delivered both ways, and a short note.
fn explain(bundle: &Path, src: &str, dst: &str) -> (bool, String) {
    let b = bundle.to_string_lossy().into_owned();
    let (s, d) = (format!("default/{src}"), format!("default/{dst}"));
    let port = PORT.to_string();
    let args = [
        "explain",
        "-o",
        "json",
        "--bundle",
        &b,
        &s,
        &d,
        "--proto",
        "tcp",
        "--port",
        &port,
        "--reverse",
    ];
    let o = cnictl(&args);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("explain {src} {dst}: not JSON ({e}): {}", text(&o.stderr)));
    let there = v["verdict"].as_str().unwrap_or("?").to_string();
    let back = v["reverse"]["verdict"].as_str().unwrap_or("?").to_string();
    let why = v["disposition"].as_str().unwrap_or("").to_string();
    (
        there == "delivered" && back == "delivered",
        format!("{there}/{back} {why}"),
    )
}

/// `cnictl matrix` for TCP 8080: per ordered pair (by pod name), the
/// intended verdict and the dataplane column.
fn matrix(bundle: &Path) -> std::collections::BTreeMap<(String, String), (String, String)> {
    let b = bundle.to_string_lossy().into_owned();
    let port = PORT.to_string();
    let args = [
        "matrix", "-o", "json", "--bundle", &b, "--proto", "tcp", "--port", &port,
    ];
    let o = cnictl(&args);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("matrix: not JSON ({e}): {}", text(&o.stderr)));
    let name = |c: &Value, k: &str| {
        let key = c[k].as_str().unwrap_or("");
        key.strip_prefix("default/").unwrap_or(key).to_string()
    };
    let cells = v["cells"].as_array().expect("cells");
    cells
        .iter()
        .map(|c| {
            let verdicts = (
                c["intended"].as_str().unwrap_or("?").to_string(),
                c["dataplane"].as_str().unwrap_or("?").to_string(),
            );
            ((name(c, "src"), name(c, "dst")), verdicts)
        })
        .collect()
}

/// The finding codes `check` reports on the bundle, and its exit code.
fn check_codes(bundle: &Path) -> (Vec<String>, Option<i32>) {
    let b = bundle.to_string_lossy().into_owned();
    let o = cnictl(&["check", "-o", "json", "--bundle", &b]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("check: not JSON ({e}): {}", text(&o.stderr)));
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    let codes = findings
        .iter()
        .map(|f| f["code"].as_str().unwrap_or("?").to_string());
    (codes.collect(), o.status.code())
}

/// What `check` must say given what the kernel did: policy-not-enforced
/// iff some pair connects that the policies deny, policy-drift iff some
/// pair the policies allow fails (at a policy rule, in these labs), and
/// an exit code of 0 when neither (the denials are intended).
fn check_problems(
    name: &str,
    bundle: &Path,
    allowed: &[(String, String)],
    pods: &[Pod],
) -> Vec<String> {
    let intended = |s: &str, d: &str| INTENDED.iter().any(|(a, b)| *a == s && *b == d);
    let pairs = pods.iter().flat_map(|s| {
        pods.iter()
            .filter(move |d| d.name != s.name)
            .map(move |d| (s, d))
    });
    let (mut open, mut closed) = (false, false);
    for (s, d) in pairs {
        let k = allowed.contains(&(s.name.clone(), d.name.clone()));
        open |= k && !intended(&s.name, &d.name);
        closed |= !k && intended(&s.name, &d.name);
    }
    let (codes, rc) = check_codes(bundle);
    let has = |c: &str| codes.iter().any(|x| x == c);
    let mut problems = Vec::new();
    if has("policy-not-enforced") != open || has("policy-drift") != closed {
        problems.push(format!("{name}: check says {codes:?}; kernel: denied pairs connect = {open}, allowed pairs fail = {closed}"));
    }
    if !open && !closed && rc != Some(0) {
        problems.push(format!(
            "{name}: check exits {rc:?} where the only failures are intended denials ({codes:?})"
        ));
    }
    problems
}

/// One scenario: the kernel's allowed pairs and the table rows.
fn scenario(
    model: &str,
    fault: Option<&str>,
    letter: char,
    table: &mut String,
) -> (Vec<(String, String)>, usize) {
    let name = format!("{model}/{}", fault.unwrap_or("healthy"));
    let lab = LabGuard::up(model, letter);
    if let Some(f) = fault {
        lab.break_(f);
    }
    let pods = lab.pods();
    let listeners = Listeners::start(&pods);
    let allowed = kernel(&pods);
    let pinged = pings(&pods);
    drop(listeners);
    let bundle = lab.bundle();
    for f in [
        "k8s/networkpolicies.json",
        "k8s/namespaces.json",
        "nodes/node-1/ipset-save.txt",
    ] {
        assert!(bundle.join(f).is_file(), "{name}: bundle lacks {f}");
    }
    let mut bad = 0;
    let cells = matrix(&bundle);
    for s in &pods {
        for d in pods.iter().filter(|d| d.name != s.name) {
            let pair = (s.name.clone(), d.name.clone());
            let k = allowed.contains(&pair);
            let (e, said) = explain(&bundle, &s.name, &d.name);
            let intended = INTENDED.iter().any(|(a, b)| *a == s.name && *b == d.name);
            let (mi, md) = cells.get(&pair).cloned().unwrap_or_default();
            let (pk, pe) = (
                pinged.contains(&pair),
                explain_ping(&bundle, &s.name, &d.name),
            );
            if pk != pe {
                bad += 1;
                let _ = writeln!(
                    table,
                    "BAD {name} {} -> {}: ping {pk}, explain (icmp) {pe}",
                    s.name, d.name
                );
            }
            // The matrix: intent as the policy file says, whatever the
            // fault; the dataplane column as the kernel did.
            let m_ok = mi == if intended { "allowed" } else { "denied" }
                && md == if k { "delivered" } else { "dropped" };
            bad += usize::from(k != e) + usize::from(!m_ok);
            let mark = if k == e && m_ok { "ok" } else { "BAD" };
            let kernel = if k { "connects" } else { "fails" };
            let _ = writeln!(
                table,
                "{name:<36} {:>6} -> {:<6} kernel {kernel:<9} explain {said:<32} matrix {mi}/{md:<10} {mark}",
                s.name, d.name
            );
        }
    }
    for p in check_problems(&name, &bundle, &allowed, &pods) {
        bad += 1;
        let _ = writeln!(table, "BAD {p}");
    }
    (allowed, bad)
}

fn run_model(model: &str) {
    if let Some(why) = skip_reason(model) {
        eprintln!("skipping {model} policy fidelity: {why}");
        return;
    }
    let mut table = String::new();
    let (healthy, mut bad) = scenario(model, None, 'a', &mut table);
    let intended: Vec<(String, String)> = INTENDED
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut problems = Vec::new();
    if healthy != intended {
        problems.push(format!(
            "healthy kernel allows {healthy:?}, the policies intend {intended:?}"
        ));
    }
    for (fault, letter) in [("policy-rules-missing", 'b'), ("policy-ipset-stale", 'c')] {
        let (got, b) = scenario(model, Some(fault), letter, &mut table);
        bad += b;
        if got == healthy {
            problems.push(format!("{fault} changed nothing the kernel allows"));
        }
    }
    eprintln!("{table}");
    assert!(
        bad == 0 && problems.is_empty(),
        "{bad} pairs where explain disagrees with the kernel; {problems:?}\n{table}"
    );
}

#[test]
fn calico_bgp_policies_match_the_kernel() {
    run_model("calico-bgp");
}

#[test]
fn flannel_vxlan_policies_match_the_kernel() {
    run_model("flannel-vxlan");
}
