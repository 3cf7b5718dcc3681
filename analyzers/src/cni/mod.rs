//! CNI profiles: one file per dataplane model saying what its nodes look
//! like — the devices that recognise it, its encapsulation and overhead,
//! where routes to other nodes' pods point, how pods hang off the host —
//! so checks and the expected state read a profile instead of matching on
//! [`CniModel`]. Adding a model is a [`CniModel`] variant, one file here,
//! one line in [`PROFILES`], and the ordered recognition rule in
//! `infer.rs` (models share devices, so the order of the rules matters).

use std::net::Ipv4Addr;

use cnictl_model::{Link, NodeSnapshot};

use self::model::CniModel;

mod bridge;
mod calico_bgp;
mod calico_ipip;
mod calico_vxlan;
mod cilium_native;
mod cilium_vxlan;
mod docker_bridge;
mod flannel_host_gw;
mod flannel_vxlan;
pub mod model;
mod weave;

pub use weave::NOT_MODELLED as WEAVE_NOT_MODELLED;

/// Every model's profile (`unknown` and `mixed` have none).
pub const PROFILES: &[&Profile] = &[
    &flannel_vxlan::PROFILE,
    &flannel_host_gw::PROFILE,
    &calico_bgp::PROFILE,
    &calico_ipip::PROFILE,
    &calico_vxlan::PROFILE,
    &cilium_native::PROFILE,
    &cilium_vxlan::PROFILE,
    &bridge::PROFILE,
    &weave::PROFILE,
    &docker_bridge::PROFILE,
];

/// What one CNI model's nodes look like.
#[derive(Debug)]
pub struct Profile {
    pub model: CniModel,
    /// The stable model name (README "Models").
    pub name: &'static str,
    /// Devices whose presence recognises the model (see `infer.rs`).
    pub devices: &'static [DevMatch],
    pub encap: Encap,
    /// The tunnel device cnictl checks (MTU; for VXLAN also the FDB and
    /// neighbour entries). `None` where the model has none, or where its
    /// tunnel state lives elsewhere (Cilium's eBPF maps, Weave's router).
    pub tunnel: Option<DevMatch>,
    /// Where a route to another node's pod CIDR points.
    pub next_hop: NextHop,
    /// How a pod's veth attaches on the host.
    pub pod_side: PodSide,
    /// Where a node's pod CIDRs come from.
    pub ipam: Ipam,
    /// BIRD programs the routes over BGP.
    pub bgp: bool,
    /// Node annotation holding the node's tunnel address (`None`: Calico
    /// IPIP's, which also names a dump-less Calico node's address).
    pub tunnel_annotation: Option<&'static str>,
    /// What reprograms a missing route (`{node}` is the node's name).
    pub route_fix: &'static str,
    /// What restores a pod's host side (`{node}`, `{ip}`, `{ns}`, `{name}`).
    pub pod_fix: &'static str,
}

/// A device by name (or name prefix) and, when it matters, kind.
#[derive(Debug, Clone, Copy)]
pub struct DevMatch {
    pub name: &'static str,
    /// `name` is a prefix (`flannel.` matches flannel.1).
    pub prefix: bool,
    pub kind: Option<&'static str>,
}

impl DevMatch {
    pub fn matches(&self, l: &Link) -> bool {
        let named = match self.prefix {
            true => l.name.starts_with(self.name),
            false => l.name == self.name,
        };
        named && self.kind.is_none_or(|k| l.is_kind(k))
    }

    /// The matching device on the node, lowest name first if several.
    pub fn find<'n>(&self, node: &'n NodeSnapshot) -> Option<&'n Link> {
        let found = node.links.iter().filter(|l| self.matches(l));
        found.min_by(|a, b| a.name.cmp(&b.name))
    }
}

/// The encapsulation between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encap {
    None,
    Vxlan { port: u16, vni: u32 },
    Ipip,
}

impl Encap {
    /// Bytes of outer headers on an IPv4 underlay (VXLAN: IP 20 + UDP 8 +
    /// VXLAN 8 + Ethernet 14; IPIP: IP 20).
    pub fn overhead(self) -> u32 {
        match self {
            Encap::None => 0,
            Encap::Vxlan { .. } => 50,
            Encap::Ipip => 20,
        }
    }
}

