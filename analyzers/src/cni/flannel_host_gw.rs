//! Flannel with the host-gw backend: pods on cni0, routes
//! `P via <peer node IP> dev eth0`; nodes must share an L2 segment.

use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile, CNI_BRIDGES};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::FlannelHostGw,
    name: "flannel-host-gw",
    devices: &[DevMatch {
        name: "cni0",
        prefix: false,
        kind: Some("bridge"),
    }],
    encap: Encap::None,
    tunnel: None,
    next_hop: NextHop::NodeIp,
    pod_side: PodSide::Bridged {
        bridges: CNI_BRIDGES,
    },
    ipam: Ipam::PodCidr,
    bgp: false,
    tunnel_annotation: None,
    route_fix: "restart the kube-flannel pod on {node} so it reprograms routes from the node leases",
    pod_fix: "on {node}: ip link set cni0 up; ip link set <pod veth> master cni0 — or kubectl delete pod -n {ns} {name}",
};
