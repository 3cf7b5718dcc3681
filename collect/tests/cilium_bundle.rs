//! The `cilium/` files of a bundle: read, written back, read again the
//! same; a bad file is an error naming it and its position; absent files
//! are "not collected".

use std::path::PathBuf;

use cnictl_collect::bundle::load_dir;
use cnictl_collect::write::write_dir;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

#[test]
fn cilium_state_round_trips_through_a_bundle() {
    let snap = load_dir(&fixture("cilium-vxlan")).expect("loads");
    let c = snap.nodes["node-1"].cilium.as_ref().expect("collected");
    assert!(c.ipcache.as_ref().is_some_and(|i| !i.is_empty()));
    assert_eq!(c.tunnel.as_ref().map(Vec::len), Some(2));
    assert_eq!(c.endpoints.as_ref().map(Vec::len), Some(3));
    let tmp = tempfile::tempdir().expect("tmp");
    write_dir(&snap, tmp.path()).expect("writes");
    let back = load_dir(tmp.path()).expect("reloads");
    for (name, node) in &snap.nodes {
        assert_eq!(back.nodes[name].cilium, node.cilium, "{name}");
    }
}

#[test]
fn a_bad_cilium_file_is_named_with_its_position_and_absent_ones_are_none() {
    let tmp = tempfile::tempdir().expect("tmp");
    let snap = load_dir(&fixture("flannel-host-gw")).expect("loads");
    assert!(snap.nodes.values().all(|n| n.cilium.is_none()));
    write_dir(&snap, tmp.path()).expect("writes");
    let dir = tmp.path().join("nodes/node-1/cilium");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("ipcache.json"),
        "{\n  \"10.0.0.0/8\": [\"x\"]\n}\n",
    )
    .expect("w");
    let err = load_dir(tmp.path()).expect_err("bad ipcache").to_string();
    assert!(
        err.contains("nodes/node-1/cilium/ipcache.json:2:3"),
        "{err}"
    );
    assert!(err.contains("identity=N"), "{err}");
}
