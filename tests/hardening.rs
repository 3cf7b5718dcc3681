//! Hardening: bad bundles driven through the real binary, and the
//! read-only invariant checked on the source. Every run has a deadline and
//! must not panic; input errors exit 2 naming the file (and line:column
//! where there is one); partial but analysable bundles exit 0/1 and list
//! what was skipped. SECURITY.md's table points at these tests.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run of the binary: exit code (`None`: killed by a signal), output, time.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// No run may take longer than this: a hang is a failure, not a wait.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `cnictl args…`, killing it at [`DEADLINE`], and checks it did not panic.
fn cnictl(args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cnictl"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cnictl starts");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let readers = (
        std::thread::spawn(move || read_all(&mut out)),
        std::thread::spawn(move || read_all(&mut err)),
    );
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait on cnictl") {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cnictl {args:?} hung for over {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        code: status.code(),
        stdout: readers.0.join().expect("stdout reader"),
        stderr: readers.1.join().expect("stderr reader"),
        took: start.elapsed(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "cnictl {args:?} panicked:\n{}",
        run.stderr
    );
    assert!(run.code.is_some(), "cnictl {args:?} died of a signal");
    run
}

fn read_all(r: &mut impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
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

/// A writable copy of a fixture bundle in a temp dir (kept alive by the guard).
fn bundle(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    copy_dir(&fixture(name), &dir);
    (tmp, dir)
}

fn check(dir: &Path) -> Run {
    cnictl(&[
        "check",
        "--bundle",
        dir.to_str().unwrap(),
        "--output",
        "json",
    ])
}

/// Exit 2 with `needle` (the file and position) in the error.
fn assert_input_error(run: &Run, needle: &str) {
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains(needle),
        "expected {needle:?} in stderr:\n{}",
        run.stderr
    );
}

/// Exit 0/1 with a JSON report; returns it.
fn assert_analysed(run: &Run) -> serde_json::Value {
    assert!(
        matches!(run.code, Some(0 | 1)),
        "code {:?}, stderr: {}",
        run.code,
        run.stderr
    );
    serde_json::from_str(&run.stdout).expect("check --output json prints a report")
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn node_file(dir: &Path, node: &str, file: &str) -> PathBuf {
    dir.join("nodes").join(node).join(file)
}

#[test]
fn truncated_file_names_file_line_and_column() {
    let (_t, b) = bundle("flannel-vxlan");
    let p = node_file(&b, "node-1", "ip-route.json");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, &text[..text.len() / 2]).unwrap();
    let run = check(&b);
    assert_input_error(&run, "nodes/node-1/ip-route.json:");
    assert!(run.stderr.contains("EOF"), "{}", run.stderr);
}

