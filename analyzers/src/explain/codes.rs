//! From a drop to a DESIGN.md finding code and a hint an on-call engineer
//! can act on.

use cnictl_dataplane::{Dataplane, Disposition, Hop, NodeId, Reason, Step, Trace};
use cnictl_model::{ClusterSnapshot, Protocol, Route};

use super::resolve::{Endpoint, EndpointKind};
use super::DropInfo;

/// What classification needs to know about the request.
pub(crate) struct Cx<'a> {
    pub snap: &'a ClusterSnapshot,
    pub dp: &'a Dataplane,
    pub dst: &'a Endpoint,
    pub src_node: Option<NodeId>,
}

/// The drop object for a trace ending in `hops` (numbered after `base`).
pub(crate) fn drop_info(cx: &Cx<'_>, trace: &Trace, hops: &[Hop], base: usize) -> DropInfo {
    let last = hops.last();
    let node = last.map_or_else(String::new, |h| {
        cx.dp.node_name(cx.dp.ns_node(h.ns)).to_string()
    });
    let code = classify(cx, trace, hops);
    let mut reason = cx.dp.reason_text(trace.reason);
    if let Some(r) = deciding_route(cx.dp, hops) {
        if matches!(
            trace.disposition,
            Disposition::NullRouted | Disposition::NoRoute | Disposition::LeftCluster
        ) {
            reason.push_str(&format!(" (route: {r})"));
        }
    }
    DropInfo {
        hop: base + hops.len(),
        node,
        disposition: trace.disposition.as_str().into(),
        reason,
        code: code.map(String::from),
        hint: code
            .map_or(
                "collect the missing bundle files (see notes) and explain again",
                hint,
            )
            .into(),
        finding: None,
    }
}

/// The last route hop before the drop.
fn deciding_route<'a>(dp: &'a Dataplane, hops: &[Hop]) -> Option<&'a Route> {
    hops.iter().rev().find_map(|h| match h.step {
        Step::Route { route, .. } => dp.route(h.ns, route),
        _ => None,
    })
}

