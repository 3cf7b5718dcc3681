//! Integration tests of the `cnictl` binary: the README's commands, the
//! exit-code contract, and bad input — run as a user would, as a process.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cnictl_analyzers::Code;
use cnictl_analyzers::Severity;

mod common;
use common::*;

/// Every bundle under fixtures/ (a dir holding k8s/nodes.json).
fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(repo().join("fixtures"))
        .expect("fixtures/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("k8s/nodes.json").is_file())
        .collect();
    out.sort();
    assert!(
        out.len() >= 5,
        "expected the recorded fixtures, found {out:?}"
    );
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn every_fixture_loads_as_a_snapshot() {
    for b in fixtures() {
        let o = cnictl(&["snapshot", "--bundle", b.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", b.display(), text(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["schema"], "cnictl/v1");
        assert!(
            v["nodes"].as_object().unwrap().len() >= 3,
            "{}",
            b.display()
        );
    }
}

/// The finding code a broken fixture is seeded with (`<model>-broken-<code>`).
fn seeded_code(name: &str) -> Option<&str> {
    name.split_once("-broken-").map(|(_, code)| code)
}

#[test]
fn healthy_fixtures_exit_0_and_broken_ones_report_their_seeded_code() {
    for b in fixtures() {
        let name = b.file_name().unwrap().to_string_lossy().into_owned();
        let o = cnictl(&["check", "--bundle", b.to_str().unwrap(), "--output", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let codes: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        let want = match seeded_code(&name) {
            None => 0,
            Some(code) => {
                assert!(codes.contains(&code), "{name}: {code} not in {codes:?}");
                let sev = Code::parse(code).expect("a documented code").severity();
                i32::from(sev == Severity::Error)
            }
        };
        assert_eq!(
            o.status.code(),
            Some(want),
            "{name}: exit code ({codes:?}) {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn readme_documents_every_finding_code() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    for code in Code::ALL {
        let row = format!("| `{code}` | {} |", code.severity().as_str());
        assert!(
            readme.contains(&row),
            "README lacks the row for {code}: {row}"
        );
    }
}

#[test]
fn a_corrupted_file_fails_with_exit_2_naming_it() {
    let src = &fixtures()[0];
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    copy_dir(src, &bundle);
    let node = fs::read_dir(bundle.join("nodes"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(node.join("ip-route.json"), "[{\"dst\": ").unwrap();
    fs::write(bundle.join("k8s/pods.json"), "{not json").unwrap();
    for cmd in ["snapshot", "check", "model"] {
        let o = cnictl(&[cmd, "--bundle", bundle.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = text(&o.stderr);
        assert!(err.contains("ip-route.json"), "{cmd}: {err}");
        assert!(
            err.contains("pods.json"),
            "{cmd}: all bad files at once: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn missing_bundle_and_usage_errors_exit_2() {
    let o = cnictl(&["check", "--bundle", "/nonexistent/bundle"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("/nonexistent/bundle"));
    assert_eq!(cnictl(&["check"]).status.code(), Some(2), "no source given");
    assert_eq!(cnictl(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn generated_clusters_are_healthy_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    for model in [
        "flannel-vxlan",
        "flannel-host-gw",
        "calico-bgp",
        "calico-ipip",
    ] {
        let dir = tmp.path().join(model);
        let d = dir.to_str().unwrap();
        let o = cnictl(&[
            "gen",
            "--model",
            model,
            "--nodes",
            "4",
            "--pods-per-node",
            "3",
            "--services",
            "2",
            "-o",
            d,
        ]);
        assert!(o.status.success(), "{model}: {}", text(&o.stderr));
        let m = cnictl(&["model", "--bundle", d, "--output", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
        assert_eq!(v["model"], model);
        let c = cnictl(&["check", "--bundle", d, "--output", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
        let bad: Vec<_> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .collect();
        assert!(
            bad.is_empty(),
            "{model}: a generated cluster is healthy: {bad:#?}"
        );
        assert_eq!(c.status.code(), Some(0));
    }
}

#[test]
fn snapshot_file_is_written_atomically_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snap.json");
    let b = &fixtures()[0];
    let o = cnictl(&[
        "snapshot",
        "--bundle",
        b.to_str().unwrap(),
        "-o",
        snap.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp file left behind: {names:?}");
    let from_snap = cnictl(&[
        "check",
        "--snapshot",
        snap.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let from_bundle = cnictl(&["check", "--bundle", b.to_str().unwrap(), "--output", "json"]);
    assert_eq!(text(&from_snap.stdout), text(&from_bundle.stdout));
}

#[test]
fn diff_names_what_changed() {
    let fx = fixtures();
    let healthy = fx
        .iter()
        .find(|p| p.ends_with("flannel-vxlan"))
        .expect("flannel-vxlan fixture");
    let broken = fx
        .iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("flannel-vxlan-broken-vxlan-fdb-missing")
        })
        .expect("vxlan-fdb-missing fixture");
    let o = cnictl(&[
        "diff",
        healthy.to_str().unwrap(),
        broken.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["findings_added"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "vxlan-fdb-missing"));
    let same = cnictl(&["diff", healthy.to_str().unwrap(), healthy.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0));
    assert!(text(&same.stdout).contains("no changes"));
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for cmd in [
        "demo", "model", "check", "explain", "diff", "snapshot", "gen", "lab", "collect", "serve",
        "agent", "bundle",
    ] {
        let o = cnictl(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help");
        assert!(
            text(&o.stdout).contains("Example"),
            "{cmd} --help has an example"
        );
    }
}

#[test]
fn lab_faults_lists_each_models_netfilter_faults() {
    let o = cnictl(&["lab", "faults", "flannel-vxlan"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let vxlan: Vec<String> = text(&o.stdout).lines().map(String::from).collect();
    for f in ["forward-drop", "block-vxlan", "backend-mixed"] {
        assert!(vxlan.iter().any(|l| l == f), "{f} in {vxlan:?}");
    }
    assert!(!vxlan.iter().any(|l| l == "block-bgp"), "{vxlan:?}");
    let calico = text(&cnictl(&["lab", "faults", "calico-bgp"]).stdout);
    assert!(calico.lines().any(|l| l == "block-bgp"), "{calico}");
    assert!(!calico.lines().any(|l| l == "block-vxlan"), "{calico}");
    assert_eq!(cnictl(&["lab", "faults", "weave"]).status.code(), Some(2));
}

#[test]
fn kubectl_plugin_binary_is_the_same_tool() {
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-cnictl"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("cnictl"));
}

/// As a kubectl plugin it names itself `kubectl cnictl` (usage and
/// examples) and reads the live cluster when no source is given — here,
/// with no kubeconfig, that fails naming the missing configuration instead
/// of asking for --bundle.
#[test]
fn kubectl_plugin_names_itself_so_and_defaults_to_the_cluster() {
    let plugin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kubectl-cnictl"))
            .args(args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env("HOME", "/nonexistent")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap()
    };
    let help = text(&plugin(&["check", "--help"]).stdout);
    assert!(help.contains("Usage: kubectl cnictl check"), "{help}");
    assert!(
        help.contains("  kubectl cnictl check --bundle ./bundle"),
        "{help}"
    );
    assert!(!help.contains("\n  cnictl check"), "{help}");
    let o = plugin(&["check"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("kubeconfig"), "{err}");
    assert!(!err.contains("required arguments"), "{err}");
    let b = repo().join("fixtures/flannel-vxlan");
    let o = plugin(&["check", "--bundle", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

/// kubectl's output conventions: -o yaml is the JSON document as YAML,
/// -o wide adds detail, --brief is one line per node crossed.
#[test]
fn output_yaml_wide_and_brief() {
    let b = repo().join("fixtures/calico-bgp-broken-bgp-session-down");
    let b = b.to_str().unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&cnictl_ok(&["check", "--bundle", b, "-o", "json"], 1).stdout)
            .unwrap();
    let yaml = cnictl_ok(&["check", "--bundle", b, "-o", "yaml"], 1).stdout;
    let yaml: serde_json::Value = serde_yaml_ng::from_slice(&yaml).expect("check -o yaml is YAML");
    assert_eq!(json, yaml);
    let wide = text(&cnictl_ok(&["check", "--bundle", b, "-o", "wide"], 1).stdout);
    assert_eq!(wide.matches("hint:").count(), 6, "{wide}");
    let ok = repo().join("fixtures/flannel-vxlan");
    let ok = ok.to_str().unwrap();
    let brief = cnictl_ok(
        &[
            "explain",
            "--bundle",
            ok,
            "default/web-1",
            "default/api-2",
            "--brief",
        ],
        0,
    );
    let brief = text(&brief.stdout);
    let lines: Vec<&str> = brief.lines().collect();
    assert_eq!(lines.len(), 5, "{brief}");
    assert!(lines[0].ends_with("delivered (18 hops)"), "{brief}");
    assert!(
        lines[2].starts_with("  node-1: ") && lines[2].contains("flannel.1 (vxlan encap"),
        "{brief}"
    );
    assert!(
        lines[3].starts_with("  node-2: eth0 → flannel.1 (vxlan decap"),
        "{brief}"
    );
    let bad = repo().join("fixtures/flannel-vxlan-broken-vxlan-fdb-missing");
    let brief = cnictl_ok(
        &[
            "explain",
            "--bundle",
            bad.to_str().unwrap(),
            "default/web-1",
            "default/api-2",
            "--brief",
        ],
        1,
    );
    assert!(
        text(&brief.stdout).contains("[vxlan-fdb-missing]"),
        "{}",
        text(&brief.stdout)
    );
    let m = cnictl_ok(&["model", "--bundle", ok, "-o", "yaml"], 0).stdout;
    let m: serde_json::Value = serde_yaml_ng::from_slice(&m).unwrap();
    assert_eq!(m["model"], "flannel-vxlan");
}

#[test]
fn demo_prints_model_findings_and_a_broken_path() {
    let o = cnictl(&["demo"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("model: flannel-vxlan"), "{out}");
    assert!(out.contains("[vxlan-fdb-missing]"), "{out}");
    assert!(out.contains("verdict: DROPPED"), "{out}");
    let j = cnictl(&["demo", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["model"]["model"], "flannel-vxlan");
    assert_eq!(v["explain"]["verdict"], "dropped");
    assert_eq!(v["explain"]["drop"]["code"], "vxlan-fdb-missing");
    let hint = v["explain"]["drop"]["finding"]["hint"]
        .as_str()
        .unwrap_or("");
    assert!(
        hint.contains("bridge fdb append 0e:f1:0a:f4:02:00 dev flannel.1 dst 192.0.2.12"),
        "concrete fix: {hint}"
    );
}

#[test]
fn explain_exit_codes_follow_the_verdict() {
    let fx = fixtures();
    let get = |n: &str| {
        fx.iter()
            .find(|p| p.ends_with(n))
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let ok = cnictl(&[
        "explain",
        "default/web-1",
        "default/api-2",
        "--bundle",
        &get("flannel-vxlan"),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    let bad = cnictl(&[
        "explain",
        "default/web-1",
        "default/api-2",
        "--bundle",
        &get("flannel-vxlan-broken-vxlan-fdb-missing"),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let unknown = cnictl(&[
        "explain",
        "default/nope",
        "default/api-2",
        "--bundle",
        &get("flannel-vxlan"),
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("default/nope"));
}

/// A copy of the flannel-vxlan fixture with `rules` as node-2's
/// iptables-save.txt (the format `iptables-save -c` writes).
fn with_node2_rules(rules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("fixtures/flannel-vxlan"), dir.path());
    std::fs::write(dir.path().join("nodes/node-2/iptables-save.txt"), rules).unwrap();
    dir
}

#[test]
fn explain_names_the_netfilter_rule_and_exits_3_when_it_cannot_evaluate_one() {
    let drop = with_node2_rules(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [12:1008]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    );
    let b = drop.path().to_str().unwrap();
    let out = cnictl(&[
        "explain",
        "default/web-1",
        "default/api-2",
        "--bundle",
        b,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["drop"]["disposition"], "netfilter-drop");
    assert_eq!(v["drop"]["code"], "netfilter-forward-drop");
    let hop = &v["hops"][v["drop"]["hop"].as_u64().unwrap() as usize - 1];
    assert_eq!(hop["netfilter"]["chain"], "FORWARD");
    assert_eq!(hop["netfilter"]["rule"], serde_json::Value::Null);
    let unknown = with_node2_rules(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m u32 --u32 \"0>>22&0x3C@4>>16=0x1F90\" -j DROP\nCOMMIT\n",
    );
    let b = unknown.path().to_str().unwrap();
    let out = cnictl(&["explain", "default/web-1", "default/api-2", "--bundle", b]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("verdict: UNKNOWN"));
    assert!(text(&out.stdout).contains("-m u32"));
}

/// A Service whose rules on node-1 send half the new connections to an
/// address no pod holds (a stale endpoint): explain lists both backends
/// with their shares, says which half fails, and exits 1 — a partly
/// working Service is a dropped answer (README "Services").
#[test]
fn a_partly_working_service_exits_1_with_its_delivered_share() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("fixtures/flannel-vxlan"), dir.path());
    let rules = r#"*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-LIVE - [0:0]
:KUBE-SEP-STALE - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A OUTPUT -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.100.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-LIVE
-A KUBE-SVC-WEB -j KUBE-SEP-STALE
-A KUBE-SEP-LIVE -p tcp -m tcp -j DNAT --to-destination 10.244.2.2:8080
-A KUBE-SEP-STALE -p tcp -m tcp -j DNAT --to-destination 10.244.2.99:8080
COMMIT
"#;
    std::fs::write(dir.path().join("nodes/node-1/iptables-save.txt"), rules).unwrap();
    let b = dir.path().to_str().unwrap();
    let args = ["explain", "default/web-1", "svc/default/web", "--bundle", b];
    let out = cnictl(&[&args[..], &["-o", "json"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "dropped");
    assert_eq!(v["delivered_share"], 0.5, "{v:#}");
    let mut verdicts: Vec<(&str, &str)> = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["ip"].as_str().unwrap(), b["verdict"].as_str().unwrap()))
        .collect();
    verdicts.sort();
    assert_eq!(
        verdicts,
        [("10.244.2.2", "delivered"), ("10.244.2.99", "dropped")]
    );
    let shown = cnictl(&args);
    assert_eq!(shown.status.code(), Some(1));
    let t = text(&shown.stdout);
    assert!(
        t.contains("partly working: 50.0 % of new connections reach a backend"),
        "{t}"
    );
}

/// Kills the child on drop so a failing assertion never leaves a server behind.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, buf))
}

#[test]
fn serve_answers_on_loopback_with_the_broken_fixture() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let bundle = repo().join("fixtures/flannel-vxlan-broken-vxlan-fdb-missing");
    let child = Command::new(env!("CARGO_BIN_EXE_cnictl"))
        .args([
            "serve",
            "--bundle",
            bundle.to_str().unwrap(),
            "--listen",
            &addr,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let mut ready = false;
    for _ in 0..100 {
        if matches!(http_get(&addr, "/readyz"), Some((200, _))) {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ready, "serve became ready on {addr}");
    let (code, body) = http_get(&addr, "/api/v1/findings").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("vxlan-fdb-missing"), "{body}");
    let (code, body) = http_get(&addr, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("cnictl_findings"), "{body}");
    let (code, _) = http_get(&addr, "/api/v1/explain?src=default/nope&dst=default/api-2").unwrap();
    assert_eq!(code, 404);
}

/// `/api/v1/explain` and `cnictl explain --output json` answer the same
/// question with the same document: both go through the analysis
/// pipeline, so a drop carries its `check` finding in either.
#[test]
fn serve_and_cli_explain_return_the_same_document() {
    let addr = format!("127.0.0.1:{}", free_port());
    let bundle = repo().join("fixtures/flannel-vxlan-broken-vxlan-fdb-missing");
    let _server = serve_bundle(&bundle, &addr);
    let broken = ("default/web-1", "default/api-2");
    let healthy = ("default/web-2", "default/api-2");
    for (src, dst) in [broken, healthy] {
        let o = cnictl(&[
            "explain",
            src,
            dst,
            "--bundle",
            bundle.to_str().unwrap(),
            "--output",
            "json",
        ]);
        let cli: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (code, res) = http_get(&addr, &format!("/api/v1/explain?src={src}&dst={dst}")).unwrap();
        assert_eq!(code, 200, "{res}");
        let body = res.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let api: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(api, cli, "{src} → {dst}");
        let finding = &cli["drop"]["finding"];
        if (src, dst) == broken {
            assert_eq!(finding["code"], "vxlan-fdb-missing", "{cli}");
        } else {
            assert_eq!(cli["verdict"], "delivered", "{cli}");
        }
    }
}

/// Over IPv6 too: `--family 6` and `family=6` pick the pods' IPv6
/// addresses and give the same document (the dual-stack fixture drops it).
#[test]
fn serve_and_cli_explain_agree_over_ipv6() {
    let addr = format!("127.0.0.1:{}", free_port());
    let bundle = repo().join("fixtures/flannel-host-gw-dual-stack-broken-missing-pod-route");
    let _server = serve_bundle(&bundle, &addr);
    let b = bundle.to_str().unwrap();
    let o = cnictl(&[
        "explain",
        "default/web-1",
        "default/api-2",
        "--family",
        "6",
        "--bundle",
        b,
        "-O",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(cli["dst"]["ip"], "fd00:10:244:2::3", "{cli}");
    assert_eq!(cli["drop"]["finding"]["code"], "missing-pod-route", "{cli}");
    let q = "/api/v1/explain?src=default/web-1&dst=default/api-2&family=6";
    let (code, res) = http_get(&addr, q).unwrap();
    assert_eq!(code, 200, "{res}");
    let body = res.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let api: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(api, cli);
    let (code, _) = http_get(&addr, &q.replace("family=6", "family=5")).unwrap();
    assert_eq!(code, 400);
}

/// `/api/v1/matrix` and `cnictl matrix --output json` give the same
/// document (both render analyzers' `policy::document`), by pod and by
/// namespace, for one port and for every port the policies name.
#[test]
fn serve_and_cli_matrix_return_the_same_document() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("calico-bgp-policies");
    copy_dir(&repo().join("fixtures/calico-bgp"), &bundle);
    let policies = r#"{"apiVersion": "v1", "kind": "List", "items": [
     {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
      "metadata": {"namespace": "default", "name": "api-from-web"},
      "spec": {"podSelector": {"matchLabels": {"app": "api"}},
       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                    "ports": [{"protocol": "TCP", "port": 8080}]}]}}]}"#;
    fs::write(bundle.join("k8s/networkpolicies.json"), policies).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let _server = serve_bundle(&bundle, &addr);
    let b = bundle.to_str().unwrap();
    for (query, args) in [
        (
            "proto=tcp&port=8080",
            vec!["--proto", "tcp", "--port", "8080"],
        ),
        ("", vec![]),
        (
            "port=8080&by=namespace",
            vec!["--port", "8080", "--by", "namespace"],
        ),
    ] {
        let mut cli_args = vec!["matrix", "--bundle", b, "--output", "json"];
        cli_args.extend(args);
        let cli: serde_json::Value = serde_json::from_slice(&cnictl(&cli_args).stdout).unwrap();
        let (code, res) = http_get(&addr, &format!("/api/v1/matrix?{query}")).unwrap();
        assert_eq!(code, 200, "{res}");
        let body = res.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let api: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(api, cli, "?{query}");
        assert!(
            api["cells"].as_array().is_some_and(|c| !c.is_empty()),
            "{api}"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cnictl serve --bundle DIR` on `addr`, once ready.
fn serve_bundle(bundle: &Path, addr: &str) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_cnictl"))
        .args([
            "serve",
            "--bundle",
            bundle.to_str().unwrap(),
            "--listen",
            addr,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    for _ in 0..100 {
        if matches!(http_get(addr, "/readyz"), Some((200, _))) {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("serve became ready on {addr}");
}

#[test]
fn explain_resolves_host_network_pods_and_names_uncollected_nodes() {
    let fx = fixtures();
    let healthy = fx.iter().find(|p| p.ends_with("flannel-vxlan")).unwrap();
    let o = cnictl(&[
        "explain",
        "default/web-1",
        "kube-flannel/kube-flannel-ds-430e6",
        "--bundle",
        healthy.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a hostNetwork pod is its node: {}",
        text(&o.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    copy_dir(healthy, &bundle);
    fs::remove_dir_all(bundle.join("nodes/node-3")).unwrap();
    let o = cnictl(&[
        "explain",
        "default/web-1",
        "default/api-3",
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("node-3") && err.contains("not in the snapshot"),
        "{err}"
    );
}

#[test]
fn check_says_incomplete_when_checks_were_skipped_and_strict_exits_3() {
    let b = repo().join("fixtures/flannel-vxlan");
    let b = b.to_str().unwrap();
    // The fixture has no ipvsadm.txt: the IPVS checks are skipped, so the
    // headline must not claim a healthy dataplane.
    let out = cnictl(&["check", "--bundle", b]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(
        t.contains("incomplete:") && t.contains("ipvs-service-missing"),
        "{t}"
    );
    assert!(!t.contains("the dataplane matches the cluster"), "{t}");
    let strict = cnictl(&["check", "--bundle", b, "--strict"]);
    assert_eq!(strict.status.code(), Some(3));
    // A broken fixture still exits 1 with --strict (errors come first).
    let broken = repo().join("fixtures/flannel-vxlan-broken-mtu-mismatch");
    let out = cnictl(&["check", "--bundle", broken.to_str().unwrap(), "--strict"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn check_severity_says_how_many_findings_it_hid() {
    // The overlap fixture's hand-added Service selects no pod: beside the
    // overlap (an error) it has one warning, service-no-backends.
    let b = repo().join("fixtures/flannel-vxlan-broken-service-cidr-overlap");
    let b = b.to_str().unwrap();
    let out = cnictl(&["check", "--bundle", b, "--severity", "error"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    assert!(
        t.contains("1 finding(s) below --severity error hidden")
            && !t.contains("service-no-backends"),
        "{t}"
    );
    let all = text(&cnictl(&["check", "--bundle", b]).stdout);
    assert!(
        all.contains("service-no-backends") && !all.contains("hidden"),
        "{all}"
    );
}

#[test]
fn a_bundle_directory_holding_only_the_bundle_folder_loads() {
    // An archive unpacked by a ticket system: wrap/incident-4711/{k8s,nodes}.
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("incident-4711");
    copy_dir(
        &repo().join("fixtures/flannel-vxlan-broken-vxlan-fdb-missing"),
        &inner,
    );
    let out = cnictl(&["check", "--bundle", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("vxlan-fdb-missing"));
    // A snapshot file given as a bundle says where it belongs.
    let snap = dir.path().join("s.json");
    cnictl_ok(
        &[
            "snapshot",
            "--bundle",
            inner.to_str().unwrap(),
            "-o",
            snap.to_str().unwrap(),
        ],
        0,
    );
    let out = cnictl(&["check", "--bundle", snap.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--snapshot"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn kubectl_conventions_short_output_namespace_and_completions() {
    let b = repo().join("fixtures/flannel-vxlan");
    let b = b.to_str().unwrap();
    // -o json as kubectl; -O stays an alias.
    for flag in ["-o", "-O"] {
        let out = cnictl_ok(&["check", "--bundle", b, flag, "json"], 0);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["schema"], "cnictl/v1");
    }
    // -n: bare names are pods (and Services) of that namespace.
    let out = cnictl_ok(
        &[
            "explain", "web-1", "svc/api", "-n", "default", "--bundle", b, "-o", "json",
        ],
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["src"]["pod"], "default/web-1");
    assert_eq!(v["dst"]["service"], "default/api");
    let wrong = cnictl(&[
        "explain",
        "web-1",
        "api-2",
        "-n",
        "kube-system",
        "--bundle",
        b,
    ]);
    assert_eq!(wrong.status.code(), Some(2), "web-1 is not in kube-system");
    // Completion scripts: bash parses it, every subcommand is offered.
    let script = cnictl_ok(&["completion", "bash"], 0).stdout;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnictl.bash");
    std::fs::write(&path, &script).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash -n accepts the completion script");
    let text = text(&script);
    for sub in ["explain", "check", "lab", "completion"] {
        assert!(text.contains(sub), "{sub} offered");
    }
    for shell in ["zsh", "fish"] {
        assert!(!cnictl_ok(&["completion", shell], 0).stdout.is_empty());
    }
}

/// `check` leads with the root cause: one BGP session down is one root
/// with its five consequences under it, in text and JSON; `--severity`
/// hiding findings keeps the groups consistent.
#[test]
fn check_groups_the_consequences_of_one_bgp_session_under_it() {
    let b = repo().join("fixtures/calico-bgp-broken-bgp-session-down");
    let b = b.to_str().unwrap();
    let o = cnictl_ok(&["check", "--bundle", b, "--color", "never"], 1);
    let out = text(&o.stdout);
    assert!(
        out.starts_with("model calico-bgp: 6 error(s), 0 warning(s), 0 info — 1 root cause(s), 5 consequence(s)"),
        "{out}"
    );
    assert!(out.contains("      consequences (5):"), "{out}");
    assert!(
        out.contains("because the other end of the same session"),
        "{out}"
    );
    // The consequences are listed under the root, not again on their own.
    assert_eq!(out.matches("hint:").count(), 1, "{out}");
    let o = cnictl_ok(&["check", "--bundle", b, "-o", "json"], 1);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let groups = r["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{groups:?}");
    let root = groups[0]["root"].as_u64().unwrap() as usize;
    assert_eq!(r["findings"][root]["code"], "bgp-session-down");
    assert_eq!(r["findings"][root]["peers"][0], "node-2");
    assert_eq!(groups[0]["symptoms"].as_array().unwrap().len(), 5);
    // A healthy fixture: no consequences, so no root-cause words at all.
    let ok = repo().join("fixtures/calico-bgp");
    let o = cnictl_ok(
        &[
            "check",
            "--bundle",
            ok.to_str().unwrap(),
            "--color",
            "never",
        ],
        0,
    );
    assert!(
        !text(&o.stdout).contains("root cause"),
        "{}",
        text(&o.stdout)
    );
}

/// On a bundle directory explain loads only the nodes a path starts and
/// ends on, and keeps that answer only when it was delivered on them:
/// every answer equals the whole bundle's (a snapshot of the same bundle is
/// always read whole) — pod pairs across nodes, a Service with endpoints on
/// several nodes (kube-proxy iptables), a node, a reply; a drop (a
/// deleted route) is asked again of the whole bundle.
#[test]
fn loading_only_the_path_nodes_gives_the_whole_bundles_answer() {
    let tmp = tempfile::tempdir().unwrap();
    for model in ["calico-bgp", "flannel-vxlan"] {
        let dir = tmp.path().join(model);
        let d = dir.to_str().unwrap();
        let gen = [
            "gen",
            "--model",
            model,
            "--nodes",
            "24",
            "--pods-per-node",
            "2",
        ];
        let svc = ["--services", "3", "--kube-proxy", "iptables", "-o", d];
        cnictl_ok(&[&gen[..], &svc[..]].concat(), 0);
        let snap = tmp.path().join(format!("{model}.json"));
        let s = snap.to_str().unwrap();
        cnictl_ok(&["snapshot", "--bundle", d, "-o", s], 0);
        let pods: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("k8s/pods.json")).unwrap()).unwrap();
        let name = |i: usize| {
            let m = &pods["items"][i]["metadata"];
            format!(
                "{}/{}",
                m["namespace"].as_str().unwrap(),
                m["name"].as_str().unwrap()
            )
        };
        let svcs: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("k8s/services.json")).unwrap())
                .unwrap();
        let m = &svcs["items"][0]["metadata"];
        let service = format!(
            "svc/{}/{}",
            m["namespace"].as_str().unwrap(),
            m["name"].as_str().unwrap()
        );
        let cases: Vec<Vec<String>> = vec![
            vec![name(0), name(47)],
            vec![name(5), name(6), "--reverse".into()],
            vec![name(3), service],
            vec![name(9), "node/node-20".into()],
        ];
        for case in &cases {
            let args = |flag: &'static str, path: &str| -> Vec<String> {
                let mut a: Vec<String> = vec!["explain".into(), flag.into(), path.into()];
                a.extend(["-o".into(), "json".into()]);
                a.extend(case.iter().cloned());
                a
            };
            let run = |a: Vec<String>| cnictl(&a.iter().map(String::as_str).collect::<Vec<_>>());
            let lazy = run(args("--bundle", d));
            let whole = run(args("--snapshot", s));
            assert_eq!(lazy.status.code(), whole.status.code(), "{model} {case:?}");
            assert_eq!(text(&lazy.stdout), text(&whole.stdout), "{model} {case:?}");
            assert!(
                text(&lazy.stdout).contains("\"verdict\": \"delivered\""),
                "{model} {case:?}"
            );
        }
    }
    // A drop on the path: the whole bundle answers, with its finding.
    let dir = tmp.path().join("calico-bgp");
    let routes = dir.join("nodes/node-1/ip-route.json");
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&fs::read_to_string(&routes).unwrap()).unwrap();
    let kept: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| r["protocol"] != "bird" || r["type"] == "blackhole")
        .collect();
    fs::write(&routes, serde_json::to_string(&kept).unwrap()).unwrap();
    let d = dir.to_str().unwrap();
    let s = tmp.path().join("dropped.json");
    let s = s.to_str().unwrap();
    cnictl_ok(&["snapshot", "--bundle", d, "-o", s], 0);
    let pair = ["default/web-1-1", "default/web-2-1", "-o", "json"];
    let o = cnictl(&[&["explain", "--bundle", d][..], &pair[..]].concat());
    let whole = cnictl(&[&["explain", "--snapshot", s][..], &pair[..]].concat());
    assert_eq!(text(&o.stdout), text(&whole.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "dropped", "{}", text(&o.stderr));
    // BIRD still has the block, the kernel lost it: node-1's own finding.
    assert_eq!(v["drop"]["finding"]["code"], "bgp-route-missing", "{v}");
}
