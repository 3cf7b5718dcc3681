//! Explain: one packet's path from SRC to DST, hop by hop, on top of the
//! reference dataplane — with a verdict, and for a drop the finding code and
//! a hint. The JSON shape (`verdict`, `hops`, `drop`) is the README's
//! contract; [`render_text`] is the on-call view.

mod brief;
mod cilium;
mod codes;
mod ctgap;
mod names;
mod netfilter;
mod outside;
pub mod policy;
mod reach_nodes;
mod reply;
mod resolve;
mod service;
mod svccode;
mod text;
mod weave;

use std::net::IpAddr;

use cnictl_dataplane::{
    Dataplane, Disposition, Hop, Ingress, NfHopText, Packet, Proto, Trace, TraceOptions,
};
use cnictl_model::ClusterSnapshot;
use serde::Serialize;

use crate::code::Code;

pub use brief::render_brief;
pub use names::check_names;
pub use netfilter::{HookJson, RuleJson, UnknownInfo};
pub use reach_nodes::endpoint_nodes;
pub use resolve::{parse_proto, Endpoint, EndpointKind};
pub use text::{render_netfilter, render_text};

/// What to explain (the `explain` subcommand's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainRequest {
    /// `ns/name`, a unique pod `name`, `node/NAME` or an IP.
    pub src: String,
    /// As `src`, or `svc/ns/name[:port]`.
    pub dst: String,
    pub port: Option<u16>,
    /// `None`: TCP when a port is known, else ICMP.
    pub proto: Option<Proto>,
    /// IP total length; `None` is a default ping (84).
    pub size: Option<u32>,
    /// Clear Don't-Fragment (`--no-df`).
    pub no_df: bool,
    /// Also trace the way back and flag asymmetry.
    pub reverse: bool,
    /// List every netfilter rule evaluated (`--verbose`).
    pub verbose: bool,
    /// The source is a client outside the cluster with this address
    /// (`--from-outside`); `src` is then ignored.
    pub from_outside: Option<IpAddr>,
    /// The node an outside client's packet enters (`--via`), when the
    /// destination is no node's address (a LoadBalancer or external IP).
    pub via: Option<String>,
    /// The address family of pods named by name (`--family 4|6`); `None`:
    /// that of an IP given for the other end, else IPv4 where a pod has both.
    pub family: Option<Family>,
}

/// An IP address family, for dual-stack pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        if ip.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        }
    }
}

impl ExplainRequest {
    pub fn new(src: impl Into<String>, dst: impl Into<String>) -> Self {
        ExplainRequest {
            src: src.into(),
            dst: dst.into(),
            port: None,
            proto: None,
            size: None,
            no_df: false,
            reverse: false,
            verbose: false,
            from_outside: None,
            via: None,
            family: None,
        }
    }
}

