//! Check: route-shadowed
//!
//! A peer's pod CIDR route can be present and right yet unused: a
//! blackhole/unreachable/prohibit route or a drop rule decides first, a
//! wrong route wins over the right one (higher-priority rule table, lower
//! metric), or a narrower route sends part of the CIDR elsewhere. Traffic
//! to the hidden part never reaches the peer's pods: error.

use super::remote::{peer_evidence, Issue, Shadow, Verdict};
use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::RouteShadowed;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for v in cx.route_verdicts(CODE, out) {
        if let Issue::Shadowed { by, hidden } = &v.issue {
            whole(cx, v, by, hidden, out);
        }
        if !v.narrower.is_empty() {
            narrower(cx, v, out);
        }
    }
}

fn whole(
    cx: &NodeCx<'_>,
    v: &Verdict<'_>,
    by: &Shadow<'_>,
    hidden: &[&cnictl_model::Route],
    out: &mut Out,
) {
    let (what, line, fix) = shadow(by);
    let mut evidence = vec![peer_evidence(v), line];
    let mut h: Vec<String> = hidden
        .iter()
        .map(|r| format!("hidden: {}", render::route(r)))
        .collect();
    h.sort();
    evidence.extend(h);
    let (node, peer, net) = (cx.name(), &v.peer.name, v.cidr.net);
    let summary = format!("on {node} the {what} hides the route to {peer}'s pod CIDR {net}");
    let hint = format!("on {node}: {fix} (expected route: {})", v.expected_route());
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint)
        .peers = vec![v.peer.name.clone()];
}

/// What shadows the route: (description, the entry, the command removing it).
fn shadow(by: &Shadow<'_>) -> (String, String, String) {
    match by {
        Shadow::Route(r) => (
            format!("{} route {}", r.route_type, r.dst),
            render::route(r),
            format!("ip route del {}", render::route(r)),
        ),
        Shadow::Rule(rule) => (
            format!("rule {}", rule.priority),
            rule.to_string(),
            format!("ip rule del priority {}", rule.priority),
        ),
    }
}

fn narrower(cx: &NodeCx<'_>, v: &Verdict<'_>, out: &mut Out) {
    let mut lines: Vec<String> = v.narrower.iter().map(|r| render::route(r)).collect();
    lines.sort();
    let first = lines.first().cloned().unwrap_or_default();
    let mut evidence = vec![peer_evidence(v)];
    evidence.extend(render::capped(lines.clone(), 10));
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        format!(
            "on {} {} narrower route(s) inside {}'s pod CIDR {} send part of it elsewhere ({first})",
            cx.name(),
            lines.len(),
            v.peer.name,
            v.cidr.net
        ),
        evidence,
        format!("on {}: ip route del {first}", cx.name()),
    )
        .peers = vec![v.peer.name.clone()];
}
