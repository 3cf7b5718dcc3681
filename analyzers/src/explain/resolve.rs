//! Turning SRC/DST strings into endpoints, an ingress point and a packet.

use std::net::IpAddr;

use cnictl_dataplane::{Dataplane, Ingress, NodeId, Packet, PodId, Proto};
use cnictl_model::ClusterSnapshot;
use serde::Serialize;

use super::{ExplainError, ExplainRequest, Family};

/// What an endpoint turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    Pod,
    Node,
    Service,
    Ip,
    /// A client or server outside the cluster (`--from-outside`).
    Outside,
}

/// A resolved SRC or DST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// As the user wrote it.
    pub spec: String,
    pub kind: EndpointKind,
    pub ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip)]
    pub(crate) proto: Option<Proto>,
    #[serde(skip)]
    pub(crate) pod_id: Option<PodId>,
    #[serde(skip)]
    pub(crate) node_id: Option<NodeId>,
}

/// `tcp`, `udp` or `icmp` (case-insensitive).
pub fn parse_proto(s: &str) -> Result<Proto, ExplainError> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "icmp" => Ok(Proto::Icmp),
        _ => Err(ExplainError::Invalid {
            what: "protocol",
            value: s.into(),
            reason: "expected tcp, udp or icmp",
        }),
    }
}

pub(crate) fn endpoint(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    spec: &str,
    role: &'static str,
) -> Result<Endpoint, ExplainError> {
    if let Some(rest) = spec.strip_prefix("svc/") {
        return service(snap, spec, rest);
    }
    if let Some(rest) = spec.strip_prefix("node/") {
        return node_spec(snap, dp, spec, rest, role);
    }
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(endpoint_for_ip(dp, ip, spec.into()));
    }
    if spec.contains('/') {
        let Some(id) = dp.pod_id(spec) else {
            return k8s_pod(snap, dp, spec, role);
        };
        return pod_endpoint(dp, id, spec).ok_or_else(|| ExplainError::Unknown {
            role,
            spec: spec.into(),
            suggestion: String::new(),
        });
    }
    let mut candidates = dp.pods_named(spec);
    match candidates.len() {
        1 => pod_endpoint(dp, candidates.remove(0), spec).ok_or_else(|| ExplainError::Unknown {
            role,
            spec: spec.into(),
            suggestion: String::new(),
        }),
        0 => match dp.node_id(spec) {
            Some(id) => node_endpoint(dp, id, spec).ok_or_else(|| ExplainError::Unknown {
                role,
                spec: spec.into(),
                suggestion: String::new(),
            }),
            None => k8s_pod(snap, dp, spec, role),
        },
        _ => {
            let mut keys: Vec<String> = candidates
                .iter()
                .map(|p| dp.pod_key(*p).to_string())
                .collect();
            keys.sort();
            Err(ExplainError::Ambiguous {
                role,
                name: spec.into(),
                candidates: keys,
            })
        }
    }
}

/// `node/NAME` or `node/NAME:PORT`; a port that is some Service's
/// NodePort names that Service (its rules decide where the packet goes).
fn node_spec(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    spec: &str,
    rest: &str,
    role: &'static str,
) -> Result<Endpoint, ExplainError> {
    let (name, port) = match rest.rsplit_once(':') {
        Some((n, p)) => (n, Some(parse_port(p, "node port")?)),
        None => (rest, None),
    };
    let unknown = || ExplainError::Unknown {
        role,
        spec: spec.into(),
        suggestion: String::new(),
    };
    let id = dp.node_id(name).ok_or_else(unknown)?;
    let mut e = node_endpoint(dp, id, spec).ok_or_else(unknown)?;
    if let Some(p) = port {
        e.port = Some(p);
        if let Some((key, udp)) = node_port_service(snap, p) {
            e.proto = Some(if udp { Proto::Udp } else { Proto::Tcp });
            e.service = Some(key);
        }
    }
    Ok(e)
}

