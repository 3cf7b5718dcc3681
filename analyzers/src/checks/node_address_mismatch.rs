//! Check: node-address-mismatch
//!
//! Every node tells its peers where to send the overlay: Flannel's
//! `public-ip` annotation (the peers' FDB entries and host-gw routes point
//! at it), Calico's `IPv4Address` annotation (its peers' BGP neighbour
//! address), the VXLAN device's `local` address and BIRD's BGP `Source
//! address`. When interface autodetection picks the wrong interface —
//! `docker0`, a second NIC — these differ from the node's InternalIP and
//! the peers send to an address they cannot reach: their FDB entries and
//! sessions look wrong one by one, while the fault is on this node.
//!
//! An address differing from the InternalIP of its family is an error when
//! the node holds it on a device other nodes cannot reach (a bridge with no
//! uplink port, loopback, a tunnel) or does not hold it at all; a warning
//! when it is on another interface of the node (a deliberate `--iface` is
//! possible: cnictl cannot tell the two apart from the node alone).

use std::net::IpAddr;

use cnictl_model::{BgpProtocol, Link};

use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;
use crate::infer::CniModel;

pub(crate) const CODE: Code = Code::NodeAddressMismatch;

/// One place the node states the address it speaks from.
struct Claim {
    addr: IpAddr,
    /// What states it, as the summary names it.
    what: String,
    evidence: String,
}

/// Where the node holds a claimed address.
enum Holder<'a> {
    /// No interface of the node holds it.
    Nowhere,
    /// A device other nodes cannot reach (bridge without uplink, lo, tunnel).
    LocalOnly(&'a Link),
    /// Another interface, or a secondary address of the underlay device.
    Interface(&'a str),
    /// The dump has no addresses: cannot tell.
    Unknown,
}

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(me) = cx.me else {
        return;
    };
    let mut claims = claims(cx);
    claims.retain(|c| internal_for(&me.internal_ips, c.addr).is_some_and(|ip| ip != c.addr));
    claims.sort_by_key(|c| c.addr);
    for group in claims.chunk_by(|a, b| a.addr == b.addr) {
        let internal = internal_for(&me.internal_ips, group[0].addr);
        report(cx, internal.unwrap_or(group[0].addr), group, out);
    }
}

/// The InternalIP of `addr`'s family, if the node has one.
fn internal_for(internal_ips: &[IpAddr], addr: IpAddr) -> Option<IpAddr> {
    let same = |ip: &&IpAddr| ip.is_ipv4() == addr.is_ipv4();
    internal_ips.iter().find(same).copied()
}

fn claims(cx: &NodeCx<'_>) -> Vec<Claim> {
    let mut v = annotation_claims(cx);
    v.extend(vxlan_claim(cx));
    let bgp = cx.node.bgp.iter().flat_map(|b| &b.protocols);
    v.extend(bgp.filter_map(bgp_claim));
    v
}

/// The CNI's node annotations that name the node's transport address.
fn annotation_claims(cx: &NodeCx<'_>) -> Vec<Claim> {
    let Some(me) = cx.me else {
        return Vec::new();
    };
    let claim = |(key, v): &(&str, String)| {
        let addr = v.split('/').next()?.parse().ok()?;
        let what = format!("annotation {key}");
        let evidence = format!("node/{} annotation {key}={v}", me.name);
        Some(Claim {
            addr,
            what,
            evidence,
        })
    };
    me.address_annotations.iter().filter_map(claim).collect()
}

/// The model's VXLAN device's `local` address.
fn vxlan_claim(cx: &NodeCx<'_>) -> Option<Claim> {
    let link = cx.link(cx.vxlan_dev?)?;
    let addr = link.vxlan.as_ref()?.local?;
    Some(Claim {
        addr,
        what: format!("{}'s VXLAN local address", link.name),
        evidence: render::link(link),
    })
}

/// The address an established BGP session speaks from.
fn bgp_claim(p: &BgpProtocol) -> Option<Claim> {
    let addr = p.source_address.filter(|_| p.is_bgp())?;
    Some(Claim {
        addr,
        what: format!("BGP session {}'s source address", p.name),
        evidence: render::bird_protocol(p),
    })
}