/// Why an explanation could not be built (bad SRC/DST, not a dataplane fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("unknown {role} {spec:?}: not a pod (ns/name or name), node/NAME, service or IP in the snapshot{suggestion}")]
    Unknown {
        role: &'static str,
        spec: String,
        /// `; did you mean …?` when a close name exists, else empty.
        suggestion: String,
    },
    #[error("ambiguous pod name {name:?} for {role}: candidates {}", candidates.join(", "))]
    Ambiguous {
        role: &'static str,
        name: String,
        candidates: Vec<String>,
    },
    #[error("pod {pod} runs on node {node}, whose dataplane is not in the snapshot (no nodes/{node}/ in the bundle)")]
    NodeNotCollected { pod: String, node: String },
    #[error("unknown service {0:?} (not in services.json, or services.json was not collected)")]
    UnknownService(String),
    #[error("service {svc} has no ClusterIP (headless or ExternalName)")]
    NoClusterIp { svc: String },
    #[error("service {svc} has no port {port} (ports: {})", ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "))]
    NoSuchPort {
        svc: String,
        port: u16,
        ports: Vec<u16>,
    },
    #[error("service {svc} has several ports ({}): give one as svc/NS/NAME:PORT or --port", ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "))]
    PortNeeded { svc: String, ports: Vec<u16> },
    #[error("source {spec} ({ip}) is not a pod or node in the snapshot: nowhere to send from")]
    SourceNotInSnapshot { spec: String, ip: IpAddr },
    #[error("source {0:?} cannot be a service")]
    ServiceAsSource(String),
    #[error("service {svc} has no LoadBalancer ingress IP or external IP: from outside, explain its NodePort as node/NAME:NODEPORT")]
    NotReachableFromOutside { svc: String },
    #[error("from outside, {dst} is no node's address: say which node the load balancer or router sends it to with --via NODE")]
    ViaNeeded { dst: String },
    #[error(
        "node {node} has no underlay address in the snapshot: an outside packet cannot enter it"
    )]
    NoEntry { node: String },
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl ExplainError {
    /// A bounded code for metrics labels and JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            ExplainError::Unknown { .. } | ExplainError::UnknownService(_) => "unknown_endpoint",
            ExplainError::NodeNotCollected { .. } => "not_collected",
            ExplainError::Ambiguous { .. } => "ambiguous",
            ExplainError::NoClusterIp { .. }
            | ExplainError::NoSuchPort { .. }
            | ExplainError::PortNeeded { .. } => "service",
            ExplainError::SourceNotInSnapshot { .. } | ExplainError::ServiceAsSource(_) => "source",
            ExplainError::NotReachableFromOutside { .. }
            | ExplainError::ViaNeeded { .. }
            | ExplainError::NoEntry { .. } => "outside",
            ExplainError::Invalid { .. } => "usage",
        }
    }
}

/// `delivered`, `dropped` or `unknown`, for the one-way trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Delivered,
    Dropped,
    /// The answer depends on something cnictl could not evaluate (a rule it
    /// cannot read, a split it does not follow): named in `unknown`.
    Unknown,
}

impl Verdict {
    fn of(d: Disposition) -> Verdict {
        match d {
            Disposition::Delivered => Verdict::Delivered,
            // Data that decides the path was not collected: not a drop
            // the kernel made, an answer cnictl cannot give.
            Disposition::Unknown | Disposition::InsufficientInfo => Verdict::Unknown,
            _ => Verdict::Dropped,
        }
    }
}

/// One hop as JSON (1-based `index`, continuous across a service's backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopJson {
    pub index: usize,
    pub node: String,
    pub netns: Option<String>,
    pub in_dev: Option<String>,
    pub out_dev: Option<String>,
    pub kind: String,
    pub entry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    pub inferred: bool,
    /// For a netfilter hop: the rule, located (family, table, chain,
    /// position or handle, comment) and what it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netfilter: Option<NfHopText>,
}

/// Where and why the packet was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropInfo {
    /// Index of the hop (in `hops`) where it was dropped.
    pub hop: usize,
    pub node: String,
    pub disposition: String,
    pub reason: String,
    /// The finding code (README "Finding codes"); `None` when the snapshot lacks the data.
    pub code: Option<Code>,
    pub hint: String,
    /// The matching finding of `check` on the drop node (same code), with
    /// its exact evidence and concrete fix; set by [`attach_finding`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<crate::Finding>,
    /// When that finding is a consequence of another (`check`'s groups),
    /// the root cause to fix first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<RootCause>,
}

/// The root cause behind a drop's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootCause {
    pub finding: crate::Finding,
    /// How it causes the drop's finding.
    pub because: String,
}

/// The packet as traced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketJson {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    pub size: u32,
    pub df: bool,
}

/// One IPVS real server (or EndpointSlice endpoint) of a Service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backend {
    pub ip: IpAddr,
    pub port: u16,
    pub pod: Option<String>,
    pub verdict: Verdict,
    pub disposition: String,
    pub hops: Vec<HopJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropInfo>,
    /// Set for a netfilter split: this branch's share of new connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// The request's source as the backend saw it, when a rule SNATed it
    /// (where the reply goes).
    #[serde(skip)]
    pub(crate) wire_src: Option<(IpAddr, u16)>,
}

