//! Check: stale-pod-route
//!
//! A host route to a single pod IP over a pod veth (`<ip> dev caliX scope
//! link`, Cilium's `lxc*`) must belong to a live pod on this node. If its
//! veth is gone or no pod holds the IP (deleted pod, leaked by a CNI DEL
//! that failed), the route is garbage: warning. If the IP now belongs to a
//! pod on another node, the route hijacks traffic from this node to that
//! pod: error.

use cnictl_model::{Route, RouteType};

use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::StalePodRoute;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    for r in cx.node.routes.iter().filter(|r| is_pod_host_route(r)) {
        let ip = r.dst.addr();
        let dev = r.dev.as_deref().unwrap_or_default();
        let link = cx.link(dev);
        let pod = cx.exp.pod_by_ip(ip);
        let here = pod.is_some_and(|p| p.node.as_deref() == Some(cx.name()));
        let (severity, why) = match pod {
            Some(p) if !here => (
                Severity::Error,
                format!(
                    "{ip} now belongs to pod {} on {}",
                    p.key(),
                    p.node.as_deref().unwrap_or("?")
                ),
            ),
            Some(_) => continue,
            None if link.is_none() => (
                Severity::Warning,
                format!("{dev} no longer exists and no pod holds {ip}"),
            ),
            None => (Severity::Warning, format!("no live pod holds {ip}")),
        };
        let mut evidence = vec![render::route(r)];
        if let Some(p) = pod {
            evidence.push(render::pod(p));
        }
        if let Some(l) = link {
            evidence.push(render::link(l));
        }
        out.push(
            CODE,
            severity,
            Some(cx.name()),
            format!(
                "stale pod route {} on {}: {why}",
                render::route(r),
                cx.name()
            ),
            evidence,
            format!(
                "on {}: ip route del {} dev {dev} (and check the CNI's IPAM for a leaked address)",
                cx.name(),
                r.dst
            ),
        );
    }
}

fn is_pod_host_route(r: &Route) -> bool {
    let dev = r.dev.as_deref().unwrap_or_default();
    r.route_type == RouteType::Unicast
        && r.table == cnictl_model::route::TABLE_MAIN
        && r.dst.prefix_len() == r.dst.max_prefix_len()
        && r.gateway.is_none()
        && (dev.starts_with("cali") || (dev.starts_with("lxc") && dev != "lxc_health"))
}
