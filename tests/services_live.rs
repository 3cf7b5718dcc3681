//! Service fidelity: in namespace labs whose nodes carry kube-proxy's real
//! rules (iptables mode: KUBE-* chains; nftables mode: its `ip kube-proxy`
//! table) beside the CNI's, healthy and after each Service fault `cnictl
//! lab break` injects, the share of new TCP connections the kernel delivers
//! must be the share `explain` says is delivered.
//!
//! For every client pod and every Service port (default/web:80,
//! default/api:8080): [`CONNECTS`] real TCP connects to the ClusterIP, each
//! with a 1 s timeout, from the client's netns (a python3 helper connects in
//! parallel and counts the successes). `explain -o json --bundle B CLIENT
//! svc/default/NAME:PORT` lists `backends[]` with a `verdict` and a `share`
//! of new connections; the expected success probability p is the sum of the
//! shares of the delivered backends (no backends: 1 if the verdict is
//! delivered, else 0). The measured k of n must lie in the two-sided 99.9 %
//! binomial acceptance interval of p (exact when p is 0 or 1). Every pod
//! listens on 8080 (accept and close), and so does the outside namespace
//! (203.0.113.10).
//!
//! From the outside namespace: [`CONNECTS`] connects to each node's
//! NodePort (web, 30080); from every pod: [`EGRESS_CONNECTS`] connects to the
//! outside server. Both are compared with explain (`--from-outside
//! 203.0.113.10 node/node-N:30080`, and the pod → outside trip). Every
//! explain runs with `--reverse`: a connect needs the reply too, and the
//! reply must cross the node that translated the request.
//!
//! Each scenario builds its own lab (prefix `cnlb`, the test process id in
//! base 36, the model's last letter and a scenario letter) behind a
//! [`LabGuard`] whose `Drop` runs `cnictl lab down`; every listener is
//! killed by PID. Root only; skips with a printed reason otherwise.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::*;

/// Connects per client and Service port, and per NodePort.
const CONNECTS: u32 = 24;

/// Connects per pod to the outside server.
const EGRESS_CONNECTS: u32 = 4;

/// The port every pod's listener and the outside server bind.
const PORT: u16 = 8080;

/// web's NodePort in the lab.
const NODE_PORT: u16 = 30080;

/// Where faults are injected.
const BROKEN: &str = "node-1";

/// The Service ports every client connects to: (Service, port).
const SERVICES: [(&str, u16); 2] = [("web", 80), ("api", 8080)];

/// The faults, each in its own lab.
const FAULTS: [&str; 5] = [
    "service-stale-backend",
    "service-no-backends",
    "service-rules-missing",
    "masquerade-missing",
    "nodeport-local",
];

/// Accept-and-close TCP server (python3's standard library only).
const SERVER: &str = "import socket\n\
s = socket.socket()\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('0.0.0.0', 8080))\n\
s.listen(512)\n\
while True:\n    c, _ = s.accept()\n    c.close()\n";

/// Connects to each `HOST:PORTxCOUNT` argument COUNT times, all at once
/// (1 s timeout each), and prints `HOST:PORT SUCCESSES` per argument.
const CONNECTOR: &str = "import socket, sys\n\
from concurrent.futures import ThreadPoolExecutor\n\
def one(t):\n    h, p = t.rsplit(':', 1)\n    s = socket.socket()\n    s.settimeout(1.0)\n    \
try:\n        s.connect((h, int(p)))\n        return True\n    except OSError:\n        return False\n    \
finally:\n        s.close()\n\
jobs = []\n\
for a in sys.argv[1:]:\n    t, n = a.rsplit('x', 1)\n    jobs += [t] * int(n)\n\
with ThreadPoolExecutor(64) as ex:\n    res = list(ex.map(one, jobs))\n\
for a in sys.argv[1:]:\n    t = a.rsplit('x', 1)[0]\n    \
print(t, sum(1 for j, r in zip(jobs, res) if j == t and r))\n";

