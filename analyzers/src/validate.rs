//! `explain --validate`: hold the reference dataplane against the kernel.
//!
//! For every routing decision of an explanation (a route lookup in a node
//! or pod namespace, the inferred default route of a pod, a lookup that
//! found nothing) [`route_queries`] states the question as `ip route get`
//! would ask it (dst, src, iif, mark) together with the reference's own
//! answer; the shell asks each namespace's kernel (collect's `route_get`)
//! and [`compare`] turns both answers into per-hop verdicts. Everything here
//! is pure: the kernel's answers come in as data.

use std::fmt;
use std::net::IpAddr;

use cnictl_dataplane::{Dataplane, Disposition, Hop, Ingress, Packet, Proto, Reason, Step};
use cnictl_model::route::table_name;
use cnictl_model::{Route, RouteType};
use serde::Serialize;

use crate::explain::Explanation;

/// Linux errnos a route get answers with when it refuses.
const EACCES: i32 = 13;
const EINVAL: i32 = 22;
const ENETUNREACH: i32 = 101;
const EHOSTUNREACH: i32 = 113;

/// One routing decision to ask a kernel about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteQuery {
    /// 1-based index of the hop in the explanation's `hops`.
    pub hop: usize,
    /// The Kubernetes node whose kernel (or one of whose pods') decides.
    pub node: String,
    /// `ns/name` when the decision is made in a pod's netns.
    pub pod: Option<String>,
    pub dst: IpAddr,
    pub src: Option<IpAddr>,
    /// The arrival device for a forwarded packet; `None` when sent locally.
    pub iif: Option<String>,
    pub mark: u32,
    pub reference: Expected,
}

/// What the reference dataplane decided for a [`RouteQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A route of this type from this table; for unicast, one of `nexthops`
    /// (device, gateway) — several for a multipath route, where the kernel
    /// picks one by hash.
    Route {
        route_type: RouteType,
        table: u32,
        nexthops: Vec<(Option<String>, Option<IpAddr>)>,
        /// The entry as `ip route` prints it.
        entry: String,
    },
    /// No route: the kernel must refuse with this errno.
    Refused { errno: i32, why: &'static str },
}

/// The kernel's answer to one [`RouteQuery`].
#[derive(Debug, Clone, PartialEq)]
pub enum KernelAnswer {
    Route(Route),
    Refused {
        errno: i32,
    },
    /// A device of the query does not exist in the live namespace.
    NoSuchDevice(String),
    /// The kernel could not be asked (no namespace mapped, netlink error).
    Unavailable(String),
}

/// A hop's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Agree,
    Disagree,
    /// Not checked: the kernel could not be asked.
    Unchecked,
}

/// One hop's verdict with both sides (the `validation` JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopValidation {
    pub hop: usize,
    pub status: Status,
    pub kernel: String,
    pub reference: String,
}

/// The queries for an explanation, plus what could not be validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub queries: Vec<RouteQuery>,
    pub notes: Vec<String>,
}

/// The routing decisions of `ex`'s forward path, re-traced through `dp`
/// with the same packet and ingress `explain` used.
pub fn route_queries(dp: &Dataplane, ex: &Explanation) -> Plan {
    let mut plan = Plan::default();
    let ingress = match (ex.src.pod_id, ex.src.node_id) {
        (Some(p), _) => Ingress::Pod(p),
        (None, Some(n)) => Ingress::Node(n),
        (None, None) => {
            plan.notes
                .push("source is not a pod or node: nothing to validate".into());
            return plan;
        }
    };
    let pkt = packet_of(ex);
    let trace = dp.trace(&pkt, ingress);
    // Backends traced from EndpointSlices are separate traces the kernel
    // never follows (no DNAT is programmed that cnictl reads).
    let via_slices = !ex.backends.is_empty() && trace.branches.is_empty();
    if via_slices {
        plan.notes.push(
            "service modelled from EndpointSlices: its backend paths are not validated".into(),
        );
    } else if !trace.branches.is_empty() {
        plan.notes.push(
            "IPVS backends are not validated (the kernel's answer depends on conntrack)".into(),
        );
    }
    if ex.reverse.is_some() {
        plan.notes.push("the reverse path is not validated".into());
    }
    let hops = if via_slices { &[][..] } else { &trace.hops[..] };
    plan.queries = queries_for(dp, hops, pkt);
    plan
}