#[test]
fn wrong_json_types_are_errors_with_position() {
    let (_t, b) = bundle("flannel-vxlan");
    edit_json(&node_file(&b, "node-1", "ip-link.json"), |v| {
        v[0]["mtu"] = "big".into();
    });
    fs::write(
        node_file(&b, "node-2", "ip-route.json"),
        r#"{"dst": "default"}"#,
    )
    .unwrap();
    let run = check(&b);
    assert_input_error(&run, "nodes/node-1/ip-link.json:");
    assert!(run.stderr.contains("\"big\""), "{}", run.stderr);
    // Both bad files are reported at once, the second at line 1 column 1.
    assert!(
        run.stderr.contains("nodes/node-2/ip-route.json:1:1:"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_node_dir_is_skipped_and_the_rest_analysed() {
    let (_t, b) = bundle("flannel-vxlan");
    for e in fs::read_dir(b.join("nodes/node-2")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
    }
    let report = assert_analysed(&check(&b));
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(
            |s| s["node"] == "node-2" && s["reason"].as_str().unwrap().contains("no dataplane")
        ),
        "{skipped:?}"
    );
    // A path into the node that was not collected cannot be explained:
    // an input error naming the pod, not a guess.
    let run = cnictl(&[
        "explain",
        "--bundle",
        b.to_str().unwrap(),
        "default/web-1",
        "default/web-2",
    ]);
    assert_input_error(&run, "default/web-2");
}

#[test]
fn node_dir_missing_one_required_file_is_an_error() {
    let (_t, b) = bundle("flannel-vxlan");
    fs::remove_file(node_file(&b, "node-3", "ip-addr.json")).unwrap();
    assert_input_error(
        &check(&b),
        "nodes/node-3/ip-addr.json: required file is missing",
    );
}

#[test]
fn every_node_dir_empty_is_an_error() {
    let (_t, b) = bundle("flannel-vxlan");
    for n in ["node-1", "node-2", "node-3"] {
        fs::remove_dir_all(b.join("nodes").join(n)).unwrap();
        fs::create_dir(b.join("nodes").join(n)).unwrap();
    }
    assert_input_error(&check(&b), "nodes/: every node directory is empty");
}

#[test]
fn node_listed_twice_in_nodes_json_is_an_error() {
    let (_t, b) = bundle("flannel-vxlan");
    edit_json(&b.join("k8s/nodes.json"), |v| {
        let first = v["items"][0].clone();
        v["items"].as_array_mut().unwrap().push(first);
    });
    assert_input_error(
        &check(&b),
        "k8s/nodes.json: node \"node-1\" is listed 2 times",
    );
}

#[test]
fn pod_listed_twice_is_an_error() {
    let (_t, b) = bundle("flannel-vxlan");
    edit_json(&b.join("k8s/pods.json"), |v| {
        let first = v["items"][0].clone();
        v["items"].as_array_mut().unwrap().push(first);
    });
    assert_input_error(
        &check(&b),
        "k8s/pods.json: pod \"default/web-1\" is listed 2 times",
    );
}

#[test]
fn node_dirs_differing_only_by_case_are_an_error() {
    let (_t, b) = bundle("flannel-vxlan");
    copy_dir(&b.join("nodes/node-1"), &b.join("nodes/Node-1"));
    assert_input_error(
        &check(&b),
        "nodes/Node-1/: differs from nodes/node-1/ only by case",
    );
}

#[test]
fn pod_on_an_unknown_node_still_analyses_and_explains() {
    let (_t, b) = bundle("flannel-vxlan");
    edit_json(&b.join("k8s/pods.json"), |v| {
        v["items"][0]["spec"]["nodeName"] = "ghost".into();
    });
    assert_analysed(&check(&b));
    let run = cnictl(&[
        "explain",
        "--bundle",
        b.to_str().unwrap(),
        "default/web-2",
        "default/web-1",
    ]);
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.stderr);
    assert!(run.stdout.contains("verdict:"), "{}", run.stdout);
}

#[test]
fn route_with_unknown_device_is_analysed() {
    let (_t, b) = bundle("flannel-vxlan");
    edit_json(&node_file(&b, "node-1", "ip-route.json"), |v| {
        let r = serde_json::json!({"dst": "10.99.0.0/16", "dev": "nosuchdev",
            "protocol": "static", "scope": "link", "flags": []});
        v.as_array_mut().unwrap().push(r);
    });
    assert_analysed(&check(&b));
    let run = cnictl(&[
        "explain",
        "--bundle",
        b.to_str().unwrap(),
        "default/web-1",
        "10.99.1.1",
    ]);
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.stderr);
    assert!(run.stdout.contains("verdict:"), "{}", run.stdout);
}

#[test]
fn zero_node_cluster_is_an_input_error() {
    let tmp = tempfile::tempdir().unwrap();
    let k8s = tmp.path().join("k8s");
    fs::create_dir_all(&k8s).unwrap();
    let empty = r#"{"apiVersion": "v1", "kind": "List", "items": []}"#;
    fs::write(k8s.join("nodes.json"), empty).unwrap();
    fs::write(k8s.join("pods.json"), empty).unwrap();
    assert_input_error(&check(tmp.path()), "nodes/: no node directories");
}

