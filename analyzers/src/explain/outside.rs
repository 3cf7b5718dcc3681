//! Traffic that crosses the cluster's edge: a client outside the cluster
//! entering a node (a NodePort, a LoadBalancer or external IP), and a pod
//! reaching an address outside the cluster (egress) with the source NAT that
//! decides whether the reply can come back.
//!
//! cnictl sees the nodes, not the network around them. So an outside
//! packet enters where the destination says (a node's address) or where the
//! user says (`--via`: a load balancer or router picks a node, and nothing
//! collected says which); and a reply from outside is traced from the
//! device the request left by. What the outside network routes is assumed
//! only where the cluster cannot have told it otherwise, and said.

use std::net::IpAddr;

use cnictl_dataplane::{Dataplane, Exit, Ingress, Packet};
use cnictl_model::ClusterSnapshot;
use serde::Serialize;

use super::resolve::{Endpoint, EndpointKind};
use super::{DropInfo, ExplainError, Explanation, HopJson, Verdict};
use crate::code::Code;

/// How a packet left the cluster (`explain -o json`: `egress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressJson {
    pub node: String,
    pub dev: String,
    /// The gateway it was sent to; `None` when on-link.
    pub via: Option<IpAddr>,
    /// Its source on the wire (after SNAT/MASQUERADE).
    pub src: IpAddr,
    pub sport: Option<u16>,
    /// Whether a rule rewrote the source on the way out.
    pub snat: bool,
}

/// The outside client as an endpoint.
pub(crate) fn client(dp: &Dataplane, ip: IpAddr) -> Result<Endpoint, ExplainError> {
    if dp.pod_by_ip(ip).is_some() || dp.node_by_ip(ip).is_some() {
        return Err(ExplainError::Invalid {
            what: "--from-outside address",
            value: ip.to_string(),
            reason: "it belongs to a pod or node of the cluster: give it as SRC instead",
        });
    }
    Ok(Endpoint {
        spec: format!("outside/{ip}"),
        kind: EndpointKind::Outside,
        ..Endpoint::ip(ip)
    })
}

/// A Service reached from outside is reached on its load-balancer or
/// external IP (its ClusterIP is not routed outside the cluster).
pub(crate) fn retarget(snap: &ClusterSnapshot, dst: &mut Endpoint) -> Result<(), ExplainError> {
    let Some(key) = dst
        .service
        .as_deref()
        .filter(|_| dst.kind == EndpointKind::Service)
    else {
        return Ok(());
    };
    let svc = snap.k8s.services.iter().flatten().find(|s| s.is(key));
    let ip = svc.and_then(|s| s.load_balancer_ips.first().or(s.external_ips.first()));
    dst.ip = *ip.ok_or_else(|| ExplainError::NotReachableFromOutside { svc: key.into() })?;
    Ok(())
}

/// Where the outside client's packet enters: the node whose address it is
/// sent to, else the node `via` names.
pub(crate) fn entry(
    dp: &Dataplane,
    dst: &Endpoint,
    via: Option<&str>,
) -> Result<Ingress, ExplainError> {
    if let Some(name) = via {
        let node = dp
            .node_id(name.trim_start_matches("node/"))
            .ok_or_else(|| ExplainError::Unknown {
                role: "--via node",
                spec: name.into(),
                suggestion: String::new(),
            })?;
        let ip = dp.node_ip(node);
        return ip
            .and_then(|ip| dp.underlay_entry(ip))
            .ok_or(ExplainError::NoEntry { node: name.into() });
    }
    dp.underlay_entry(dst.ip)
        .ok_or_else(|| ExplainError::ViaNeeded {
            dst: dst.spec.clone(),
        })
}

/// `egress` of a trace that left the cluster.
pub(crate) fn egress(dp: &Dataplane, sent: &Packet, exit: &Exit) -> EgressJson {
    let link = dp.link(exit.ns, exit.dev);
    EgressJson {
        node: dp.node_name(dp.ns_node(exit.ns)).into(),
        dev: link.map_or_else(|| format!("#{}", exit.dev), |l| l.name.clone()),
        via: exit.gw,
        src: exit.packet.src,
        sport: (exit.packet.sport != 0).then_some(exit.packet.sport),
        snat: exit.packet.src != sent.src || exit.packet.sport != sent.sport,
    }
}

/// The last hop of a path to an outside address says it left, not that it
/// was dropped: leaving is what the packet was meant to do.
pub(crate) fn mark_leaving(ex: &mut Explanation) {
    let Some(e) = ex.egress.clone() else { return };
    let Some(last) = ex.hops.last_mut() else {
        return;
    };
    last.kind = "leave".into();
    let via = e
        .via
        .map_or_else(|| "on-link".into(), |g| format!("towards gateway {g}"));
    let nat = if e.snat {
        ""
    } else {
        ", source not translated"
    };
    last.entry = format!(
        "leaves the cluster by {} {via} as {}{nat}",
        e.dev,
        sock(e.src, e.sport)
    );
}

