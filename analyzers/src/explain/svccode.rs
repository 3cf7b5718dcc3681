//! Which Service fault a drop on a Service's path is, told by what the
//! Kubernetes objects say the Service should do there: a rejected or
//! dropped connection to a Service without ready endpoints, a Local
//! NodePort on a node without one, a ClusterIP no rule took, a backend that
//! is no ready endpoint. Whatever the kube-proxy mode wrote, the same facts
//! decide, so one answer covers iptables, nftables and IPVS.

use std::net::IpAddr;

use cnictl_dataplane::{Disposition, Trace};
use cnictl_model::{ClusterSnapshot, Service};

use super::codes::Cx;
use super::resolve;
use crate::code::Code;

/// The Service code of a drop on the way to a Service (`None`: not a
/// Service fault, the generic classification applies).
pub(crate) fn service_code(cx: &Cx<'_>, trace: &Trace) -> Option<Code> {
    let key = cx.dst.service.as_deref()?;
    let svc = cx.snap.k8s.services.iter().flatten().find(|s| s.is(key))?;
    use Disposition as D;
    match trace.disposition {
        D::NetfilterDrop | D::NetfilterReject if no_ready_endpoint(cx.snap, svc) => {
            Some(Code::ServiceNoBackends)
        }
        D::NetfilterDrop | D::NetfilterReject if local_without_endpoint(cx, svc) => {
            Some(Code::NodeportNoLocalEndpoint)
        }
        D::LeftCluster => Some(not_programmed(cx)),
        _ => None,
    }
}

/// A Service port no rule NATed: IPVS mode's code where the node runs
/// IPVS, the rule checks' code otherwise.
pub(crate) fn not_programmed(cx: &Cx<'_>) -> Code {
    let node = cx.src_node.map(|n| cx.dp.node_name(n));
    let ipvs = node
        .and_then(|n| cx.snap.nodes.get(n))
        .is_some_and(|n| n.ipvs.is_some());
    if ipvs {
        Code::IpvsServiceMissing
    } else {
        Code::ServiceRulesMissing
    }
}

/// A dropped backend that is no ready endpoint of the Service: its share
/// of new connections goes to an address that should not be there.
pub(crate) fn stale_backend(cx: &Cx<'_>, (ip, port): (IpAddr, u16)) -> Option<Code> {
    let key = cx.dst.service.as_deref()?;
    let ready = resolve::service_endpoints(cx.snap, key, cx.dst.port);
    if ready.contains(&(ip, port)) {
        return None;
    }
    Some(match not_programmed(cx) {
        Code::IpvsServiceMissing => Code::IpvsStaleBackend,
        _ => Code::ServiceStaleBackend,
    })
}

fn no_ready_endpoint(snap: &ClusterSnapshot, svc: &Service) -> bool {
    !endpoints(snap, svc).any(|e| e.ready)
}

/// externalTrafficPolicy Local, entered on a node without a ready
/// endpoint of its own.
fn local_without_endpoint(cx: &Cx<'_>, svc: &Service) -> bool {
    let Some(node) = cx.src_node.map(|n| cx.dp.node_name(n)) else {
        return false;
    };
    let local = |e: &&cnictl_model::k8s::Endpoint| e.ready && e.node.as_deref() == Some(node);
    svc.local_external_traffic() && !endpoints(cx.snap, svc).any(|e| local(&e))
}

fn endpoints<'a>(
    snap: &'a ClusterSnapshot,
    svc: &'a Service,
) -> impl Iterator<Item = &'a cnictl_model::k8s::Endpoint> + 'a {
    let slices = snap.k8s.endpoint_slices.iter().flatten();
    let mine = slices.filter(move |s| {
        s.namespace == svc.namespace && s.service.as_deref() == Some(svc.name.as_str())
    });
    mine.flat_map(|s| s.endpoints.iter())
}
