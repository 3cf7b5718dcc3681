//! Check: cilium-tunnel-missing
//!
//! In tunnel mode Cilium's eBPF, not the kernel's routes, picks the node a
//! pod's packet is encapsulated to: the ipcache entry of the destination
//! (its tunnel endpoint) or else the tunnel map entry of the destination's
//! pod CIDR ([`crate::cilium::tunnel_via`]). A node whose maps name no
//! node, or the wrong one, for a peer's pods cannot reach them although
//! every route looks right (an agent that missed the peer's CiliumNode or
//! CiliumEndpoints). Each remote pod (and each remote pod CIDR) is looked
//! up as bpf_lxc would; one finding per peer.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{NodeCx, Out};
use crate::cilium::{tunnel_mode, tunnel_via};
use crate::code::{Code, Input};
use crate::expected::NodeExpect;
use crate::finding::Severity;
use crate::infer::CniModel;

pub(crate) const CODE: Code = Code::CiliumTunnelMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let vxlan = cx.model == CniModel::CiliumVxlan;
    let node = cx.name();
    let c = match cx.node.cilium.as_ref().filter(|c| c.ipcache.is_some()) {
        Some(c) if tunnel_mode(c, vxlan) => c,
        Some(_) => return,
        None if vxlan => {
            out.skip_missing(CODE, node, Input::CiliumIpcache, "Cilium tunnel check");
            return;
        }
        None => return,
    };
    for peer in cx.exp.nodes.iter().filter(|p| p.name != node) {
        let wrong: Vec<String> = targets(cx, peer)
            .into_iter()
            .filter_map(|(ip, cidr, what)| {
                let via = tunnel_via(c, ip, Some(cidr));
                let want = peer.ip_for(&cidr)?;
                (via.endpoint() != Some(want)).then(|| format!("{what}: {}", via.describe()))
            })
            .collect();
        if !wrong.is_empty() {
            report(cx, peer, wrong, out);
        }
    }
}

/// The addresses to look up for `peer`: the first address of each of its
/// IPv4 pod CIDRs (the tunnel map's key) and its pods' IPs.
fn targets(cx: &NodeCx<'_>, peer: &NodeExpect) -> Vec<(IpAddr, IpNet, String)> {
    let mut out = Vec::new();
    for net in peer
        .pod_cidrs
        .iter()
        .map(|c| c.net)
        .filter(|n| n.addr().is_ipv4())
    {
        let first = net.hosts().next().unwrap_or(net.network());
        out.push((first, net, format!("pod CIDR {net}")));
        for p in cx
            .exp
            .pods_on(&peer.name)
            .iter()
            .filter(|p| !p.host_network)
        {
            for ip in p.ips.iter().filter(|ip| net.contains(*ip)) {
                out.push((*ip, net, format!("pod {}/{} {ip}", p.namespace, p.name)));
            }
        }
    }
    out
}

fn report(cx: &NodeCx<'_>, peer: &NodeExpect, evidence: Vec<String>, out: &mut Out) {
    let node = cx.name();
    let ip = peer.ip().map_or("?".to_string(), |i| i.to_string());
    let summary = format!(
        "{node}'s Cilium maps do not tunnel {} of {}'s destinations to {} ({ip}): its pods are unreachable from {node} whatever the routes say",
        evidence.len(),
        peer.name,
        peer.name
    );
    let hint = format!(
        "on {node}: compare `cilium-dbg bpf ipcache list` / `bpf tunnel list` with the CiliumNode of {}; restart the cilium agent on {node} so it resyncs its maps",
        peer.name
    );
    let f = out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
    f.peers = vec![peer.name.clone()];
}
