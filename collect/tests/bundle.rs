//! The bundle loader and writer on a bundle assembled from the recorded
//! outputs in tests/data: layout, optional files, all-errors-at-once
//! reporting, refusals, memory source, and write → load round trips.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use cnictl_collect::bundle::{
    load, load_dir, BundleSource, DirSource, FileErrorKind, MemSource, SourceError,
};
use cnictl_collect::write::{write_dir, WriteError};
use cnictl_model::ClusterSnapshot;

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Bundle-relative path → contents of a two-node bundle from real dumps:
/// node-1 has every file and a pod dir, node-2 only the required ones.
fn recorded_files() -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |rel: &str, text: String| {
        f.insert(rel.to_string(), text);
    };
    put("k8s/nodes.json", data("k8s-nodes.json"));
    put("k8s/pods.json", data("k8s-pods.json"));
    put("k8s/services.json", data("k8s-services.json"));
    put("k8s/endpointslices.json", data("k8s-endpointslices.json"));
    let n1 = "nodes/node-1";
    put(&format!("{n1}/ip-link.json"), data("ip-link.json"));
    put(&format!("{n1}/ip-addr.json"), data("ip-addr.json"));
    put(&format!("{n1}/ip-route.json"), data("ip-route.json"));
    put(
        &format!("{n1}/ip-rule.json"),
        data("ip-rule.json") + &data("ip-rule-v6.json"),
    );
    put(&format!("{n1}/ip-neigh.json"), data("ip-neigh.json"));
    put(&format!("{n1}/bridge-fdb.json"), data("bridge-fdb.json"));
    put(&format!("{n1}/ipvsadm.txt"), data("ipvsadm.txt"));
    put(
        &format!("{n1}/bird-protocols.txt"),
        data("bird-protocols.txt"),
    );
    put(&format!("{n1}/bird-routes.txt"), data("bird-routes.txt"));
    put(&format!("{n1}/sysctl.txt"), data("sysctl.txt"));
    put(&format!("{n1}/unknown-extra.txt"), "ignored".into());
    for f in ["ip-link", "ip-addr", "ip-route"] {
        put(
            &format!("{n1}/pods/default_web-1/{f}.json"),
            data(&format!("pod-{f}.json")),
        );
    }
    let n2 = "nodes/node-2";
    put(&format!("{n2}/ip-link.json"), data("ip-link-odd.json"));
    put(&format!("{n2}/ip-addr.json"), data("pod-ip-addr.json"));
    put(&format!("{n2}/ip-route.json"), data("ip-route-old.json"));
    f
}

fn materialise(files: &BTreeMap<String, String>, dir: &Path) {
    for (rel, text) in files {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

fn without_source(mut s: ClusterSnapshot) -> ClusterSnapshot {
    s.source.clear();
    s
}

#[test]
fn loads_recorded_bundle_with_layout_rules() {
    let tmp = tempfile::tempdir().unwrap();
    materialise(&recorded_files(), tmp.path());
    let snap = load_dir(tmp.path()).unwrap();
    assert!(snap.source.starts_with("bundle:"));
    assert_eq!(snap.nodes.keys().collect::<Vec<_>>(), ["node-1", "node-2"]);
    let n1 = &snap.nodes["node-1"];
    assert_eq!(n1.name, "node-1");
    assert_eq!(n1.routes.len(), 51);
    assert!(n1
        .rules
        .as_ref()
        .unwrap()
        .iter()
        .any(|r| r.family == "inet6"));
    assert!(n1.neighbours.is_some() && n1.fdb.is_some() && n1.ipvs.is_some());
    let bgp = n1.bgp.as_ref().unwrap();
    assert!(bgp.routes.as_ref().is_some_and(|r| !r.is_empty()));
    assert_eq!(n1.sysctl("net.ipv4.ip_forward"), Some("1"));
    let pod = &n1.pods["default/web-1"];
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("default", "web-1")
    );
    assert!(pod.routes.iter().any(|r| r.dst.prefix_len() == 0));
    // node-2: optional files absent → not collected, never guessed
    let n2 = &snap.nodes["node-2"];
    assert_eq!(
        n2.not_collected(),
        [
            "ip-rule.json",
            "ip-neigh.json",
            "bridge-fdb.json",
            "ipvsadm.txt",
            "bird-protocols.txt",
            "sysctl.txt"
        ]
    );
    assert!(n2.pods.is_empty());
    // k8s: annotations filtered, optional files present
    let node1 = snap.k8s.node("node-1").unwrap();
    assert_eq!(node1.annotations.len(), 4);
    assert_eq!(node1.ready, Some(true));
    assert_eq!(snap.k8s.node("node-2").unwrap().annotations.len(), 2);
    assert_eq!(snap.k8s.pods.len(), 3);
    assert_eq!(snap.k8s.services.as_ref().unwrap().len(), 3);
    let slices = snap.k8s.endpoint_slices.as_ref().unwrap();
    assert_eq!(slices[0].service.as_deref(), Some("web"));
    assert_eq!(slices[0].endpoints[1].pod.as_deref(), Some("default/web-2"));
    assert!(!slices[0].endpoints[1].ready && slices[0].endpoints[2].ready);
    assert!(slices[1].endpoints.is_empty());
}

#[test]
fn snapshot_json_round_trip_of_loaded_bundle() {
    let snap = load(&MemSource::new("memory:test", recorded_files())).unwrap();
    let text = serde_json::to_string(&snap).unwrap();
    let back: ClusterSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(back, snap);
}

#[test]
fn memory_and_directory_sources_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let files = recorded_files();
    materialise(&files, tmp.path());
    let mem = load(&MemSource::new("memory:test", files)).unwrap();
    assert_eq!(mem.source, "memory:test");
    assert_eq!(
        without_source(mem),
        without_source(load_dir(tmp.path()).unwrap())
    );
}