#[test]
fn symlinks_leaving_the_bundle_are_refused() {
    let (t, b) = bundle("flannel-vxlan");
    let outside = t.path().join("outside.json");
    fs::write(&outside, "[]").unwrap();
    let rule = node_file(&b, "node-1", "ip-rule.json");
    fs::remove_file(&rule).unwrap();
    std::os::unix::fs::symlink(&outside, &rule).unwrap();
    fs::create_dir(t.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(t.path().join("elsewhere"), b.join("nodes/node-4")).unwrap();
    let run = check(&b);
    assert_input_error(
        &run,
        "nodes/node-1/ip-rule.json: symlink leads outside the bundle",
    );
    assert!(
        run.stderr
            .contains("nodes/node-4/: symlink leads outside the bundle"),
        "{}",
        run.stderr
    );
}

#[test]
fn huge_sparse_file_is_refused_without_being_read() {
    let (_t, b) = bundle("flannel-vxlan");
    let p = node_file(&b, "node-1", "ip-neigh.json");
    let f = fs::File::create(&p).unwrap();
    f.set_len(3 << 29).unwrap(); // 1.5 GiB, sparse: no disk used
    drop(f);
    let run = check(&b);
    assert_input_error(&run, "nodes/node-1/ip-neigh.json: file is 1610612736 bytes");
    // Reading 1.5 GiB (and holding it) would take seconds; a stat does not.
    assert!(run.took < Duration::from_secs(5), "took {:?}", run.took);
}

/// `--snapshot` names something that is not a regular file: refused at
/// once (a FIFO would block for ever, `/dev/zero` grow without end).
#[test]
fn snapshot_that_is_not_a_regular_file_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("snap.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let mut paths = vec![PathBuf::from("/dev/zero")];
    if made.is_ok_and(|s| s.success()) {
        paths.push(fifo);
    }
    for p in paths {
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cnictl"))
            .args(["check", "--snapshot"])
            .arg(&p)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("cnictl check --snapshot {} did not return", p.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(2), "{}: {err}", p.display());
        assert!(
            err.contains("is not a regular file"),
            "{}: {err}",
            p.display()
        );
    }
}

#[test]
fn a_directory_where_a_file_belongs_is_an_error() {
    let (_t, b) = bundle("flannel-vxlan");
    let p = node_file(&b, "node-2", "ip-neigh.json");
    fs::remove_file(&p).unwrap();
    fs::create_dir(&p).unwrap();
    assert_input_error(&check(&b), "nodes/node-2/ip-neigh.json: not a regular file");
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    if is_root() {
        // Root bypasses permission bits (CAP_DAC_OVERRIDE): the file reads fine.
        eprintln!("skipped: running as root, which can read a mode-000 file");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (_t, b) = bundle("flannel-vxlan");
    let p = node_file(&b, "node-1", "ip-route.json");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    assert_input_error(&check(&b), "nodes/node-1/ip-route.json:");
}

#[test]
fn non_utf8_nul_and_empty_files_are_errors() {
    let (_t, b) = bundle("flannel-vxlan");
    fs::write(
        node_file(&b, "node-1", "ip-route.json"),
        b"[{\"dst\":\"\xff\xfe\"}]",
    )
    .unwrap();
    fs::write(node_file(&b, "node-2", "ip-route.json"), b"[\0]").unwrap();
    fs::write(node_file(&b, "node-3", "ip-neigh.json"), b"").unwrap();
    fs::write(b.join("k8s/services.json"), b"").unwrap();
    let run = check(&b);
    assert_input_error(&run, "nodes/node-1/ip-route.json: not valid UTF-8 text");
    for needle in [
        "nodes/node-2/ip-route.json:1:2:",
        "nodes/node-3/ip-neigh.json:1:1:",
        "k8s/services.json:1:1:",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
}

#[test]
fn empty_optional_text_file_is_analysed_with_a_skip() {
    let (_t, b) = bundle("flannel-vxlan");
    fs::write(node_file(&b, "node-1", "sysctl.txt"), "").unwrap();
    let report = assert_analysed(&check(&b));
    assert!(
        report["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["check"] == "ip-forward-disabled" && s["node"] == "node-1"),
        "{report}"
    );
}

/// Rewrites every dotted IPv4 address (and its prefix length) in `text` as
/// an IPv6 one under fd00::/96, keeping prefix relations, so a recorded
/// IPv4 bundle becomes an IPv6-only one with the same shape.
fn to_ipv6(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match dotted_quad(b, i) {
            Some((octets, mut end)) if i == 0 || !b[i - 1].is_ascii_alphanumeric() => {
                out.push_str(&format!(
                    "fd00::{:x}:{:x}",
                    u16::from(octets[0]) << 8 | u16::from(octets[1]),
                    u16::from(octets[2]) << 8 | u16::from(octets[3])
                ));
                if let Some((len, e)) = prefix_len(b, end) {
                    out.push_str(&format!("/{}", len + 96));
                    end = e;
                }
                i = end;
            }
            _ => {
                out.push(text[i..].chars().next().unwrap());
                i += text[i..].chars().next().unwrap().len_utf8();
            }
        }
    }
    out.replace("\"inet\"", "\"inet6\"")
}

fn dotted_quad(b: &[u8], mut i: usize) -> Option<([u8; 4], usize)> {
    let mut octets = [0u8; 4];
    for (k, o) in octets.iter_mut().enumerate() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            i += 1;
        }
        *o = std::str::from_utf8(&b[start..i]).ok()?.parse().ok()?;
        if k < 3 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    let next = b.get(i).copied().unwrap_or(b' ');
    (!next.is_ascii_digit() && next != b'.').then_some((octets, i))
}

fn prefix_len(b: &[u8], i: usize) -> Option<(u8, usize)> {
    if b.get(i) != Some(&b'/') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    let n: u8 = std::str::from_utf8(&b[i + 1..j]).ok()?.parse().ok()?;
    (n <= 32).then_some((n, j))
}

fn rewrite_tree(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rewrite_tree(&p);
        } else if let Ok(text) = fs::read_to_string(&p) {
            fs::write(&p, to_ipv6(&text)).unwrap();
        }
    }
}

