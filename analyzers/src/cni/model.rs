//! The model names and the node annotations their profiles read: plain
//! data the profiles and inference share (inference decides, profiles
//! describe; neither depends on the other's logic).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Ipam;

/// Flannel's node annotation that names the backend (`vxlan`, `host-gw`).
pub const FLANNEL_BACKEND_TYPE: &str = "flannel.alpha.coreos.com/backend-type";
/// Flannel's node annotation holding the node's underlay IP.
pub const FLANNEL_PUBLIC_IP: &str = "flannel.alpha.coreos.com/public-ip";
/// Flannel's node annotation holding `{"VNI":1,"VtepMAC":"…"}`.
pub const FLANNEL_BACKEND_DATA: &str = "flannel.alpha.coreos.com/backend-data";
/// Flannel's node annotation holding the node's IPv6 underlay IP (dual-stack).
pub const FLANNEL_PUBLIC_IPV6: &str = "flannel.alpha.coreos.com/public-ipv6";
/// Flannel's node annotation holding flannel-v6.1's `{"VNI":1,"VtepMAC":"…"}`
/// (flanneld v0.25 `BackendV6Data`, pkg/subnet/kube/annotations.go).
pub const FLANNEL_BACKEND_V6_DATA: &str = "flannel.alpha.coreos.com/backend-v6-data";
/// flanneld's IPv6 VXLAN device for VNI 1 (`flannel-v6.<VNI>`, v0.25
/// pkg/backend/vxlan/vxlan.go).
pub const FLANNEL_V6_DEV: &str = "flannel-v6.1";
/// Calico's node annotation with the node's underlay address and prefix.
pub const CALICO_IPV4_ADDRESS: &str = "projectcalico.org/IPv4Address";
/// Calico's node annotation with the node's IPIP tunnel address.
pub const CALICO_IPIP_ADDR: &str = "projectcalico.org/IPv4IPIPTunnelAddr";
/// Calico's node annotation with the node's VXLAN tunnel address.
pub const CALICO_VXLAN_ADDR: &str = "projectcalico.org/IPv4VXLANTunnelAddr";
/// Calico's node annotation with the node's VXLAN tunnel MAC (libcalico-go's
/// Kubernetes node conversion, `nodeBgpVXLANTunnelMACAddrAnnotation`).
pub const CALICO_VXLAN_MAC: &str = "projectcalico.org/VXLANTunnelMACAddr";
/// Cilium's node annotation with the node's pod CIDR (cluster-pool IPAM).
pub const CILIUM_POD_CIDR: &str = "network.cilium.io/ipv4-pod-cidr";

/// The dataplane models cnictl recognises. `as_str` gives the names used in
/// output, JSON and metrics (README "Models").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CniModel {
    FlannelVxlan,
    FlannelHostGw,
    CalicoBgp,
    CalicoIpip,
    CalicoVxlan,
    CiliumNative,
    CiliumVxlan,
    Bridge,
    Weave,
    DockerBridge,
    Unknown,
    Mixed,
}

impl CniModel {
    /// Every model, in a fixed order (metrics enumerate this).
    pub const ALL: &'static [CniModel] = &[
        CniModel::FlannelVxlan,
        CniModel::FlannelHostGw,
        CniModel::CalicoBgp,
        CniModel::CalicoIpip,
        CniModel::CalicoVxlan,
        CniModel::CiliumNative,
        CniModel::CiliumVxlan,
        CniModel::Bridge,
        CniModel::Weave,
        CniModel::DockerBridge,
        CniModel::Unknown,
        CniModel::Mixed,
    ];

    /// The name (README "Models"): the profile's, or `unknown` /
    /// `mixed`.
    pub fn as_str(self) -> &'static str {
        match (self.profile(), self) {
            (Some(p), _) => p.name,
            (None, CniModel::Mixed) => "mixed",
            (None, _) => "unknown",
        }
    }

    /// Parses a model name as `as_str` prints it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.as_str() == s)
    }

    /// Calico models: pod CIDRs are IPAM blocks.
    pub fn is_calico(self) -> bool {
        self.profile().is_some_and(|p| p.ipam == Ipam::CalicoBlocks)
    }

    /// Models whose routes BIRD programs (Calico's VXLAN mode runs no BGP).
    pub fn uses_bird(self) -> bool {
        self.profile().is_some_and(|p| p.bgp)
    }

    /// Models that forward pod traffic unencapsulated to the peer node's
    /// underlay IP, so peers must share an L2 segment (host-gw semantics).
    pub fn needs_l2_adjacency(self) -> bool {
        self.profile()
            .is_some_and(|p| p.next_hop.needs_l2_adjacency())
    }

    /// Bytes of outer headers the model adds to a pod packet on an IPv4
    /// underlay (the profile's encapsulation).
    pub fn encap_overhead(self) -> u32 {
        self.profile().map_or(0, |p| p.encap.overhead())
    }
}

impl fmt::Display for CniModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
