//! Check: vxlan-checksum-offload
//!
//! A long-running real-world failure: on kernels before 5.7, a VXLAN
//! device with TX checksum offload on sends overlay packets that netfilter
//! NATed (kube-proxy's masquerade of Service and NodePort traffic) with a
//! wrong outer UDP checksum; the receiving node drops them. Pod-to-pod
//! pings work, Service connections across nodes stall about 63 s (the SYN
//! retransmits) or time out. The upstream fix is in 5.7 ("netfilter: nat:
//! never update the UDP checksum when it's 0"); Calico v3.20+ (felix #2815)
//! turns the offload off itself on older kernels, the Flannel issue's
//! workaround does it by hand. References: flannel-io/flannel#1279,
//! projectcalico/calico#3145, kubernetes/kubernetes#88986.
//!
//! Known-bad combinations are a table ([`KNOWN_BAD`]), matched on the
//! device's `ethtool -k` listing and `uname -r`. A distribution kernel may
//! carry the fix as a backport: a warning, naming the kernel, not an error.

use cnictl_model::snapshot::kernel_version;
use cnictl_model::{DevFeatures, Link};

use super::{NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::VxlanChecksumOffload;

/// A feature that is buggy on a tunnel device of kernels before a fix.
struct KnownBad {
    /// Device kind it concerns (`vxlan`).
    kind: &'static str,
    feature: &'static str,
    /// The first (major, minor) with the fix.
    fixed_in: (u32, u32),
    /// What goes wrong, for the summary.
    effect: &'static str,
}

const KNOWN_BAD: &[KnownBad] = &[KnownBad {
    kind: "vxlan",
    feature: "tx-checksum-ip-generic",
    fixed_in: (5, 7),
    effect: "overlay packets NATed on this node (Service and NodePort traffic) leave with a bad UDP checksum and the receiving node drops them",
}];

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let tunnels: Vec<&Link> = KNOWN_BAD
        .iter()
        .flat_map(|b| {
            cx.node
                .links
                .iter()
                .filter(|l| l.kind.as_deref() == Some(b.kind))
        })
        .collect();
    if tunnels.is_empty() {
        return;
    }
    let node = cx.name();
    let (Some(devs), Some(kernel)) = (&cx.node.offloads, &cx.node.kernel) else {
        let missing = if cx.node.offloads.is_none() {
            Input::Ethtool
        } else {
            Input::Uname
        };
        out.skip_missing(CODE, node, missing, "VXLAN checksum offload check");
        return;
    };
    let Some(version) = kernel_version(kernel) else {
        let why = format!(
            "{node}'s uname.txt names no kernel version ({kernel}): checksum offload check skipped"
        );
        out.skip(CODE, Some(node), why);
        return;
    };
    for bad in KNOWN_BAD.iter().filter(|b| version < b.fixed_in) {
        for l in cx
            .node
            .links
            .iter()
            .filter(|l| l.kind.as_deref() == Some(bad.kind))
        {
            match devs.iter().find(|d| d.dev == l.name) {
                Some(d) if d.is_on(bad.feature) == Some(true) => report(cx, bad, d, kernel, out),
                Some(_) => {}
                None => out.skip(CODE, Some(node), no_listing(node, &l.name)),
            }
        }
    }
}

fn no_listing(node: &str, dev: &str) -> String {
    format!("{node}'s ethtool.txt has no listing for {dev}: its checksum offload not compared")
}

fn report(cx: &NodeCx<'_>, bad: &KnownBad, d: &DevFeatures, kernel: &str, out: &mut Out) {
    let node = cx.name();
    let (major, minor) = bad.fixed_in;
    let summary = format!(
        "{node}'s {} has {} on under kernel {kernel} (the fix is in {major}.{minor}, unless the distribution backported it): {}",
        d.dev, bad.feature, bad.effect
    );
    let evidence = vec![
        format!("ethtool -k {}: {}: on", d.dev, bad.feature),
        format!("uname -r: {kernel}"),
    ];
    let hint = format!(
        "on {node}: ethtool -K {} {} off (persist it, e.g. a udev rule or the CNI's own setting), or upgrade the kernel",
        d.dev, bad.feature
    );
    out.push(CODE, Severity::Warning, Some(node), summary, evidence, hint);
}