/// The explain document (`explain --output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub schema: &'static str,
    pub verdict: Verdict,
    pub disposition: String,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub packet: PacketJson,
    pub hops: Vec<HopJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropInfo>,
    /// Set when the verdict is `unknown`: where, and what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<UnknownInfo>,
    /// Every netfilter hook the packet passed, in order.
    pub netfilter: Vec<HookJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse: Option<Box<Explanation>>,
    /// Set with `reverse`: the way back crosses other nodes than the way out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asymmetric: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<Backend>,
    /// A plain path a netfilter DNAT sent elsewhere (Docker's published
    /// ports): where it went, so `--reverse` traces the reply from there.
    #[serde(skip)]
    pub(crate) translated: Option<Backend>,
    /// For a Service whose backends carry shares: the fraction of new
    /// connections that reach a backend (0 < x < 1: a partly working
    /// Service, verdict `dropped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_share: Option<f64>,
    /// Set when the packet left the cluster (its destination is outside):
    /// where, and its source on the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<outside::EgressJson>,
    /// Set when part of the answer was modelled rather than read: the
    /// bundle files that would have decided it (e.g. a Service's DNAT on a
    /// node whose rules were not collected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<String>,
    /// What the NetworkPolicies intend for this connection, beside what
    /// the dataplane did (when policies were collected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<policy::PolicyJson>,
    pub notes: Vec<String>,
}

/// Explains the path of `req` through the snapshot's dataplane.
pub fn explain(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
) -> Result<Explanation, ExplainError> {
    let with_hint = |e| resolve::did_you_mean(snap, dp, e);
    let mut src = match req.from_outside {
        Some(ip) => outside::client(dp, ip)?,
        None => resolve::endpoint(snap, dp, &req.src, "source").map_err(with_hint)?,
    };
    let as_service = resolve::cluster_ip_spec(snap, &req.dst, req.port);
    let dst_spec = as_service.as_deref().unwrap_or(&req.dst);
    let mut dst = resolve::endpoint(snap, dp, dst_spec, "destination").map_err(with_hint)?;
    resolve::pick_family(dp, req, &mut src, &mut dst)?;
    if src.kind == EndpointKind::Service {
        return Err(ExplainError::ServiceAsSource(req.src.clone()));
    }
    let ingress = source_ingress(snap, dp, req, &src, &mut dst)?;
    let pkt = resolve::packet(req, &src, &dst)?;
    if as_service.is_some() {
        dst.spec = req.dst.clone();
    }
    let opts = trace_opts(req, false);
    let mut ex = one_way(snap, dp, (&src, &dst), &pkt, ingress, opts);
    if let Some(svc) = &as_service {
        let note = format!("{} is a Service's ClusterIP: explained as {svc}", req.dst);
        ex.notes.insert(0, note);
    }
    ex.policy = policy::section(snap, &ex);
    policy::relabel_drop(&mut ex);
    if req.reverse {
        add_reverse(snap, dp, req, &mut ex, &pkt);
    }
    Ok(ex)
}

/// Where the source's packet enters the dataplane: its pod or node, or for
/// an outside client the node it is sent to (which also retargets a
/// Service to its outside address).
fn source_ingress(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
    src: &Endpoint,
    dst: &mut Endpoint,
) -> Result<Ingress, ExplainError> {
    if src.kind == EndpointKind::Outside {
        outside::retarget(snap, dst)?;
        return outside::entry(dp, dst, req.via.as_deref());
    }
    resolve::ingress(src).ok_or_else(|| ExplainError::SourceNotInSnapshot {
        spec: req.src.clone(),
        ip: src.ip,
    })
}