#[test]
fn ipv4_rewrite_helper_keeps_prefixes() {
    assert_eq!(
        to_ipv6(r#""10.244.1.0/24 via 192.0.2.11" v1.2.3.4 "family": "inet""#),
        r#""fd00::af4:100/120 via fd00::c000:20b" v1.2.3.4 "family": "inet6""#
    );
}

#[test]
fn ipv6_only_cluster_is_analysed_without_panic() {
    let (_t, b) = bundle("flannel-host-gw");
    rewrite_tree(&b);
    let node = fs::read_to_string(node_file(&b, "node-1", "ip-addr.json")).unwrap();
    assert!(node.contains("fd00::") && !node.contains("\"inet\""));
    assert_analysed(&check(&b));
    let run = cnictl(&[
        "explain",
        "--bundle",
        b.to_str().unwrap(),
        "default/web-1",
        "default/web-2",
    ]);
    assert!(matches!(run.code, Some(0..=2)), "{}", run.stderr);
    assert!(!run.stdout.is_empty() || !run.stderr.is_empty());
}

// ---- the read-only invariant, checked on the source ---------------------

/// Tokens that would build a dataplane-changing request: netlink create /
/// replace flags, rtnetlink New/Del/Set messages, IPVS mutating commands.
const WRITE_TOKENS: &[&str] = &[
    "NLM_F_CREATE",
    "NLM_F_REPLACE",
    "NLM_F_EXCL",
    "NLM_F_APPEND",
    "RTM_DEL",
    "RTM_SET",
    "RouteNetlinkMessage::New",
    "RouteNetlinkMessage::Del",
    "RouteNetlinkMessage::Set",
    "NewRoute(",
    "DelRoute(",
    "NewLink(",
    "DelLink(",
    "SetLink(",
    "NewAddress(",
    "DelAddress(",
    "NewNeighbour(",
    "DelNeighbour(",
    "NewRule(",
    "DelRule(",
    "IPVS_CMD_NEW",
    "IPVS_CMD_SET",
    "IPVS_CMD_DEL",
    "IPVS_CMD_ZERO",
    "IPVS_CMD_FLUSH",
    "rtnetlink::",
];

/// Offending `(line number, line)` pairs of one file's non-test code.
/// Test modules (`#[cfg(test)]` onwards) and comments are not code that
/// runs; `RTM_NEW*` may appear only as a reply type (`const`, `==`).
fn write_requests(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| {
            let l = without_strings(l);
            WRITE_TOKENS.iter().any(|t| l.contains(t))
                || (l.contains("RTM_NEW")
                    && !l.contains("const RTM_NEW")
                    && !l.contains("== RTM_NEW"))
        })
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .collect()
}

