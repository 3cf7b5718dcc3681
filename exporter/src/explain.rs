//! `/api/v1/explain`: resolves the query's endpoints against the analysis,
//! traces one packet through the reference dataplane and renders the hops
//! in the DESIGN.md explain shape (`{verdict, disposition, hops, drop}`).
//! The trace itself is the dataplane's; this module only names endpoints
//! and maps the drop reason to the finding code whose hint applies.

use std::net::IpAddr;

use cnictl_analyzers::checks::CODES;
use cnictl_dataplane::{
    Dataplane, Disposition, Hop, HopText, Ingress, NodeId, Packet, PodId, Proto, Reason, Trace,
};
use cnictl_model::{ClusterSnapshot, RouteType};
use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::error::ApiError;

/// Query parameters of `/api/v1/explain`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// `ns/name`, a unique pod `name`, a pod or node IP, or a node name.
    pub src: String,
    /// As `src`, or any IP, or a Service `svc/ns/name[:port]`.
    pub dst: String,
    pub port: Option<u16>,
    /// `icmp` (default), `tcp` or `udp`.
    pub proto: Option<String>,
    /// IP total length in bytes (default 84, a default ping).
    pub size: Option<u32>,
    /// Don't Fragment (default true, as ping and TCP set it).
    pub df: Option<bool>,
}

/// One side of the path, as resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// `pod`, `node`, `service` or `ip`.
    pub kind: &'static str,
    pub name: String,
    pub ip: IpAddr,
    pub node: Option<String>,
}

/// A rendered hop with its position and where it happened.
#[derive(Debug, Clone, Serialize)]
pub struct HopOut {
    pub index: usize,
    pub location: String,
    #[serde(flatten)]
    pub text: HopText,
}

/// Where and why the packet was dropped, with the finding that explains it.
#[derive(Debug, Clone, Serialize)]
pub struct DropOut {
    pub hop: usize,
    pub node: String,
    pub disposition: Disposition,
    pub reason: String,
    pub code: Option<&'static str>,
    pub hint: Option<String>,
    /// The matching finding's summary on that node, when checks found one.
    pub finding: Option<String>,
}

/// The path of one packet (one IPVS real server's continuation, or the main one).
#[derive(Debug, Clone, Serialize)]
pub struct PathOut {
    pub verdict: &'static str,
    pub disposition: Disposition,
    pub hops: Vec<HopOut>,
    pub drop: Option<DropOut>,
}

/// The answer: DESIGN.md's `{verdict, hops, drop}` plus context.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainOut {
    pub schema: &'static str,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub proto: &'static str,
    pub port: u16,
    pub size: u32,
    pub df: bool,
    #[serde(flatten)]
    pub path: PathOut,
    /// IPVS: one continuation per real server.
    pub branches: Vec<BranchOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BranchOut {
    pub real_server: String,
    #[serde(flatten)]
    pub path: PathOut,
}

/// Answers an explain query; user errors are 400/404.
pub fn explain(a: &Analysis, q: &ExplainQuery) -> Result<ExplainOut, ApiError> {
    let dp = &a.dataplane;
    let proto = parse_proto(q.proto.as_deref())?;
    let size = q.size.unwrap_or(cnictl_dataplane::DEFAULT_SIZE);
    if !(28..=65535).contains(&size) {
        return Err(ApiError::bad_request(format!(
            "size {size} out of range: an IP total length is 28..=65535"
        )));
    }
    let (dst, svc_port) = resolve_dst(&a.snapshot, dp, q.dst.trim())?;
    let (src, ingress) = resolve_src(&a.snapshot, dp, q.src.trim(), dst.ip)?;
    let port = q.port.or(svc_port).unwrap_or(0);
    if proto != Proto::Icmp && port == 0 {
        return Err(ApiError::bad_request(format!(
            "proto {} needs a destination port (port=1..65535)",
            proto.name()
        )));
    }
    let mut pkt = Packet::new(src.ip, dst.ip);
    pkt.proto = proto;
    pkt.dport = port;
    pkt.sport = if proto == Proto::Icmp { 0 } else { 40000 };
    pkt.size = size;
    pkt.df = q.df.unwrap_or(true);
    let trace = dp.trace(&pkt, ingress);
    Ok(ExplainOut {
        schema: cnictl_model::SCHEMA,
        src,
        dst,
        proto: proto.name(),
        port,
        size,
        df: pkt.df,
        path: path_out(a, &trace),
        branches: branches_out(a, &trace),
    })
}

