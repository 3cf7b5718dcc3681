//! A plain CNI bridge (kubenet, the bridge plugin) with static or cloud
//! routes `P via <peer node IP>`: host-gw semantics without Flannel.

use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile, CNI_BRIDGES};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::Bridge,
    name: "bridge",
    devices: &[
        DevMatch {
            name: "cni0",
            prefix: false,
            kind: Some("bridge"),
        },
        DevMatch {
            name: "cbr0",
            prefix: false,
            kind: Some("bridge"),
        },
    ],
    encap: Encap::None,
    tunnel: None,
    next_hop: NextHop::NodeIp,
    pod_side: PodSide::Bridged {
        bridges: CNI_BRIDGES,
    },
    ipam: Ipam::PodCidr,
    bgp: false,
    tunnel_annotation: None,
    route_fix: "the node routes are static (kubenet/cloud routes): re-add them in the route controller",
    pod_fix: "on {node}: ip link set cni0 up; ip link set <pod veth> master cni0 — or kubectl delete pod -n {ns} {name}",
};
