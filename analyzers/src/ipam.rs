//! Calico IPAM truth: which node a pod block belongs to, from the pods
//! that live in it (`k8s/pods.json`) and its BlockAffinities
//! (`k8s/blockaffinities.json`), as opposed to which node routes or
//! blackholes it. Shared by the `ipam-*` checks and explain (a drop at a
//! leaked block's blackhole names `ipam-leaked-affinity`).
//!
//! Calico's confd turns every block affine to the node into BIRD's
//! `protocol static { route <block> blackhole; }` (v3.27
//! `bird_aggr.cfg.template`), exported to the kernel as `blackhole <block>
//! proto bird` and announced to peers: a block affine to the wrong node
//! is blackholed there and announced twice.

use std::collections::BTreeSet;
use std::net::IpAddr;

use cnictl_model::{ClusterSnapshot, K8s, Protocol, Route, RouteType};
use ipnet::IpNet;

/// Who a block belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockOwners {
    /// Nodes with a pod (not hostNetwork) whose IP is in the block.
    pub pod_nodes: BTreeSet<String>,
    /// Nodes with a live affinity for exactly this block; `None` when the
    /// affinities were not collected.
    pub affinity_nodes: Option<BTreeSet<String>>,
}

impl BlockOwners {
    pub fn of(k8s: &K8s, block: IpNet) -> BlockOwners {
        let in_block = |ip: &IpAddr| block.contains(ip);
        let pods = k8s
            .pods
            .iter()
            .filter(|p| !p.host_network && p.ips.iter().any(in_block));
        let pod_nodes = pods.filter_map(|p| p.node.clone()).collect();
        let affinity_nodes = k8s.calico.block_affinities.as_ref().map(|all| {
            let live = all
                .iter()
                .filter(|a| a.is_live() && a.cidr.trunc() == block.trunc());
            live.map(|a| a.node.clone()).collect()
        });
        BlockOwners {
            pod_nodes,
            affinity_nodes,
        }
    }

    /// Whether `node` has no claim on the block that others have: its
    /// pods live elsewhere, or (no pods in it) its affinity is another
    /// node's. `None`: nothing says who owns it (no pods, affinities not
    /// collected or naming nobody).
    pub fn foreign_to(&self, node: &str) -> Option<bool> {
        if !self.pod_nodes.is_empty() {
            return Some(!self.pod_nodes.contains(node));
        }
        let aff = self.affinity_nodes.as_ref().filter(|a| !a.is_empty())?;
        Some(!aff.contains(node))
    }

    /// The nodes the block belongs to: where its pods run, else (an empty
    /// block) its affinities.
    pub fn owners(&self) -> BTreeSet<String> {
        if !self.pod_nodes.is_empty() {
            return self.pod_nodes.clone();
        }
        self.affinity_nodes.clone().unwrap_or_default()
    }
}

/// A `blackhole … proto bird` route: Calico's static route for a block
/// the node holds.
pub fn is_block_blackhole(r: &Route) -> bool {
    r.route_type == RouteType::Blackhole && r.protocol == Protocol::BIRD
}

/// Whether `node`'s blackhole for `block` is a leaked one (the block is
/// another node's), for explain.
pub fn leaked_blackhole(snap: &ClusterSnapshot, node: &str, block: IpNet) -> bool {
    BlockOwners::of(&snap.k8s, block).foreign_to(node) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::{BlockAffinity, Pod};

    fn pod(node: &str, ip: &str) -> Pod {
        Pod {
            name: format!("p-{ip}"),
            node: Some(node.into()),
            ips: vec![ip.parse().unwrap()],
            ..Pod::default()
        }
    }

    #[test]
    fn pods_decide_then_affinities() {
        let block: IpNet = "10.244.2.0/26".parse().unwrap();
        let mut k = K8s {
            pods: vec![pod("node-2", "10.244.2.2")],
            ..K8s::default()
        };
        let o = BlockOwners::of(&k, block);
        assert_eq!(
            (o.foreign_to("node-3"), o.foreign_to("node-2")),
            (Some(true), Some(false))
        );
        k.pods.clear();
        assert_eq!(
            BlockOwners::of(&k, block).foreign_to("node-3"),
            None,
            "unknown"
        );
        k.calico.block_affinities = Some(vec![BlockAffinity {
            name: "a".into(),
            node: "node-2".into(),
            cidr: block,
            state: "confirmed".into(),
            deleted: false,
        }]);
        assert_eq!(BlockOwners::of(&k, block).foreign_to("node-3"), Some(true));
    }
}