/// The line with string literals' contents removed (messages may name
/// RTM_NEWROUTE as what a reply should hold).
fn without_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in line.chars() {
        match (in_str, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (_, '"') => {
                in_str = !in_str;
                out.push(c);
            }
            (true, _) => {}
            (false, _) => out.push(c),
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_scanner_catches_write_requests() {
    let bad = "let m = RouteNetlinkMessage::NewRoute(msg);\nsock.request_flags(m, NLM_F_REQUEST | NLM_F_CREATE);\n";
    assert_eq!(write_requests(bad).len(), 2);
    let reply = "const RTM_NEWROUTE: u16 = 24;\nif kind == RTM_NEWROUTE {\n// RTM_DELROUTE\nlet s = \"no RTM_NEWROUTE \\\" NLM_F_CREATE\";\n";
    assert!(write_requests(reply).is_empty());
    let test_only = "fn f() {}\n#[cfg(test)]\nmod tests { NLM_F_CREATE }\n";
    assert!(write_requests(test_only).is_empty());
}

/// Nothing outside lab/ builds a netlink request that changes the
/// dataplane: every crate's non-test source is scanned (SECURITY.md).
#[test]
fn no_crate_builds_dataplane_write_requests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for e in fs::read_dir(&root).unwrap().flatten() {
        let src = e.path().join("src");
        let name = e.file_name().to_string_lossy().into_owned();
        if name != "lab" && name != "target" && e.path().join("Cargo.toml").is_file() {
            rust_files(&src, &mut files);
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("collect/src/live/nl.rs")),
        "the netlink collectors were not scanned: {files:?}"
    );
    let mut found = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        for (line, l) in write_requests(&text) {
            found.push(format!("{}:{line}: {l}", f.display()));
        }
    }
    assert!(
        found.is_empty(),
        "dataplane write requests:\n{}",
        found.join("\n")
    );
}

/// Entering another namespace needs CAP_SYS_ADMIN (and, for /proc/1/ns/net,
/// ptrace access to PID 1): as `nobody` with no capabilities the collector
/// must fail with exit 2 naming the namespace — not collect our own instead.
#[test]
fn collect_without_privileges_names_the_namespace() {
    let setpriv = Path::new("/usr/bin/setpriv");
    if !is_root() || !setpriv.exists() {
        eprintln!("skipped: needs root and setpriv to run the collector as nobody");
        return;
    }
    let start = Instant::now();
    let out = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_cnictl"))
        .args(["collect", "--netns-path", "/proc/1/ns/net"])
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(start.elapsed() < DEADLINE);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/proc/1/ns/net") && stderr.contains("Permission denied"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing collected");
}

// ---- the aggregator against agents that misbehave mid-response -----------

/// A one-connection fake agent: reads the request head, then `answer`s.
fn fake_agent(answer: impl FnOnce(&mut std::net::TcpStream) + Send + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            answer(&mut s);
        }
    });
    addr
}

/// One aggregator pull of `target`; returns the agent's status after it.
fn pull_once(target: String, timeout: Duration) -> cnictl_agent::aggregator::AgentStatus {
    use cnictl_agent::aggregator::{Agents, Puller};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut agents = Agents::default();
        agents.reconcile(vec![(target, Some("node-1".into()))]);
        let summary = agents
            .pull_round(&Puller::new(timeout, None), 4, None)
            .await;
        assert_eq!(summary.unreachable, 1);
        agents.statuses().remove(0)
    })
}

#[test]
fn agent_killed_mid_response_marks_it_unreachable() {
    use std::io::Write;
    let addr = fake_agent(|s| {
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n";
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(br#"{"name": "node-1", "links": ["#);
        // Dropped here: the connection closes 99 970 bytes short.
    });
    let start = Instant::now();
    let st = pull_once(addr, Duration::from_secs(5));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "waited for the full timeout"
    );
    assert_eq!(st.state, "unreachable");
    assert_eq!(st.last_error.as_deref(), Some("read"), "{st:?}");
}

#[test]
fn agent_that_never_answers_times_out_and_garbage_is_decode() {
    use std::io::Write;
    let silent = fake_agent(|_| std::thread::sleep(Duration::from_secs(3)));
    let start = Instant::now();
    let st = pull_once(silent, Duration::from_millis(400));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(st.last_error.as_deref(), Some("timeout"), "{st:?}");

    let garbage = fake_agent(|s| {
        let body = "not json at all";
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body.as_bytes());
    });
    let st = pull_once(garbage, Duration::from_secs(2));
    assert_eq!(st.last_error.as_deref(), Some("decode"), "{st:?}");
}

// ---- other file inputs: bounded, and no FIFO or device is read -----------