/// The Service whose NodePort is `port`, and whether that port is UDP.
fn node_port_service(snap: &ClusterSnapshot, port: u16) -> Option<(String, bool)> {
    snap.k8s.services.iter().flatten().find_map(|s| {
        let sp = s.ports.iter().find(|p| p.node_port == Some(port))?;
        Some((s.key(), sp.protocol.eq_ignore_ascii_case("udp")))
    })
}

fn parse_port(p: &str, what: &'static str) -> Result<u16, ExplainError> {
    p.parse::<u16>().map_err(|_| ExplainError::Invalid {
        what,
        value: p.into(),
        reason: "not a number 0-65535",
    })
}

/// A dual-stack pod's address of `family`: the one `--family` asks for,
/// else that of an IP given for the other end, else IPv4 (a pod named by
/// name first resolves to its IPv4 address where it has one).
pub(crate) fn pick_family(
    dp: &Dataplane,
    req: &ExplainRequest,
    src: &mut Endpoint,
    dst: &mut Endpoint,
) -> Result<(), ExplainError> {
    let literal = |e: &Endpoint| e.spec.parse::<IpAddr>().ok().map(Family::of);
    let Some(want) = req.family.or(literal(dst)).or(literal(src)) else {
        return Ok(());
    };
    for e in [&mut *src, &mut *dst] {
        let Some(id) = e.pod_id.filter(|_| Family::of(e.ip) != want) else {
            continue;
        };
        let routable = |ip: &&IpAddr| Family::of(**ip) == want && !link_local(**ip);
        match dp.pod_ips(id).iter().find(routable) {
            Some(ip) => e.ip = *ip,
            None => return Err(no_address(e, want)),
        }
    }
    Ok(())
}

/// fe80::/10 (and 169.254/16): every IPv6 interface has one; it is no
/// pod address.
fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn no_address(e: &Endpoint, want: Family) -> ExplainError {
    ExplainError::Invalid {
        what: "family",
        value: e.spec.clone(),
        reason: match want {
            Family::V4 => "the pod has no IPv4 address",
            Family::V6 => "the pod has no IPv6 address",
        },
    }
}

fn pod_endpoint(dp: &Dataplane, id: PodId, spec: &str) -> Option<Endpoint> {
    let ips = dp.pod_ips(id);
    let ip = *ips.iter().find(|ip| ip.is_ipv4()).or(ips.first())?;
    let node = dp.pod_node(id);
    Some(Endpoint {
        spec: spec.into(),
        kind: EndpointKind::Pod,
        ip,
        pod: Some(dp.pod_key(id).into()),
        node: Some(dp.node_name(node).into()),
        service: None,
        port: None,
        proto: None,
        pod_id: Some(id),
        node_id: Some(node),
    })
}

fn node_endpoint(dp: &Dataplane, id: NodeId, spec: &str) -> Option<Endpoint> {
    Some(Endpoint {
        spec: spec.into(),
        kind: EndpointKind::Node,
        ip: dp.node_ip(id)?,
        pod: None,
        node: Some(dp.node_name(id).into()),
        service: None,
        port: None,
        proto: None,
        pod_id: None,
        node_id: Some(id),
    })
}

/// An IP: a pod's, a node's, or just an address.
/// A pod the dataplane has no pod-network entry for: a hostNetwork pod is
/// its node (same netns, same addresses); a pod on a node without a dump
/// gets an error that says so rather than "unknown".
fn k8s_pod(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    spec: &str,
    role: &'static str,
) -> Result<Endpoint, ExplainError> {
    let unknown = || ExplainError::Unknown {
        role,
        spec: spec.into(),
        suggestion: String::new(),
    };
    let mut found = snap.k8s.pods.iter().filter(|p| match spec.split_once('/') {
        Some((ns, name)) => p.namespace == ns && p.name == name,
        None => p.name == spec,
    });
    let pod = found.next().ok_or_else(unknown)?;
    if found.next().is_some() {
        return Err(unknown());
    }
    let node = pod.node.as_deref().ok_or_else(unknown)?;
    let Some(id) = dp.node_id(node) else {
        return Err(ExplainError::NodeNotCollected {
            pod: pod.key(),
            node: node.into(),
        });
    };
    if !pod.host_network {
        return Err(unknown());
    }
    node_endpoint(dp, id, spec).ok_or_else(unknown)
}