/// The packet `explain` traced, rebuilt from its JSON (as
/// `explain::resolve::packet` made it: TCP/UDP carry source port 40000).
fn packet_of(ex: &Explanation) -> Packet {
    let p = &ex.packet;
    let mut pkt = Packet::new(p.src, p.dst);
    pkt.size = p.size;
    pkt.df = p.df;
    pkt.proto = match p.proto.as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => Proto::Icmp,
    };
    if matches!(pkt.proto, Proto::Tcp | Proto::Udp) {
        pkt.dport = p.dport.unwrap_or(0);
        pkt.sport = 40000;
    }
    pkt
}

/// Walks the hops keeping the packet as it is at each hop (outer header
/// while encapsulated) and states a query for each routing decision.
fn queries_for(dp: &Dataplane, hops: &[Hop], pkt: Packet) -> Vec<RouteQuery> {
    let mut cur = (pkt.src, pkt.dst);
    let mut inner: Vec<(IpAddr, IpAddr)> = Vec::new();
    let mut out = Vec::new();
    for (i, h) in hops.iter().enumerate() {
        let next = hops.get(i + 1);
        match h.step {
            Step::VxlanEncap { outer, .. } | Step::IpipEncap { outer } => {
                inner.push(cur);
                cur = (outer.src, outer.dst);
            }
            Step::Decap { .. } => cur = inner.pop().unwrap_or(cur),
            _ => {}
        }
        if let Some(reference) = expected(dp, h, next) {
            let (node, pod) = place(dp, h);
            out.push(RouteQuery {
                hop: i + 1,
                node,
                pod,
                dst: cur.1,
                src: Some(cur.0),
                iif: h
                    .in_dev
                    .filter(|_| h.pod.is_none())
                    .and_then(|d| dp.link(h.ns, d))
                    .map(|l| l.name.clone()),
                mark: pkt.fwmark,
                reference,
            });
        }
    }
    out
}

/// The node and (for a pod netns, collected or inferred) pod of a hop.
fn place(dp: &Dataplane, h: &Hop) -> (String, Option<String>) {
    let node = dp.node_name(dp.ns_node(h.ns)).to_string();
    let pod = h.pod.or(dp.ns_pod(h.ns)).map(|p| dp.pod_key(p).to_string());
    (node, pod)
}

/// The reference's answer when `h` is a routing decision.
fn expected(dp: &Dataplane, h: &Hop, next: Option<&Hop>) -> Option<Expected> {
    match h.step {
        Step::Route { route, .. } => {
            if let Some(Step::Drop {
                disposition: Disposition::IpForwardDisabled,
                ..
            }) = next.map(|n| n.step)
            {
                return Some(Expected::Refused {
                    errno: EHOSTUNREACH,
                    why: "forwarding disabled",
                });
            }
            dp.route(h.ns, route).map(|r| route_expected(dp, h, r))
        }
        Step::InferredEgress { gw } => Some(Expected::Route {
            route_type: RouteType::Unicast,
            table: cnictl_model::route::TABLE_MAIN,
            nexthops: vec![(Some("eth0".into()), Some(gw))],
            entry: format!("default via {gw} dev eth0 (inferred)"),
        }),
        Step::Drop {
            reason: Reason::NoMatchingRoute,
            ..
        } => Some(Expected::Refused {
            errno: ENETUNREACH,
            why: "no route",
        }),
        _ => None,
    }
}

fn route_expected(dp: &Dataplane, h: &Hop, r: &Route) -> Expected {
    match r.route_type {
        RouteType::Blackhole => refused(EINVAL, "blackhole"),
        RouteType::Unreachable => refused(EHOSTUNREACH, "unreachable"),
        RouteType::Prohibit => refused(EACCES, "prohibit"),
        t => {
            let nexthops = if r.nexthops.is_empty() {
                let dev = h
                    .out_dev
                    .and_then(|d| dp.link(h.ns, d))
                    .map(|l| l.name.clone())
                    .or_else(|| r.dev.clone());
                vec![(dev, r.gateway)]
            } else {
                r.nexthops
                    .iter()
                    .map(|n| (n.dev.clone(), n.gateway))
                    .collect()
            };
            Expected::Route {
                route_type: t,
                table: r.table,
                nexthops,
                entry: r.to_string(),
            }
        }
    }
}

