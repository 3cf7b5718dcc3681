//! Check: mtu-mismatch
//!
//! An encapsulating model adds outer headers (VXLAN 50 bytes, IPIP 20 on an
//! IPv4 underlay), so the tunnel device's MTU must be at most the underlay
//! MTU minus that overhead, and every pod-facing device (the CNI bridge, the
//! host ends of pod veths, the pods' own eth0 when collected) at most the
//! path MTU (tunnel MTU, or the underlay MTU for unencapsulated models).
//! Otherwise full-size packets with DF set are dropped — often silently,
//! the classic "ping works, TLS hangs": error.
//!
//! One exception, as the kernel behaves: a VXLAN device with `df unset`
//! (the default, and what a dump without the `df` field means) sends its
//! outer packets without DF, so an inner packet that fits the tunnel MTU
//! but not the underlay is fragmented on the underlay and delivered. That
//! tunnel finding is a warning saying so (fragments cost throughput and
//! some underlays drop them), and the path MTU pods see is the tunnel's.
//! `df set` and `df inherit` (DF copied from the inner packet) drop: error.
//! IPIP copies the inner DF as `inherit` does.

use cnictl_model::{Link, VxlanDf};

use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::MtuMismatch;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(ul) = cx.underlay_dev().and_then(|d| cx.link(d)) else {
        return;
    };
    // An IPv6 outer header is 20 bytes longer than the IPv4 one.
    let v6 = cx.me.and_then(|m| m.ip()).is_some_and(|ip| ip.is_ipv6());
    let overhead = match cx.model.encap_overhead() {
        0 => 0,
        o if v6 => o + 20,
        o => o,
    };
    let tunnel = tunnel_dev(cx);
    if let Some(t) = tunnel {
        if t.mtu + overhead > ul.mtu {
            tunnel_finding(cx, t, ul, overhead, out);
        }
    }
    let path_mtu = match tunnel {
        Some(t) if fragments_outer(t) => t.mtu,
        Some(t) => t.mtu.min(ul.mtu.saturating_sub(overhead)),
        None => ul.mtu.saturating_sub(overhead),
    };
    pod_facing(cx, ul, tunnel, path_mtu, out);
}

fn tunnel_dev<'e>(cx: &NodeCx<'e>) -> Option<&'e Link> {
    cx.model.profile()?.tunnel_dev(cx.node)
}

/// A VXLAN device whose outer packets carry no DF: `df unset`, or not
/// reported (kernels before 5.2 always sent them so).
fn fragments_outer(t: &Link) -> bool {
    t.vxlan
        .as_ref()
        .is_some_and(|v| !VxlanDf::outer(v.df, true))
}

fn tunnel_finding(cx: &NodeCx<'_>, t: &Link, ul: &Link, overhead: u32, out: &mut Out) {
    let want = ul.mtu.saturating_sub(overhead);
    let (severity, effect) = if fragments_outer(t) {
        let e = format!(
            ": {} sends its outer packets without DF (df unset), so larger ones are fragmented on {} and delivered",
            t.name, ul.name
        );
        (Severity::Warning, e)
    } else {
        let e = ": larger packets with DF set are dropped".to_string();
        (Severity::Error, e)
    };
    out.push(
        CODE,
        severity,
        Some(cx.name()),
        format!(
            "{} mtu {} + {overhead} bytes of {} encapsulation exceeds {} mtu {} on {}{effect}",
            t.name,
            t.mtu,
            cx.model,
            ul.name,
            ul.mtu,
            cx.name()
        ),
        vec![render::link(t), render::link(ul)],
        format!(
            "on {}: ip link set {} mtu {want} (and set the CNI's MTU setting to {want} so it persists)",
            cx.name(),
            t.name
        ),
    );
}

/// Devices pods send through: the bridge, pod veth host ends, pods' eth0.
fn pod_facing(cx: &NodeCx<'_>, ul: &Link, tunnel: Option<&Link>, path_mtu: u32, out: &mut Out) {
    let mut over = too_big(cx, path_mtu);
    if over.is_empty() {
        return;
    }
    over.sort();
    let names: Vec<&str> = over.iter().take(3).map(|(n, _)| n.as_str()).collect();
    let more = if over.len() > 3 { ", …" } else { "" };
    let via = tunnel.map_or(&ul.name, |t| &t.name);
    let summary = format!(
        "{} pod-facing device(s) on {} ({}{more}) have an MTU above the {path_mtu} bytes the path via {via} carries",
        over.len(),
        cx.name(),
        names.join(", "),
    );
    let mut evidence: Vec<String> = tunnel.iter().map(|t| render::link(t)).collect();
    evidence.push(render::link(ul));
    evidence.extend(render::capped(
        over.into_iter().map(|(_, l)| l).collect(),
        10,
    ));
    let hint = format!(
        "set the CNI's MTU to {path_mtu} (flannel: FLANNEL_MTU / calico: veth_mtu in calico-config / cilium: --mtu) and recreate the pods on {}",
        cx.name()
    );
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint,
    );
}

/// (name, rendered link) of every pod-facing device, on the host and in
/// the collected pod netns, whose MTU exceeds the path's.
fn too_big(cx: &NodeCx<'_>, path_mtu: u32) -> Vec<(String, String)> {
    let host = cx
        .node
        .links
        .iter()
        .filter(|l| is_pod_facing(l) && l.mtu > path_mtu);
    let mut over: Vec<(String, String)> = host.map(|l| (l.name.clone(), render::link(l))).collect();
    for (key, pod) in &cx.node.pods {
        // Only devices that carry traffic: a kernel with ipip loaded puts a
        // DOWN tunl0 (MTU 1480) in every pod netns.
        let carrying = pod
            .links
            .iter()
            .filter(|l| l.name != "lo" && l.is_up() && l.mtu > path_mtu);
        over.extend(carrying.map(|l| {
            (
                format!("{key}:{}", l.name),
                format!("pod/{key} {}", render::link(l)),
            )
        }));
    }
    over
}

fn is_pod_facing(l: &Link) -> bool {
    let n = l.name.as_str();
    matches!(n, "cni0" | "cbr0")
        || (n.starts_with("cali") && l.is_kind("veth"))
        || (n.starts_with("lxc") && n != "lxc_health")
        || (l.is_kind("veth") && matches!(l.master.as_deref(), Some("cni0" | "cbr0" | "weave")))
}
