//! Check: stale-pod-route
//!
//! A host route to a single pod IP over a pod veth (`<ip> dev caliX scope
//! link`, Cilium's `lxc*`) must belong to a live pod on this node. If its
//! veth is gone or no pod holds the IP (deleted pod, leaked by a CNI DEL
//! that failed), the route is garbage: warning. If the IP now belongs to a
//! pod on another node, the route hijacks traffic from this node to that
//! pod: error.

use cnictl_model::{Pod, Route, RouteType};

use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::StalePodRoute;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for r in cx.node.routes.iter().filter(|r| is_pod_host_route(r)) {
        route(cx, r, out);
    }
}

/// A /32 pod route is stale when no live pod on this node holds its IP.
fn route(cx: &NodeCx<'_>, r: &Route, out: &mut Out) {
    let dev = r.dev.as_deref().unwrap_or_default();
    let link = cx.link(dev);
    let pod = cx.exp.pod_by_ip(r.dst.addr());
    let Some((severity, why)) = staleness(cx, r, pod, link.is_some()) else {
        return;
    };
    let mut evidence = vec![render::route(r)];
    evidence.extend(pod.map(render::pod));
    evidence.extend(link.map(render::link));
    let summary = format!(
        "stale pod route {} on {}: {why}",
        render::route(r),
        cx.name()
    );
    let hint = format!(
        "on {}: ip route del {} dev {dev} (and check the CNI's IPAM for a leaked address)",
        cx.name(),
        r.dst
    );
    out.push(CODE, severity, Some(cx.name()), summary, evidence, hint);
}

/// Why the route is stale and how bad that is; `None` when a pod on this
/// node holds the IP.
fn staleness(
    cx: &NodeCx<'_>,
    r: &Route,
    pod: Option<&Pod>,
    dev_exists: bool,
) -> Option<(Severity, String)> {
    let ip = r.dst.addr();
    let dev = r.dev.as_deref().unwrap_or_default();
    Some(match pod {
        Some(p) if p.node.as_deref() == Some(cx.name()) => return None,
        Some(p) => (
            Severity::Error,
            format!(
                "{ip} now belongs to pod {} on {}",
                p.key(),
                p.node.as_deref().unwrap_or("?")
            ),
        ),
        None if !dev_exists => (
            Severity::Warning,
            format!("{dev} no longer exists and no pod holds {ip}"),
        ),
        None => (Severity::Warning, format!("no live pod holds {ip}")),
    })
}

fn is_pod_host_route(r: &Route) -> bool {
    let dev = r.dev.as_deref().unwrap_or_default();
    r.route_type == RouteType::Unicast
        && r.table == cnictl_model::route::TABLE_MAIN
        && r.dst.prefix_len() == r.dst.max_prefix_len()
        && r.gateway.is_none()
        && (dev.starts_with("cali") || (dev.starts_with("lxc") && dev != "lxc_health"))
}