/// The shape of the route to a peer node's pod CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// `via <peer node IP> dev <underlay>`: host-gw, peers must share L2.
    NodeIp,
    /// `via <peer node IP>`, or via the node's gateway toward the peer for
    /// peers on another subnet (BIRD's `gateway recursive`).
    NodeIpRecursive,
    /// `via <peer VTEP IP> dev <vxlan dev> onlink`; the VTEP IP is the
    /// network address of the peer's pod CIDR.
    VtepOnlink,
    /// `via <peer tunnel IP> dev <vxlan dev> onlink`, or direct to
    /// same-subnet peers.
    TunnelAddrOnlink,
    /// `via <peer node IP> dev tunl0 onlink`, or direct to same-subnet
    /// peers (CrossSubnet mode).
    NodeIpTunl0Onlink,
    /// `dev <device>`, any gateway.
    Device(&'static str),
    /// No route to other nodes' pods: the model's pod networks are local to
    /// each host (Docker's bridge; other hosts' containers are reached
    /// through published ports).
    Isolated,
}

impl NextHop {
    /// Unencapsulated to the peer's underlay IP: peers must share L2.
    pub fn needs_l2_adjacency(self) -> bool {
        self == NextHop::NodeIp
    }

    /// The next hop is resolved by ARP on the underlay.
    pub fn needs_adjacent_gateway(self) -> bool {
        matches!(self, NextHop::NodeIp | NextHop::NodeIpRecursive)
    }
}

/// How a pod's veth attaches on the host, and what the pod's default
/// route points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodSide {
    /// The host veth is a port of a bridge; the pod's default route is via
    /// the bridge's address (the pod CIDR's .1).
    Bridged { bridges: &'static [&'static str] },
    /// Each pod IP has its own `/32 dev <veth>` route; the pod's default is
    /// via `gateway`, which the host answers for by proxy ARP.
    Routed {
        veth_prefix: &'static str,
        gateway: Ipv4Addr,
    },
    /// Each pod IP routes to its veth or to a host router device (which
    /// may carry a gateway); the pod's default is via the router's address.
    RouterDevice {
        veth_prefix: &'static str,
        router: &'static str,
    },
}

impl PodSide {
    /// The host device a route to a local pod may name.
    pub fn is_pod_dev(self, dev: &str) -> bool {
        match self {
            PodSide::Bridged { bridges } => bridges.contains(&dev),
            PodSide::Routed { veth_prefix, .. } => dev.starts_with(veth_prefix),
            PodSide::RouterDevice {
                veth_prefix,
                router,
            } => dev.starts_with(veth_prefix) || dev == router,
        }
    }

    /// Routes to local pods may carry a gateway (Cilium's cilium_host).
    pub fn gateway_allowed(self) -> bool {
        matches!(self, PodSide::RouterDevice { .. })
    }
}

/// Where a node's pod CIDRs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipam {
    /// `spec.podCIDRs`.
    PodCidr,
    /// `spec.podCIDRs`, plus Cilium's `ipv4-pod-cidr` annotation.
    PodCidrOrCiliumAnnotation,
    /// Calico IPAM blocks: the node's own blackhole block routes (else
    /// `spec.podCIDRs`).
    CalicoBlocks,
}

/// Calico's pods' default gateway, answered by proxy ARP on every caliX.
pub const CALICO_POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The CNI bridges of the bridge-based models.
pub const CNI_BRIDGES: &[&str] = &["cni0", "cbr0"];

impl Profile {
    /// The node's VXLAN device, when the model encapsulates in VXLAN.
    pub fn vxlan_dev<'n>(&self, node: &'n NodeSnapshot) -> Option<&'n Link> {
        match self.encap {
            Encap::Vxlan { .. } => self.tunnel?.find(node),
            _ => None,
        }
    }

    /// The node's tunnel device, when the model has one cnictl checks.
    pub fn tunnel_dev<'n>(&self, node: &'n NodeSnapshot) -> Option<&'n Link> {
        self.tunnel?.find(node)
    }

    /// The annotation naming the node's tunnel address.
    pub fn tunnel_annotation(&self) -> &'static str {
        self.tunnel_annotation.unwrap_or(model::CALICO_IPIP_ADDR)
    }
}

/// `s` with every `{key}` replaced by its value.
pub fn fill(s: &str, vars: &[(&str, &str)]) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

impl CniModel {
    /// The model's profile (`None` for `unknown` and `mixed`).
    pub fn profile(self) -> Option<&'static Profile> {
        PROFILES.iter().copied().find(|p| p.model == self)
    }
}

/// The VXLAN device a model programs on the node, lowest name first if
/// several (`None` for models without one).
pub fn vxlan_dev(node: &NodeSnapshot, model: CniModel) -> Option<&Link> {
    model.profile()?.vxlan_dev(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_but_unknown_and_mixed_has_one_profile() {
        for m in CniModel::ALL {
            let n = PROFILES.iter().filter(|p| p.model == *m).count();
            let want = usize::from(!matches!(m, CniModel::Unknown | CniModel::Mixed));
            assert_eq!(n, want, "{m}");
        }
    }
}