fn trace_opts(req: &ExplainRequest, reply: bool) -> TraceOptions {
    TraceOptions {
        rules: req.verbose,
        reply,
    }
}

/// Traces one direction and builds its document.
fn one_way(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    (src, dst): (&Endpoint, &Endpoint),
    pkt: &Packet,
    ingress: Ingress,
    opts: TraceOptions,
) -> Explanation {
    let src_node = resolve::ingress_node(dp, ingress);
    let trace = dp.trace_with(pkt, ingress, opts);
    let cx = codes::Cx {
        snap,
        dp,
        dst,
        src_node,
        opts,
    };
    let mut ex = document(&cx, src, pkt, &trace);
    ex.notes = input_notes(dp, ingress, src_node);
    finish(&cx, &trace, pkt, ingress, &mut ex);
    ex.notes.extend(codes::detour_note(&cx, &trace));
    ex.notes.extend(trace.notes.iter().cloned());
    ex.notes.extend(netfilter::not_collected_note(dp, &trace));
    cilium::apply(snap, src, dst, &mut ex);
    weave::apply(snap, src, dst, &mut ex);
    ex.disposition = disposition(&ex);
    ex
}

/// The document before its verdict: endpoints, packet, hops, hooks.
fn document(cx: &codes::Cx<'_>, src: &Endpoint, pkt: &Packet, trace: &Trace) -> Explanation {
    Explanation {
        schema: cnictl_model::SCHEMA,
        verdict: Verdict::Delivered,
        disposition: String::new(),
        src: src.clone(),
        dst: cx.dst.clone(),
        packet: packet_json(pkt),
        hops: hops_json(cx.dp, &trace.hops, 1),
        drop: None,
        unknown: None,
        netfilter: netfilter::hooks_json(cx.dp, trace, 0, cx.opts.rules),
        reverse: None,
        translated: None,
        asymmetric: None,
        backends: Vec::new(),
        delivered_share: None,
        egress: None,
        inferred: Vec::new(),
        policy: None,
        notes: Vec::new(),
    }
}

/// What the answer assumed for lack of input on the source side.
fn input_notes(
    dp: &Dataplane,
    ingress: Ingress,
    src_node: Option<cnictl_dataplane::NodeId>,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Ingress::Pod(p) = ingress {
        if !dp.pod_collected(p) {
            let (pod, node) = (dp.pod_key(p), dp.node_name(dp.pod_node(p)));
            notes.push(format!(
                "pod {pod}'s netns was not collected: its side is inferred from node {node}"
            ));
        }
    }
    if let Some(n) = src_node.filter(|n| dp.rules_assumed(dp.root_ns(*n))) {
        let node = dp.node_name(n);
        notes.push(format!(
            "node {node}: ip-rule.json not collected, default rules (local, main, default) assumed"
        ));
    }
    notes
}

/// The verdict: a plain path's own, a Service's backends', or the
/// EndpointSlices' when nothing on the source node says how it is NATed.
fn finish(cx: &codes::Cx<'_>, trace: &Trace, pkt: &Packet, ingress: Ingress, ex: &mut Explanation) {
    // A Service, or a node port that is some Service's NodePort.
    let service = cx.dst.service.is_some();
    let via_slices = service
        && trace.branches.is_empty()
        && nat_unknown(cx)
        && service::finish_slices(cx, pkt, ingress, ex);
    if via_slices {
        // Backends were traced from EndpointSlices.
    } else if trace.branches.is_empty() {
        finish_plain(cx, trace, pkt, ex);
        if service {
            service::single_backend(cx, trace, ex);
        } else {
            ex.translated = service::translated(cx, trace);
        }
    } else {
        service::finish_service(cx, trace, ex);
    }
    if service && ex.backends.is_empty() && ex.verdict == Verdict::Delivered {
        service::service_not_programmed(cx, trace, ex);
    }
    ex.delivered_share = service::delivered_share(&ex.backends);
}

