//! Docker's bridge network against the kernel: three hosts, each with
//! docker0 on its own subnet (`--bip 172.17.N.1/24`), two containers
//! (web-N 172.17.N.2, api-N 172.17.N.3) and web-N's port 8080 published on
//! the host's port 8080, with the iptables rules the Docker daemon installs
//! (`cnictl_gen::docker`, loaded with the host's own `iptables-restore`).
//!
//! `cnictl model` must say `docker-bridge`, `check` must be clean, and for
//! every ordered container pair `explain` must deliver exactly when ping
//! does (same host: over docker0; other hosts: not routed, by design), and
//! for every container and every other host's published port `explain
//! --proto tcp --port 8080` must deliver exactly when a real TCP connect to
//! the python server behind it succeeds (SNAT out of the client's host,
//! DNAT into the server's, and the reply back through both conntracks).
//! Then node-1 loses Docker's MASQUERADE: `check` must name it
//! (masquerade-missing on node-1 and nothing else) and the verdicts must
//! still equal the kernel's.
//!
//! The namespaces (`cnldk<pid>-*`, deleted by a guard, servers stopped by
//! PID) are built here with `ip`; each host is collected with
//! lab/collect-node.sh like a lab node. There is no Kubernetes in this
//! model: k8s/ is written here to name the hosts and containers (a node per
//! host with its docker0 subnet as podCIDR, a pod per container).
//! `CNICTL_KEEP_BUNDLE=DIR` copies the bundle there (fixtures/docker-bridge
//! is recorded that way). Runs as root; skips with a printed reason
//! otherwise.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use cnictl_gen::docker::{iptables_save, Published};
use serde_json::{json, Value};

mod common;
use common::*;

const HOSTS: u32 = 3;

