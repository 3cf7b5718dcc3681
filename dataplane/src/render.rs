//! Text for hops and reasons, computed on demand (never on the trace hot
//! path): entries are printed as `ip`/`bridge`/`ipvsadm` would print them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::tables::{Dataplane, Namespace};

/// (kind, entry, rewrite) of one hop.
type StepText = (&'static str, String, Option<String>);
use crate::types::*;

/// One hop, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopText {
    pub node: String,
    /// `None` for the node's root namespace, else the pod key.
    pub netns: Option<String>,
    pub in_dev: Option<String>,
    pub out_dev: Option<String>,
    /// What decided: `route`, `rule`, `neighbour`, `arp`, `veth`, `fdb`, …
    pub kind: &'static str,
    /// The exact entry, as the tool that lists it prints it.
    pub entry: String,
    /// Header change (encap/decap/DNAT), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    /// True when this hop was inferred rather than read from a dump.
    pub inferred: bool,
    /// For a netfilter hop: the rule, located, and what it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netfilter: Option<crate::render_nf::NfHopText>,
}

impl Dataplane {
    /// Renders one hop of a trace produced by this dataplane.
    pub fn render_hop(&self, h: &Hop) -> HopText {
        let ns = &self.ns[h.ns.0 as usize];
        let node = self.nodes[ns.node as usize].name.clone();
        let pod = h.pod.map(|p| p.0).or(ns.pod);
        let netns = pod.map(|p| self.pods[p as usize].key.clone());
        let dev = |i: Option<u32>| {
            i.and_then(|i| ns.links.get(i as usize))
                .map(|l| l.name.clone())
        };
        let (in_dev, out_dev) = if h.pod.is_some() {
            (None, Some("eth0".to_string()))
        } else {
            (dev(h.in_dev), dev(h.out_dev))
        };
        let (kind, entry, rewrite) = self.step_text(h);
        let synthesized =
            matches!(h.step, Step::Route { route, .. } if route as usize >= ns.synthesized_from);
        HopText {
            node,
            netns,
            in_dev,
            out_dev,
            kind,
            entry,
            rewrite,
            inferred: h.pod.is_some() || synthesized,
            netfilter: match h.step {
                Step::Netfilter { hook, at, action } => self.nf_hop_text(h.ns, hook, at, action),
                _ => None,
            },
        }
    }

    fn step_text(&self, h: &Hop) -> StepText {
        let ns = &self.ns[h.ns.0 as usize];
        let plain = |kind: &'static str, entry: String| (kind, entry, None);
        match h.step {
            Step::Origin => plain("origin", "packet sent from this namespace".into()),
            Step::InferredEgress { gw } => plain(
                "route",
                format!(
                    "default via {gw} dev eth0 (pod netns not collected: inferred from the node)"
                ),
            ),
            Step::Route {
                rule,
                route,
                forwarded,
                ..
            } => plain("route", route_text(ns, rule, route, forwarded)),
            Step::Throw { rule, route } => plain("throw", skipped_text(ns, rule, route, "")),
            Step::Suppressed { rule, route } => plain(
                "suppressed",
                skipped_text(ns, rule, route, " prefix too short"),
            ),
            Step::RuleAction { rule } => plain("rule", rule_text(ns, rule)),
            Step::Neigh { neigh } => plain("neighbour", neigh_text(&ns.neighs[neigh as usize])),
            Step::Arp { ip, owner } => plain("arp", self.owner_text(ip, owner)),
            Step::Veth {
                to,
                to_link,
                to_pod,
            } => plain("veth", self.veth_text(to, to_link, to_pod)),
            Step::BridgeLocal => plain(
                "bridge",
                "frame addressed to the bridge itself: up to its IP stack".into(),
            ),
            Step::Fdb { fdb } => plain("fdb", fdb_text(&ns.fdb[fdb as usize])),
            Step::Flood { port } => plain("flood", self.flood_text(h, port)),
            Step::Underlay {
                to,
                to_link,
                router,
            } => plain("underlay", self.underlay_text(to, to_link, router)),
            Step::VxlanEncap { neigh, fdb, outer } => vxlan_encap_text(ns, neigh, fdb, outer),
            Step::IpipEncap { outer } => ipip_encap_text(outer),
            Step::Decap { vni } => decap_text(vni),
            Step::IpvsDnat { vs, real } => ipvs_text(ns, vs, real),
            Step::Netfilter { at, action, .. } => {
                let (entry, rw) = self.nf_step_text(h.ns, at, action);
                ("netfilter", entry, rw)
            }
            Step::Deliver { reason } => plain("deliver", deliver_text(reason).into()),
            Step::Drop {
                disposition,
                reason,
            } => plain(
                "drop",
                format!("{disposition}: {}", self.reason_text(reason)),
            ),
        }
    }