pub(crate) fn endpoint_for_ip(dp: &Dataplane, ip: IpAddr, spec: String) -> Endpoint {
    if let Some(p) = dp.pod_by_ip(ip) {
        if let Some(mut e) = pod_endpoint(dp, p, &spec) {
            e.ip = ip;
            return e;
        }
    }
    if let Some(n) = dp.node_by_ip(ip) {
        if let Some(mut e) = node_endpoint(dp, n, &spec) {
            e.ip = ip;
            return e;
        }
    }
    Endpoint {
        spec,
        ..Endpoint::ip(ip)
    }
}

impl Endpoint {
    /// Just an address: no pod, node or Service behind it.
    pub(crate) fn ip(ip: IpAddr) -> Endpoint {
        Endpoint {
            spec: ip.to_string(),
            kind: EndpointKind::Ip,
            ip,
            pod: None,
            node: None,
            service: None,
            port: None,
            proto: None,
            pod_id: None,
            node_id: None,
        }
    }
}

/// A destination typed as a Service's ClusterIP (copied from `kubectl get
/// svc`), as the `svc/ns/name[:port]` spec it stands for.
pub(crate) fn cluster_ip_spec(
    snap: &ClusterSnapshot,
    spec: &str,
    port: Option<u16>,
) -> Option<String> {
    let ip: IpAddr = spec.parse().ok()?;
    let svc = snap
        .k8s
        .services
        .iter()
        .flatten()
        .find(|s| s.cluster_ips.contains(&ip))?;
    Some(match port {
        Some(p) => format!("svc/{}:{p}", svc.key()),
        None => format!("svc/{}", svc.key()),
    })
}

/// `svc/ns/name[:port]` → the ClusterIP and the port (given, or the only one).
fn service(snap: &ClusterSnapshot, spec: &str, rest: &str) -> Result<Endpoint, ExplainError> {
    let (key, port) = match rest.rsplit_once(':') {
        Some((k, p)) => (k, Some(parse_port(p, "service port")?)),
        None => (rest, None),
    };
    let svc = snap
        .k8s
        .services
        .iter()
        .flatten()
        .find(|s| s.is(key))
        .ok_or_else(|| ExplainError::UnknownService(key.into()))?;
    let ip = *svc
        .cluster_ips
        .first()
        .ok_or_else(|| ExplainError::NoClusterIp { svc: key.into() })?;
    let ports: Vec<u16> = svc.ports.iter().map(|p| p.port).collect();
    let sp = match port {
        Some(p) => Some(svc.ports.iter().find(|sp| sp.port == p).ok_or(
            ExplainError::NoSuchPort {
                svc: key.into(),
                port: p,
                ports: ports.clone(),
            },
        )?),
        None if svc.ports.len() == 1 => svc.ports.first(),
        None if svc.ports.is_empty() => None,
        None => {
            return Err(ExplainError::PortNeeded {
                svc: key.into(),
                ports,
            })
        }
    };
    Ok(Endpoint {
        spec: spec.into(),
        kind: EndpointKind::Service,
        ip,
        pod: None,
        node: None,
        service: Some(key.into()),
        port: sp.map(|p| p.port),
        proto: sp.map(|p| {
            if p.protocol.eq_ignore_ascii_case("udp") {
                Proto::Udp
            } else {
                Proto::Tcp
            }
        }),
        pod_id: None,
        node_id: None,
    })
}

/// Where a packet from this endpoint enters the dataplane.
pub(crate) fn ingress(e: &Endpoint) -> Option<Ingress> {
    if let Some(p) = e.pod_id {
        return Some(Ingress::Pod(p));
    }
    e.node_id.map(Ingress::Node)
}

pub(crate) fn ingress_node(dp: &Dataplane, i: Ingress) -> Option<NodeId> {
    match i {
        Ingress::Pod(p) => Some(dp.pod_node(p)),
        Ingress::Node(n) => Some(n),
        Ingress::Device { ns, .. } => Some(dp.ns_node(ns)),
    }
}

