//! Docker's default bridge network (the pre-Kubernetes model): containers
//! on `docker0` with each host's own subnet (`--bip`), SNAT
//! (`MASQUERADE -s <subnet> ! -o docker0`) to leave the host and DNAT in
//! the `DOCKER` chain for published ports. No routes lead to another
//! host's containers: they are reached through that host's published ports
//! only, so there is no cross-node route to expect.

use super::model::CniModel;
use super::{DevMatch, Encap, Ipam, NextHop, PodSide, Profile};

pub(super) const PROFILE: Profile = Profile {
    model: CniModel::DockerBridge,
    name: "docker-bridge",
    devices: &[DevMatch {
        name: "docker0",
        prefix: false,
        kind: Some("bridge"),
    }],
    encap: Encap::None,
    tunnel: None,
    next_hop: NextHop::Isolated,
    pod_side: PodSide::Bridged {
        bridges: &["docker0"],
    },
    ipam: Ipam::PodCidr,
    bgp: false,
    tunnel_annotation: None,
    route_fix: "Docker's bridge network is local to each host: publish the port (docker run -p) and connect to <host IP>:<port>",
    pod_fix: "on {node}: ip link set docker0 up; ip link set <container veth> master docker0 — or restart the container {ns}/{name}",
};