#[test]
fn all_bad_files_are_reported_at_once() {
    let mut files = recorded_files();
    files.insert(
        "nodes/node-1/ip-route.json".into(),
        "[{\"dst\":\"10.0.0.0/8\"},\n {\"dst\":\"nope\"}]".into(),
    );
    files.insert(
        "nodes/node-1/ipvsadm.txt".into(),
        "TCP  10.0.0.1:80 rr\n  -> x Masq 1 0 0\n".into(),
    );
    files.insert(
        "nodes/node-1/pods/default_web-1/ip-addr.json".into(),
        "{".into(),
    );
    files.remove("nodes/node-2/ip-link.json");
    files.insert(
        "k8s/pods.json".into(),
        "{\"kind\":\"List\",\"items\":[{\"status\":{\"podIP\":7}}]}".into(),
    );
    let err = load(&MemSource::new("m", files)).unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "k8s/pods.json",
            "nodes/node-1/ip-route.json",
            "nodes/node-1/ipvsadm.txt",
            "nodes/node-1/pods/default_web-1/ip-addr.json",
            "nodes/node-2/ip-link.json",
        ]
    );
    let route = &err.errors[1];
    assert_eq!((route.line(), route.code()), (Some(2), "decode"));
    assert_eq!(err.errors[2].line(), Some(2));
    assert_eq!(err.errors[4].kind, FileErrorKind::Missing);
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 6, "{shown}");
    assert!(shown.contains("nodes/node-1/ip-route.json:2:"), "{shown}");
    assert!(
        shown.contains("nodes/node-2/ip-link.json: required file is missing"),
        "{shown}"
    );
}

#[test]
fn missing_k8s_and_nodes_are_named() {
    let err = load(&MemSource::new("m", BTreeMap::new())).unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["k8s/nodes.json", "k8s/pods.json", "nodes/"]);
    let tmp = tempfile::tempdir().unwrap();
    let err = load_dir(&tmp.path().join("absent")).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn refuses_escaping_symlinks_and_oversized_files() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.json"), "[]").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    materialise(&recorded_files(), tmp.path());
    let link = tmp.path().join("nodes/node-2/ip-rule.json");
    std::os::unix::fs::symlink(outside.path().join("secret.json"), &link).unwrap();
    // a symlink that stays inside the bundle is fine
    std::os::unix::fs::symlink(
        "../node-1/ip-neigh.json",
        tmp.path().join("nodes/node-2/ip-neigh.json"),
    )
    .unwrap();
    let err = load_dir(tmp.path()).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].path, "nodes/node-2/ip-rule.json");
    assert_eq!(
        err.errors[0].kind,
        FileErrorKind::Source(SourceError::Escapes)
    );
    fs::remove_file(&link).unwrap();
    let snap = load_dir(tmp.path()).unwrap();
    assert!(snap.nodes["node-2"].neighbours.is_some());

    let small = DirSource::new(tmp.path()).with_max_file_size(64);
    assert!(matches!(
        small.read("nodes/node-1/ip-route.json"),
        Err(SourceError::TooLarge { limit: 64, .. })
    ));
    let err = load(&small).unwrap_err();
    assert!(err
        .errors
        .iter()
        .all(|e| e.code() == "too_large" || e.code() == "decode"));
}