fn refused(errno: i32, why: &'static str) -> Expected {
    Expected::Refused { errno, why }
}

/// Verdicts for `queries` given the kernel's `answers` (same order; a
/// missing answer is unchecked).
pub fn compare(queries: &[RouteQuery], answers: &[KernelAnswer]) -> Vec<HopValidation> {
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| match answers.get(i) {
            Some(a) => verdict(q, a),
            None => HopValidation {
                hop: q.hop,
                status: Status::Unchecked,
                kernel: "not asked".into(),
                reference: describe(&q.reference),
            },
        })
        .collect()
}

fn verdict(q: &RouteQuery, a: &KernelAnswer) -> HopValidation {
    let reference = describe(&q.reference);
    let (status, kernel) = match a {
        KernelAnswer::Unavailable(why) => (Status::Unchecked, why.clone()),
        KernelAnswer::NoSuchDevice(dev) => (Status::Disagree, format!("no device {dev}")),
        KernelAnswer::Refused { errno } => (
            status_of(matches!(&q.reference, Expected::Refused { errno: e, .. } if e == errno)),
            format!("refused: {}", errno_text(*errno)),
        ),
        KernelAnswer::Route(r) => (status_of(route_agrees(&q.reference, r)), route_text(r)),
    };
    HopValidation {
        hop: q.hop,
        status,
        kernel,
        reference,
    }
}

fn status_of(agree: bool) -> Status {
    if agree {
        Status::Agree
    } else {
        Status::Disagree
    }
}

/// Type and table must match; a unicast route must also leave by one of
/// the expected (device, gateway) next hops. Local delivery is compared
/// by type and table only: the kernel reports `dev lo` for it.
fn route_agrees(exp: &Expected, r: &Route) -> bool {
    let Expected::Route {
        route_type,
        table,
        nexthops,
        ..
    } = exp
    else {
        return false;
    };
    if *route_type != r.route_type || !same_table(*table, r.table) {
        return false;
    }
    if r.route_type != RouteType::Unicast {
        return true;
    }
    nexthops
        .iter()
        .any(|(dev, gw)| dev.as_ref().is_none_or(|d| r.dev.as_ref() == Some(d)) && *gw == r.gateway)
}

/// Until a policy rule is added the kernel keeps table local merged into
/// main (one trie, `fib_unmerge`), and a route get then reports `local`
/// routes as table main: that is the same decision.
fn same_table(reference: u32, kernel: u32) -> bool {
    use cnictl_model::route::{TABLE_LOCAL, TABLE_MAIN};
    reference == kernel || (reference == TABLE_LOCAL && kernel == TABLE_MAIN)
}

/// The reference side as one line.
fn describe(e: &Expected) -> String {
    match e {
        Expected::Route { table, entry, .. } => {
            if entry.contains(" table ") {
                entry.clone()
            } else {
                format!("{entry} table {}", table_name(*table))
            }
        }
        Expected::Refused { errno, why } => format!("{why} ({})", errno_text(*errno)),
    }
}

/// The kernel's route as `ip route get` prints its essentials.
fn route_text(r: &Route) -> String {
    let mut s = String::new();
    if r.route_type != RouteType::Unicast {
        s.push_str(r.route_type.as_str());
        s.push(' ');
    }
    s.push_str(&r.dst.addr().to_string());
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" dev {d}"));
    }
    s.push_str(&format!(" table {}", table_name(r.table)));
    if let Some(src) = r.prefsrc {
        s.push_str(&format!(" src {src}"));
    }
    s
}

/// The kernel's wording for a route get refusal, as `ip` prints it.
pub fn errno_text(errno: i32) -> String {
    match errno {
        ENETUNREACH => "Network is unreachable".into(),
        EHOSTUNREACH => "No route to host".into(),
        EINVAL => "Invalid argument".into(),
        EACCES => "Permission denied".into(),
        e => format!("errno {e}"),
    }
}

