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
use crate::expected::{Expected, NodeExpect};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::PodCidrOverlap;

pub(crate) fn check(exp: &Expected<'_>, _snap: &ClusterSnapshot, out: &mut Out) {
    let (nets, owner): (Vec<IpNet>, Vec<usize>) = exp
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.pod_cidrs.iter().map(move |c| (c.net, i)))
        .unzip();
    for (a, b) in overlap::overlapping_pairs(&nets) {
        if owner[a] != owner[b] {
            let x = (&exp.nodes[owner[a]], nets[a]);
            let y = (&exp.nodes[owner[b]], nets[b]);
            report(x, y, out);
        }
    }
}

/// Two nodes' overlapping CIDRs, reported in node-name order.
fn report(a: (&NodeExpect, IpNet), b: (&NodeExpect, IpNet), out: &mut Out) {
    let ((x, nx), (y, ny)) = if a.0.name <= b.0.name { (a, b) } else { (b, a) };
    let summary = format!(
        "pod CIDRs overlap: {} has {nx}, {} has {ny}",
        x.name, y.name
    );
    let hint = format!(
        "give each node a disjoint range: podCIDR is immutable, so drain {}, kubectl delete node {}, and let it re-register (check --cluster-cidr / --node-cidr-mask-size; Calico: calicoctl ipam check)",
        y.name, y.name
    );
    out.push(
        CODE,
        Severity::Error,
        None,
        summary,
        vec![x.describe(), y.describe()],
        hint,
    )
    .peers = vec![x.name.clone(), y.name.clone()];
}
