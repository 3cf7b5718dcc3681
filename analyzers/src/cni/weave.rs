//! Weave Net: the weave bridge, fast datapath over vxlan-6784 (UDP 6784)
//! run by the weave router, routes `P dev weave`.

use super::cilium_native::POD_FIX;
use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile};

/// What cnictl does not model of Weave: said by `model`, `check` and
/// `explain`, so a clean report is not read as a checked overlay.
pub const NOT_MODELLED: &str = "Weave's forwarding between nodes is the weave router's (fast datapath: the kernel's Open vSwitch datapath over vxlan-6784; sleeve: userspace UDP 6783); cnictl does not model it, so explain stops at the weave bridge and no check covers the overlay";

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::Weave,
    name: "weave",
    devices: &[
        DevMatch {
            name: "weave",
            prefix: false,
            kind: None,
        },
        DevMatch {
            name: "vxlan-6784",
            prefix: false,
            kind: None,
        },
    ],
    encap: Encap::Vxlan { port: 6784, vni: 0 },
    tunnel: None,
    next_hop: NextHop::Device("weave"),
    pod_side: PodSide::Bridged {
        bridges: &["weave"],
    },
    ipam: Ipam::PodCidr,
    bgp: false,
    tunnel_annotation: None,
    route_fix: "restart the weave pod on {node}",
    pod_fix: POD_FIX,
};
