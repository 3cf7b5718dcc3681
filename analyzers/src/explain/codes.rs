//! From a drop to a finding code (README "Finding codes") and a hint an on-call engineer
//! can act on.

use cnictl_dataplane::{Dataplane, Disposition, Hop, NodeId, Reason, Step, Trace};
use cnictl_model::{ClusterSnapshot, Protocol, Route};

use super::resolve::{Endpoint, EndpointKind};
use super::DropInfo;
use crate::code::Code;

/// What classification needs to know about the request.
pub(crate) struct Cx<'a> {
    pub snap: &'a ClusterSnapshot,
    pub dp: &'a Dataplane,
    pub dst: &'a Endpoint,
    pub src_node: Option<NodeId>,
    pub opts: cnictl_dataplane::TraceOptions,
}

/// The drop object for a trace ending in `hops` (numbered after `base`).
pub(crate) fn drop_info(cx: &Cx<'_>, trace: &Trace, hops: &[Hop], base: usize) -> DropInfo {
    let last = hops.last();
    let node = last.map_or_else(String::new, |h| {
        cx.dp.node_name(cx.dp.ns_node(h.ns)).to_string()
    });
    let unused = unused_pod_ip(cx, trace);
    let by_design = matches!(
        trace.disposition,
        Disposition::LeftCluster | Disposition::NoRoute
    )
    .then(|| hops.last().and_then(|h| isolated(cx, cx.dp.ns_node(h.ns))))
    .flatten();
    let code = if unused {
        None
    } else {
        super::svccode::service_code(cx, trace).or_else(|| classify(cx, trace, hops))
    };
    let mut reason = cx.dp.reason_text(trace.reason);
    if unused {
        reason = format!(
            "{} lies in a pod CIDR but no pod has it: ARP for it gets no answer ({reason})",
            cx.dst.ip
        );
    }
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
        code,
        hint: match code {
            Some(c) => c.hint().into(),
            None if unused => format!(
                "no pod has {}: check the address (`kubectl get pods -A -o wide`); the dataplane is not at fault",
                cx.dst.ip
            ),
            None if by_design.is_some() => by_design.unwrap_or_default().to_string(),
            None if tunnel_reason(trace.reason) => "bring the tunnel device up on that node (`ip link set <dev> up`, or restart the CNI agent, which recreates it)".into(),
            None => "collect the missing bundle files (see notes) and explain again".into(),
        },
        finding: None,
        root_cause: None,
    }
}

fn tunnel_reason(r: Reason) -> bool {
    matches!(r, Reason::TunnelDown | Reason::NoTunnelDevice)
}

/// The destination is an address no pod has, inside a pod CIDR: the
/// kernel drops the packet (nobody answers ARP), and that is no fault.
fn unused_pod_ip(cx: &Cx<'_>, trace: &Trace) -> bool {
    cx.dst.kind == EndpointKind::Ip
        && cx.dst.pod_id.is_none()
        && matches!(trace.reason, Reason::ArpUnresolved { ip } if ip == cx.dst.ip)
        && cx
            .snap
            .k8s
            .nodes
            .iter()
            .flat_map(|n| &n.pod_cidrs)
            .any(|c| c.contains(&cx.dst.ip))
}

/// The last route hop before the drop.
fn deciding_route<'a>(dp: &'a Dataplane, hops: &[Hop]) -> Option<&'a Route> {
    hops.iter().rev().find_map(|h| match h.step {
        Step::Route { route, .. } => dp.route(h.ns, route),
        _ => None,
    })
}

fn classify(cx: &Cx<'_>, trace: &Trace, hops: &[Hop]) -> Option<Code> {
    let drop_node = hops.last().map(|h| cx.dp.ns_node(h.ns));
    let dst_node = cx.dst.pod_id.map(|p| cx.dp.pod_node(p));
    let at_dst_node = drop_node.is_some() && drop_node == dst_node;
    let wrong_node =
        drop_node.is_some() && dst_node.is_some() && !at_dst_node && drop_node != cx.src_node;
    let stray = stray_outer(cx, hops);
    use Disposition as D;
    Some(match (trace.disposition, trace.reason) {
        (D::Delivered, _) | (D::InsufficientInfo, _) | (D::Unknown, _) => return None,
        // No check raises these: no code rather than a wrong one.
        (_, Reason::TunnelDown | Reason::NoTunnelDevice) => return None,
        (D::NetfilterDrop | D::NetfilterReject, _) if encapsulated(hops) => {
            Code::NetfilterBlocksOverlay
        }
        (D::NetfilterDrop | D::NetfilterReject, _) => Code::NetfilterForwardDrop,
        (D::LeftCluster | D::NoRoute | D::NeighbourUnresolved, _) if stray.is_some() => {
            return stray
        }
        (D::LeftCluster | D::NoRoute, _)
            if drop_node.is_some_and(|n| isolated(cx, n).is_some()) =>
        {
            return None
        }
        (_, Reason::Mtu { .. }) => Code::MtuMismatch,
        (_, Reason::MacvlanParent { .. }) => Code::MacvlanHostUnreachable,
        (_, Reason::GatewayNotAdjacent { .. }) => Code::NextHopNotAdjacent,
        (_, Reason::IpvsNoBackends) => Code::IpvsNoBackends,
        (_, Reason::IpForwardOff) => Code::IpForwardDisabled,
        (_, Reason::RpFilter { .. }) => Code::RpFilterStrict,
        (_, Reason::VxlanFdbMissing) => Code::VxlanFdbMissing,
        (_, Reason::VtepMacMismatch) => Code::VxlanFdbMismatch,
        (_, Reason::VxlanNeighMissing { .. }) => Code::VxlanNeighMissing,
        // A leaked block's blackhole explains the drop even on a node the
        // packet should not have reached (the other end of an ECMP split).
        (D::NullRouted, Reason::RouteType(_)) if leaked_drop(cx, hops) => Code::IpamLeakedAffinity,
        _ if wrong_node => Code::WrongNextHop,
        (D::NullRouted, Reason::RouteType(_)) => null_route_code(cx, hops, at_dst_node),
        (D::NullRouted, _) => Code::RouteShadowed,
        (D::NoRoute, Reason::NoMatchingRoute) if at_dst_node => Code::PodRouteMissing,
        (D::NoRoute, Reason::NoMatchingRoute) => Code::MissingPodRoute,
        (D::NeighbourUnresolved, _) if at_dst_node => Code::PodRouteMissing,
        (D::LeftCluster, _) if drop_node.is_some_and(|n| bgp_down(cx, n)) => Code::BgpSessionDown,
        (D::LeftCluster, _) if drop_node.is_some_and(|n| runs_bird(cx, n)) => Code::BgpRouteMissing,
        (D::LeftCluster, _) => Code::MissingPodRoute,
        _ => Code::WrongNextHop,
    })
}