    fn underlay_text(&self, to: NsId, to_link: u32, router: Option<std::net::IpAddr>) -> String {
        let tn = &self.ns[to.0 as usize];
        let mut e = format!(
            "underlay → node {} dev {}",
            self.nodes[tn.node as usize].name, tn.links[to_link as usize].name
        );
        if let Some(r) = router {
            let _ = write!(
                e,
                " via router {r} (not a node; underlay routing not modelled)"
            );
        }
        e
    }

    fn owner_text(&self, ip: std::net::IpAddr, owner: Owner) -> String {
        // IPv6 resolves neighbours by NDP (neighbour solicitation), IPv4 by ARP.
        let arp = if ip.is_ipv6() { "NDP" } else { "ARP" };
        match owner {
            Owner::Dev { ns, link } => {
                let n = &self.ns[ns.0 as usize];
                format!(
                    "no neighbour entry for {ip}: {arp} would resolve ({} dev {} owns it)",
                    self.ns_label(ns),
                    n.links[link as usize].name
                )
            }
            Owner::Bridge { ns, link } => {
                let n = &self.ns[ns.0 as usize];
                format!(
                    "{ip} is the bridge {}'s own address on {}",
                    n.links[link as usize].name,
                    self.ns_label(ns)
                )
            }
            Owner::Pod(p) => format!(
                "no neighbour entry for {ip}: {arp} would resolve (pod {} owns it, inferred)",
                self.pods[p.0 as usize].key
            ),
            Owner::Proxy { ns, link } => {
                let n = &self.ns[ns.0 as usize];
                format!(
                    "{ip} answered by proxy {arp} on {} dev {}",
                    self.ns_label(ns),
                    n.links[link as usize].name
                )
            }
        }
    }

    fn veth_text(&self, to: Option<NsId>, to_link: u32, to_pod: Option<PodId>) -> String {
        match (to, to_pod) {
            (_, Some(p)) => format!(
                "veth → pod {} eth0 (pod netns inferred)",
                self.pods[p.0 as usize].key
            ),
            (Some(ns), None) => format!(
                "veth → {} dev {}",
                self.ns_label(ns),
                self.ns[ns.0 as usize].links[to_link as usize].name
            ),
            (None, None) => "veth".into(),
        }
    }

