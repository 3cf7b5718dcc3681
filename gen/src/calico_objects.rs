//! Calico's custom resources for a generated cluster, as a cluster set up
//! per Calico's docs (v3.27) holds them: one IPPool over the pod range
//! with /26 blocks, a BlockAffinity per block, and above the full mesh's
//! limit the route-reflector guide's objects — BGPConfiguration `default`
//! with the mesh off, one BGPPeer peering every node with the nodes
//! labelled `route-reflector=true`, and those nodes annotated with a
//! RouteReflectorClusterID. With them, `check` derives the sessions it
//! expects from the objects, as it does on a real cluster.

use cnictl_model::{BgpConfiguration, BgpPeer, BlockAffinity, CalicoObjects, IpPool, K8sNode};
use ipnet::{IpNet, Ipv4Net};

use crate::calico::{is_reflector, reflected, AS};
use crate::plan::Plan;
use crate::GenModel;

/// The cluster ID every generated reflector shares (Calico's example).
const RR_CLUSTER_ID: &str = "244.0.0.1";
/// The label the BGPPeer selects reflectors by.
const RR_LABEL: &str = "route-reflector";

/// Calico's objects, empty for the other models.
pub fn objects(plan: &Plan) -> CalicoObjects {
    if !plan.is_calico() {
        return CalicoObjects::default();
    }
    let ipam = CalicoObjects {
        ip_pools: Some(vec![ip_pool(plan)]),
        block_affinities: Some(affinities(plan)),
        ..CalicoObjects::default()
    };
    if !reflected(plan) {
        return ipam;
    }
    CalicoObjects {
        bgp_configurations: Some(vec![BgpConfiguration {
            name: "default".into(),
            node_to_node_mesh_enabled: Some(false),
            as_number: Some(AS),
        }]),
        bgp_peers: Some(vec![BgpPeer {
            name: "peer-with-route-reflectors".into(),
            node_selector: Some("all()".into()),
            peer_selector: Some(format!("{RR_LABEL} == 'true'")),
            ..BgpPeer::default()
        }]),
        ..ipam
    }
}

/// The label and annotation that make node `i` a reflector.
pub fn mark_reflector(plan: &Plan, i: usize, node: &mut K8sNode) {
    if is_reflector(plan, i) {
        node.labels.insert(RR_LABEL.into(), "true".into());
        let key = "projectcalico.org/RouteReflectorClusterID";
        node.annotations.insert(key.into(), RR_CLUSTER_ID.into());
    }
}

fn ip_pool(plan: &Plan) -> IpPool {
    let ipip = plan.model() == GenModel::CalicoIpip;
    let vxlan = plan.model() == GenModel::CalicoVxlan;
    let mode = |on: bool| Some(if on { "Always" } else { "Never" }.to_string());
    IpPool {
        name: "default-ipv4-ippool".into(),
        cidr: IpNet::V4(plan.pod_range),
        block_size: Some(26),
        ipip_mode: mode(ipip),
        vxlan_mode: mode(vxlan),
        nat_outgoing: true,
        disabled: false,
        node_selector: Some("all()".into()),
    }
}

/// One confirmed affinity per block, named as Calico names them
/// (`<node>-<block with dashes>`).
fn affinities(plan: &Plan) -> Vec<BlockAffinity> {
    let per_node = |i| plan.node_blocks(i).into_iter().map(move |b| (i, b));
    (0..plan.spec.nodes)
        .flat_map(per_node)
        .map(|(i, b)| affinity(plan, i, b))
        .collect()
}

fn affinity(plan: &Plan, i: usize, block: Ipv4Net) -> BlockAffinity {
    let node = plan.node_name(i);
    BlockAffinity {
        name: format!("{node}-{}", block.to_string().replace(['.', '/'], "-")),
        node,
        cidr: IpNet::V4(block),
        state: "confirmed".into(),
        deleted: false,
    }
}
