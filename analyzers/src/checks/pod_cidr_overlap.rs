//! Check: pod-cidr-overlap
//!
//! Pod CIDRs (or Calico IPAM blocks) of different nodes must be disjoint:
//! an address in two nodes' ranges is routed to one of them only, and two
//! pods may get the same IP. Found with a sort-based sweep over all
//! prefixes ([`super::overlap`]), O(n log n). Error.

use cnictl_model::ClusterSnapshot;
use ipnet::IpNet;

use super::{overlap, Out};
use crate::code::Code;
use crate::expected::Expected;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::PodCidrOverlap;

pub(crate) fn check(exp: &Expected<'_>, _snap: &ClusterSnapshot, out: &mut Out) {
    let mut nets: Vec<IpNet> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    for (i, n) in exp.nodes.iter().enumerate() {
        for c in &n.pod_cidrs {
            nets.push(c.net);
            owner.push(i);
        }
    }
    for (a, b) in overlap::overlapping_pairs(&nets) {
        if owner[a] == owner[b] {
            continue;
        }
        let (na, nb) = (&exp.nodes[owner[a]], &exp.nodes[owner[b]]);
        let ((x, nx), (y, ny)) = if na.name <= nb.name {
            ((na, nets[a]), (nb, nets[b]))
        } else {
            ((nb, nets[b]), (na, nets[a]))
        };
        out.push(
            CODE,
            Severity::Error,
            None,
            format!("pod CIDRs overlap: {} has {nx}, {} has {ny}", x.name, y.name),
            vec![x.describe(), y.describe()],
            format!(
                "give each node a disjoint range: podCIDR is immutable, so drain {}, kubectl delete node {}, and let it re-register (check --cluster-cidr / --node-cidr-mask-size; Calico: calicoctl ipam check)",
                y.name, y.name
            ),
        );
    }
}