/// The lab's namespaces and server processes, removed in any case.
struct Lab {
    prefix: String,
    netns: Vec<String>,
    servers: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        for ns in self.netns.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Lab {
    fn host(&self, n: u32) -> String {
        format!("{}-node-{n}", self.prefix)
    }

    fn container(&self, n: u32, app: &str) -> String {
        format!("{}-node-{n}-{app}", self.prefix)
    }
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status();
    assert!(ok.is_ok_and(|s| s.success()), "ip {}", args.join(" "));
}

fn in_ns(ns: &str, args: &[&str]) -> bool {
    let o = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output();
    o.is_ok_and(|o| o.status.success())
}

fn add_ns(lab: &mut Lab, ns: String) {
    ip(&["netns", "add", &ns]);
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    lab.netns.push(ns);
}

fn build(prefix: String) -> Lab {
    let mut lab = Lab {
        prefix,
        netns: Vec::new(),
        servers: Vec::new(),
    };
    let ul = format!("{}-ul", lab.prefix);
    add_ns(&mut lab, ul.clone());
    ip(&["-n", &ul, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &ul, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
    ip(&["-n", &ul, "link", "set", "br0", "up"]);
    for n in 1..=HOSTS {
        build_host(&mut lab, &ul, n);
    }
    lab
}

fn build_host(lab: &mut Lab, ul: &str, n: u32) {
    let h = lab.host(n);
    add_ns(lab, h.clone());
    let port = format!("ul{n}");
    ip(&[
        "link", "add", &port, "netns", ul, "type", "veth", "peer", "name", "eth0", "netns", &h,
    ]);
    ip(&["-n", ul, "link", "set", &port, "master", "br0", "up"]);
    ip(&[
        "-n",
        &h,
        "addr",
        "add",
        &format!("192.0.2.1{n}/24"),
        "dev",
        "eth0",
    ]);
    ip(&["-n", &h, "link", "set", "eth0", "up"]);
    ip(&["-n", &h, "route", "add", "default", "via", "192.0.2.1"]);
    ip(&["-n", &h, "link", "add", "docker0", "type", "bridge"]);
    ip(&[
        "-n",
        &h,
        "addr",
        "add",
        &format!("172.17.{n}.1/24"),
        "dev",
        "docker0",
    ]);
    ip(&["-n", &h, "link", "set", "docker0", "up"]);
    let sysctls = "net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1";
    assert!(
        in_ns(&h, &["sh", "-c", &format!("sysctl -qw {sysctls}")]),
        "sysctl on {h}"
    );
    for (app, last) in [("web", 2), ("api", 3)] {
        build_container(lab, n, app, last);
    }
    load_rules(&h, n);
}

fn build_container(lab: &mut Lab, n: u32, app: &str, last: u8) {
    let (h, c) = (lab.host(n), lab.container(n, app));
    add_ns(lab, c.clone());
    let veth = format!("veth{app}{n}");
    ip(&[
        "link", "add", &veth, "netns", &h, "type", "veth", "peer", "name", "eth0", "netns", &c,
    ]);
    ip(&["-n", &h, "link", "set", &veth, "master", "docker0", "up"]);
    ip(&[
        "-n",
        &c,
        "addr",
        "add",
        &format!("172.17.{n}.{last}/24"),
        "dev",
        "eth0",
    ]);
    ip(&["-n", &c, "link", "set", "eth0", "up"]);
    ip(&[
        "-n",
        &c,
        "route",
        "add",
        "default",
        "via",
        &format!("172.17.{n}.1"),
    ]);
    if app == "web" {
        let addr = format!("172.17.{n}.{last}");
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &c,
                "python3",
                "-m",
                "http.server",
                "8080",
                "--bind",
                &addr,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server");
        lab.servers.push(server);
    }
}

/// Docker's rules for host n: web-N's 8080 published on the host's 8080.
fn load_rules(h: &str, n: u32) {
    let web = Published {
        host_port: 8080,
        container: format!("172.17.{n}.2").parse().unwrap(),
        port: 8080,
    };
    let rules = iptables_save(format!("172.17.{n}.0/24").parse().unwrap(), &[web]);
    let mut child = Command::new("ip")
        .args(["netns", "exec", h, "iptables-restore"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("iptables-restore");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "iptables-restore on {h}");
}

/// The bundle: each host by collect-node.sh, k8s/ naming hosts and containers.
fn bundle(lab: &Lab, dir: &Path) {
    let script = repo().join("lab/collect-node.sh");
    for n in 1..=HOSTS {
        let map = dir.join(format!("podmap-{n}"));
        let lines: String = ["web", "api"]
            .iter()
            .map(|a| format!("{} default_{a}-{n}\n", lab.container(n, a)))
            .collect();
        std::fs::write(&map, lines).unwrap();
        let out = dir.join(format!("b/nodes/node-{n}"));
        let (m, o) = (
            map.to_string_lossy().into_owned(),
            out.to_string_lossy().into_owned(),
        );
        let args = [
            "netns",
            "exec",
            &lab.host(n),
            "sh",
            &script.to_string_lossy(),
            "--pod-map",
            &m,
            "--no-ipvs",
            &o,
        ];
        let st = Command::new("ip").args(args).stderr(Stdio::null()).status();
        assert!(st.is_ok_and(|s| s.success()), "collect-node.sh on node-{n}");
    }
    write_k8s(&dir.join("b/k8s"));
}

fn write_k8s(k8s: &Path) {
    let node = |n: u32| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{n}")},
        "spec": {"podCIDR": format!("172.17.{n}.0/24"), "podCIDRs": [format!("172.17.{n}.0/24")]},
        "status": {"addresses": [{"type": "InternalIP", "address": format!("192.0.2.1{n}")}]}})
    };
    let pod = |n: u32, app: &str, last: u8| {
        let ip = format!("172.17.{n}.{last}");
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "default", "name": format!("{app}-{n}"), "labels": {"app": app}},
            "spec": {"nodeName": format!("node-{n}")},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})
    };
    let nodes: Vec<Value> = (1..=HOSTS).map(node).collect();
    let pods: Vec<Value> = (1..=HOSTS)
        .flat_map(|n| [pod(n, "web", 2), pod(n, "api", 3)])
        .collect();
    std::fs::create_dir_all(k8s).unwrap();
    let list =
        |items: Vec<Value>| json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    std::fs::write(k8s.join("nodes.json"), list(nodes)).unwrap();
    std::fs::write(k8s.join("pods.json"), list(pods)).unwrap();
}

fn explain(b: &str, src: &str, dst: &str, extra: &[&str]) -> Value {
    let o = cnictl(
        &[
            &["explain", src, dst, "--bundle", b, "-o", "json"][..],
            extra,
        ]
        .concat(),
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("explain {src} {dst}: {e}: {}", text(&o.stderr)))
}

