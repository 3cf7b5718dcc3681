//! Flannel with the VXLAN backend: flannel.1 (VNI 1, UDP 8472), pods on
//! cni0, routes `P via <peer VTEP> dev flannel.1 onlink`.

use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile, CNI_BRIDGES};

const FLANNEL_1: DevMatch = DevMatch {
    name: "flannel.",
    prefix: true,
    kind: Some("vxlan"),
};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::FlannelVxlan,
    name: "flannel-vxlan",
    devices: &[FLANNEL_1],
    encap: Encap::Vxlan { port: 8472, vni: 1 },
    tunnel: Some(FLANNEL_1),
    next_hop: NextHop::VtepOnlink,
    pod_side: PodSide::Bridged {
        bridges: CNI_BRIDGES,
    },
    ipam: Ipam::PodCidr,
    bgp: false,
    tunnel_annotation: None,
    route_fix: "restart the kube-flannel pod on {node} so it reprograms routes from the node leases",
    pod_fix: "on {node}: ip link set cni0 up; ip link set <pod veth> master cni0 — or kubectl delete pod -n {ns} {name}",
};
