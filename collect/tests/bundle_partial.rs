//! Bundles as people send them: without `k8s/` (node dumps alone, the
//! objects inferred and said so), and pod netns dumped under the container
//! runtime's name (`pods/cni-1a2b…/`), matched to their pod by address.

use std::fs;
use std::path::{Path, PathBuf};

use cnictl_collect::bundle::load_dir;
use cnictl_model::Notice;

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

fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&fixture(name), &dir);
    (tmp, dir)
}

#[test]
fn without_k8s_nodes_addresses_pod_cidrs_and_pods_are_inferred() {
    let (_t, dir) = copy("flannel-vxlan");
    let full = load_dir(&dir).unwrap();
    fs::remove_dir_all(dir.join("k8s")).unwrap();
    let snap = load_dir(&dir).unwrap();
    assert!(snap.k8s_inferred());
    for real in &full.k8s.nodes {
        let got = snap.k8s.node(&real.name).unwrap();
        assert_eq!(got.internal_ips, real.internal_ips, "{}", real.name);
        assert_eq!(got.pod_cidrs, real.pod_cidrs, "{}", real.name);
    }
    let mut pods: Vec<(String, Vec<std::net::IpAddr>)> = snap
        .k8s
        .pods
        .iter()
        .map(|p| (format!("{}/{}", p.namespace, p.name), p.ips.clone()))
        .collect();
    pods.sort();
    let mut real: Vec<_> = full
        .k8s
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .map(|p| (format!("{}/{}", p.namespace, p.name), p.ips.clone()))
        .collect();
    real.sort();
    assert_eq!(pods, real);
    assert!(snap.k8s.services.is_none() && snap.k8s.endpoint_slices.is_none());
    let notice = &snap.notices[0];
    assert_eq!(
        (notice.kind.as_str(), notice.path.as_str()),
        (Notice::K8S_INFERRED, "k8s/")
    );
    assert!(
        notice
            .message
            .contains("node node-1 (address 192.0.2.11, pod CIDR 10.244.1.0/24)"),
        "{notice}"
    );
    assert!(notice.message.contains("lab/collect-k8s.sh"), "{notice}");
}

#[test]
fn calico_nodes_get_no_pod_cidr_as_calico_ipam_gives_none() {
    let (_t, dir) = copy("calico-bgp");
    fs::remove_dir_all(dir.join("k8s")).unwrap();
    let snap = load_dir(&dir).unwrap();
    let n = snap.k8s.node("node-2").unwrap();
    assert_eq!(
        n.internal_ips,
        vec!["192.0.2.12".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(n.pod_cidrs.is_empty());
}

#[test]
fn a_k8s_dir_without_nodes_json_stays_an_error_naming_it() {
    let (_t, dir) = copy("flannel-vxlan");
    fs::remove_file(dir.join("k8s/nodes.json")).unwrap();
    let err = load_dir(&dir).unwrap_err();
    assert_eq!(err.errors[0].path, "k8s/nodes.json", "{err}");
}

#[test]
fn pod_netns_under_runtime_names_are_matched_by_address() {
    let (_t, dir) = copy("flannel-vxlan");
    let pods = dir.join("nodes/node-1/pods");
    fs::rename(pods.join("default_web-1"), pods.join("cni-1a2b3c4d-0000")).unwrap();
    let snap = load_dir(&dir).unwrap();
    let web = &snap.nodes["node-1"].pods["default/web-1"];
    assert_eq!(
        (web.namespace.as_str(), web.name.as_str()),
        ("default", "web-1")
    );
    assert!(web
        .addrs
        .iter()
        .any(|a| a.addr.addr().to_string() == "10.244.1.2"));
    assert!(snap.notices.is_empty(), "{:?}", snap.notices);
}

#[test]
fn a_runtime_named_netns_matching_no_pod_is_kept_under_its_name_and_said() {
    let (_t, dir) = copy("flannel-vxlan");
    let pods = dir.join("nodes/node-1/pods");
    fs::rename(pods.join("default_web-1"), pods.join("cni-ffff")).unwrap();
    let text = fs::read_to_string(dir.join("k8s/pods.json")).unwrap();
    fs::write(
        dir.join("k8s/pods.json"),
        text.replace("10.244.1.2", "10.244.1.99"),
    )
    .unwrap();
    let snap = load_dir(&dir).unwrap();
    assert!(!snap.nodes["node-1"].pods.contains_key("default/web-1"));
    assert!(snap.nodes["node-1"].pods.contains_key("netns/cni-ffff"));
    let n = snap
        .notices
        .iter()
        .find(|n| n.kind == Notice::POD_NETNS_UNMATCHED)
        .unwrap();
    assert_eq!(n.path, "nodes/node-1/pods/cni-ffff/");
    assert!(n.message.contains("10.244.1.2"), "{n}");
}

#[test]
fn netns_dirs_as_the_collectors_name_them_are_matched_too() {
    let (_t, dir) = copy("flannel-vxlan");
    let pods = dir.join("nodes/node-2/pods");
    fs::rename(pods.join("default_api-2"), pods.join("netns_cni-77aa")).unwrap();
    let snap = load_dir(&dir).unwrap();
    assert_eq!(snap.nodes["node-2"].pods["default/api-2"].name, "api-2");
    fs::remove_dir_all(dir.join("k8s")).unwrap();
    let snap = load_dir(&dir).unwrap();
    assert!(snap.nodes["node-2"].pods.contains_key("netns/cni-77aa"));
    assert!(
        !snap.k8s.pods.iter().any(|p| p.namespace == "netns"),
        "not a pod"
    );
}

#[test]
fn a_runtime_named_netns_beside_its_named_dump_is_an_error() {
    let (_t, dir) = copy("flannel-vxlan");
    let pods = dir.join("nodes/node-1/pods");
    copy_dir(&pods.join("default_web-1"), &pods.join("cni-dup"));
    let err = load_dir(&dir).unwrap_err().to_string();
    assert!(
        err.contains("nodes/node-1/pods/cni-dup/") && err.contains("default/web-1"),
        "{err}"
    );
}

#[test]
fn the_recorded_text_dump_fixture_reads_as_its_lab_state() {
    let snap = load_dir(&fixture("flannel-vxlan-text-dumps")).unwrap();
    assert_eq!(snap.nodes.len(), 3);
    let vx = snap.nodes["node-2"].link("flannel.1").unwrap();
    assert_eq!(vx.vxlan.as_ref().map(|v| (v.vni, v.port)), Some((1, 8472)));
    assert!(snap.notices.is_empty(), "{:?}", snap.notices);
}
