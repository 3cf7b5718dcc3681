//! Many traces at once: the reachability matrix behind `check`'s all-pairs
//! probe and the exporter's gauges. Uses `reachable` (no hop recording) and
//! rayon across source rows.

use rayon::prelude::*;

use crate::tables::Dataplane;
use crate::types::{Disposition, Ingress, Packet, PodId};

impl Dataplane {
    /// One pod per node (the first pod placed on it), in node order; nodes
    /// without pods are skipped. The usual sources for node-to-node matrices.
    pub fn pods_by_node(&self) -> Vec<PodId> {
        let mut first: Vec<Option<PodId>> = vec![None; self.nodes.len()];
        for (i, p) in self.pods.iter().enumerate() {
            let slot = &mut first[p.node as usize];
            if slot.is_none() && !p.ips.is_empty() {
                *slot = Some(PodId(i as u32));
            }
        }
        first.into_iter().flatten().collect()
    }

    /// Dispositions of `pods[i]` → `pods[j]` (first IP of each, ICMP echo,
    /// default size), row-major: index `i * pods.len() + j`. A pod without
    /// an IP gives `insufficient-info` for its row and column.
    pub fn reachability_matrix(&self, pods: &[PodId]) -> Vec<Disposition> {
        let ip = |p: PodId| {
            self.pods
                .get(p.0 as usize)
                .and_then(|d| d.ips.first().copied())
        };
        pods.par_iter()
            .flat_map_iter(|&src| {
                pods.iter().map(move |&dst| match (ip(src), ip(dst)) {
                    (Some(s), Some(d)) => self.reachable(&Packet::new(s, d), Ingress::Pod(src)),
                    _ => Disposition::InsufficientInfo,
                })
            })
            .collect()
    }
}