#[test]
fn docker_bridge_explain_matches_ping_and_published_ports() {
    if !is_root() || !in_path("iptables-restore") || !in_path("python3") || !in_path("ping") {
        eprintln!("docker_live: skipped: needs root, iproute2, iptables, python3 and ping");
        return;
    }
    let lab = build(format!("cnldk{}", base36(std::process::id())));
    let dir = tempfile::tempdir().unwrap();
    bundle(&lab, dir.path());
    let b = dir.path().join("b").to_string_lossy().into_owned();
    if let Ok(keep) = std::env::var("CNICTL_KEEP_BUNDLE") {
        let ok = Command::new("cp").args(["-r", &b, &keep]).status();
        assert!(ok.is_ok_and(|s| s.success()), "cp -r {b} {keep}");
    }
    let model: Value =
        serde_json::from_slice(&cnictl_ok(&["model", "--bundle", &b, "-o", "json"], 0).stdout)
            .unwrap();
    assert_eq!(model["model"], "docker-bridge", "{model:#}");
    let check: Value =
        serde_json::from_slice(&cnictl_ok(&["check", "--bundle", &b, "-o", "json"], 0).stdout)
            .unwrap();
    let problems: Vec<&Value> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    // Wait for the servers (python starts in ~0.1 s).
    std::thread::sleep(std::time::Duration::from_millis(500));
    pings_agree(&lab, &b);
    assert_eq!(published_ports_agree(&lab, &b), 12);
    masquerade_missing(&lab, dir.path());
}

fn containers() -> Vec<(u32, &'static str, String)> {
    (1..=HOSTS)
        .flat_map(|n| {
            [
                (n, "web", format!("172.17.{n}.2")),
                (n, "api", format!("172.17.{n}.3")),
            ]
        })
        .collect()
}

fn pings_agree(lab: &Lab, b: &str) {
    for (n, app, _) in containers() {
        for (m, other, dst_ip) in containers().into_iter().filter(|c| (c.0, c.1) != (n, app)) {
            let v = explain(
                b,
                &format!("default/{app}-{n}"),
                &format!("default/{other}-{m}"),
                &[],
            );
            let ping = in_ns(
                &lab.container(n, app),
                &["ping", "-c1", "-W1", "-q", &dst_ip],
            );
            assert_eq!(
                v["verdict"] == "delivered",
                ping,
                "{app}-{n} → {other}-{m}: explain {v:#}"
            );
            if m != n {
                assert_eq!(v["drop"]["code"], Value::Null, "by design, no fault: {v:#}");
                assert!(
                    v["drop"]["hint"]
                        .as_str()
                        .unwrap_or("")
                        .contains("publish the port"),
                    "{v:#}"
                );
            }
        }
    }
}

/// Every container to every other host's published port: the request and
/// its reply (`--reverse`) are delivered exactly when a real TCP connect
/// succeeds. Returns how many connected.
fn published_ports_agree(lab: &Lab, b: &str) -> usize {
    let mut connected = 0;
    for (n, app, _) in containers() {
        for m in (1..=HOSTS).filter(|&m| m != n) {
            let host = format!("192.0.2.1{m}");
            let extra = ["--proto", "tcp", "--port", "8080", "--reverse"];
            let v = explain(b, &format!("default/{app}-{n}"), &host, &extra);
            let connect = format!("exec 3<>/dev/tcp/{host}/8080");
            let ok = in_ns(
                &lab.container(n, app),
                &["timeout", "3", "bash", "-c", &connect],
            );
            let both = v["verdict"] == "delivered" && v["reverse"]["verdict"] == "delivered";
            assert_eq!(
                both, ok,
                "{app}-{n} → {host}:8080: connect {ok}, explain {v:#}"
            );
            let hops = v["hops"].to_string();
            assert!(
                hops.contains(&format!("172.17.{m}.2")),
                "DNAT to web-{m}: {v:#}"
            );
            connected += usize::from(ok);
        }
    }
    connected
}

/// node-1 loses Docker's MASQUERADE (a firewall reload that flushed nat
/// POSTROUTING): its containers' connections to other hosts' published
/// ports get no reply, the other hosts' containers still reach node-1's.
fn masquerade_missing(lab: &Lab, dir: &Path) {
    let rule = [
        "-t",
        "nat",
        "-D",
        "POSTROUTING",
        "-s",
        "172.17.1.0/24",
        "!",
        "-o",
        "docker0",
        "-j",
        "MASQUERADE",
    ];
    assert!(
        in_ns(&lab.host(1), &[&["iptables"][..], &rule].concat()),
        "iptables -D on node-1"
    );
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    bundle(lab, &broken);
    let b = broken.join("b").to_string_lossy().into_owned();
    let check: Value =
        serde_json::from_slice(&cnictl_ok(&["check", "--bundle", &b, "-o", "json"], 1).stdout)
            .unwrap();
    let codes: Vec<(String, String)> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["code"].as_str().unwrap_or("").into(),
                f["node"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![("masquerade-missing".to_string(), "node-1".to_string())],
        "{check:#}"
    );
    // 6 containers × 2 other hosts; node-1's 2 containers × 2 hosts fail.
    assert_eq!(published_ports_agree(lab, &b), 8);
}
