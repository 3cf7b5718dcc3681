//! Cilium in tunnel mode: cilium_vxlan (UDP 8472) driven by eBPF, routes
//! `P … dev cilium_host`. The tunnel map is eBPF, so no FDB is checked.

use super::cilium_native::{CILIUM_HOST, CILIUM_POD_SIDE, CILIUM_ROUTE_FIX, POD_FIX};
use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, Profile};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::CiliumVxlan,
    name: "cilium-vxlan",
    devices: &[
        CILIUM_HOST,
        DevMatch {
            name: "cilium_vxlan",
            prefix: false,
            kind: None,
        },
    ],
    encap: Encap::Vxlan { port: 8472, vni: 0 },
    tunnel: None,
    next_hop: NextHop::Device("cilium_host"),
    pod_side: CILIUM_POD_SIDE,
    ipam: Ipam::PodCidrOrCiliumAnnotation,
    bgp: false,
    tunnel_annotation: None,
    route_fix: CILIUM_ROUTE_FIX,
    pod_fix: POD_FIX,
};
