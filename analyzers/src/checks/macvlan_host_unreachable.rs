//! Check: macvlan-host-unreachable
//!
//! Pods on macvlan or ipvlan interfaces sit on the underlay beside their
//! node, and the classic trap is the node itself: the kernel does not pass
//! frames between a macvlan/ipvlan parent and its children, so the node
//! cannot reach its own pods through the parent (`ping` from the host
//! fails; kubelet's probes and hostNetwork clients with it) unless a
//! "shim" — a macvlan/ipvlan device on the same parent in the host — holds
//! the route to them. Pods on other nodes reach them fine.
//!
//! For every pod address on such an interface, the node's route to it must
//! leave through a shim on the same parent. An error when the address is
//! the pod's own (`status.podIPs`: kubelet probes it), a warning for an
//! address of a secondary network (Multus), which only host-originated
//! traffic uses.

use std::net::IpAddr;

use cnictl_model::{Link, PodNetns};
use ipnet::IpNet;

use super::fib::Lookup;
use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::MacvlanHostUnreachable;

const KINDS: [&str; 2] = ["macvlan", "ipvlan"];

/// A pod address on a macvlan/ipvlan child of a node device.
struct OnParent<'a> {
    pod: &'a PodNetns,
    child: &'a Link,
    parent: &'a Link,
    ip: IpAddr,
}

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for a in on_parents(cx) {
        if !via_shim(cx, &a) {
            report(cx, &a, out);
        }
    }
}

/// Every pod address held by a macvlan/ipvlan interface whose parent is a
/// device of this node (`link_index` in the pod's dump).
fn on_parents<'a>(cx: &NodeCx<'a>) -> Vec<OnParent<'a>> {
    let mut out = Vec::new();
    for pod in cx.node.pods.values() {
        for child in pod.links.iter().filter(|l| is_child(l)) {
            let Some(parent) = child.peer_ifindex.and_then(|i| cx.node.link_by_index(i)) else {
                continue;
            };
            let ips = pod.addrs.iter().filter(|a| a.dev == child.name);
            let ips = ips.map(|a| a.addr.addr()).filter(|ip| !is_link_local(ip));
            out.extend(ips.map(|ip| OnParent {
                pod,
                child,
                parent,
                ip,
            }));
        }
    }
    out
}

fn is_child(l: &Link) -> bool {
    KINDS.iter().any(|k| l.is_kind(k))
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => v.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// The node's route to the address leaves through a macvlan/ipvlan device
/// of the same parent (a shim).
fn via_shim(cx: &NodeCx<'_>, a: &OnParent<'_>) -> bool {
    let Lookup::Route(r) = cx.fib.lookup(&IpNet::from(a.ip)) else {
        return false;
    };
    let dev = r.dev.as_deref().and_then(|d| cx.link(d));
    dev.is_some_and(|d| is_child(d) && d.peer_ifindex == Some(a.parent.ifindex))
}

fn report(cx: &NodeCx<'_>, a: &OnParent<'_>, out: &mut Out) {
    let node = cx.name();
    let primary = cx.exp.pod_by_ip(a.ip).is_some();
    let (severity, who) = match primary {
        true => (
            Severity::Error,
            "kubelet's probes and hostNetwork clients fail",
        ),
        false => (Severity::Warning, "host-originated traffic to it fails"),
    };
    let kind = a.child.kind.as_deref().unwrap_or("macvlan");
    let summary = format!(
        "{node} cannot reach its own pod {}/{} at {} ({kind} on {}): the kernel passes no frames between a {kind} parent and its children, and no shim on {} routes to it; {who}",
        a.pod.namespace, a.pod.name, a.ip, a.parent.name, a.parent.name
    );
    let evidence = vec![
        format!(
            "pod {}/{}: {}",
            a.pod.namespace,
            a.pod.name,
            render::link(a.child)
        ),
        route_evidence(cx, a.ip),
    ];
    out.push(
        CODE,
        severity,
        Some(node),
        summary,
        evidence,
        hint(node, a, kind),
    )
    .peers = Vec::new();
}

fn route_evidence(cx: &NodeCx<'_>, ip: IpAddr) -> String {
    match cx.fib.lookup(&IpNet::from(ip)) {
        Lookup::Route(r) => format!("{} routes {ip} by: {}", cx.name(), render::route(r)),
        _ => format!("{} has no route to {ip}", cx.name()),
    }
}

fn hint(node: &str, a: &OnParent<'_>, kind: &str) -> String {
    let p = &a.parent.name;
    let mode = if kind == "ipvlan" {
        "mode l2"
    } else {
        "mode bridge"
    };
    format!(
        "on {node}: ip link add {p}-shim link {p} type {kind} {mode}; ip addr add <a free address>/32 dev {p}-shim; ip link set {p}-shim up; ip route add {}/32 dev {p}-shim (or the whole {kind} range)",
        a.ip
    )
}
