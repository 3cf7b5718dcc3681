//! Live: the text form of the iproute2 listings against their JSON, on the
//! namespace labs (`cnictl lab up flannel-vxlan` and `calico-bgp`). For each
//! lab, `cnictl lab bundle` records the JSON bundle; right after, every
//! node's `ip -d link show`, `ip addr show`, `ip -d route show table all`,
//! `ip neigh show`, `ip rule show` and `bridge fdb show` are captured as
//! text with `ip netns exec` into a copy of it (`.txt` names on odd nodes,
//! text inside the `.json` names on even ones). Both import to the same
//! snapshot, but for the one field the text cannot carry:
//!
//! - `Link::peer_netnsid` of a veth whose peer's namespace has a name: the
//!   text prints `link-netns NAME`, not the netns id (the lab names every
//!   namespace, as a CNI runtime does under /run/netns).
//!
//! Neighbour entries may change state between the two captures (a probe
//! turns REACHABLE into STALE): a difference counts only if it persists
//! over a few attempts. Runs as root (skips otherwise, and calico-bgp
//! without BIRD 2); each lab has its own `cnlt…` prefix and is torn down
//! whatever happens.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cnictl_collect::bundle;
use cnictl_model::ClusterSnapshot;

mod common;
use common::*;

const ATTEMPTS: usize = 4;

/// The listings and the file stems they go to.
const LISTINGS: [(&str, &[&str]); 6] = [
    ("ip-link", &["ip", "-d", "link", "show"]),
    ("ip-addr", &["ip", "addr", "show"]),
    ("ip-route", &["ip", "-d", "route", "show", "table", "all"]),
    ("ip-neigh", &["ip", "neigh", "show"]),
    ("ip-rule", &["ip", "rule", "show"]),
    ("bridge-fdb", &["bridge", "fdb", "show"]),
];

struct Lab(String);

impl Lab {
    fn up(model: &str, n: u32) -> Self {
        let prefix = format!("cnlt{}x{n}", base36(std::process::id()));
        let _ = cnictl(&["lab", "down", "--prefix", &prefix]);
        let lab = Lab(prefix);
        cnictl_ok(&["lab", "up", model, "--prefix", &lab.0], 0);
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.0]);
    }
}

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

fn capture(netns: &str, argv: &[&str]) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", netns])
        .args(argv)
        .output()
        .expect("ip netns exec runs");
    assert!(
        o.status.success(),
        "{argv:?} in {netns}: {}",
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// The JSON bundle of the lab and, right after, its text twin.
fn record(lab: &Lab, dir: &Path) -> (ClusterSnapshot, ClusterSnapshot) {
    let json = dir.join("json");
    let d = json.to_str().unwrap();
    cnictl_ok(
        &["lab", "bundle", "-o", d, "--force", "--prefix", &lab.0],
        0,
    );
    let txt = dir.join("text");
    let _ = fs::remove_dir_all(&txt);
    copy_dir(&json, &txt);
    for n in 1..=3 {
        let node = txt.join(format!("nodes/node-{n}"));
        let netns = format!("{}-node-{n}", lab.0);
        for (stem, argv) in LISTINGS {
            fs::remove_file(node.join(format!("{stem}.json"))).unwrap();
            let ext = if n % 2 == 1 { "txt" } else { "json" };
            fs::write(node.join(format!("{stem}.{ext}")), capture(&netns, argv)).unwrap();
        }
    }
    let load = |p: &Path| bundle::load_dir(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (load(&json), load(&txt))
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

/// The JSON snapshot as the text form can carry it (the module doc's list).
fn as_text_carries(mut snap: ClusterSnapshot) -> ClusterSnapshot {
    for node in snap.nodes.values_mut() {
        for l in &mut node.links {
            // `link-netns NAME`: the peer's netns is named, its id not printed.
            l.peer_netnsid = None;
        }
    }
    snap.source.clear();
    snap
}

/// Node sections that differ, by name, for the failure message.
fn differences(a: &ClusterSnapshot, b: &ClusterSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (name, na) in &a.nodes {
        let Some(nb) = b.nodes.get(name) else {
            out.push(format!("{name}: missing from the text bundle"));
            continue;
        };
        let (ja, jb) = (
            serde_json::to_value(na).unwrap(),
            serde_json::to_value(nb).unwrap(),
        );
        for (k, v) in ja.as_object().unwrap() {
            if jb.get(k) != Some(v) {
                out.push(format!("{name}.{k}:\n  json {v}\n  text {}", jb[k]));
            }
        }
    }
    out
}

fn text_and_json_import_the_same(model: &'static str, n: u32) {
    if let Some(why) = skip_reason(model) {
        eprintln!("skipped {model}: {why}");
        return;
    }
    let lab = Lab::up(model, n);
    let scratch = tempfile::tempdir().unwrap();
    let mut diff = Vec::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        let (json, text) = record(&lab, scratch.path());
        assert!(text.notices.is_empty(), "{model}: {:?}", text.notices);
        assert!(json
            .nodes
            .values()
            .all(|n| n.links.iter().any(|l| l.peer_netnsid.is_some())));
        let (json, text) = (as_text_carries(json), as_text_carries(text));
        diff = differences(&json, &text);
        if diff.is_empty() {
            assert_eq!(json, text, "{model}");
            break;
        }
    }
    assert!(
        diff.is_empty(),
        "{model}: text and JSON differ:\n{}",
        diff.join("\n")
    );
}

#[test]
fn flannel_vxlan_text_dumps_import_as_their_json() {
    text_and_json_import_the_same("flannel-vxlan", 1);
}

#[test]
fn calico_bgp_text_dumps_import_as_their_json() {
    text_and_json_import_the_same("calico-bgp", 2);
}
