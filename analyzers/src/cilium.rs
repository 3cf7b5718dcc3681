//! What Cilium's own maps say about a destination, shared by the
//! `cilium-tunnel-missing` check and explain's Cilium path. Modelled on
//! bpf/bpf_lxc.c of Cilium v1.15 (tunnel mode): the ipcache lookup of the
//! destination gives its identity and, for a remote endpoint, the node to
//! encapsulate to (`info->tunnel_endpoint`); when it names none, the tunnel
//! map is looked up with the destination masked to the node's allocation
//! CIDR (`tunnel_key.ip4 = daddr & IPV4_MASK`). Native routing hands the
//! packet to the kernel's routes instead.

use std::net::IpAddr;

use cnictl_model::{Cilium, IpcacheEntry};
use ipnet::IpNet;

/// Where a node's Cilium sends a tunnelled packet for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelVia<'c> {
    /// The ipcache entry's tunnel endpoint.
    Ipcache(&'c IpcacheEntry, IpAddr),
    /// The tunnel map's entry for the destination's allocation CIDR.
    TunnelMap(IpAddr, IpAddr),
    /// Neither names a node: bpf_lxc drops or passes the packet to the
    /// stack, which has no route into the tunnel for it.
    Missing,
}

impl TunnelVia<'_> {
    /// The node IP the packet is encapsulated to.
    pub fn endpoint(&self) -> Option<IpAddr> {
        match self {
            TunnelVia::Ipcache(_, ip) | TunnelVia::TunnelMap(_, ip) => Some(*ip),
            TunnelVia::Missing => None,
        }
    }

    /// The map entry, as evidence.
    pub fn describe(&self) -> String {
        match self {
            TunnelVia::Ipcache(e, ip) => format!(
                "ipcache {} identity {} tunnelendpoint {ip}",
                e.prefix, e.identity
            ),
            TunnelVia::TunnelMap(k, ip) => format!("tunnel map {k} → {ip}"),
            TunnelVia::Missing => "no ipcache tunnel endpoint and no tunnel map entry".into(),
        }
    }
}

/// The tunnel target of `dst` (in allocation CIDR `cidr`, when known) on a
/// node whose Cilium state is `c`.
pub fn tunnel_via(c: &Cilium, dst: IpAddr, cidr: Option<IpNet>) -> TunnelVia<'_> {
    if let Some(e) = c.ipcache_lookup(dst) {
        if let Some(tep) = e.tunnel_endpoint {
            return TunnelVia::Ipcache(e, tep);
        }
    }
    let key = cidr.map_or(dst, |n| n.network());
    let hit = c
        .tunnel
        .as_deref()
        .and_then(|t| t.iter().find(|t| t.prefix == key));
    match hit {
        Some(t) => TunnelVia::TunnelMap(t.prefix, t.endpoint),
        None => TunnelVia::Missing,
    }
}

/// Whether the node's Cilium runs in tunnel mode: its status says so, or
/// (status not collected) the model does.
pub fn tunnel_mode(c: &Cilium, model_is_vxlan: bool) -> bool {
    match c
        .status
        .as_ref()
        .and_then(|s| s.inter_host_routing.as_deref())
    {
        Some(mode) => mode.eq_ignore_ascii_case("tunnel"),
        None => model_is_vxlan,
    }
}