/// True when any hop disagrees (the CLI's exit code 1).
pub fn any_disagreement(v: &[HopValidation]) -> bool {
    v.iter().any(|h| h.status == Status::Disagree)
}

impl fmt::Display for HopValidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Status::Agree => write!(f, "✓ kernel agrees: {}", self.kernel),
            Status::Disagree => write!(
                f,
                "✗ kernel says {} (reference: {})",
                self.kernel, self.reference
            ),
            Status::Unchecked => write!(f, "? not checked: {}", self.kernel),
        }
    }
}

/// Adds each hop's verdict under its line in `explain::render_text`'s
/// output (hop lines of the forward path start with the right-aligned
/// index and `. [`).
pub fn annotate_text(text: &str, v: &[HopValidation]) -> String {
    let mut out = String::with_capacity(text.len() + v.len() * 48);
    let mut in_reverse = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        in_reverse |= line.starts_with("reverse path:");
        if in_reverse {
            continue;
        }
        let idx = line
            .split_once(". [")
            .and_then(|(n, _)| n.trim_start().parse::<usize>().ok());
        for h in v.iter().filter(|h| Some(h.hop) == idx) {
            out.push_str(&format!("       {h}\n"));
        }
    }
    out
}

/// The namespace a query runs in, for the shell's mapping.
pub fn query_ns(q: &RouteQuery) -> (&str, Option<&str>) {
    (q.node.as_str(), q.pod.as_deref())
}

/// Where `--probe` captures on the source node, and what it must see there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbePoint {
    /// 1-based index of the hop that predicts it.
    pub hop: usize,
    pub node: String,
    pub iface: String,
    /// `pod veth`, `tunnel` or `underlay`.
    pub role: &'static str,
    pub inner_src: IpAddr,
    pub inner_dst: IpAddr,
    /// Outer src/dst when the packet is encapsulated at this point.
    pub outer: Option<(IpAddr, IpAddr)>,
    /// VXLAN VNI and UDP port (`None` for IPIP or no encapsulation).
    pub vxlan: Option<(u32, u16)>,
    pub ipip: bool,
}

/// The outer header once the packet is encapsulated (IPIP when `vxlan` is
/// `None`).
#[derive(Clone, Copy)]
struct Encapsulated {
    outer: (IpAddr, IpAddr),
    vxlan: Option<(u32, u16)>,
}

