//! A real Prometheus (Debian `prometheus`) scrapes the real `cnictl` with
//! the shipped scrape config and rules, on loopback only:
//!
//! - `cnictl serve --bundle` on a copy of the calico-bgp-broken-bgp-session-down
//!   fixture whose files are dated two hours back, and
//! - `cnictl serve --kube` (the aggregator) with two static agents: a real
//!   `cnictl agent` reading an empty network namespace of its own (root
//!   only; prefix `cnlops`) and an address where nothing listens.
//!
//! It waits for every target to be up, then asserts through the HTTP API
//! that the recording rules evaluate and that exactly the alerts that
//! should fire do (one per node and fault, no duplicates). `for:` is set to
//! 0s in the test's copy of the rules so nothing has to wait minutes; the
//! rules themselves are what ships. Also here: `promtool test rules` (every
//! alert tested firing and not firing) and every `runbook_url` pointing at
//! a README heading. Every process is killed by its PID, every directory
//! is temporary. Skips, saying why, without prometheus/promtool.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{base36, in_path, is_root, repo};
use serde_json::Value;

/// A child process killed (by its PID) and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace of this test, deleted when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn spawn(what: &'static str, cmd: &mut Command, log: &Path) -> Proc {
    let err = std::fs::File::create(log).expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    Proc(child)
}

/// `GET path` over HTTP/1.0; the body.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    Ok(buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

fn api(port: u16, path: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(&http_get(port, path).ok()?).ok()?;
    (v["status"] == "success").then(|| v["data"].clone())
}

/// Polls `f` until it gives `Some`, or fails naming `what` and the logs.
fn until<T>(what: &str, secs: u64, logs: &Path, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!(
                "timed out after {secs} s waiting for {what}\n{}",
                read_logs(logs)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("--- {}\n", e.path().display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path, mtime: SystemTime) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture").flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst, mtime);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
            let f = std::fs::File::options()
                .write(true)
                .open(&dst)
                .expect("open");
            f.set_modified(mtime).expect("set mtime");
        }
    }
}

/// Why this test cannot run here, if it cannot.
fn missing() -> Option<&'static str> {
    if !in_path("prometheus") || !in_path("promtool") {
        return Some("prometheus/promtool not installed (apt-get install prometheus)");
    }
    None
}

fn deploy() -> std::path::PathBuf {
    repo().join("deploy/prometheus")
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(deploy())
        .output()
        .expect("promtool runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `- alert: Name` lines of the rules file.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn every_alert_is_unit_tested_both_ways_and_has_a_runbook() {
    if let Some(why) = missing() {
        eprintln!("skipping: {why}");
        return;
    }
    let (ok, out) = promtool(&["test", "rules", "cnictl-rules.test.yml"]);
    assert!(ok, "promtool test rules:\n{out}");
    let rules = std::fs::read_to_string(deploy().join("cnictl-rules.yml")).expect("rules");
    let tests = std::fs::read_to_string(deploy().join("cnictl-rules.test.yml")).expect("tests");
    let lines: Vec<&str> = tests.lines().collect();
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .replace(' ', "-")
        })
        .collect();
    let names = alert_names(&rules);
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let key = format!("alertname: {name}");
        let (mut quiet, mut fires) = (false, false);
        for (i, l) in lines.iter().enumerate().filter(|(_, l)| {
            l.contains(&key)
                && !l[l.find(&key).unwrap_or(0) + key.len()..].starts_with(char::is_alphanumeric)
        }) {
            let next = lines.get(i + 1).copied().unwrap_or("");
            if l.contains("exp_alerts: []") || next.contains("exp_alerts: []") {
                quiet = true;
            } else {
                fires = true;
            }
        }
        assert!(
            quiet && fires,
            "{name}: tested quiet {quiet}, firing {fires}"
        );
        let url = format!("README.md#{}", name.to_lowercase());
        assert!(rules.contains(&url), "{name} has no runbook_url to {url}");
        assert!(
            anchors.contains(&name.to_lowercase()),
            "README has no heading {name}"
        );
    }
    assert_eq!(
        rules.matches("runbook_url:").count(),
        names.len(),
        "one runbook_url per alert"
    );
}