/// The packet: protocol from `--proto`, the service port, or TCP when a port
/// is known (else ICMP); size checked to be a possible IP total length.
pub(crate) fn packet(
    req: &ExplainRequest,
    src: &Endpoint,
    dst: &Endpoint,
) -> Result<Packet, ExplainError> {
    let mut p = Packet::new(src.ip, dst.ip);
    if let Some(size) = req.size {
        if !(28..=65535).contains(&size) {
            return Err(ExplainError::Invalid {
                what: "size",
                value: size.to_string(),
                reason: "an IP total length must be 28-65535",
            });
        }
        p.size = size;
    }
    p.df = !req.no_df;
    let port = req.port.or(dst.port);
    p.proto = req.proto.or(dst.proto).unwrap_or(if port.is_some() {
        Proto::Tcp
    } else {
        Proto::Icmp
    });
    if matches!(p.proto, Proto::Tcp | Proto::Udp) {
        p.dport = port.unwrap_or(0);
        p.sport = 40000;
    }
    Ok(p)
}

/// Ready endpoint addresses of a Service with the target port for its
/// `port` (by port name, else the slice's only port).
pub(crate) fn service_endpoints(
    snap: &ClusterSnapshot,
    svc_key: &str,
    port: Option<u16>,
) -> Vec<(IpAddr, u16)> {
    let Some(svc) = snap.k8s.services.iter().flatten().find(|s| s.is(svc_key)) else {
        return Vec::new();
    };
    let sp = svc
        .ports
        .iter()
        .find(|p| Some(p.port) == port)
        .or(svc.ports.first());
    let mut out = Vec::new();
    for slice in snap.k8s.endpoint_slices.iter().flatten() {
        if slice.namespace != svc.namespace || slice.service.as_deref() != Some(svc.name.as_str()) {
            continue;
        }
        let ep_port = slice
            .ports
            .iter()
            .find(|p| sp.is_some_and(|sp| p.name == sp.name))
            .or(if slice.ports.len() == 1 {
                slice.ports.first()
            } else {
                None
            })
            .map(|p| p.port)
            .or(sp.map(|sp| sp.port));
        let Some(ep_port) = ep_port else { continue };
        for ep in slice.endpoints.iter().filter(|e| e.ready) {
            out.extend(ep.addresses.iter().map(|a| (*a, ep_port)));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Adds "did you mean" to an unknown name: the closest pod, node or
/// Service name (a Service typed without `svc/` is named with it).
pub(crate) fn did_you_mean(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    e: ExplainError,
) -> ExplainError {
    let ExplainError::Unknown { role, spec, .. } = e else {
        return e;
    };
    let suggestion = closest(snap, dp, &spec)
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default();
    ExplainError::Unknown {
        role,
        spec,
        suggestion,
    }
}

/// The known name nearest to `spec` (Jaro-Winkler ≥ 0.85), a Service
/// whose key `spec` is exactly first.
fn closest(snap: &ClusterSnapshot, dp: &Dataplane, spec: &str) -> Option<String> {
    let nodes =
        (0..dp.node_count()).map(|i| dp.node_name(cnictl_dataplane::NodeId(i as u32)).to_string());
    nearest(&snap.k8s, nodes, spec)
}

/// The pod, node (of `nodes`) or Service name nearest to `spec`; shared
/// with the check against the objects alone (`names.rs`).
pub(crate) fn nearest(
    k8s: &cnictl_model::K8s,
    nodes: impl Iterator<Item = String>,
    spec: &str,
) -> Option<String> {
    let services = k8s.services.iter().flatten();
    if let Some(s) = services.clone().find(|s| s.key() == spec || s.name == spec) {
        return Some(format!("svc/{}", s.key()));
    }
    let pods = k8s.pods.iter().map(|p| p.key());
    let svcs = services.map(|s| format!("svc/{}", s.key()));
    pods.chain(nodes)
        .chain(svcs)
        .map(|n| (strsim::jaro_winkler(spec, &n), n))
        .filter(|(score, _)| *score >= 0.85)
        // Ties go to the first name in order (web-1 before web-3).
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, n)| n)
}