fn parse_proto(p: Option<&str>) -> Result<Proto, ApiError> {
    match p.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("icmp") => Ok(Proto::Icmp),
        Some("tcp") => Ok(Proto::Tcp),
        Some("udp") => Ok(Proto::Udp),
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown proto {other:?} (expected icmp, tcp or udp)"
        ))),
    }
}

fn pod_endpoint(dp: &Dataplane, pod: PodId, want: Option<IpAddr>) -> Result<Endpoint, ApiError> {
    let ips = dp.pod_ips(pod);
    let ip = want
        .and_then(|w| ips.iter().find(|ip| ip.is_ipv4() == w.is_ipv4()))
        .or_else(|| ips.first())
        .copied()
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "pod_without_ip",
                format!("pod {} has no IP address in the snapshot", dp.pod_key(pod)),
            )
        })?;
    Ok(Endpoint {
        kind: "pod",
        name: dp.pod_key(pod).to_string(),
        ip,
        node: Some(dp.node_name(dp.pod_node(pod)).to_string()),
    })
}

fn node_endpoint(dp: &Dataplane, node: NodeId) -> Result<Endpoint, ApiError> {
    let name = dp.node_name(node).to_string();
    let ip = dp.node_ip(node).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "node_without_ip",
            format!("node {name} has no underlay address in the snapshot"),
        )
    })?;
    Ok(Endpoint {
        kind: "node",
        name: name.clone(),
        ip,
        node: Some(name),
    })
}

/// A pod by `ns/name`, or by a name that only one pod has.
fn find_pod(snap: &ClusterSnapshot, dp: &Dataplane, s: &str) -> Result<Option<PodId>, ApiError> {
    if s.contains('/') {
        return Ok(dp.pod_id(s));
    }
    let mut hits = snap.k8s.pods.iter().filter(|p| p.name == s);
    match (hits.next(), hits.next()) {
        (Some(p), None) => Ok(dp.pod_id(&p.key())),
        (Some(a), Some(b)) => Err(ApiError::bad_request(format!(
            "pod name {s:?} is ambiguous ({} and {}): use namespace/name",
            a.key(),
            b.key()
        ))),
        _ => Ok(None),
    }
}

fn resolve_src(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    s: &str,
    dst_ip: IpAddr,
) -> Result<(Endpoint, Ingress), ApiError> {
    check_name("src", s)?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        if let Some(p) = dp.pod_by_ip(ip) {
            return Ok((pod_endpoint(dp, p, Some(ip))?, Ingress::Pod(p)));
        }
        if let Some(n) = dp.node_by_ip(ip) {
            return Ok((node_endpoint(dp, n)?, Ingress::Node(n)));
        }
        return Err(ApiError::not_found(
            "unknown_source",
            format!("src {ip} is neither a pod's nor a node's address in the snapshot"),
        ));
    }
    if let Some(p) = find_pod(snap, dp, s)? {
        return Ok((pod_endpoint(dp, p, Some(dst_ip))?, Ingress::Pod(p)));
    }
    if let Some(n) = dp.node_id(s) {
        return Ok((node_endpoint(dp, n)?, Ingress::Node(n)));
    }
    Err(ApiError::not_found(
        "unknown_pod",
        format!("src {s:?}: no such pod (namespace/name or unique name) or node"),
    ))
}

fn resolve_dst(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    s: &str,
) -> Result<(Endpoint, Option<u16>), ApiError> {
    check_name("dst", s)?;
    if let Some(rest) = s.strip_prefix("svc/") {
        return resolve_service(snap, rest);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        if let Some(p) = dp.pod_by_ip(ip) {
            return Ok((pod_endpoint(dp, p, Some(ip))?, None));
        }
        let node = dp.node_by_ip(ip).map(|n| dp.node_name(n).to_string());
        let kind = if node.is_some() { "node" } else { "ip" };
        return Ok((Endpoint { kind, name: s.to_string(), ip, node }, None));
    }
    if let Some(p) = find_pod(snap, dp, s)? {
        return Ok((pod_endpoint(dp, p, None)?, None));
    }
    if let Some(n) = dp.node_id(s) {
        return Ok((node_endpoint(dp, n)?, None));
    }
    Err(ApiError::not_found(
        "unknown_pod",
        format!("dst {s:?}: no such pod, node or IP (services: svc/namespace/name:port)"),
    ))
}

