//! Cilium with native routing: lxc* endpoint veths, cilium_host as the
//! pods' router, routes `P via <peer node IP>` (auto-direct-node-routes).

use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile};

pub(super) const CILIUM_HOST: DevMatch = DevMatch {
    name: "cilium_host",
    prefix: false,
    kind: None,
};

pub(super) const CILIUM_POD_SIDE: PodSide = PodSide::RouterDevice {
    veth_prefix: "lxc",
    router: "cilium_host",
};

pub(super) const CILIUM_ROUTE_FIX: &str =
    "restart the cilium agent on {node} (auto-direct-node-routes / tunnel routes)";

pub(super) const POD_FIX: &str =
    "kubectl delete pod -n {ns} {name} so the CNI re-creates its interface";

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::CiliumNative,
    name: "cilium-native",
    devices: &[CILIUM_HOST],
    encap: Encap::None,
    tunnel: None,
    next_hop: NextHop::NodeIp,
    pod_side: CILIUM_POD_SIDE,
    ipam: Ipam::PodCidrOrCiliumAnnotation,
    bgp: false,
    tunnel_annotation: None,
    route_fix: CILIUM_ROUTE_FIX,
    pod_fix: POD_FIX,
};