/// The shipped scrape config with its targets on loopback, 1 s intervals
/// and the test's copy of the rules.
fn scrape_config(serve: u16, aggregator: u16, agents: &[u16]) -> String {
    let shipped = std::fs::read_to_string(deploy().join("prometheus.yml")).expect("prometheus.yml");
    let static_block = |port: &[u16]| {
        let list: Vec<String> = port.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        format!("static_configs:\n      - targets: [{}]\n", list.join(", "))
    };
    let mut cfg = shipped
        .replace("30s", "1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
        .replace("\"127.0.0.1:9640\"", &format!("\"127.0.0.1:{serve}\""));
    for (name, port, targets) in [
        ("cnictl.cnictl.svc.cluster.local", 9640, vec![aggregator]),
        (
            "cnictl-agent.cnictl.svc.cluster.local",
            9641,
            agents.to_vec(),
        ),
    ] {
        let dns = format!(
            "dns_sd_configs:\n      - names: [\"{name}\"]\n        type: A\n        port: {port}\n        refresh_interval: 60s\n"
        );
        assert!(
            cfg.contains(&dns),
            "the shipped config changed: adapt this test\n{cfg}"
        );
        cfg = cfg.replace(&dns, &static_block(&targets));
    }
    cfg
}

/// The firing alerts as `alertname{label}` with the label that tells them
/// apart (node, code, instance's job), sorted; duplicates kept.
fn firing(prom: u16) -> Option<Vec<String>> {
    let alerts = api(prom, "/api/v1/alerts")?;
    let mut out: Vec<String> = alerts["alerts"]
        .as_array()?
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            let l = &a["labels"];
            let which = ["node", "code"]
                .iter()
                .find_map(|k| l[k].as_str().map(|v| format!("{k}={v}")))
                .unwrap_or_default();
            format!(
                "{}{{{}}}@{}",
                l["alertname"].as_str().unwrap_or("?"),
                which,
                l["job"].as_str().unwrap_or("?")
            )
        })
        .collect();
    out.sort();
    Some(out)
}

