//! Every ordered pod pair for one probe. Per pod it keeps what its own
//! policies allow (egress: the destinations, ingress: the sources) as
//! bitsets, so a cell is two bit tests and 1,000 pods (a million pairs)
//! cost milliseconds, not a million selector evaluations.

use cnictl_model::PolicyType;
use fixedbitset::FixedBitSet;
use rayon::prelude::*;

use super::index::{CompiledRule, PolicyIndex};
use super::ports::{admits, per_destination, Probe};

pub struct IntentMatrix {
    pub probe: Probe,
    /// Per source: the destinations its egress allows (`None`: not isolated).
    egress: Vec<Option<FixedBitSet>>,
    /// Per destination: the sources its ingress allows.
    ingress: Vec<Option<FixedBitSet>>,
}

/// One source's row of a matrix: whether each destination is allowed.
pub type MatrixRow = Vec<bool>;

impl IntentMatrix {
    /// A pod to itself is always allowed (policies cannot block it).
    pub fn allowed(&self, src: usize, dst: usize) -> bool {
        if src == dst {
            return true;
        }
        let open = |side: &Option<FixedBitSet>, other: usize| {
            side.as_ref().is_none_or(|s| s.contains(other))
        };
        open(&self.egress[src], dst) && open(&self.ingress[dst], src)
    }

    pub fn row(&self, src: usize) -> MatrixRow {
        (0..self.ingress.len())
            .map(|d| self.allowed(src, d))
            .collect()
    }
}

impl PolicyIndex<'_> {
    /// The intent for every ordered pair of policed pods under `probe`.
    pub fn matrix(&self, probe: &Probe) -> IntentMatrix {
        let n = self.pods.len();
        let ingress = (0..n)
            .into_par_iter()
            .map(|d| self.ingress_allowed(d, probe))
            .collect();
        let dst_ports = self.egress_port_sets(probe);
        let egress = (0..n)
            .into_par_iter()
            .map(|s| self.egress_allowed(s, &dst_ports))
            .collect();
        IntentMatrix {
            probe: probe.clone(),
            egress,
            ingress,
        }
    }

    /// The sources `dst`'s ingress rules admit (named ports resolve on
    /// `dst` itself).
    fn ingress_allowed(&self, dst: usize, probe: &Probe) -> Option<FixedBitSet> {
        let isolating = self.isolating(dst, PolicyType::Ingress);
        if isolating.is_empty() {
            return None;
        }
        let mut set = FixedBitSet::with_capacity(self.pods.len());
        for &pi in isolating {
            let rules = self.policies[pi].ingress.iter();
            for r in rules.filter(|r| admits(&r.rule.ports, probe, Some(self.pods[dst]))) {
                set.union_with(&r.pods);
            }
        }
        Some(set)
    }

    /// The destinations `src`'s egress rules admit: peers ∩ the pods on
    /// which the rule's ports admit the probe.
    fn egress_allowed(&self, src: usize, dst_ports: &[Vec<FixedBitSet>]) -> Option<FixedBitSet> {
        let isolating = self.isolating(src, PolicyType::Egress);
        if isolating.is_empty() {
            return None;
        }
        let mut set = FixedBitSet::with_capacity(self.pods.len());
        for &pi in isolating {
            for (r, ports) in self.policies[pi].egress.iter().zip(&dst_ports[pi]) {
                let mut hit = r.pods.clone();
                hit.intersect_with(ports);
                set.union_with(&hit);
            }
        }
        Some(set)
    }

    /// Per policy, per egress rule: the destination pods its ports admit.
    fn egress_port_sets(&self, probe: &Probe) -> Vec<Vec<FixedBitSet>> {
        let sets = |r: &CompiledRule| self.port_set(r, probe);
        self.policies
            .iter()
            .map(|c| c.egress.iter().map(sets).collect())
            .collect()
    }

    fn port_set(&self, r: &CompiledRule, probe: &Probe) -> FixedBitSet {
        let n = self.pods.len();
        let mut set = FixedBitSet::with_capacity(n);
        if per_destination(&r.rule.ports) {
            for (i, pod) in self.pods.iter().enumerate() {
                set.set(i, admits(&r.rule.ports, probe, Some(pod)));
            }
        } else if admits(&r.rule.ports, probe, None) {
            set.insert_range(..);
        }
        set
    }
}