    fn flood_text(&self, h: &Hop, port: Option<u32>) -> String {
        let ns = &self.ns[h.ns.0 as usize];
        let bridge = h
            .in_dev
            .and_then(|i| ns.devices[i as usize].master.or(Some(i)));
        let ports: Vec<&str> = bridge
            .map(|b| {
                ns.devices[b as usize]
                    .ports
                    .iter()
                    .map(|p| ns.links[*p as usize].name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let taken = port.map_or(
            "the pod's port (not known: pod netns not collected)".to_string(),
            |p| ns.links[p as usize].name.clone(),
        );
        format!(
            "no FDB entry for the destination MAC: flooded to [{}]; taken by {taken}",
            ports.join(", ")
        )
    }

    /// `node` or `node/pod-key`.
    pub fn ns_label(&self, ns: NsId) -> String {
        let n = &self.ns[ns.0 as usize];
        let node = &self.nodes[n.node as usize].name;
        match n.pod {
            Some(p) => format!("node {node} netns {}", self.pods[p as usize].key),
            None => format!("node {node}"),
        }
    }

    /// A one-line explanation of a reason.
    pub fn reason_text(&self, r: Reason) -> String {
        match r {
            Reason::Local => "delivered to a local address".into(),
            Reason::Broadcast => "delivered as broadcast".into(),
            Reason::NoMatchingRoute => "no rule's table has a route for the destination".into(),
            Reason::RouteType(t) => format!("{t} route"),
            Reason::RuleAction => "a policy rule discards it".into(),
            Reason::GatewayNotAdjacent { gw } => format!("gateway {gw} is not on a connected subnet of the device (and the route is not onlink)"),
            Reason::DeviceMissing => "the route names a device that does not exist".into(),
            Reason::ArpUnresolved { ip } => format!("no neighbour entry for {ip} and nothing on that segment owns it"),
            Reason::NotAttached { ip } => format!("a neighbour entry names {ip}, but no port of the bridge leads to it (veth detached from the bridge?)"),
            Reason::VxlanNeighMissing { ip } => format!("no neighbour entry for VTEP {ip} on the VXLAN device"),
            Reason::VxlanFdbMissing => "no FDB entry (nor all-zero default) maps the VTEP MAC of the neighbour entry to a node IP".into(),
            Reason::VtepMacMismatch => "the inner destination MAC is not this node's VTEP MAC".into(),
            Reason::NoTunnelDevice => "no tunnel device with that VNI/port (or IPIP) on this node to decapsulate".into(),
            Reason::TunnelDown => "the tunnel device for this VNI/port (or IPIP) is down on this node: the kernel drops what arrives for it".into(),
            Reason::IpForwardOff => "net.ipv4.ip_forward = 0 on a node that has to forward".into(),
            Reason::PodDoesNotForward => "the packet reached a pod that is not its destination (pods do not forward)".into(),
            Reason::Mtu { mtu, size } => format!("packet of {size} bytes with DF exceeds MTU {mtu}"),
            Reason::LeftCluster { gw: Some(g) } => format!("left the cluster towards gateway {g}, which is no node"),
            Reason::LeftCluster { gw: None } => "left the cluster on-link to an address that is no node".into(),
            Reason::MacvlanParent { ip } => format!("ARP for {ip} gets no answer: a macvlan/ipvlan child and its own parent device exchange no frames (the node needs a shim on the parent)"),
            Reason::RpFilter { mode: 1 } => "strict rp_filter: the route back to the source leaves through another device".into(),
            Reason::RpFilter { .. } => "loose rp_filter: no route back to the source".into(),
            Reason::TtlExpired => "TTL expired: the packet loops".into(),
            Reason::NotCollected(s) => format!("{} was not collected", s.file()),
            Reason::PeerUnknown => "the device's other end (veth peer / bridge port) is not in the snapshot".into(),
            Reason::IpvsNoBackends => "the IPVS virtual service has no real servers".into(),
            Reason::Unsupported => "not modelled by the reference dataplane (multicast, NAT route or nested encapsulation)".into(),
            Reason::Netfilter { ns, hook, at } => self.nf_reason_text(ns, hook, at),
        }
    }
}

fn neigh_text(n: &cnictl_model::Neigh) -> String {
    let mut s = format!("{} dev {}", n.dst, n.dev);
    if let Some(l) = &n.lladdr {
        let _ = write!(s, " lladdr {l}");
    }
    if n.router {
        s.push_str(" router");
    }
    for st in &n.state {
        let _ = write!(s, " {st}");
    }
    s
}

fn fdb_text(e: &cnictl_model::FdbEntry) -> String {
    let mut s = format!("{} dev {}", e.mac, e.dev);
    if let Some(d) = e.dst {
        let _ = write!(s, " dst {d}");
    }
    if let Some(v) = e.vni {
        let _ = write!(s, " vni {v}");
    }
    if let Some(p) = e.port {
        let _ = write!(s, " port {p}");
    }
    if let Some(m) = &e.master {
        let _ = write!(s, " master {m}");
    }
    for f in e
        .flags
        .iter()
        .filter(|f| *f != "master" || e.master.is_none())
    {
        let _ = write!(s, " {f}");
    }
    if !e.state.is_empty() {
        let _ = write!(s, " {}", e.state);
    }
    s
}

/// `ip rule` separates priority and selector with a tab; a space reads the
/// same and keeps JSON and terminals tidy.
fn rule_text(ns: &Namespace, rule: u32) -> String {
    let mut s = ns.rules[rule as usize].to_string().replacen(":\t", ": ", 1);
    if ns.rules_default {
        s.push_str(" (ip-rule.json not collected: default rules assumed)");
    }
    s
}

fn route_text(ns: &Namespace, rule: u32, route: u32, forwarded: bool) -> String {
    let rt = &ns.routes[route as usize];
    let mut e = format!("{rt}");
    if route as usize >= ns.synthesized_from {
        e.push_str(" (table local not collected: derived from addresses)");
    }
    let _ = write!(e, "  [rule {}]", rule_text(ns, rule));
    if rt.nexthops.len() > 1 {
        let n = rt.nexthops.len();
        let _ = write!(e, "  [multipath: following nexthop 1 of {n}]");
    }
    if forwarded {
        e.push_str("  [forwarded]");
    }
    e
}

/// A throw or suppressed route: the lookup goes on with the next rule.
fn skipped_text(ns: &Namespace, rule: u32, route: u32, why: &str) -> String {
    format!(
        "{}  [rule {}]{why} → next rule",
        ns.routes[route as usize],
        rule_text(ns, rule)
    )
}

fn vxlan_encap_text(ns: &Namespace, neigh: u32, fdb: Option<u32>, outer: Outer) -> StepText {
    let mut e = neigh_text(&ns.neighs[neigh as usize]);
    match fdb {
        Some(f) => {
            let _ = write!(e, "; {}", fdb_text(&ns.fdb[f as usize]));
        }
        None => e.push_str("; fixed remote of the vxlan device"),
    }
    let rw = format!(
        "vxlan encap: outer {} → {} udp dport {} vni {} (size {})",
        outer.src, outer.dst, outer.port, outer.vni, outer.size
    );
    ("vxlan-encap", e, Some(rw))
}

fn ipip_encap_text(outer: Outer) -> StepText {
    let rw = format!(
        "ipip encap: outer {} → {} proto 4 (size {})",
        outer.src, outer.dst, outer.size
    );
    ("ipip-encap", "ipip tunnel".into(), Some(rw))
}

fn decap_text(vni: Option<u32>) -> StepText {
    let rw = match vni {
        Some(v) => format!("vxlan decap (vni {v})"),
        None => "ipip decap".into(),
    };
    ("decap", "tunnel device takes the packet".into(), Some(rw))
}

fn ipvs_text(ns: &Namespace, vs: u32, real: u32) -> StepText {
    let svc = &ns.ipvs[vs as usize];
    let r = &svc.reals[real as usize];
    let e = format!(
        "{} {}  -> {}:{} {:?} weight {}",
        svc.key(),
        svc.scheduler,
        r.ip,
        r.port,
        r.forward,
        r.weight
    );
    let rw = format!("DNAT → {}:{} (SNAT/masquerade not modelled)", r.ip, r.port);
    ("ipvs", e, Some(rw))
}

fn deliver_text(reason: Reason) -> &'static str {
    match reason {
        Reason::Broadcast => "delivered (broadcast)",
        _ => "delivered to a local address",
    }
}
