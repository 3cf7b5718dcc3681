//! Node-to-node reachability: one pod-to-pod probe per ordered node pair
//! through the reference dataplane, summarised for gauges and alerts (how
//! many peers each node cannot reach, and a capped list of failing pairs, so
//! metrics never grow as nodes²).

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_dataplane::{Dataplane, Disposition, NodeId, PodId};
use serde::Serialize;

/// Pod-to-pod reachability between nodes, one probe per ordered node pair.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reachability {
    /// Node → number of peers it cannot reach (nodes with a probe pod only).
    pub unreachable: BTreeMap<String, usize>,
    /// The first `cap` failing pairs, in node order.
    pub failing_pairs: Vec<FailingPair>,
    /// Failing pairs in total (may exceed the list).
    pub failing_total: usize,
    pub probes: usize,
}

/// One failing ordered pair, with how the probe ended.
#[derive(Debug, Clone, Serialize)]
pub struct FailingPair {
    pub src: String,
    pub dst: String,
    pub disposition: Disposition,
}

impl Reachability {
    pub fn truncated(&self) -> bool {
        self.failing_total > self.failing_pairs.len()
    }
}

/// Probes every ordered pair of nodes that host a pod, from each node's
/// first pod whose address is not the node's own (host-network pods prove
/// nothing about the pod network), listing at most `cap` failing pairs.
pub fn node_pairs(dp: &Dataplane, cap: usize) -> Reachability {
    let probes: Vec<PodId> = probe_pods(dp).into_iter().flatten().collect();
    let matrix = dp.reachability_matrix(&probes);
    let name = |p: PodId| dp.node_name(dp.pod_node(p)).to_string();
    let mut r = Reachability::default();
    for &p in &probes {
        r.unreachable.insert(name(p), 0);
    }
    let n = probes.len();
    for (i, &src) in probes.iter().enumerate() {
        for (j, &dst) in probes.iter().enumerate().filter(|&(j, _)| j != i) {
            r.probes += 1;
            let disposition = matrix[i * n + j];
            if disposition != Disposition::Delivered {
                r.fail(name(src), name(dst), disposition, cap);
            }
        }
    }
    r
}

impl Reachability {
    /// Counts a failing pair, listing it while fewer than `cap` are.
    fn fail(&mut self, src: String, dst: String, disposition: Disposition, cap: usize) {
        *self.unreachable.entry(src.clone()).or_default() += 1;
        self.failing_total += 1;
        if self.failing_pairs.len() < cap {
            let pair = FailingPair {
                src,
                dst,
                disposition,
            };
            self.failing_pairs.push(pair);
        }
    }
}

/// One probe pod per node, indexed by node: the first pod with an address
/// other than the node's own.
fn probe_pods(dp: &Dataplane) -> Vec<Option<PodId>> {
    let mut out: Vec<Option<PodId>> = vec![None; dp.node_count()];
    for p in (0..dp.pod_count()).map(|i| PodId(i as u32)) {
        let node: NodeId = dp.pod_node(p);
        let slot = &mut out[node.0 as usize];
        if slot.is_some() {
            continue;
        }
        let node_ip: Option<IpAddr> = dp.node_ip(node);
        if dp.pod_ips(p).first().is_some_and(|ip| Some(*ip) != node_ip) {
            *slot = Some(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_gen::{generate, GenModel, GenSpec};

    #[test]
    fn a_healthy_cluster_has_no_failing_pair_and_a_broken_route_shows() {
        let spec = GenSpec {
            model: GenModel::FlannelHostGw,
            nodes: 4,
            pods_per_node: 2,
            services: 0,
        };
        let mut snap = generate(&spec).unwrap();
        let r = node_pairs(&crate::hints::dataplane(&snap), 50);
        assert_eq!((r.probes, r.failing_total), (12, 0));
        let node = snap.nodes.get_mut("node-1").unwrap();
        let peer: ipnet::IpNet = "10.244.1.0/24".parse().unwrap();
        node.routes.retain(|rt| rt.dst != peer);
        let r = node_pairs(&crate::hints::dataplane(&snap), 50);
        assert_eq!(r.failing_total, 1);
        assert_eq!(r.unreachable["node-1"], 1);
        assert_eq!(
            (
                r.failing_pairs[0].src.as_str(),
                r.failing_pairs[0].dst.as_str()
            ),
            ("node-1", "node-2")
        );
        assert_eq!(
            node_pairs(&crate::hints::dataplane(&snap), 0)
                .failing_pairs
                .len(),
            0
        );
        assert!(node_pairs(&crate::hints::dataplane(&snap), 0).truncated());
    }
}
