//! `cnictl model` on every fixture names the model the fixture is named
//! after (the longest model name its directory name starts with), and a
//! bundle whose nodes run different models is `mixed`, each node named.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::*;

/// Every model name `cnictl model` can print for a profile.
const MODELS: &[&str] = &[
    "flannel-vxlan",
    "flannel-host-gw",
    "calico-bgp",
    "calico-ipip",
    "calico-vxlan",
    "cilium-native",
    "cilium-vxlan",
    "bridge",
    "weave",
    "docker-bridge",
];

fn fixtures() -> Vec<PathBuf> {
    let dirs = fs::read_dir(repo().join("fixtures")).expect("fixtures/");
    let mut out: Vec<PathBuf> = dirs
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("k8s/nodes.json").is_file())
        .collect();
    out.sort();
    out
}

fn model(bundle: &Path) -> Value {
    let b = bundle.to_string_lossy().into_owned();
    let o = cnictl_ok(&["model", "--bundle", &b, "-o", "json"], 0);
    serde_json::from_slice(&o.stdout).expect("model JSON")
}

#[test]
fn every_fixture_is_named_after_its_model() {
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let named = MODELS
            .iter()
            .filter(|m| name.starts_with(*m))
            .max_by_key(|m| m.len());
        let want = named.unwrap_or_else(|| panic!("fixture {name} is named after no model"));
        let v = model(&f);
        assert_eq!(v["model"], *want, "{name}: {v:#}");
        for n in v["nodes"].as_array().unwrap() {
            assert_eq!(n["model"], *want, "{name}: {n:#}");
            assert!(
                !n["evidence"].as_array().unwrap().is_empty(),
                "{name}: {n:#}"
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A Flannel VXLAN cluster whose node-3 was moved to Calico (its dump from
/// the Calico fixture): mixed, with each node's own model and evidence.
#[test]
fn nodes_that_disagree_are_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    copy_dir(&repo().join("fixtures/flannel-vxlan"), &b);
    fs::remove_dir_all(b.join("nodes/node-3")).unwrap();
    copy_dir(
        &repo().join("fixtures/calico-bgp/nodes/node-3"),
        &b.join("nodes/node-3"),
    );
    let v = model(&b);
    assert_eq!(v["model"], "mixed", "{v:#}");
    let per: Vec<(&str, &str)> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["model"].as_str().unwrap()))
        .collect();
    let want = [
        ("node-1", "flannel-vxlan"),
        ("node-2", "flannel-vxlan"),
        ("node-3", "calico-bgp"),
    ];
    assert_eq!(per, want);
    let bs = b.to_string_lossy().into_owned();
    let o = cnictl(&["check", "--bundle", &bs, "-o", "json"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["model"], "mixed");
    let codes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"cni-model-mixed"), "{codes:?}");
}
