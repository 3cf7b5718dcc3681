//! Calico with BGP (no encapsulation): cali* veths with `/32 dev caliX`
//! routes, pods' default via 169.254.1.1 (proxy ARP), peers' blocks
//! `proto bird` via their node IP (recursively for other subnets).

use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile, CALICO_POD_GATEWAY};

/// The host ends of Calico's pod veths.
pub(super) const CALI_VETH: DevMatch = DevMatch {
    name: "cali",
    prefix: true,
    kind: Some("veth"),
};

pub(super) const CALICO_POD_SIDE: PodSide = PodSide::Routed {
    veth_prefix: "cali",
    gateway: CALICO_POD_GATEWAY,
};

pub(super) const CALICO_POD_FIX: &str = "restart calico-node on {node} (Felix re-adds `{ip} dev cali… scope link`), or kubectl delete pod -n {ns} {name} to re-create its veth";

pub(super) const BIRD_ROUTE_FIX: &str = "check `birdc show route` and `birdc show protocols` on {node}; restart calico-node there if BIRD has the route";

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::CalicoBgp,
    name: "calico-bgp",
    devices: &[CALI_VETH],
    encap: Encap::None,
    tunnel: None,
    next_hop: NextHop::NodeIpRecursive,
    pod_side: CALICO_POD_SIDE,
    ipam: Ipam::CalicoBlocks,
    bgp: true,
    tunnel_annotation: None,
    route_fix: BIRD_ROUTE_FIX,
    pod_fix: CALICO_POD_FIX,
};