fn python() -> &'static str {
    // Debian's interpreter itself, not a shim that may fork: a listener's
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
        "bash",
        "iptables-restore",
        "iptables-save",
        "nft",
        "ping",
    ];
    if model == "calico-bgp" {
        needs.extend(["bird", "birdc", "ipset"]);
    }
    if !Path::new(python()).is_file() && !in_path("python3") {
        return Some("python3 not installed (listeners and connects)".into());
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

/// A pod that exists in the lab: `default/web-1`, its netns.
struct Pod {
    key: String,
    netns: String,
}

/// What the lab's plan says about it.
struct Plan {
    pods: Vec<Pod>,
    nodes: Vec<(String, String)>,
    outside_ns: String,
    outside_ip: String,
}

impl LabGuard {
    fn up(model: &str, mode: &str, letter: char) -> LabGuard {
        let m = model.chars().last().unwrap_or('x');
        let prefix = format!("cnlb{}{m}{letter}", base36(std::process::id()));
        let guard = LabGuard {
            prefix,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let args = ["lab", "up", model, "--kube-proxy", mode, "--prefix"];
        let mut args = args.to_vec();
        args.push(&guard.prefix);
        cnictl_ok(&args, 0);
        guard
    }

    fn break_(&self, fault: &str) {
        let args = ["lab", "break", fault, "--node", BROKEN];
        let mut args = args.to_vec();
        args.extend(["--prefix", &self.prefix]);
        cnictl_ok(&args, 0);
    }

    fn bundle(&self) -> PathBuf {
        let out = self.dir.path().join("bundle");
        let o = out.to_string_lossy().into_owned();
        cnictl_ok(&["lab", "bundle", "-o", &o, "--prefix", &self.prefix], 0);
        out
    }

    /// The plan (`cnictl lab plan --state`): pods that exist, nodes, the
    /// outside namespace.
    fn plan(&self) -> Plan {
        let state = format!("/run/cnictl-lab/{}.state", self.prefix);
        let o = cnictl_ok(&["lab", "plan", "--state", &state, "--format", "json"], 0);
        let plan: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        let names = plan["POD_NAME"].as_object().expect("POD_NAME");
        let mut pods: Vec<Pod> = names
            .iter()
            .filter(|(k, _)| plan["POD_GONE"][k.as_str()] != "1")
            .map(|(k, name)| Pod {
                key: format!("default/{}", s(name)),
                netns: s(&plan["POD_NS"][k.as_str()]),
            })
            .collect();
        pods.sort_by(|a, b| a.key.cmp(&b.key));
        let ips = plan["NODE_IP"].as_array().expect("NODE_IP");
        let nodes = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| (format!("node-{}", i + 1), s(ip)))
            .collect();
        Plan {
            pods,
            nodes,
            outside_ns: s(&plan["OUT_NS"]),
            outside_ip: s(&plan["OUT_IP"]),
        }
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

/// One TCP listener per netns, killed by PID on drop.
struct Listeners(Vec<Child>);

impl Listeners {
    fn start(netns: &[&str]) -> Listeners {
        let mut all = Listeners(Vec::new());
        for ns in netns {
            let child = Command::new("ip")
                .args(["netns", "exec", ns, python(), "-c", SERVER])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ip netns exec python3 starts");
            all.0.push(child);
        }
        for ns in netns {
            wait_listening(ns);
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

/// Waits (≤ 10 s) until something listens on [`PORT`] in `netns`.
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

// ---------------------------------------------------------------- measuring

/// The connector started in `netns` for `targets` ("HOST:PORT", count).
fn start_connects(netns: &str, targets: &[(String, u32)]) -> Child {
    let args: Vec<String> = targets.iter().map(|(t, n)| format!("{t}x{n}")).collect();
    Command::new("ip")
        .args(["netns", "exec", netns, python(), "-c", CONNECTOR])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec python3 starts")
}

/// The connector's counts, per target in order.
fn finish_connects(child: Child, targets: &[(String, u32)]) -> Vec<u32> {
    let o = child.wait_with_output().expect("connector finishes");
    let out = text(&o.stdout);
    let counts: Vec<u32> = out
        .lines()
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .collect();
    assert_eq!(
        counts.len(),
        targets.len(),
        "connector output:\n{out}\nstderr:\n{}",
        text(&o.stderr)
    );
    counts
}

/// What a row measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ClusterIp,
    NodePort,
    Egress,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ClusterIp => "clusterip",
            Kind::NodePort => "nodeport",
            Kind::Egress => "egress",
        }
    }
}

/// One client → target measurement and its judgement.
struct Row {
    scenario: String,
    path: Kind,
    client: String,
    target: String,
    /// What explain is asked (the DST argument).
    dst: String,
    n: u32,
    k: u32,
    /// explain's delivered share, when compared.
    p: Option<f64>,
    explain: String,
    ok: bool,
}

/// One connector run: its kind, client, targets (HOST:PORT, count) and
/// what explain is asked for each target.
type Job = (Kind, String, Vec<(String, u32)>, Vec<String>);

/// Every measurement of one lab, all clients at once.
fn measure(plan: &Plan, scenario: &str) -> Vec<Row> {
    let mut jobs: Vec<Job> = Vec::new();
    for pod in &plan.pods {
        let mut targets: Vec<(String, u32)> = SERVICES
            .iter()
            .map(|(svc, port)| (format!("{}:{port}", cluster_ip(svc)), CONNECTS))
            .collect();
        let mut dsts: Vec<String> = SERVICES
            .iter()
            .map(|(svc, port)| format!("svc/default/{svc}:{port}"))
            .collect();
        targets.push((format!("{}:{PORT}", plan.outside_ip), EGRESS_CONNECTS));
        dsts.push(plan.outside_ip.clone());
        jobs.push((Kind::ClusterIp, pod.key.clone(), targets, dsts));
    }
    let np: Vec<(String, u32)> = plan
        .nodes
        .iter()
        .map(|(_, ip)| (format!("{ip}:{NODE_PORT}"), CONNECTS))
        .collect();
    let np_dst = plan
        .nodes
        .iter()
        .map(|(n, _)| format!("node/{n}:{NODE_PORT}"));
    jobs.push((Kind::NodePort, "outside".into(), np, np_dst.collect()));
    let netns = |client: &str| {
        let pod = plan.pods.iter().find(|p| p.key == client);
        pod.map_or(plan.outside_ns.clone(), |p| p.netns.clone())
    };
    let running: Vec<Child> = jobs
        .iter()
        .map(|(_, c, t, _)| start_connects(&netns(c), t))
        .collect();
    let mut rows = Vec::new();
    for ((path, client, targets, dsts), child) in jobs.into_iter().zip(running) {
        let counts = finish_connects(child, &targets);
        for (((target, n), k), dst) in targets.into_iter().zip(counts).zip(dsts) {
            let path = if path == Kind::ClusterIp && !dst.starts_with("svc/") {
                Kind::Egress
            } else {
                path
            };
            rows.push(Row {
                scenario: scenario.to_string(),
                path,
                client: client.clone(),
                target,
                dst,
                n,
                k,
                p: None,
                explain: String::new(),
                ok: true,
            });
        }
    }
    rows
}

fn cluster_ip(svc: &str) -> &'static str {
    match svc {
        "web" => "10.96.100.10",
        _ => "10.96.200.20",
    }
}

// ---------------------------------------------------------------- explain

fn explain(bundle: &Path, args: &[&str]) -> Value {
    let b = bundle.to_string_lossy().into_owned();
    let mut all = vec!["explain", "-o", "json", "--bundle", &b];
    all.extend(args);
    let o = cnictl(&all);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "cnictl {}: not JSON ({e})\nstdout:\n{}\nstderr:\n{}",
            all.join(" "),
            text(&o.stdout),
            text(&o.stderr)
        )
    })
}