/// No IPVS table and no netfilter rules on the source node: nothing says
/// how a Service is NATed there.
fn nat_unknown(cx: &codes::Cx<'_>) -> bool {
    cx.src_node.is_some_and(|n| {
        let node = cx.snap.nodes.get(cx.dp.node_name(n));
        let no_rules = |ns: &cnictl_model::NodeSnapshot| {
            ns.netfilter.as_ref().is_none_or(|nf| nf.tables.is_empty())
        };
        node.is_some_and(|ns| ns.ipvs.is_none() && no_rules(ns))
    })
}

fn disposition(ex: &Explanation) -> String {
    let dropped = || ex.drop.as_ref().map(|d| d.disposition.clone());
    match ex.verdict {
        Verdict::Delivered => "delivered".into(),
        Verdict::Unknown if !ex.disposition.is_empty() => ex.disposition.clone(),
        Verdict::Unknown => "unknown".into(),
        Verdict::Dropped => dropped().unwrap_or_default(),
    }
}

/// A trace without IPVS branches: its own verdict.
fn finish_plain(cx: &codes::Cx<'_>, trace: &Trace, pkt: &Packet, ex: &mut Explanation) {
    if trace.disposition == Disposition::LeftCluster
        && matches!(cx.dst.kind, EndpointKind::Ip | EndpointKind::Outside)
        && !in_pod_cidr(cx.snap, cx.dst.ip)
    {
        ex.egress = trace.exit.as_ref().map(|e| outside::egress(cx.dp, pkt, e));
        outside::mark_leaving(ex);
        ex.notes.push(format!(
            "{} is outside the cluster: the packet leaves it ({}); what happens beyond the cluster's edge is not modelled",
            cx.dst.ip,
            cx.dp.reason_text(trace.reason)
        ));
        return;
    }
    ex.verdict = Verdict::of(trace.disposition);
    match ex.verdict {
        Verdict::Delivered => {}
        Verdict::Unknown => {
            ex.unknown = netfilter::unknown_info(cx.dp, trace, 0);
            ex.disposition = trace.disposition.as_str().into();
        }
        Verdict::Dropped => ex.drop = Some(codes::drop_info(cx, trace, &trace.hops, 0)),
    }
}

/// Whether `ip` lies in some node's pod CIDR (Kubernetes `podCIDRs`).
fn in_pod_cidr(snap: &ClusterSnapshot, ip: IpAddr) -> bool {
    snap.k8s
        .nodes
        .iter()
        .flat_map(|n| &n.pod_cidrs)
        .any(|c| c.contains(&ip))
}

/// `--reverse`: from the destination back to the source, plus asymmetry.
fn add_reverse(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
    ex: &mut Explanation,
    pkt: &Packet,
) {
    if let Some(e) = ex.egress.clone() {
        return reverse_egress(snap, dp, req, ex, pkt, &e);
    }
    if ex.dst.service.is_some() && !ex.backends.is_empty() {
        let fwd = reply::Forward { ex, pkt };
        match reply::service_reverse(snap, dp, req, fwd) {
            Ok(back) => {
                ex.asymmetric = asymmetry(ex, &back);
                ex.reverse = Some(Box::new(back));
            }
            Err(why) => ex.notes.push(format!("reverse not traced: {why}")),
        }
        return;
    }
    if let Some(b) = ex.translated.clone() {
        return reverse_translated(snap, dp, req, ex, pkt, b);
    }
    let back_from = ex.dst.clone();
    let Some(ingress) = resolve::ingress(&back_from) else {
        ex.notes.push(format!(
            "reverse not traced: {} is not a pod or node in the snapshot",
            back_from.ip
        ));
        return;
    };
    let mut rpkt = *pkt;
    rpkt.src = back_from.ip;
    rpkt.dst = ex.src.ip;
    if req.port.is_some() || ex.packet.dport.is_some() {
        rpkt.sport = ex.backends.first().map_or(pkt.dport, |b| b.port);
        rpkt.dport = pkt.sport;
    }
    let mut back = one_way(
        snap,
        dp,
        (&back_from, &ex.src),
        &rpkt,
        ingress,
        trace_opts(req, true),
    );
    ex.asymmetric = asymmetry(ex, &back);
    ctgap::mark(snap, ex, &mut back);
    ex.reverse = Some(Box::new(back));
}

