//! Check: missing-pod-route
//!
//! For every other node's pod CIDR (or Calico block) the node must hold a
//! route that keeps the traffic in the cluster. No route at all, or only
//! the default route (which sends pod traffic to a gateway that knows
//! nothing of pod CIDRs), breaks every flow from this node's pods to the
//! peer's pods: error.

use cnictl_model::Route;

use super::remote::{peer_evidence, Issue, Verdict};
use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::MissingPodRoute;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for v in cx.route_verdicts(CODE, out) {
        if let Issue::Missing { chosen } = &v.issue {
            missing(cx, v, *chosen, out);
        }
    }
}

/// No route to the peer's CIDR, or only the default route (`chosen`).
fn missing(cx: &NodeCx<'_>, v: &Verdict<'_>, chosen: Option<&Route>, out: &mut Out) {
    let (found, tail) = match chosen {
        Some(r) => (
            render::route(r),
            format!(" (falls to the default route {})", render::route(r)),
        ),
        None => (
            format!("no route in {} covers {}", cx.name(), v.cidr.net),
            String::new(),
        ),
    };
    let summary = format!(
        "{} has no route to {}'s pod CIDR {}{tail}",
        cx.name(),
        v.peer.name,
        v.cidr.net
    );
    let evidence = vec![peer_evidence(v), found];
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint(cx, &v.expected_route()),
    )
    .peers = vec![v.peer.name.clone()];
}

/// The fix: the daemon that programs the route, and the route itself.
pub(crate) fn hint(cx: &NodeCx<'_>, route: &str) -> String {
    let daemon = daemon_hint(cx);
    format!("on {}: ip route replace {route}; {daemon}", cx.name())
}

pub(crate) fn daemon_hint(cx: &NodeCx<'_>) -> String {
    let fix = cx
        .model
        .profile()
        .map_or("fix the CNI configuration", |p| p.route_fix);
    crate::cni::fill(fix, &[("node", cx.name())])
}