fn sock(ip: IpAddr, port: Option<u16>) -> String {
    match (ip, port) {
        (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
        (ip, Some(p)) => format!("{ip}:{p}"),
        (ip, None) => ip.to_string(),
    }
}

/// The reply from the outside address back to the source: it arrives on
/// the device the request left by, addressed to the source the outside saw.
pub(crate) struct Reply {
    pub ingress: Ingress,
    pub packet: Packet,
    /// Conntrack turns the translated address back into the original one.
    pub note: Option<String>,
}

/// The reply's entry and packet, or why it cannot come back.
pub(crate) fn reply(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    sent: &Packet,
    e: &EgressJson,
) -> Result<Reply, String> {
    let mut p = *sent;
    (p.src, p.dst, p.sport, p.dport) = (sent.dst, sent.src, sent.dport, sent.sport);
    let note = e.snat.then(|| {
        format!(
            "conntrack on {} reverses the source NAT: the reply to {} goes on to {}",
            e.node,
            sock(e.src, e.sport),
            sent.src
        )
    });
    if !e.snat && !routable_outside(snap, dp, e.src) {
        return Err(unreturnable(snap, e.src));
    }
    let node = dp.node_id(&e.node).ok_or("egress node left the snapshot")?;
    let ingress = dp
        .device(dp.root_ns(node), &e.dev)
        .ok_or("egress device left the snapshot")?;
    Ok(Reply {
        ingress,
        packet: p,
        note,
    })
}

/// Whether the outside network can route a reply to `ip` without SNAT: a
/// node address is on the underlay; a pod's address (Calico nodes often
/// carry no podCIDR, so the pod itself counts) only if the cluster tells
/// routers outside about pod routes (a BGP peer that is no node).
fn routable_outside(snap: &ClusterSnapshot, dp: &Dataplane, ip: IpAddr) -> bool {
    let pod = dp.pod_by_ip(ip).is_some() || in_pod_network(snap, ip);
    dp.node_by_ip(ip).is_some() || !pod
}

fn in_pod_network(snap: &ClusterSnapshot, ip: IpAddr) -> bool {
    snap.k8s
        .nodes
        .iter()
        .flat_map(|n| &n.pod_cidrs)
        .any(|c| c.contains(&ip))
}

/// BGP sessions to peers that are no node: routers outside may then learn
/// pod routes, so an untranslated reply may come back.
fn external_bgp_peers(snap: &ClusterSnapshot, dp: &Dataplane) -> Vec<IpAddr> {
    let peers = snap.nodes.values().filter_map(|n| n.bgp.as_ref());
    let addrs = peers.flat_map(|b| b.protocols.iter().filter_map(|p| p.neighbor_address));
    let mut out: Vec<IpAddr> = addrs.filter(|a| dp.node_by_ip(*a).is_none()).collect();
    out.sort();
    out.dedup();
    out
}

fn unreturnable(snap: &ClusterSnapshot, ip: IpAddr) -> String {
    let cidr = snap
        .k8s
        .nodes
        .iter()
        .flat_map(|n| &n.pod_cidrs)
        .find(|c| c.contains(&ip));
    let net = cidr.map_or_else(
        || "pod addresses".into(),
        |c| format!("the pod network ({c})"),
    );
    format!("the request left the cluster with its pod source {ip} (no SNAT on the way out): the network outside has no route back to {net}")
}

/// The reverse document for a reply that cannot come back: dropped where
/// it would have to enter, or `unknown` when a BGP peer outside the nodes
/// may have learnt the pod routes.
pub(crate) fn unreturned(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    fwd: &Explanation,
    why: String,
) -> Explanation {
    let peers = external_bgp_peers(snap, dp);
    let mut back = fwd.clone();
    (back.src, back.dst) = (fwd.dst.clone(), fwd.src.clone());
    let p = &mut back.packet;
    (p.src, p.dst) = (fwd.packet.dst, fwd.packet.src);
    p.dport = fwd.egress.as_ref().and_then(|e| e.sport);
    back.hops = vec![outside_hop(fwd)];
    back.netfilter.clear();
    back.backends.clear();
    back.egress = None;
    back.reverse = None;
    back.notes = Vec::new();
    if peers.is_empty() {
        back.verdict = Verdict::Dropped;
        back.disposition = "left-cluster".into();
        back.drop = Some(unreturned_drop(fwd, why));
    } else {
        back.verdict = Verdict::Unknown;
        back.disposition = "unknown".into();
        back.drop = None;
        let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
        back.notes.push(format!("{why}, unless the BGP peers outside the nodes ({}) advertise it there: nothing collected says what they do", list.join(", ")));
    }
    back
}

/// The one hop of a reply that never reaches the cluster: where it would
/// have had to come back in.
fn outside_hop(fwd: &Explanation) -> HopJson {
    let e = fwd.egress.as_ref();
    HopJson {
        index: 1,
        node: e.map_or_else(String::new, |e| e.node.clone()),
        netns: None,
        in_dev: e.map(|e| e.dev.clone()),
        out_dev: None,
        kind: "outside".into(),
        entry: format!(
            "the reply from {} to {} would have to be routed back by the network outside the cluster",
            fwd.packet.dst, fwd.packet.src
        ),
        rewrite: None,
        inferred: true,
        netfilter: None,
    }
}

fn unreturned_drop(fwd: &Explanation, why: String) -> DropInfo {
    DropInfo {
        hop: 1,
        node: fwd
            .egress
            .as_ref()
            .map_or_else(String::new, |e| e.node.clone()),
        disposition: "left-cluster".into(),
        reason: why,
        code: Some(Code::MasqueradeMissing),
        hint: Code::MasqueradeMissing.hint().into(),
        finding: None,
        root_cause: None,
    }
}