/// The reply of a plain path a DNAT redirected: traced like a Service's,
/// from where the DNAT sent the request back through the nodes whose
/// conntrack translated it.
fn reverse_translated(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
    ex: &mut Explanation,
    pkt: &Packet,
    b: Backend,
) {
    let mut fwd = ex.clone();
    fwd.backends = vec![b];
    match reply::service_reverse(snap, dp, req, reply::Forward { ex: &fwd, pkt }) {
        Ok(back) => {
            ex.asymmetric = asymmetry(ex, &back);
            ex.reverse = Some(Box::new(back));
        }
        Err(why) => ex.notes.push(format!("reverse not traced: {why}")),
    }
}

/// The reply from an outside address: it enters where the request left;
/// without SNAT it is addressed to a pod IP the outside cannot route.
fn reverse_egress(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
    ex: &mut Explanation,
    pkt: &Packet,
    e: &outside::EgressJson,
) {
    let back = match outside::reply(snap, dp, pkt, e) {
        Ok(r) => {
            let from = Endpoint::ip(pkt.dst);
            let opts = trace_opts(req, true);
            let mut back = one_way(snap, dp, (&from, &ex.src), &r.packet, r.ingress, opts);
            back.notes.splice(0..0, r.note);
            back
        }
        Err(why) => outside::unreturned(snap, dp, ex, why),
    };
    ex.asymmetric = None;
    ex.reverse = Some(Box::new(back));
}

/// Whether the way back crosses other nodes than the way out — assessed
/// only when both were delivered: a dropped path is cut short, not routed
/// differently.
fn asymmetry(ex: &mut Explanation, back: &Explanation) -> Option<bool> {
    if ex.verdict != Verdict::Delivered || back.verdict != Verdict::Delivered {
        ex.notes
            .push("asymmetry not assessed: one of the two directions was not delivered".into());
        return None;
    }
    let out_nodes = node_path(&ex.hops);
    let mut back_nodes = node_path(&back.hops);
    back_nodes.reverse();
    let asym = out_nodes != back_nodes;
    if asym {
        ex.notes.push(format!(
            "asymmetric: out via [{}], back via [{}]",
            out_nodes.join(", "),
            back_nodes.join(", ")
        ));
    }
    Some(asym)
}

fn node_path(hops: &[HopJson]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for h in hops {
        if v.last() != Some(&h.node) {
            v.push(h.node.clone());
        }
    }
    v
}

fn hops_json(dp: &Dataplane, hops: &[Hop], first: usize) -> Vec<HopJson> {
    hops.iter()
        .enumerate()
        .map(|(i, h)| {
            let t = dp.render_hop(h);
            HopJson {
                index: first + i,
                node: t.node,
                netns: t.netns,
                in_dev: t.in_dev,
                out_dev: t.out_dev,
                kind: t.kind.to_string(),
                entry: t.entry,
                rewrite: t.rewrite,
                inferred: t.inferred,
                netfilter: t.netfilter,
            }
        })
        .collect()
}

fn packet_json(p: &Packet) -> PacketJson {
    PacketJson {
        src: p.src,
        dst: p.dst,
        proto: p.proto.name().into(),
        dport: (p.dport != 0).then_some(p.dport),
        size: p.size,
        df: p.df,
    }
}