/// The capture points of `ex`'s forward path on the source node: the
/// source pod's host-side veth, the tunnel device (inner packet), and the
/// underlay device (outer packet, when encapsulated). Empty when the
/// source is not a pod or the path never leaves its node's root netns.
pub fn probe_points(dp: &Dataplane, ex: &Explanation) -> Vec<ProbePoint> {
    let Some(pod) = ex.src.pod_id else {
        return Vec::new();
    };
    let node = dp.pod_node(pod);
    let root = dp.root_ns(node);
    let trace = dp.trace(&packet_of(ex), Ingress::Pod(pod));
    let inner = (ex.packet.src, ex.packet.dst);
    let mut enc: Option<Encapsulated> = None;
    let mut out = Vec::new();
    for (i, h) in trace.hops.iter().enumerate() {
        let (iface, role) = match h.step {
            Step::Veth {
                to: Some(to),
                to_link,
                ..
            } if to == root && enc.is_none() => (dp.link(root, to_link), "pod veth"),
            Step::VxlanEncap { outer, .. } if h.ns == root => {
                enc = Some(Encapsulated {
                    outer: (outer.src, outer.dst),
                    vxlan: Some((outer.vni, outer.port)),
                });
                (h.out_dev.and_then(|d| dp.link(root, d)), "tunnel")
            }
            Step::IpipEncap { outer } if h.ns == root => {
                enc = Some(Encapsulated {
                    outer: (outer.src, outer.dst),
                    vxlan: None,
                });
                (h.out_dev.and_then(|d| dp.link(root, d)), "tunnel")
            }
            Step::Underlay { .. } if h.ns == root => {
                (h.out_dev.and_then(|d| dp.link(root, d)), "underlay")
            }
            _ => continue,
        };
        let Some(link) = iface else { continue };
        let encapsulated = role == "underlay";
        let e = enc.filter(|_| encapsulated);
        out.push(ProbePoint {
            hop: i + 1,
            node: dp.node_name(node).to_string(),
            iface: link.name.clone(),
            role,
            inner_src: inner.0,
            inner_dst: inner.1,
            outer: e.map(|e| e.outer),
            vxlan: e.and_then(|e| e.vxlan),
            ipip: e.is_some_and(|e| e.vxlan.is_none()),
        });
        if role == "underlay" {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::explain::{explain, ExplainRequest};

    fn fixture(name: &str) -> cnictl_model::ClusterSnapshot {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(name);
        cnictl_collect::bundle::load_dir(&dir).unwrap()
    }

    fn plan(name: &str, src: &str, dst: &str) -> (Plan, Explanation) {
        let snap = fixture(name);
        let dp = crate::hints::dataplane(&snap);
        let ex = explain(&snap, &dp, &ExplainRequest::new(src, dst)).unwrap();
        (route_queries(&dp, &ex), ex)
    }

    /// The answers a kernel would give if it agreed with the reference.
    fn agreeing(queries: &[RouteQuery]) -> Vec<KernelAnswer> {
        queries
            .iter()
            .map(|q| match &q.reference {
                Expected::Refused { errno, .. } => KernelAnswer::Refused { errno: *errno },
                Expected::Route {
                    route_type,
                    table,
                    nexthops,
                    ..
                } => {
                    let mut r = Route::unicast(ipnet::IpNet::from(q.dst));
                    r.route_type = *route_type;
                    r.table = *table;
                    r.dev = nexthops[0].0.clone();
                    r.gateway = nexthops[0].1;
                    KernelAnswer::Route(r)
                }
            })
            .collect()
    }

    #[test]
    fn vxlan_path_asks_pod_node_outer_and_decap_questions() {
        let (plan, ex) = plan("flannel-vxlan", "default/web-1", "default/api-2");
        let asked: Vec<String> = plan
            .queries
            .iter()
            .map(|q| {
                format!(
                    "{} {} {} {}→{} iif {}",
                    q.hop,
                    q.node,
                    q.pod.as_deref().unwrap_or("-"),
                    q.src.unwrap(),
                    q.dst,
                    q.iif.as_deref().unwrap_or("-")
                )
            })
            .collect();
        // Pod egress, node-1 forwards into flannel.1, the outer packet is
        // routed out eth0, node-2 delivers the outer locally, then forwards
        // the inner packet to the pod.
        assert!(asked.len() >= 4, "{asked:#?}\n{ex:#?}");
        assert!(
            asked[0].contains("node-1 default/web-1 10.244.1.2→10.244.2.3 iif -"),
            "{asked:#?}"
        );
        assert!(
            asked
                .iter()
                .any(|a| a.contains("node-1 - 10.244.1.2→10.244.2.3 iif cni0")),
            "{asked:#?}"
        );
        assert!(
            asked
                .iter()
                .any(|a| a.contains("node-1 - 192.0.2.11→192.0.2.12 iif -")),
            "{asked:#?}"
        );
        assert!(
            asked
                .iter()
                .any(|a| a.contains("node-2 - 192.0.2.11→192.0.2.12 iif eth0")),
            "{asked:#?}"
        );
        assert!(
            asked
                .iter()
                .any(|a| a.contains("node-2 - 10.244.1.2→10.244.2.3 iif flannel.1")),
            "{asked:#?}"
        );
        for q in &plan.queries {
            assert!(q.hop >= 1 && q.hop <= ex.hops.len());
            assert_eq!(ex.hops[q.hop - 1].kind, "route", "{q:?}");
        }
        let v = compare(&plan.queries, &agreeing(&plan.queries));
        assert!(v.iter().all(|h| h.status == Status::Agree), "{v:#?}");
        assert!(!any_disagreement(&v));
    }

    #[test]
    fn another_gateway_is_a_disagreement_with_both_sides() {
        let (plan, _) = plan("flannel-vxlan", "default/web-1", "default/api-2");
        let mut answers = agreeing(&plan.queries);
        let i = plan
            .queries
            .iter()
            .position(|q| q.iif.as_deref() == Some("cni0"))
            .unwrap();
        if let KernelAnswer::Route(r) = &mut answers[i] {
            r.gateway = Some("10.244.3.0".parse().unwrap());
        }
        let v = compare(&plan.queries, &answers);
        assert_eq!(v[i].status, Status::Disagree);
        assert!(
            v[i].kernel.contains("via 10.244.3.0 dev flannel.1"),
            "{}",
            v[i].kernel
        );
        assert!(v[i].reference.contains("10.244.2.0"), "{}", v[i].reference);
        assert!(any_disagreement(&v));
        assert_eq!(v.iter().filter(|h| h.status == Status::Disagree).count(), 1);
    }

    #[test]
    fn refusals_unavailable_and_missing_devices() {
        let (plan, _) = plan("flannel-vxlan", "default/web-1", "default/api-2");
        let q = &plan.queries[..3];
        let answers = vec![
            KernelAnswer::Refused { errno: ENETUNREACH },
            KernelAnswer::Unavailable("no netns mapped for node node-1".into()),
            KernelAnswer::NoSuchDevice("cni0".into()),
        ];
        let v = compare(q, &answers);
        assert_eq!(v[0].status, Status::Disagree);
        assert!(v[0].kernel.contains("Network is unreachable"));
        assert_eq!(v[1].status, Status::Unchecked);
        assert_eq!(v[2].status, Status::Disagree);
        assert_eq!(compare(q, &[])[0].status, Status::Unchecked);
    }

    #[test]
    fn a_missing_route_is_expected_to_be_refused() {
        let (plan, ex) = plan(
            "flannel-vxlan-broken-missing-pod-route",
            "default/web-1",
            "default/api-2",
        );
        assert_eq!(ex.verdict, crate::explain::Verdict::Dropped, "{ex:#?}");
        let last = plan.queries.last().unwrap();
        assert!(
            matches!(
                last.reference,
                Expected::Refused {
                    errno: ENETUNREACH,
                    ..
                }
            ) || matches!(&last.reference, Expected::Route { entry, .. } if entry.contains("default")),
            "{last:?}"
        );
        let v = compare(&plan.queries, &agreeing(&plan.queries));
        assert!(!any_disagreement(&v));
    }

    #[test]
    fn probe_points_follow_the_vxlan_path_on_the_source_node() {
        let snap = fixture("flannel-vxlan");
        let dp = crate::hints::dataplane(&snap);
        let ex = explain(
            &snap,
            &dp,
            &ExplainRequest::new("default/web-1", "default/api-2"),
        )
        .unwrap();
        let pts = probe_points(&dp, &ex);
        let roles: Vec<(&str, &str)> = pts.iter().map(|p| (p.role, p.iface.as_str())).collect();
        assert_eq!(
            roles[1..],
            [("tunnel", "flannel.1"), ("underlay", "eth0")],
            "{pts:#?}"
        );
        assert_eq!(roles[0].0, "pod veth");
        let ul = &pts[2];
        assert_eq!(
            ul.outer,
            Some(("192.0.2.11".parse().unwrap(), "192.0.2.12".parse().unwrap()))
        );
        assert_eq!(ul.vxlan, Some((1, 8472)));
        assert!(pts[..2].iter().all(|p| p.outer.is_none()));
        assert_eq!(ul.inner_dst, "10.244.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn annotations_go_under_their_hop_lines() {
        let (plan, ex) = plan("flannel-vxlan", "default/web-1", "default/api-2");
        let v = compare(&plan.queries, &agreeing(&plan.queries));
        let text = annotate_text(&crate::explain::render_text(&ex), &v);
        let marks = text
            .lines()
            .filter(|l| l.contains("✓ kernel agrees"))
            .count();
        assert_eq!(marks, plan.queries.len(), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains("✓ kernel agrees") {
                assert!(
                    lines[i - 1].contains("route:") || lines[i - 1].contains("↳"),
                    "{text}"
                );
            }
        }
    }
}
