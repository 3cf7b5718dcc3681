//! vxlan-checksum-offload: the known-bad kernel × offload combination.

#[path = "checks_builders.rs"]
mod builders;

use std::collections::BTreeMap;

use builders::*;
use cnictl_analyzers::{checks, Report, Severity};
use cnictl_model::snapshot::kernel_version;
use cnictl_model::{DevFeatures, Feature};

const CODE: &str = "vxlan-checksum-offload";

fn listing(dev: &str, generic_csum: bool) -> DevFeatures {
    let f = |on| Feature { on, fixed: false };
    DevFeatures {
        dev: dev.into(),
        features: BTreeMap::from([
            ("tx-checksumming".to_string(), f(generic_csum)),
            ("tx-checksum-ip-generic".to_string(), f(generic_csum)),
        ]),
    }
}

/// A 2-node Flannel VXLAN cluster whose node-1 runs `kernel` with the
/// checksum offload of flannel.1 on or off.
fn report(kernel: Option<&str>, offload_on: Option<bool>) -> Report {
    let mut snap = cluster("flannel-vxlan", 2);
    let n1 = node_mut(&mut snap, "node-1");
    n1.kernel = kernel.map(String::from);
    n1.offloads = offload_on.map(|on| vec![listing("flannel.1", on)]);
    checks::run(&snap)
}

fn hits(r: &Report) -> Vec<&cnictl_analyzers::Finding> {
    r.findings.iter().filter(|f| f.code == CODE).collect()
}

fn skipped(r: &Report) -> Vec<String> {
    let mine = r.skipped.iter().filter(|s| s.check == CODE);
    mine.map(|s| s.reason.clone()).collect()
}

#[test]
fn an_old_kernel_with_the_offload_on_is_reported_with_the_workaround() {
    let r = report(Some("5.4.0-42-generic"), Some(true));
    let f = hits(&r);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].node.as_deref(), Some("node-1"));
    assert!(f[0].summary.contains("flannel.1") && f[0].summary.contains("5.4.0-42-generic"));
    assert!(
        f[0].hint
            .contains("ethtool -K flannel.1 tx-checksum-ip-generic off"),
        "{}",
        f[0].hint
    );
}

#[test]
fn a_fixed_kernel_or_the_offload_off_is_clean() {
    for (kernel, on) in [
        ("5.7.0", true),
        ("6.1.0-18-amd64", true),
        ("4.19.0-6-amd64", false),
    ] {
        let r = report(Some(kernel), Some(on));
        assert!(hits(&r).is_empty(), "{kernel} {on}: {:#?}", r.findings);
    }
}

#[test]
fn missing_inputs_are_skipped_by_name() {
    let r = report(None, Some(true));
    assert!(hits(&r).is_empty());
    assert!(
        skipped(&r).iter().any(|s| s.contains("uname.txt")),
        "{:#?}",
        r.skipped
    );
    let r = report(Some("5.4.0"), None);
    assert!(
        skipped(&r).iter().any(|s| s.contains("ethtool.txt")),
        "{:#?}",
        r.skipped
    );
    // A listing of other devices only: flannel.1 not compared, said so.
    let mut snap = cluster("flannel-vxlan", 2);
    let n1 = node_mut(&mut snap, "node-1");
    n1.kernel = Some("5.4.0".into());
    n1.offloads = Some(vec![listing("eth0", true)]);
    let r = checks::run(&snap);
    assert!(hits(&r).is_empty());
    assert!(
        skipped(&r)
            .iter()
            .any(|s| s.contains("no listing for flannel.1")),
        "{:#?}",
        r.skipped
    );
}

#[test]
fn nodes_without_vxlan_devices_are_not_concerned() {
    let mut snap = cluster("calico-bgp", 2);
    let n1 = node_mut(&mut snap, "node-1");
    n1.kernel = Some("4.19.0".into());
    let r = checks::run(&snap);
    assert!(
        hits(&r).is_empty() && skipped(&r).is_empty(),
        "{:#?}",
        r.skipped
    );
}

#[test]
fn kernel_versions_compare_by_major_and_minor() {
    assert_eq!(kernel_version("5.4.0-42-generic"), Some((5, 4)));
    assert_eq!(kernel_version("6.18.44-fc-v1272"), Some((6, 18)));
    assert_eq!(kernel_version("4.18.0-305.el8.x86_64"), Some((4, 18)));
    assert_eq!(kernel_version("x"), None);
}