/// explain's probability that a new connection is delivered, and a short
/// account of its answer. None: explain cannot say (unknown verdict or a
/// share it does not know).
fn delivered_share(ex: &Value) -> (Option<f64>, String) {
    let verdict = ex["verdict"].as_str().unwrap_or("?");
    let backends = ex["backends"].as_array().map_or(&[][..], Vec::as_slice);
    if backends.is_empty() {
        let p = match verdict {
            "delivered" => Some(1.0),
            "dropped" => Some(0.0),
            _ => None,
        };
        let why = ex["disposition"].as_str().unwrap_or("");
        return (p, format!("{verdict} ({why}), no backends"));
    }
    let mut p = Some(0.0);
    let mut parts = Vec::new();
    for b in backends {
        let (v, share) = (b["verdict"].as_str().unwrap_or("?"), b["share"].as_f64());
        parts.push(format!(
            "{}={v}@{}",
            b["ip"].as_str().unwrap_or("?"),
            fmt_share(share)
        ));
        p = match (p, v, share) {
            (Some(acc), "delivered", Some(s)) => Some(acc + s),
            (Some(acc), "dropped", Some(_)) => Some(acc),
            _ => None,
        };
    }
    (p, format!("{verdict}: {}", parts.join(" ")))
}

/// [`delivered_share`], times the reply's chance when explain traced it
/// (`--reverse`: a reply that cannot return makes every connect fail).
fn round_trip(ex: &Value) -> (Option<f64>, String) {
    let (p, said) = delivered_share(ex);
    let Some(reply) = ex["reverse"]["verdict"].as_str() else {
        return (p, said);
    };
    let back = match reply {
        "delivered" => Some(1.0),
        "dropped" => Some(0.0),
        _ => None,
    };
    let p = p.zip(back).map(|(p, b)| p * b);
    (p, format!("{said}; reply {reply}"))
}

