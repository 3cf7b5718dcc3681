//! The CNI knowledge the reference dataplane needs and a snapshot cannot
//! show: how pods attach to a node when their netns was not collected (the
//! pod-side default gateway) or sysctls were not (proxy ARP on the host
//! veth). The engine itself knows no CNI; this is the one place that maps
//! an inferred model to [`Hints`], to be folded into per-model profiles.

use std::net::{Ipv4Addr, Ipv6Addr};

use cnictl_dataplane::{Dataplane, Hints, PodAttachment};
use cnictl_model::ClusterSnapshot;

use crate::infer::{self, CniModel, Inference};

/// Calico's link-local gateway in every pod, answered by proxy ARP on the
/// host-side cali veth.
pub const CALICO_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// Calico's IPv6 pod gateway: the host veth's own link-local address, which
/// the kernel derives (EUI-64) from the MAC ee:ee:ee:ee:ee:ee the Calico
/// CNI plugin gives every host veth; the plugin routes the pod's default
/// via it (cni-plugin/pkg/dataplane/linux/dataplane_linux.go, v3.27).
pub const CALICO_GATEWAY_V6: Ipv6Addr =
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0xecee, 0xeeff, 0xfeee, 0xeeee);

/// How pods attach to a node running `model`; `None` when the model's
/// attachment needs no hint or is not known.
pub fn attachment(model: CniModel) -> Option<PodAttachment> {
    match model {
        CniModel::CalicoBgp | CniModel::CalicoIpip | CniModel::CalicoVxlan => {
            Some(PodAttachment::Routed {
                gateway_v4: Some(CALICO_GATEWAY_V4),
                gateway_v6: Some(CALICO_GATEWAY_V6),
                proxy_arp: true,
            })
        }
        CniModel::FlannelVxlan
        | CniModel::FlannelHostGw
        | CniModel::Bridge
        | CniModel::DockerBridge => Some(PodAttachment::Bridged),
        _ => None,
    }
}

/// Per-node hints from each node's inferred model.
pub fn hints(inference: &Inference) -> Hints {
    let nodes = inference
        .per_node
        .iter()
        .filter_map(|n| Some((n.node.clone(), attachment(n.model)?)))
        .collect();
    Hints {
        nodes,
        default: None,
    }
}

/// The dataplane of `snap`, with the hints of its inferred models.
pub fn dataplane(snap: &ClusterSnapshot) -> Dataplane {
    Dataplane::with_hints(snap, &hints(&infer::infer(snap)))
}

/// [`dataplane`] when the inference is already at hand.
pub fn dataplane_inferred(snap: &ClusterSnapshot, inference: &Inference) -> Dataplane {
    Dataplane::with_hints(snap, &hints(inference))
}
