//! A calico-bgp lab with route reflectors (`lab up calico-bgp --reflectors
//! N`): nodes 1..=N reflect, the rest are their clients; the node-to-node
//! mesh is off. Calico's objects for it, as a cluster configured per
//! Calico's route-reflector guide (v3.27) holds them: the reflectors carry
//! `projectcalico.org/RouteReflectorClusterID` and the label
//! `route-reflector=true`, BGPConfiguration `default` disables the mesh, one
//! BGPPeer peers every node with the reflectors; the IPPool and one
//! BlockAffinity per node match the lab's /26 blocks.

use cnictl_model::{BgpConfiguration, BgpPeer, BlockAffinity, CalicoObjects, IpPool, K8sNode};
use ipnet::{IpNet, Ipv4Net};

use crate::lab::{LabError, LabPlan};
use crate::GenModel;

/// The cluster ID every lab reflector shares (Calico's documented example).
pub const RR_CLUSTER_ID: &str = "244.0.0.1";
/// The label the lab's BGPPeer selects reflectors by.
pub const RR_LABEL: &str = "route-reflector";

impl LabPlan {
    /// The same lab with `n` route reflectors (0: the full mesh).
    pub fn with_reflectors(mut self, n: u32) -> Result<LabPlan, LabError> {
        if n > 0 && (self.model != GenModel::CalicoBgp || n >= self.nodes) {
            return Err(LabError::Reflectors(n, self.nodes));
        }
        self.reflectors = n;
        Ok(self)
    }

    /// Whether node n is a route reflector.
    pub fn is_reflector(&self, n: u32) -> bool {
        n <= self.reflectors
    }

    /// Labels and annotations that make node n a reflector.
    pub(crate) fn mark_reflector(&self, node: &mut K8sNode, n: u32) {
        if self.is_reflector(n) {
            node.labels.insert(RR_LABEL.into(), "true".into());
            let key = "projectcalico.org/RouteReflectorClusterID";
            node.annotations.insert(key.into(), RR_CLUSTER_ID.into());
        }
    }

    /// Calico's custom resources: IPAM (IPPool, BlockAffinities) in every
    /// calico-bgp lab, the BGP topology objects in a reflector lab (the
    /// mesh lab runs Calico's defaults: no BGPConfiguration, no BGPPeer).
    pub(crate) fn calico_objects(&self) -> CalicoObjects {
        if !self.is_calico() {
            return CalicoObjects::default();
        }
        let mut affinities: Vec<BlockAffinity> =
            self.node_indices().map(|n| self.affinity(n, n)).collect();
        affinities.extend(
            self.faults
                .leaked_affinity
                .map(|f| self.affinity(f.node, f.peer)),
        );
        let mut pools = vec![self.ip_pool()];
        if self.dual_stack {
            pools.push(self.ip_pool6());
            affinities.extend(self.node_indices().map(|n| self.affinity6(n)));
        }
        let ipam = CalicoObjects {
            ip_pools: Some(pools),
            block_affinities: Some(affinities),
            ..CalicoObjects::default()
        };
        if self.reflectors == 0 {
            return ipam;
        }
        CalicoObjects {
            bgp_configurations: Some(vec![BgpConfiguration {
                name: "default".into(),
                node_to_node_mesh_enabled: Some(false),
                as_number: Some(64512),
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

    fn ip_pool(&self) -> IpPool {
        IpPool {
            name: "default-ipv4-ippool".into(),
            cidr: IpNet::V4(self.pod_range()),
            block_size: Some(26),
            ipip_mode: Some("Never".into()),
            vxlan_mode: Some("Never".into()),
            nat_outgoing: true,
            disabled: false,
            node_selector: Some("all()".into()),
        }
    }

    /// Node n's affinity for node b's block (b = n but for a leaked
    /// one); Calico names it `<node>-<block with dashes>`.
    fn affinity(&self, n: u32, b: u32) -> BlockAffinity {
        let block: Ipv4Net = self.calico_block(b);
        self.affinity_for(n, IpNet::V4(block))
    }

    /// Node n's affinity for a block; the name replaces '.', ':' and '/'
    /// with '-' (libcalico-go `names.CIDRToName`).
    pub(crate) fn affinity_for(&self, n: u32, block: IpNet) -> BlockAffinity {
        let dashed = block.to_string().replace(['.', ':', '/'], "-");
        BlockAffinity {
            name: format!("{}-{dashed}", self.node_name(n)),
            node: self.node_name(n),
            cidr: block,
            state: "confirmed".into(),
            deleted: false,
        }
    }

    /// BIRD's name for this node's session to node n: `Mesh_<ip>` in the
    /// mesh, `Node_<ip>` for a BGPPeer's node-specific peering.
    pub fn session_name(&self, n: u32) -> String {
        let stem = if self.reflectors > 0 { "Node" } else { "Mesh" };
        format!("{stem}_{}", self.node_ip(n).to_string().replace('.', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflector_lab_objects() {
        let plan = LabPlan::new("calico-bgp", 4, 1, "cnlt").unwrap();
        let plan = plan.with_reflectors(1).unwrap();
        let k8s = plan.k8s();
        assert_eq!(
            k8s.nodes[0].labels.get(RR_LABEL).map(String::as_str),
            Some("true")
        );
        assert!(k8s.nodes[1].labels.is_empty());
        let aff = k8s.calico.block_affinities.as_ref().unwrap();
        assert_eq!(aff[1].name, "node-2-10-244-2-0-26");
        assert_eq!(k8s.calico.node_mesh_enabled(), Some(false));
        assert_eq!(plan.session_name(1), "Node_192_0_2_11");
        let flannel = LabPlan::new("flannel-vxlan", 3, 1, "cnlt").unwrap();
        assert!(flannel.with_reflectors(1).is_err());
        let all = LabPlan::new("calico-bgp", 3, 1, "cnlt").unwrap();
        assert!(all.with_reflectors(3).is_err(), "a reflector needs clients");
    }
}
