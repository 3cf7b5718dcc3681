//! Node-local checking, measured on every recorded fixture: a node's
//! findings when `check` sees only that node's dump beside the cluster's
//! objects, against its findings when `check` sees every node. This is
//! what lets an agent check its own node (and `check` stream a large
//! bundle node by node) without the other nodes' dumps.
//!
//! A node-local run must never report what the whole run does not (no
//! finding out of missing context). The reverse still happens for Calico:
//! which blocks and VTEPs a peer owns is read from the peer's own dump
//! (its blackhole routes, its `vxlan.calico`), not from the objects, so
//! alone a node cannot miss a peer's route. `STILL_CLUSTER_WIDE` lists
//! exactly those; a new check that needs other nodes' dumps fails here
//! until it is listed (or reads the objects instead).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cnictl_analyzers::{checks, Finding};
use cnictl_model::ClusterSnapshot;

/// Codes whose node findings still need the peers' dumps, and the model
/// prefix of the fixtures where they do.
const STILL_CLUSTER_WIDE: &[(&str, &str)] = &[
    ("calico-", "bgp-route-missing"),
    ("calico-", "missing-pod-route"),
    ("calico-vxlan", "vxlan-fdb-missing"),
    ("calico-vxlan", "vxlan-neigh-missing"),
    ("calico-vxlan", "wrong-next-hop"),
];

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("nodes").is_dir())
        .collect();
    out.sort();
    out
}

fn key(f: &Finding) -> String {
    format!("{} {:?}: {}", f.code, f.node, f.summary)
}

/// Node findings of the whole run.
fn whole(snap: &ClusterSnapshot) -> BTreeSet<String> {
    let r = checks::run(snap);
    r.findings
        .iter()
        .filter(|f| f.node.is_some())
        .map(key)
        .collect()
}

/// Each node's findings about itself with only its dump loaded.
fn node_local(snap: &ClusterSnapshot) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in snap.nodes.keys() {
        let mut one = snap.clone();
        one.nodes.retain(|n, _| n == name);
        let r = checks::run(&one);
        let own = r.findings.iter().filter(|f| f.node.as_ref() == Some(name));
        out.extend(own.map(key));
    }
    out
}

fn excused(fixture: &str, finding: &str) -> bool {
    STILL_CLUSTER_WIDE
        .iter()
        .any(|(model, code)| fixture.starts_with(model) && finding.starts_with(&format!("{code} ")))
}

#[test]
fn node_local_findings_equal_the_whole_runs_on_every_fixture() {
    let mut bad = Vec::new();
    let mut compared = 0;
    for dir in fixtures() {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
        let (all, local) = (whole(&snap), node_local(&snap));
        compared += 1;
        for extra in local.difference(&all) {
            bad.push(format!("{name}: only node-local: {extra}"));
        }
        let missing = all.difference(&local).filter(|f| !excused(&name, f));
        bad.extend(missing.map(|f| format!("{name}: only with every node: {f}")));
    }
    assert!(compared >= 40, "{compared} fixtures");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The exceptions are real: each still shows on some fixture (drop it
/// from the list once the check reads the objects instead).
#[test]
fn every_exception_is_still_needed() {
    let mut seen: BTreeSet<&(&str, &str)> = BTreeSet::new();
    for dir in fixtures() {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
        let local = node_local(&snap);
        for f in whole(&snap).difference(&local) {
            let hit = STILL_CLUSTER_WIDE
                .iter()
                .find(|(m, c)| name.starts_with(m) && f.starts_with(&format!("{c} ")));
            seen.extend(hit);
        }
    }
    let unused: Vec<_> = STILL_CLUSTER_WIDE
        .iter()
        .filter(|e| !seen.contains(e))
        .collect();
    assert!(unused.is_empty(), "no longer needed: {unused:?}");
}