/// Adds to a drop the `check` finding that names the same fault on the drop
/// node, so the on-call engineer gets the concrete entries and command
/// rather than the generic hint. Runs only that node's checks against the
/// cluster's expected state (milliseconds, not a whole `check`).
pub fn attach_finding(snap: &ClusterSnapshot, ex: &mut Explanation) {
    if let Some(back) = ex.reverse.as_deref_mut() {
        attach_finding(snap, back);
    }
    let Some(drop) = ex.drop.as_ref() else { return };
    if !snap.nodes.contains_key(&drop.node) {
        return;
    }
    let report = crate::checks::run(snap);
    let found = matching_finding(ex, &report.findings)
        .and_then(|f| report.findings.iter().position(|g| std::ptr::eq(f, g)));
    if let Some(d) = ex.drop.as_mut() {
        d.finding = found.map(|i| report.findings[i].clone());
        d.root_cause = found.and_then(|i| root_cause_in(&report, i));
    }
}

/// The root cause of finding `i` of `report`, when it is a consequence.
pub(crate) fn root_cause_in(report: &crate::Report, i: usize) -> Option<RootCause> {
    let g = report
        .groups
        .iter()
        .find(|g| g.symptoms.iter().any(|s| s.finding == i))?;
    let because = g.symptoms.iter().find(|s| s.finding == i)?.because.clone();
    Some(RootCause {
        finding: report.findings[g.root].clone(),
        because,
    })
}

/// The `check` finding that is about this drop: the same code, on the drop
/// node or another node the path crossed (a misdirecting FDB entry lives on
/// the sender, the drop happens at the receiver), or cluster-wide for a
/// cluster-wide code such as an overlap; for a netfilter drop, naming the
/// same rule. A finding about a node off the path or another rule is never
/// attached: no finding beats a wrong one.
pub fn matching_finding<'f>(
    ex: &Explanation,
    findings: &'f [crate::Finding],
) -> Option<&'f crate::Finding> {
    let drop = ex.drop.as_ref()?;
    let code = drop.code?;
    let rule = ex
        .hops
        .iter()
        .find(|h| h.index == drop.hop)
        .and_then(|h| h.netfilter.as_ref());
    let on_path = |n: &String| *n == drop.node || ex.hops.iter().any(|h| h.node == *n);
    let node_ok = |f: &crate::Finding| match &f.node {
        Some(n) => on_path(n),
        None => matches!(code, Code::PodCidrOverlap | Code::ServiceCidrOverlap),
    };
    let candidates = || findings.iter().filter(|f| f.code == code && node_ok(f));
    // The drop node's own finding first, then one elsewhere on the path;
    // among a node's findings of one code (one per peer), the one about the
    // destination's node.
    let about_dst = |f: &crate::Finding| ex.dst.node.as_ref().is_some_and(|d| f.peers.contains(d));
    let per_address = code == Code::MacvlanHostUnreachable;
    candidates()
        .filter(|f| rule.is_none_or(|r| names_rule(f, r)))
        .filter(|f| !per_address || names_endpoint(f, ex))
        .min_by_key(|f| (f.node.as_deref() != Some(drop.node.as_str()), !about_dst(f)))
}

/// The finding's summary names the path's source or destination address
/// (findings about one pod address each: only that address's is the
/// drop's).
fn names_endpoint(f: &crate::Finding, ex: &Explanation) -> bool {
    let (src, dst) = (ex.src.ip.to_string(), ex.dst.ip.to_string());
    let words = f
        .summary
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')');
    words.into_iter().any(|w| w == src || w == dst)
}

/// A netfilter finding names the rule (as iptables-save prints it) or,
/// for a chain policy, the chain and its policy.
fn names_rule(f: &crate::Finding, r: &NfHopText) -> bool {
    let needles = match &r.rule {
        Some(text) => vec![text.clone()],
        // `:FORWARD DROP [0:0]` as iptables-save prints a policy, or prose.
        None => vec![
            format!(":{} DROP", r.chain),
            format!("{} policy DROP", r.chain),
        ],
    };
    let hay = |s: &String| needles.iter().any(|n| s.contains(n.as_str()));
    f.evidence.iter().any(hay) || hay(&f.summary)
}