#[test]
fn writer_round_trips_the_recorded_bundle() {
    let snap = load(&MemSource::new("m", recorded_files())).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    write_dir(&snap, &out).unwrap();
    let back = load_dir(&out).unwrap();
    assert_eq!(without_source(back), without_source(snap.clone()));
    // and writing again over an earlier bundle replaces it wholesale
    let mut smaller = snap.clone();
    smaller.nodes.remove("node-2");
    write_dir(&smaller, &out).unwrap();
    let back = load_dir(&out).unwrap();
    assert_eq!(back.nodes.len(), 1);
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["bundle"],
        "temporary directories are cleaned up"
    );
}

#[test]
fn writer_refuses_foreign_directories_and_bad_names() {
    let snap = load(&MemSource::new("m", recorded_files())).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let err = write_dir(&snap, tmp.path()).unwrap_err();
    assert!(matches!(err, WriteError::NotABundle { .. }), "{err}");
    assert!(tmp.path().join("precious.txt").exists());
    let empty = tempfile::tempdir().unwrap();
    write_dir(&snap, empty.path()).unwrap();
    assert!(empty.path().join("k8s/nodes.json").is_file());
    let mut bad = snap;
    let n = bad.nodes.remove("node-1").unwrap();
    bad.nodes.insert("../evil".into(), n);
    let err = write_dir(&bad, &tmp.path().join("x")).unwrap_err();
    assert!(matches!(err, WriteError::BadName { .. }), "{err}");
}

#[test]
fn directory_listing_skips_files_and_dot_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    materialise(&recorded_files(), tmp.path());
    fs::create_dir_all(tmp.path().join("nodes/.tmp-partial")).unwrap();
    fs::write(tmp.path().join("nodes/README"), "x").unwrap();
    let src = DirSource::new(tmp.path());
    assert_eq!(src.subdirs("nodes").unwrap(), ["node-1", "node-2"]);
    assert_eq!(src.subdirs("nodes/node-9").unwrap(), Vec::<String>::new());
    assert_eq!(src.read("nodes/node-9/ip-link.json").unwrap(), None);
}

/// The netfilter dumps captured from the real tools
/// (formats/tests/data/netfilter), added to node-1 of the recorded bundle.
fn with_netfilter(mut files: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let nf = |name: &str| {
        let path = format!(
            "{}/../formats/tests/data/netfilter/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let n1 = "nodes/node-1";
    files.insert(
        format!("{n1}/iptables-save.txt"),
        nf("iptables-save-nft.txt"),
    );
    files.insert(
        format!("{n1}/iptables-legacy-save.txt"),
        nf("iptables-legacy-save.txt"),
    );
    files.insert(format!("{n1}/ipset-save.txt"), nf("ipset-save.txt"));
    files.insert(
        format!("{n1}/nft-ruleset.json"),
        nf("nft-ruleset-kube-proxy.json"),
    );
    files.insert(
        format!("{n1}/tool-versions.txt"),
        "iptables v1.8.9 (nf_tables)\nnftables v1.0.6 (Lester Gooch #5)\n".into(),
    );
    files
}

#[test]
fn netfilter_files_load_per_node_and_absence_means_not_collected() {
    use cnictl_model::netfilter::{Backend, Source};
    let snap = load(&MemSource::new("m", with_netfilter(recorded_files()))).unwrap();
    let nf = snap.nodes["node-1"].netfilter.as_ref().expect("collected");
    assert_eq!(
        nf.sources,
        [
            Source::IptablesSave,
            Source::IptablesLegacySave,
            Source::NftRuleset
        ]
    );
    let backends: Vec<Backend> = nf.tables.iter().map(|t| t.backend).collect();
    assert!(
        backends.contains(&Backend::Legacy)
            && backends.contains(&Backend::IptablesNft)
            && backends.contains(&Backend::Nftables)
    );
    assert_eq!(nf.ipsets.as_ref().map(Vec::len), Some(1));
    assert!(nf
        .tool_versions
        .as_deref()
        .unwrap()
        .starts_with("iptables v1.8.9"));
    assert_eq!(
        snap.nodes["node-2"].netfilter, None,
        "no file: not collected, not empty"
    );
}

#[test]
fn a_bad_netfilter_file_is_named_with_its_line() {
    let mut files = with_netfilter(recorded_files());
    files.insert(
        "nodes/node-1/iptables-save.txt".into(),
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.999 -j DROP\nCOMMIT\n".into(),
    );
    files.insert(
        "nodes/node-1/ipset-save.txt".into(),
        "add nope 1.2.3.4\n".into(),
    );
    files.insert(
        "nodes/node-1/nft-ruleset.json".into(),
        "{\"nftables\": [\n  {\"table\": {\"family\": \"ip\", \"name\": \"t\"}},\n  oops\n]}\n"
            .into(),
    );
    let err = load(&MemSource::new("m", files)).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("nodes/node-1/nft-ruleset.json:3:"),
        "{shown}"
    );
    assert!(
        shown.contains("nodes/node-1/iptables-save.txt:3:"),
        "{shown}"
    );
    assert!(shown.contains("an address or prefix"), "{shown}");
    assert!(shown.contains("nodes/node-1/ipset-save.txt:1:"), "{shown}");
}

#[test]
fn writer_keeps_every_netfilter_dump_ipsets_and_tool_versions() {
    use cnictl_model::netfilter::Source;
    let snap = load(&MemSource::new("m", with_netfilter(recorded_files()))).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    write_dir(&snap, &out).unwrap();
    let back = load_dir(&out).unwrap();
    let (was, now) = (
        snap.nodes["node-1"].netfilter.clone().unwrap(),
        back.nodes["node-1"].netfilter.clone().unwrap(),
    );
    // nft's JSON is written back as it was collected, so every table —
    // native nftables ones included — reads back the same.
    assert!(now.sources.contains(&Source::NftRuleset));
    assert_eq!(now, was);
}

#[test]
fn text_output_where_json_belongs_is_read_and_what_it_lacks_is_said() {
    let mut files = recorded_files();
    let key = files
        .keys()
        .find(|k| k.ends_with("/ip-route.json"))
        .cloned()
        .unwrap();
    // What `ip route` prints, pasted into a ticket.
    files.insert(
        key.clone(),
        "default via 192.0.2.1 dev eth0 proto static\n10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n".into(),
    );
    let snap = load(&MemSource::new("m", files.clone())).unwrap();
    let node = key.split('/').nth(1).unwrap();
    assert_eq!(snap.nodes[node].routes.len(), 2);
    let notice = snap.notices.iter().find(|n| n.path == key).unwrap();
    assert_eq!(notice.kind, cnictl_model::Notice::TEXT_DUMP);
    assert!(notice.message.contains("local table"), "{notice}");
    // A line the text reader cannot read: file, line, column, expectation.
    files.insert(
        key.clone(),
        "default via 192.0.2.1 dev eth0\n10.244.1.0/24 dve cni0\n".into(),
    );
    let err = load(&MemSource::new("m", files)).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{key}:2:15: expected a route attribute")),
        "{err}"
    );
    assert!(err.contains("\"dve\""), "{err}");
}