fn fmt_share(s: Option<f64>) -> String {
    s.map_or("null".into(), |s| format!("{s:.3}"))
}

/// Compares each row (ClusterIP, NodePort, egress) with explain.
fn judge(bundle: &Path, rows: &mut [Row]) {
    for row in rows.iter_mut() {
        let ex = match row.path {
            Kind::ClusterIp => explain(bundle, &[&row.client, &row.dst, "--reverse"]),
            Kind::NodePort => explain(
                bundle,
                &["--from-outside", "203.0.113.10", &row.dst, "--reverse"],
            ),
            Kind::Egress => {
                let port = PORT.to_string();
                let args = [&row.client, &row.dst, "--proto", "tcp", "--port", &port];
                explain(bundle, &[&args[..], &["--reverse"]].concat())
            }
        };
        let (p, said) = round_trip(&ex);
        row.explain = said;
        row.p = p;
        row.ok = p.is_some_and(|p| within(row.k, row.n, p));
    }
}

// ---------------------------------------------------------------- statistics

/// Whether k successes of n agree with success probability p: exact for
/// p = 0 or 1, else inside the two-sided 99.9 % acceptance interval of
/// Binomial(n, p) (each tail ≤ 0.05 %).
fn within(k: u32, n: u32, p: f64) -> bool {
    if p <= 1e-9 {
        return k == 0;
    }
    if p >= 1.0 - 1e-9 {
        return k == n;
    }
    let pmf: Vec<f64> = (0..=n).map(|i| binomial_pmf(i, n, p)).collect();
    let below: f64 = pmf[..k as usize].iter().sum();
    let above: f64 = pmf[k as usize + 1..].iter().sum();
    // k is rejected when it lies in a tail of mass ≤ 0.0005.
    below + pmf[k as usize] > 0.0005 && above + pmf[k as usize] > 0.0005
}

fn binomial_pmf(k: u32, n: u32, p: f64) -> f64 {
    let ln_choose = ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k);
    (ln_choose + f64::from(k) * p.ln() + f64::from(n - k) * (1.0 - p).ln()).exp()
}

fn ln_factorial(n: u32) -> f64 {
    (1..=n).map(|i| f64::from(i).ln()).sum()
}

// ---------------------------------------------------------------- scenarios

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:<9} {:<14} {:<22} {:>5} {:>6}  {:<3} explain",
        "scenario", "path", "client", "target", "k/n", "p", "ok"
    );
    for r in rows {
        let p = r.p.map_or("-".into(), |p| format!("{p:.3}"));
        let ok = if r.ok { "ok" } else { "BAD" };
        let kn = format!("{}/{}", r.k, r.n);
        let _ = writeln!(
            out,
            "{:<40} {:<9} {:<14} {:<22} {kn:>5} {p:>6}  {ok:<3} {}",
            r.scenario,
            r.path.name(),
            r.client,
            r.target,
            r.explain
        );
    }
    out
}

