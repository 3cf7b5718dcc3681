//! Calico with VXLAN (no BGP): vxlan.calico (VNI 4096, UDP 4789), routes
//! `P via <peer tunnel IP> dev vxlan.calico onlink` programmed by Felix.

use super::calico_bgp::{CALICO_POD_FIX, CALICO_POD_SIDE, CALI_VETH};
use super::model::{self, CniModel};
use super::{DevMatch, Encap, Ipam, NextHop, Profile};

const VXLAN_CALICO: DevMatch = DevMatch {
    name: "vxlan.calico",
    prefix: true,
    kind: Some("vxlan"),
};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::CalicoVxlan,
    name: "calico-vxlan",
    devices: &[VXLAN_CALICO, CALI_VETH],
    encap: Encap::Vxlan {
        port: 4789,
        vni: 4096,
    },
    tunnel: Some(VXLAN_CALICO),
    next_hop: NextHop::TunnelAddrOnlink,
    pod_side: CALICO_POD_SIDE,
    ipam: Ipam::CalicoBlocks,
    bgp: false,
    tunnel_annotation: Some(model::CALICO_VXLAN_ADDR),
    route_fix: "restart calico-node on {node} (Felix programs VXLAN routes)",
    pod_fix: CALICO_POD_FIX,
};