/// A FIFO, if `mkfifo` exists, beside `/dev/zero`: both must be refused
/// at once wherever the CLI takes a file.
fn not_regular_files(tmp: &Path) -> Vec<PathBuf> {
    let fifo = tmp.join("input.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let mut paths = vec![PathBuf::from("/dev/zero")];
    if made.is_ok_and(|s| s.success()) {
        paths.push(fifo);
    }
    paths
}

#[test]
fn manifests_and_lab_policies_that_are_not_regular_files_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    for p in not_regular_files(tmp.path()) {
        let p = p.to_str().unwrap();
        let run = cnictl(&["matrix", "--manifests", p]);
        assert_input_error(&run, "not a regular file");
        assert!(run.stderr.contains(p), "{}", run.stderr);
        if is_root() {
            // Read before anything is built; `lab down` in case it was not.
            let prefix = format!("cnlth{}", std::process::id() % 10000);
            let run = cnictl(&[
                "lab",
                "up",
                "flannel-vxlan",
                "--prefix",
                &prefix,
                "--policies",
                p,
            ]);
            let _ = cnictl(&["lab", "down", "--prefix", &prefix]);
            assert_input_error(&run, "not a regular file");
        }
    }
}

// ---- --kube: errors name what failed, not the temporary bundle ----------

/// `check --kube` pulls agents into a temporary bundle: an agent whose
/// snapshot cannot be written (a node name that is a path) fails the run
/// with an error that names the node, and no temporary path.
#[test]
fn kube_errors_never_show_the_temporary_bundle_path() {
    use std::io::Write;
    let addr = fake_agent(|s| {
        let body = r#"{"name": "../escaped", "links": [], "addrs": [], "routes": []}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body.as_bytes());
    });
    let k8s = fixture("flannel-vxlan");
    let run = cnictl(&[
        "check",
        "--kube",
        "--agents",
        &addr,
        "--k8s-from",
        k8s.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("../escaped"), "{}", run.stderr);
    let tmp = std::env::temp_dir().display().to_string();
    assert!(
        !run.stderr.contains(&tmp),
        "a temporary path: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(".tmp"),
        "a temporary path: {}",
        run.stderr
    );
}

// ---- HTTP: an oversized request head is a JSON 414 / 431 ----------------

/// One raw request with `extra` header bytes; the status and body.
fn raw_request(addr: &str, path: &str, header_bytes: usize) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if header_bytes > 0 {
        req.push_str(&format!("x-padding: {}\r\n", "a".repeat(header_bytes)));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((code, body))
}

/// A server child killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `cnictl args…`, once `path` answers on `addr`.
fn server(args: &[&str], addr: &str, path: &str) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_cnictl"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Child(child);
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if raw_request(addr, path, 0).is_some() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cnictl {args:?} did not answer on {addr}");
}

fn assert_json_error(what: &str, got: Option<(u16, String)>, status: u16, code: &str) {
    let (got_status, body) = got.unwrap_or_else(|| panic!("{what}: no answer"));
    assert_eq!(got_status, status, "{what}: {body}");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    assert_eq!(v["error"]["code"], code, "{what}: {body}");
}

#[test]
fn every_server_answers_an_oversized_request_head_with_a_json_414_or_431() {
    let bundle = fixture("flannel-vxlan");
    let bundle = bundle.to_str().unwrap();
    let (serve, agent, agg) = (free_addr(), free_addr(), free_addr());
    let mut servers = vec![server(
        &["serve", "--bundle", bundle, "--listen", &serve],
        &serve,
        "/healthz",
    )];
    let args = [
        "agent",
        "--insecure-no-auth",
        "--k8s-bundle",
        bundle,
        "--node-name",
        "node-1",
    ];
    let mut agent_args = args.to_vec();
    agent_args.extend(["--listen", &agent, "--interval", "1h"]);
    servers.push(server(&agent_args, &agent, "/healthz"));
    let agg_args = [
        "serve",
        "--kube",
        "--agents",
        &agent,
        "--k8s-from",
        bundle,
        "--listen",
        &agg,
    ];
    servers.push(server(&agg_args, &agg, "/healthz"));
    for (name, addr) in [("serve", &serve), ("agent", &agent), ("aggregator", &agg)] {
        let long_path = format!("/api/v1/{}", "p".repeat(100 * 1024));
        assert_json_error(name, raw_request(addr, &long_path, 0), 414, "uri_too_long");
        let got = raw_request(addr, "/healthz", 100 * 1024);
        assert_json_error(name, got, 431, "headers_too_large");
        let (ok, _) = raw_request(addr, "/healthz", 1024).unwrap();
        assert_eq!(ok, 200, "{name}: a 1 KiB header is fine");
    }
    drop(servers);
}