/// A tunnel's outer packet addressed to no node, lost on the underlay:
/// what chose its destination is wrong — the FDB entry (VXLAN) or the
/// route's gateway (IPIP) — not a route to the pod.
fn stray_outer(cx: &Cx<'_>, hops: &[Hop]) -> Option<Code> {
    let (dst, code) = hops.iter().rev().find_map(|h| match h.step {
        Step::VxlanEncap { outer, .. } => Some(Some((outer.dst, Code::VxlanFdbMismatch))),
        Step::IpipEncap { outer } => Some(Some((outer.dst, Code::WrongNextHop))),
        Step::Decap { .. } => Some(None),
        _ => None,
    })??;
    cx.dp.node_by_ip(dst).is_none().then_some(code)
}

/// Whether the packet was inside a tunnel header when it was dropped (the
/// drop is of the overlay's outer packet, not of the pod's).
fn encapsulated(hops: &[Hop]) -> bool {
    hops.iter().rev().find_map(|h| match h.step {
        Step::VxlanEncap { .. } | Step::IpipEncap { .. } => Some(true),
        Step::Decap { .. } => Some(false),
        _ => None,
    }) == Some(true)
}

/// A blackhole from BIRD is Calico's own-block aggregate: hitting it for a
/// local pod means the pod's /32 is gone; for a remote pod, the peer's block
/// was not learned. Any other null route hides the pod route.
/// The drop is at a `blackhole … proto bird` for a block whose pods or
/// affinity are another node's (ipam-leaked-affinity).
fn leaked_drop(cx: &Cx<'_>, hops: &[Hop]) -> bool {
    let node = hops.last().map(|h| cx.dp.node_name(cx.dp.ns_node(h.ns)));
    let leaked = |r: &Route| {
        let foreign = node.is_some_and(|n| crate::ipam::leaked_blackhole(cx.snap, n, r.dst));
        crate::ipam::is_block_blackhole(r) && foreign
    };
    deciding_route(cx.dp, hops).is_some_and(leaked)
}

fn null_route_code(cx: &Cx<'_>, hops: &[Hop], at_dst_node: bool) -> Code {
    match deciding_route(cx.dp, hops) {
        Some(r) if r.protocol == Protocol::BIRD && at_dst_node => Code::PodRouteMissing,
        Some(r) if r.protocol == Protocol::BIRD => Code::BgpRouteMissing,
        _ => Code::RouteShadowed,
    }
}

/// A BGP peer of this node is not Established (so routes are not learned):
/// one of the sessions Calico's BGPPeers call for when they were collected
/// (as bgp-session-down judges), else any (full mesh assumed).
fn bgp_down(cx: &Cx<'_>, node: NodeId) -> bool {
    let name = cx.dp.node_name(node);
    let topo = crate::bgptopo::BgpTopology::from_k8s(&cx.snap.k8s);
    let want = topo.as_ref().and_then(|t| t.of(name));
    let expected = |p: &cnictl_model::BgpProtocol| {
        want.is_none_or(|w| p.neighbor_address.is_some_and(|ip| w.contains(&ip)))
    };
    let down = |p: &cnictl_model::BgpProtocol| p.is_bgp() && !p.is_established() && expected(p);
    let bgp = cx.snap.nodes.get(name).and_then(|n| n.bgp.as_ref());
    let unconfigured = |b: &cnictl_model::Bgp| {
        let runs = |ip: &std::net::IpAddr| {
            b.protocols
                .iter()
                .any(|p| p.is_bgp() && p.neighbor_address == Some(*ip))
        };
        want.is_some_and(|w| !w.iter().all(runs))
    };
    bgp.is_some_and(|b| b.protocols.iter().any(down) || unconfigured(b))
}

/// The node runs a model whose pod networks are local to each host
/// (Docker's bridge): leaving toward another host's pods is by design.
fn isolated(cx: &Cx<'_>, node: NodeId) -> Option<&'static str> {
    let name = cx.dp.node_name(node);
    let n = cx.snap.nodes.get(name)?;
    let model = crate::infer::infer_node(n, cx.snap.k8s.node(name)).model;
    let p = model.profile()?;
    (p.next_hop == crate::cni::NextHop::Isolated).then_some(p.route_fix)
}

fn runs_bird(cx: &Cx<'_>, node: NodeId) -> bool {
    let Some(n) = cx.snap.nodes.get(cx.dp.node_name(node)) else {
        return false;
    };
    n.bgp.is_some() || n.routes.iter().any(|r| r.protocol == Protocol::BIRD)
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