#[test]
fn prometheus_scrapes_cnictl_and_fires_exactly_the_expected_alerts() {
    if let Some(why) = missing() {
        eprintln!("skipping: {why}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let bundle = dir.join("bundle");
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let fixture = repo().join("fixtures/calico-bgp-broken-bgp-session-down");
    copy_dir(&fixture, &bundle, two_hours_ago);
    let rules = std::fs::read_to_string(deploy().join("cnictl-rules.yml"))
        .expect("rules")
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for: ") {
                l.split("for:").next().unwrap_or("").to_string() + "for: 0s"
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("cnictl-rules.yml"), rules).expect("write rules");

    let bin = env!("CARGO_BIN_EXE_cnictl");
    let (serve_port, agg_port, prom_port) = (free_port(), free_port(), free_port());
    let _serve = spawn(
        "cnictl serve",
        Command::new(bin)
            .args(["serve", "--bundle"])
            .arg(&bundle)
            .args([
                "--listen",
                &format!("127.0.0.1:{serve_port}"),
                "--refresh",
                "1s",
                "--log-format",
                "json",
            ]),
        &dir.join("serve.log"),
    );
    // The aggregator's agents: a real one in a namespace of its own (root
    // only) and one that is not there.
    let dead = free_port();
    let mut agents = vec![];
    let mut _agent = None;
    let mut _netns = None;
    if is_root() && in_path("ip") {
        let ns = format!("cnlops{}-n1", base36(std::process::id()));
        let ok = Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            _netns = Some(Netns(ns.clone()));
            let p = free_port();
            _agent = Some(spawn(
                "cnictl agent",
                Command::new(bin)
                    .args([
                        "agent",
                        "--insecure-no-auth",
                        "--netns",
                        &ns,
                        "--node-name",
                        "node-1",
                        "--k8s-bundle",
                    ])
                    .arg(&fixture)
                    .args(["--listen", &format!("127.0.0.1:{p}"), "--interval", "2s"]),
                &dir.join("agent.log"),
            ));
            agents.push(p);
        }
    } else {
        eprintln!("note: not root: the aggregator runs without a live agent");
    }
    let static_agents: Vec<String> = agents
        .iter()
        .chain([&dead])
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let _agg = spawn(
        "cnictl serve --kube",
        Command::new(bin)
            .args([
                "serve",
                "--kube",
                "--agents",
                &static_agents.join(","),
                "--k8s-from",
            ])
            .arg(&fixture)
            .args([
                "--listen",
                &format!("127.0.0.1:{agg_port}"),
                "--refresh",
                "1s",
            ]),
        &dir.join("aggregator.log"),
    );
    std::fs::write(
        dir.join("prometheus.yml"),
        scrape_config(serve_port, agg_port, &agents),
    )
    .expect("config");
    let (ok, out) = promtool(&[
        "check",
        "config",
        dir.join("prometheus.yml").to_str().unwrap_or(""),
    ]);
    assert!(ok, "adapted config: {out}");
    let _prom = spawn(
        "prometheus",
        Command::new("prometheus").current_dir(dir).args([
            "--config.file=prometheus.yml",
            "--storage.tsdb.path=data",
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ]),
        &dir.join("prometheus.log"),
    );

    // Every target up (scraped, parsed): serve, aggregator and the agent.
    let want_targets = 2 + agents.len();
    until("every target up", 60, dir, || {
        let t = api(prom_port, "/api/v1/targets")?;
        let active = t["activeTargets"].as_array()?;
        let up = active.iter().filter(|t| t["health"] == "up").count();
        (active.len() == want_targets && up == want_targets).then_some(())
    });
    // The recording rules evaluate, on real series.
    until("the recording rules evaluate", 30, dir, || {
        let groups = api(prom_port, "/api/v1/rules")?;
        let rec = groups["groups"]
            .as_array()?
            .iter()
            .find(|g| g["name"] == "cnictl-recording")?;
        let healthy = rec["rules"].as_array()?.iter().all(|r| r["health"] == "ok");
        let age = api(
            prom_port,
            "/api/v1/query?query=cnictl%3Adata_age%3Aseconds%7Bjob%3D%22cnictl%22%7D",
        )?;
        let v: f64 = age["result"][0]["value"][1].as_str()?.parse().ok()?;
        (healthy && v > 7000.0).then_some(())
    });

    let dead_node = format!("127.0.0.1:{dead}");
    let mut want = vec![
        "CnictlBgpSessionDown{node=node-1}@cnictl".to_string(),
        "CnictlBgpSessionDown{node=node-2}@cnictl".into(),
        "CnictlMissingPodRoute{node=node-1}@cnictl".into(),
        "CnictlMissingPodRoute{node=node-2}@cnictl".into(),
        "CnictlPodPathsFailing{node=node-1}@cnictl".into(),
        "CnictlPodPathsFailing{node=node-2}@cnictl".into(),
        "CnictlErrorFindings{code=bgp-route-missing}@cnictl".into(),
        // The bundle's files are two hours old: the data are, however
        // recently they were analysed.
        "CnictlDataStale{}@cnictl".into(),
        format!("CnictlAgentUnreachable{{node={dead_node}}}@cnictl-aggregator"),
    ];
    want.sort();
    // The aggregator's own analysis (of an empty node) fires dataplane
    // alerts of its own; this test pins its agents' and operations' alerts.
    let ops = |a: &String| {
        !a.ends_with("@cnictl-aggregator")
            || a.starts_with("CnictlAgent")
            || a.starts_with("CnictlCollection")
            || a.starts_with("CnictlExporter")
            || a.starts_with("CnictlAnalysis")
            || a.starts_with("CnictlDataStale")
    };
    let got = until("the expected alerts to fire", 60, dir, || {
        let f: Vec<String> = firing(prom_port)?.into_iter().filter(ops).collect();
        (f == want).then_some(f)
    });
    // A few more evaluations: nothing else turns up, nothing repeats.
    std::thread::sleep(Duration::from_secs(4));
    let again: Vec<String> = firing(prom_port)
        .expect("alerts")
        .into_iter()
        .filter(ops)
        .collect();
    assert_eq!(again, got, "the firing set is stable\n{}", read_logs(dir));
    let logs = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    let first: Value =
        serde_json::from_str(logs.lines().next().unwrap_or("")).expect("JSON log lines");
    assert_eq!(first["level"], "INFO", "{logs}");
    let agg_log = std::fs::read_to_string(dir.join("aggregator.log")).unwrap_or_default();
    assert!(
        agg_log.contains("agent unreachable") && agg_log.contains(&dead_node),
        "the lost agent is logged:\n{agg_log}"
    );
}