#[test]
fn text_files_load_as_the_json_files_do_and_both_at_once_is_an_error() {
    let json = recorded_files();
    let mut files = json.clone();
    let key = files
        .keys()
        .find(|k| k.ends_with("/ip-neigh.json"))
        .cloned()
        .unwrap();
    let neighbours = load(&MemSource::new("m", json.clone())).unwrap();
    let node = key.split('/').nth(1).unwrap();
    let text: String = neighbours.nodes[node]
        .neighbours
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| format!("{n}\n"))
        .collect();
    files.remove(&key);
    files.insert(key.replace(".json", ".txt"), text.clone());
    let snap = load(&MemSource::new("m", files.clone())).unwrap();
    assert_eq!(
        snap.nodes[node].neighbours,
        neighbours.nodes[node].neighbours
    );
    assert!(snap.notices.is_empty(), "{:?}", snap.notices);
    files.insert(key.clone(), json[&key].clone());
    let err = load(&MemSource::new("m", files)).unwrap_err().to_string();
    assert!(
        err.contains("ip-neigh.txt") && err.contains("keep one of the two"),
        "{err}"
    );
}

#[test]
fn calico_objects_load_write_and_name_their_errors() {
    let mut files = recorded_files();
    let pools = r#"{"kind":"List","items":[{"metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"10.244.0.0/16","blockSize":26}}]}"#;
    let peers = r#"{"kind":"List","items":[{"metadata":{"name":"rr"},"spec":{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}}]}"#;
    files.insert("k8s/ippools.json".into(), pools.into());
    files.insert("k8s/bgppeers.json".into(), peers.into());
    let snap = load(&MemSource::new("m", files.clone())).unwrap();
    let calico = &snap.k8s.calico;
    assert_eq!(calico.ip_pools.as_ref().map(Vec::len), Some(1));
    assert_eq!(calico.bgp_peers.as_ref().map(Vec::len), Some(1));
    assert_eq!(calico.bgp_configurations, None, "not collected");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    write_dir(&snap, &out).unwrap();
    assert_eq!(load_dir(&out).unwrap().k8s.calico, snap.k8s.calico);
    files.insert(
        "k8s/blockaffinities.json".into(),
        "{\"items\":[\n{\"spec\":{\"node\":\"node-1\",\"cidr\":\"10.244.0.0/99\"}}]}".into(),
    );
    let err = load(&MemSource::new("m", files)).unwrap_err();
    assert_eq!(err.errors[0].path, "k8s/blockaffinities.json");
    assert_eq!(err.errors[0].line(), Some(2));
}