/// `ns/name[:port]` of a Service with a ClusterIP.
fn resolve_service(snap: &ClusterSnapshot, rest: &str) -> Result<(Endpoint, Option<u16>), ApiError> {
    let (key, port) = match rest.rsplit_once(':') {
        Some((k, p)) => {
            let port = p.parse::<u16>().map_err(|_| {
                ApiError::bad_request(format!("service port {p:?} is not a number 1..65535"))
            })?;
            (k, Some(port))
        }
        None => (rest, None),
    };
    let svc = snap
        .k8s
        .services
        .iter()
        .flatten()
        .find(|s| s.key() == key)
        .ok_or_else(|| ApiError::not_found("unknown_service", format!("no service {key:?}")))?;
    let ip = *svc.cluster_ips.first().ok_or_else(|| {
        ApiError::bad_request(format!("service {key} is headless (no ClusterIP)"))
    })?;
    let port = port.or_else(|| svc.ports.first().map(|p| p.port));
    Ok((
        Endpoint {
            kind: "service",
            name: key.to_string(),
            ip,
            node: None,
        },
        port,
    ))
}

/// Names are short printable tokens; anything else is a malformed query.
fn check_name(what: &str, s: &str) -> Result<(), ApiError> {
    if s.is_empty() {
        return Err(ApiError::bad_request(format!("{what} is empty")));
    }
    if s.len() > 512 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::bad_request(format!(
            "{what} must be a pod, node, IP or service name without spaces (at most 512 bytes)"
        )));
    }
    Ok(())
}

fn path_out(a: &Analysis, t: &Trace) -> PathOut {
    let dp = &a.dataplane;
    let hops: Vec<HopOut> = t
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| hop_out(dp, i, h))
        .collect();
    let drop = t.drop_hop().map(|i| drop_out(a, t, i, &hops));
    PathOut {
        verdict: if t.disposition == Disposition::Delivered { "delivered" } else { "dropped" },
        disposition: t.disposition,
        hops,
        drop,
    }
}

fn hop_out(dp: &Dataplane, index: usize, h: &Hop) -> HopOut {
    HopOut {
        index,
        location: dp.ns_label(h.ns),
        text: dp.render_hop(h),
    }
}

fn drop_out(a: &Analysis, t: &Trace, i: usize, hops: &[HopOut]) -> DropOut {
    let node = hops.get(i).map(|h| h.text.node.clone()).unwrap_or_default();
    let code = finding_code(t.reason);
    let finding = code.and_then(|c| a.findings_of(&node).find(|f| f.code == c));
    let hint = finding
        .map(|f| f.hint.clone())
        .or_else(|| code.and_then(code_meaning).map(str::to_string));
    DropOut {
        hop: i,
        node,
        disposition: t.disposition,
        reason: a.dataplane.reason_text(t.reason),
        code,
        hint,
        finding: finding.map(|f| f.summary.clone()),
    }
}

fn branches_out(a: &Analysis, t: &Trace) -> Vec<BranchOut> {
    t.branches
        .iter()
        .map(|b| {
            let real = a
                .dataplane
                .virtual_services(b.ns)
                .get(b.vs as usize)
                .and_then(|vs| vs.reals.get(b.real as usize))
                .map_or_else(|| format!("real server {}", b.real), |r| r.to_string());
            BranchOut {
                real_server: real,
                path: path_out(a, &b.trace),
            }
        })
        .collect()
}

/// The finding code whose check reports the same fault a drop shows.
fn finding_code(r: Reason) -> Option<&'static str> {
    Some(match r {
        Reason::NoMatchingRoute | Reason::LeftCluster { .. } => "missing-pod-route",
        Reason::RouteType(RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit) => {
            "route-shadowed"
        }
        Reason::GatewayNotAdjacent { .. } => "next-hop-not-adjacent",
        Reason::ArpUnresolved { .. } | Reason::DeviceMissing => "wrong-next-hop",
        Reason::VxlanNeighMissing { .. } => "vxlan-neigh-missing",
        Reason::VxlanFdbMissing => "vxlan-fdb-missing",
        Reason::VtepMacMismatch => "vxlan-fdb-mismatch",
        Reason::IpForwardOff => "ip-forward-disabled",
        Reason::Mtu { .. } => "mtu-mismatch",
        Reason::IpvsNoBackends => "ipvs-no-backends",
        Reason::PeerUnknown => "pod-route-missing",
        _ => return None,
    })
}

fn code_meaning(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _, _)| *c == code).map(|(_, _, m)| *m)
}
