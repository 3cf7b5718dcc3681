//! Calico with IPIP: BGP-learned routes `P via <peer node IP> dev tunl0
//! onlink` (direct for same-subnet peers in CrossSubnet mode).

use super::calico_bgp::{BIRD_ROUTE_FIX, CALICO_POD_FIX, CALICO_POD_SIDE, CALI_VETH};
use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, Profile};

const TUNL0: DevMatch = DevMatch {
    name: "tunl0",
    prefix: false,
    kind: None,
};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::CalicoIpip,
    name: "calico-ipip",
    devices: &[TUNL0, CALI_VETH],
    encap: Encap::Ipip,
    tunnel: Some(TUNL0),
    next_hop: NextHop::NodeIpTunl0Onlink,
    pod_side: CALICO_POD_SIDE,
    ipam: Ipam::CalicoBlocks,
    bgp: true,
    tunnel_annotation: None,
    route_fix: BIRD_ROUTE_FIX,
    pod_fix: CALICO_POD_FIX,
};