fn report(cx: &NodeCx<'_>, internal: IpAddr, group: &[Claim], out: &mut Out) {
    let addr = group[0].addr;
    let holder = holder(cx, addr);
    let (severity, why) = verdict(cx, &holder);
    let whats: Vec<&str> = group.iter().map(|c| c.what.as_str()).collect();
    let node = cx.name();
    let summary = format!(
        "{node} speaks to its peers from {addr}, not its InternalIP {internal} ({}): {why}",
        whats.join(", ")
    );
    let mut evidence: Vec<String> = group.iter().map(|c| c.evidence.clone()).collect();
    evidence.extend(holder_evidence(cx, &holder, addr));
    out.push(
        CODE,
        severity,
        Some(node),
        summary,
        evidence,
        hint(cx, internal),
    );
}

fn holder<'a>(cx: &NodeCx<'a>, addr: IpAddr) -> Holder<'a> {
    if cx.node.addrs.is_empty() {
        return Holder::Unknown;
    }
    let Some(a) = cx.node.addrs.iter().find(|a| a.addr.addr() == addr) else {
        return Holder::Nowhere;
    };
    match cx.link(&a.dev) {
        Some(l) if local_only(cx, l) => Holder::LocalOnly(l),
        _ => Holder::Interface(&a.dev),
    }
}

/// A device no other node can send to: loopback, a tunnel, or a bridge
/// none of whose ports leads off the node (docker0, cni0: only veths).
fn local_only(cx: &NodeCx<'_>, l: &Link) -> bool {
    match l.kind.as_deref() {
        _ if l.link_type.as_deref() == Some("loopback") => true,
        Some("vxlan" | "ipip" | "ip6tnl" | "sit" | "gre" | "wireguard") => true,
        Some("bridge") => !cx.node.links.iter().any(|p| is_uplink(cx, p, &l.name)),
        _ => false,
    }
}

/// A port of `bridge` that leads off the node: the underlay device, or
/// anything that is not a veth (a NIC, a bond, a VLAN).
fn is_uplink(cx: &NodeCx<'_>, port: &Link, bridge: &str) -> bool {
    port.master.as_deref() == Some(bridge)
        && (cx.underlay_dev() == Some(port.name.as_str()) || port.kind.is_none())
}

fn verdict(cx: &NodeCx<'_>, holder: &Holder<'_>) -> (Severity, String) {
    let node = cx.name();
    match holder {
        Holder::Nowhere => (
            Severity::Error,
            format!("no interface of {node} holds that address, so nothing sent to it arrives"),
        ),
        Holder::LocalOnly(l) => (
            Severity::Error,
            format!("it is on {}, which other nodes cannot reach", l.name),
        ),
        Holder::Interface(dev) => (Severity::Warning, interface_why(cx, dev)),
        Holder::Unknown => (
            Severity::Warning,
            format!(
                "{node}'s addresses were not collected (ip-addr.json): where it lives is unknown"
            ),
        ),
    }
}

fn interface_why(cx: &NodeCx<'_>, dev: &str) -> String {
    let under = cx.underlay_dev().unwrap_or("?");
    format!(
        "it is on {dev} (the InternalIP is on {under}); fine if the CNI was told to use it, \
         otherwise interface autodetection picked the wrong one"
    )
}

fn holder_evidence(cx: &NodeCx<'_>, holder: &Holder<'_>, addr: IpAddr) -> Vec<String> {
    match holder {
        Holder::LocalOnly(l) => vec![render::link(l)],
        Holder::Interface(dev) => cx.link(dev).map(render::link).into_iter().collect(),
        Holder::Nowhere => vec![format!("no `ip addr` entry holds {addr} on {}", cx.name())],
        Holder::Unknown => Vec::new(),
    }
}

/// How the CNI of the node's model is told its address.
fn hint(cx: &NodeCx<'_>, internal: IpAddr) -> String {
    let node = cx.name();
    let how = match cx.model {
        CniModel::FlannelVxlan | CniModel::FlannelHostGw => format!(
            "run flanneld with --iface=<the InternalIP's interface> or --public-ip={internal}, then restart it on {node}: it re-annotates the node and its peers reprogram their routes and FDB entries"
        ),
        CniModel::CalicoBgp | CniModel::CalicoIpip | CniModel::CalicoVxlan => format!(
            "set IP_AUTODETECTION_METHOD=kubernetes-internal-ip (or interface=<the InternalIP's interface>) on calico-node, then restart it on {node}"
        ),
        _ => format!("make the CNI on {node} use its InternalIP {internal} as its node address"),
    };
    how
}