fn classify(cx: &Cx<'_>, trace: &Trace, hops: &[Hop]) -> Option<&'static str> {
    let drop_node = hops.last().map(|h| cx.dp.ns_node(h.ns));
    let dst_node = cx.dst.pod_id.map(|p| cx.dp.pod_node(p));
    let at_dst_node = drop_node.is_some() && drop_node == dst_node;
    let wrong_node =
        drop_node.is_some() && dst_node.is_some() && !at_dst_node && drop_node != cx.src_node;
    use Disposition as D;
    Some(match (trace.disposition, trace.reason) {
        (D::Delivered, _) | (D::InsufficientInfo, _) => return None,
        (_, Reason::Mtu { .. }) => "mtu-mismatch",
        (_, Reason::GatewayNotAdjacent { .. }) => "next-hop-not-adjacent",
        (_, Reason::IpvsNoBackends) => "ipvs-no-backends",
        (_, Reason::IpForwardOff) => "ip-forward-disabled",
        (_, Reason::RpFilter { .. }) => "rp-filter-strict",
        (_, Reason::VxlanFdbMissing) => "vxlan-fdb-missing",
        (_, Reason::VtepMacMismatch) => "vxlan-fdb-mismatch",
        (_, Reason::VxlanNeighMissing { .. }) => "vxlan-neigh-missing",
        _ if wrong_node => "wrong-next-hop",
        (D::NullRouted, Reason::RouteType(_)) => null_route_code(cx, hops, at_dst_node),
        (D::NullRouted, _) => "route-shadowed",
        (D::NoRoute, Reason::NoMatchingRoute) if at_dst_node => "pod-route-missing",
        (D::NoRoute, Reason::NoMatchingRoute) => "missing-pod-route",
        (D::NeighbourUnresolved, _) if at_dst_node => "pod-route-missing",
        (D::LeftCluster, _) if cx.dst.kind == EndpointKind::Service => "ipvs-service-missing",
        (D::LeftCluster, _) if drop_node.is_some_and(|n| bgp_down(cx, n)) => "bgp-session-down",
        (D::LeftCluster, _) if drop_node.is_some_and(|n| runs_bird(cx, n)) => "bgp-route-missing",
        (D::LeftCluster, _) => "missing-pod-route",
        _ => "wrong-next-hop",
    })
}

/// A blackhole from BIRD is Calico's own-block aggregate: hitting it for a
/// local pod means the pod's /32 is gone; for a remote pod, the peer's block
/// was not learned. Any other null route hides the pod route.
fn null_route_code(cx: &Cx<'_>, hops: &[Hop], at_dst_node: bool) -> &'static str {
    match deciding_route(cx.dp, hops) {
        Some(r) if r.protocol == Protocol::BIRD && at_dst_node => "pod-route-missing",
        Some(r) if r.protocol == Protocol::BIRD => "bgp-route-missing",
        _ => "route-shadowed",
    }
}

/// A BGP peer of this node is not Established (so routes are not learned).
fn bgp_down(cx: &Cx<'_>, node: NodeId) -> bool {
    let Some(n) = cx.snap.nodes.get(cx.dp.node_name(node)) else {
        return false;
    };
    n.bgp.as_ref().is_some_and(|b| {
        b.protocols
            .iter()
            .any(|p| p.is_bgp() && !p.is_established())
    })
}

fn runs_bird(cx: &Cx<'_>, node: NodeId) -> bool {
    let Some(n) = cx.snap.nodes.get(cx.dp.node_name(node)) else {
        return false;
    };
    n.bgp.is_some() || n.routes.iter().any(|r| r.protocol == Protocol::BIRD)
}

/// One hint per finding code (kept in step with the README's code table).
pub(crate) fn hint(code: &str) -> &'static str {
    match code {
        "missing-pod-route" => "add the route to the destination pod CIDR on this node: check the CNI agent there (flanneld / calico-node / BIRD) and `ip route get <dst>`",
        "wrong-next-hop" => "the route points at the wrong node, VTEP or device: compare it with the destination node's IP / VTEP and let the CNI agent reprogram it",
        "next-hop-not-adjacent" => "host-gw/native routing needs the next hop on a directly connected subnet: put the nodes on one L2 segment or switch to an overlay (VXLAN/IPIP)",
        "vxlan-fdb-missing" => "add `bridge fdb append <VTEP-MAC> dev <vxlan-dev> dst <node-ip>` (restart flanneld/calico-node to reprogram)",
        "vxlan-neigh-missing" => "add `ip neigh replace <VTEP-IP> lladdr <VTEP-MAC> dev <vxlan-dev> nud permanent` (restart the CNI agent to reprogram)",
        "vxlan-fdb-mismatch" => "the FDB/neighbour entry names another node's VTEP: fix it to the destination node's VTEP MAC and IP",
        "mtu-mismatch" => "lower the pod/veth MTU to the underlay MTU minus the encapsulation (VXLAN 50, IPIP 20), or raise the underlay MTU",
        "ip-forward-disabled" => "set `sysctl -w net.ipv4.ip_forward=1` on this node (and persist it)",
        "route-shadowed" => "a more specific or blackhole/unreachable route (or rule) hides the pod route: remove it or fix its prefix",
        "pod-route-missing" => "the destination pod has no route/bridge attachment on its node: restore its /32 route (Calico) or enslave its veth to the bridge (`ip link set <veth> master cni0`)",
        "rp-filter-strict" => "the route back to the source leaves through another device: set rp_filter to 2 (loose) or 0 on this device and conf.all, or make the routes symmetric",
        "bgp-session-down" => "a BGP peer is not Established, so its pod blocks are not learned: check `birdc show protocols all` on both ends (enabled? reachable on TCP 179? AS numbers?)",
        "bgp-route-missing" => "the peer's pod block is not learned: check `birdc show protocols` / `show route` on this node and the peer's export filter",
        "ipvs-service-missing" => "kube-proxy has not programmed this Service: check kube-proxy's logs and `ipvsadm -Ln -t <vip>:<port>`",
        "ipvs-no-backends" => "the Service has no real servers: check its endpoints (`kubectl get endpointslices`) and pod readiness",
        _ => "see the finding codes table in the README",
    }
}

/// A delivered path that crosses a node that is neither the source's nor
/// the destination pod's: a route points at the wrong node.
pub(crate) fn detour_note(cx: &Cx<'_>, trace: &Trace) -> Option<String> {
    let dst_node = cx.dst.pod_id.map(|p| cx.dp.pod_node(p))?;
    let mut extra: Vec<&str> = Vec::new();
    for h in &trace.hops {
        let n = cx.dp.ns_node(h.ns);
        if n != dst_node && Some(n) != cx.src_node {
            let name = cx.dp.node_name(n);
            if !extra.contains(&name) {
                extra.push(name);
            }
        }
    }
    (!extra.is_empty()).then(|| {
        format!("the path detours via node {} (neither source nor destination node): a route points at the wrong node (wrong-next-hop)", extra.join(", "))
    })
}