/// One lab of `model` with kube-proxy in `mode`, healthy or with `fault`.
fn scenario(model: &str, mode: &str, fault: Option<&str>, letter: char) -> Vec<Row> {
    let name = format!("{model}/{mode}/{}", fault.unwrap_or("healthy"));
    let lab = LabGuard::up(model, mode, letter);
    if let Some(f) = fault {
        lab.break_(f);
    }
    let plan = lab.plan();
    let mut netns: Vec<&str> = plan.pods.iter().map(|p| p.netns.as_str()).collect();
    netns.push(&plan.outside_ns);
    let listeners = Listeners::start(&netns);
    let mut rows = measure(&plan, &name);
    drop(listeners);
    let bundle = lab.bundle();
    let missing = bundle_problems(&bundle, model, mode);
    assert!(missing.is_empty(), "{name}: {missing:?}");
    judge(&bundle, &mut rows);
    rows
}

/// What a bundle of this lab must carry for explain to follow kube-proxy
/// and the CNI's masquerade: kube-proxy's table in nftables mode
/// (`nft-ruleset.json`), its chains in iptables mode, Felix's ipsets on
/// Calico (`ipset-save.txt`).
fn bundle_problems(bundle: &Path, model: &str, mode: &str) -> Vec<String> {
    let node = bundle.join("nodes/node-1");
    let read = |f: &str| std::fs::read_to_string(node.join(f)).unwrap_or_default();
    let mut wants = vec![match mode {
        "nftables" => ("nft-ruleset.json", "\"kube-proxy\""),
        _ => ("iptables-save.txt", "KUBE-SERVICES"),
    }];
    if model == "calico-bgp" {
        wants.push(("ipset-save.txt", "cali40masq-ipam-pools"));
        wants.push(("iptables-save.txt", "cali-nat-outgoing"));
    }
    wants
        .into_iter()
        .filter(|(f, want)| !read(f).contains(want))
        .map(|(f, want)| format!("node-1's {f} lacks {want}"))
        .collect()
}

fn run_model(model: &str) {
    if let Some(why) = skip_reason(model) {
        eprintln!("skipping {model} service fidelity: {why}");
        return;
    }
    let mut rows = Vec::new();
    let mut letter = b'a';
    for mode in ["iptables", "nftables"] {
        for fault in std::iter::once(None).chain(FAULTS.map(Some)) {
            rows.extend(scenario(model, mode, fault, char::from(letter)));
            letter += 1;
        }
    }
    let table = table(&rows);
    eprintln!("{table}");
    let bad = rows.iter().filter(|r| !r.ok).count();
    assert_eq!(bad, 0, "{bad} measurements disagree with explain:\n{table}");
}

#[test]
fn flannel_vxlan_services_match_the_kernel() {
    run_model("flannel-vxlan");
}

/// Calico: a pod's connection to its own Service is masqueraded out a
/// cali veth that has no address; the kernel (inet_select_addr) takes the
/// node's, and so does the dataplane.
#[test]
fn calico_bgp_services_match_the_kernel() {
    run_model("calico-bgp");
}

#[test]
fn flannel_host_gw_services_match_the_kernel() {
    run_model("flannel-host-gw");
}

#[test]
fn binomial_acceptance() {
    assert!(within(0, 24, 0.0) && !within(1, 24, 0.0));
    assert!(within(24, 24, 1.0) && !within(23, 24, 1.0));
    // 2/3 of 24 is 16: 16 fits, 24 of 24 and 3 of 24 do not.
    assert!(within(16, 24, 2.0 / 3.0));
    assert!(!within(24, 24, 2.0 / 3.0));
    assert!(!within(3, 24, 2.0 / 3.0));
    let total: f64 = (0..=24).map(|k| binomial_pmf(k, 24, 0.3)).sum();
    assert!((total - 1.0).abs() < 1e-9);
}
