//! Check: service-cidr-overlap
//!
//! Pod CIDRs must not overlap the service range (a ClusterIP inside a pod
//! CIDR is routed to a node instead of being DNATed by kube-proxy) nor a
//! node's underlay subnet (pod routes would capture node traffic). The
//! service range is given or inferred from the ClusterIPs (the smallest
//! covering prefix of at most 20 host bits, see
//! [`crate::expected::infer_service_cidr`]). Sort-based sweep, O(n log n).
//! Error.

use cnictl_model::ClusterSnapshot;
use ipnet::IpNet;

use super::{overlap, Out};
use crate::code::Code;
use crate::expected::{Expected, NodeExpect, ServicePortExpect};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::ServiceCidrOverlap;

#[derive(Clone, Copy, PartialEq)]
enum Tag {
    Pod(usize),
    Service,
    Underlay(usize),
    /// A ClusterIP outside the known service range (index into services).
    ClusterIp(usize),
}

pub(crate) fn check(exp: &Expected<'_>, _snap: &ClusterSnapshot, out: &mut Out) {
    let (nets, tags) = collect(exp);
    if exp.service_cidr.is_none() {
        let why = exp
            .service_cidr_note
            .clone()
            .unwrap_or_else(|| "service CIDR unknown".into());
        out.skip(
            CODE,
            None,
            format!("{why}: service range not checked, ClusterIPs checked one by one"),
        );
    }
    for (a, b) in overlap::overlapping_pairs(&nets) {
        let (pod, other, pn, on) = match (tags[a], tags[b]) {
            (Tag::Pod(p), o @ (Tag::Service | Tag::Underlay(_) | Tag::ClusterIp(_))) => {
                (p, o, nets[a], nets[b])
            }
            (o @ (Tag::Service | Tag::Underlay(_) | Tag::ClusterIp(_)), Tag::Pod(p)) => {
                (p, o, nets[b], nets[a])
            }
            _ => continue,
        };
        push(exp, pod, other, pn, on, out);
    }
}

fn collect(exp: &Expected<'_>) -> (Vec<IpNet>, Vec<Tag>) {
    let mut nets = Vec::new();
    let mut tags = Vec::new();
    if let Some(s) = &exp.service_cidr {
        nets.push(s.net);
        tags.push(Tag::Service);
    }
    cluster_ips(exp, &mut nets, &mut tags);
    let mut seen = std::collections::HashSet::new();
    for (i, n) in exp.nodes.iter().enumerate() {
        for c in &n.pod_cidrs {
            nets.push(c.net);
            tags.push(Tag::Pod(i));
        }
        if let Some(net) = n.underlay.as_ref().and_then(|u| u.net) {
            if seen.insert(net) {
                nets.push(net);
                tags.push(Tag::Underlay(i));
            }
        }
    }
    (nets, tags)
}

/// ClusterIPs the service range does not cover (or all, when it is
/// unknown), so a single stray ClusterIP inside a pod CIDR is still found.
fn cluster_ips(exp: &Expected<'_>, nets: &mut Vec<IpNet>, tags: &mut Vec<Tag>) {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in exp.services.iter().flatten().enumerate() {
        let range = exp.service_cidr.as_ref();
        let covered = range.is_some_and(|c| c.net.contains(&s.ip));
        if !covered && seen.insert(s.ip) {
            nets.push(cnictl_model::cidr::host(s.ip));
            tags.push(Tag::ClusterIp(i));
        }
    }
}

fn push(exp: &Expected<'_>, pod: usize, other: Tag, pn: IpNet, on: IpNet, out: &mut Out) {
    let node = &exp.nodes[pod];
    let (what, line) = match other {
        Tag::Underlay(u) => underlay(&exp.nodes[u], on),
        Tag::ClusterIp(i) => cluster_ip(exp.services.as_ref().map(|s| &s[i]), on),
        _ => service_range(exp, on),
    };
    let summary = format!("{}'s pod CIDR {pn} overlaps {what}", node.name);
    out.push(
        CODE,
        Severity::Error,
        None,
        summary,
        vec![node.describe(), line],
        hint(other),
    );
}

/// (what overlaps, the evidence line) for another node's subnet.
fn underlay(n: &NodeExpect, on: IpNet) -> (String, String) {
    let dev = n.underlay.as_ref().and_then(|u| u.dev.as_deref());
    let line = format!("{} subnet {on} dev {}", n.describe(), dev.unwrap_or("?"));
    (format!("{}'s node subnet {on}", n.name), line)
}

fn cluster_ip(svc: Option<&ServicePortExpect>, on: IpNet) -> (String, String) {
    let name = svc.map_or_else(String::new, |s| format!("svc/{} ", s.service));
    (
        format!("the ClusterIP {}{}", name, on.addr()),
        svc.map_or_else(|| on.to_string(), |s| s.describe()),
    )
}

fn service_range(exp: &Expected<'_>, on: IpNet) -> (String, String) {
    let how = match &exp.service_cidr {
        Some(s) if s.inferred => "inferred from the Services' ClusterIPs",
        _ => "given",
    };
    let line = format!("service CIDR {on} ({how})");
    (format!("the service range {on}"), line)
}

fn hint(other: Tag) -> String {
    match other {
        Tag::ClusterIp(_) => "recreate the Service without spec.clusterIP (or with one inside --service-cluster-ip-range); a ClusterIP inside a pod CIDR is routed to a node instead of being load-balanced".into(),
        _ => "choose a --cluster-cidr disjoint from --service-cluster-ip-range and from the node subnets, then re-register the affected nodes (podCIDR is immutable)".into(),
    }
}
