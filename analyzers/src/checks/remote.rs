//! Route verdicts toward other nodes' pod CIDRs, shared by the route checks
//! (missing-pod-route, wrong-next-hop, next-hop-not-adjacent,
//! route-shadowed): computed once per node, O(nodes) lookups.
//!
//! The expected next hop depends on the *source* node's model:
//! - flannel-vxlan: `P via <peer VTEP IP> dev flannel.1 onlink`; with
//!   DirectRouting `P via <peer node IP>` for an on-link peer (either shape
//!   while the setting is unknown: [`crate::direct_routing`])
//! - flannel-host-gw, bridge, cilium-native: `P via <peer node IP> dev <underlay>`
//! - calico-bgp: `P via <peer node IP>` when adjacent, else via the
//!   gateway the node uses for the peer's IP (BIRD's `gateway recursive`)
//! - calico-ipip: `P via <peer node IP> dev tunl0 onlink` (or the underlay
//!   for same-subnet peers, as CrossSubnet mode does)
//! - calico-vxlan: `P via <peer tunnel IP> dev vxlan.calico onlink` (or the
//!   underlay for same-subnet peers)
//! - cilium-vxlan: `P … dev cilium_host`; weave: `P dev weave`

use std::net::IpAddr;

use cnictl_model::{cidr, Route, RouteType};

use super::fib::{self, Lookup};
use super::NodeCx;
use crate::cni::NextHop;
use crate::expected::{NodeExpect, PodCidr};

/// One acceptable next hop: `None` fields match anything.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hop<'a> {
    pub gw: Option<IpAddr>,
    pub dev: Option<&'a str>,
    pub onlink: bool,
}

/// At most two acceptable hops (tunnel, or direct for same-subnet peers),
/// kept inline: one verdict per peer per node must not allocate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hops<'a> {
    buf: [Hop<'a>; 2],
    len: usize,
}

impl<'a> Hops<'a> {
    fn push(&mut self, h: Hop<'a>) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = h;
            self.len += 1;
        }
    }

    fn of(h: Hop<'a>) -> Self {
        let mut v = Hops::default();
        v.push(h);
        v
    }

    pub fn as_slice(&self) -> &[Hop<'a>] {
        &self.buf[..self.len]
    }
}

/// What went wrong with the route to one peer pod CIDR.
#[derive(Debug)]
pub(crate) enum Issue<'a> {
    Ok,
    /// No route, or only the default route (`chosen`).
    Missing {
        chosen: Option<&'a Route>,
    },
    Wrong {
        route: &'a Route,
    },
    /// The peer is not on a connected subnet but the model needs L2.
    NotAdjacent {
        route: Option<&'a Route>,
    },
    /// A blackhole/unreachable route or a drop rule decides, or a wrong
    /// route wins over a correct one (`hidden`).
    Shadowed {
        by: Shadow<'a>,
        hidden: Vec<&'a Route>,
    },
}

#[derive(Debug)]
pub(crate) enum Shadow<'a> {
    Route(&'a Route),
    Rule(cnictl_model::Rule),
}

/// The verdict for one peer pod CIDR on this node.
#[derive(Debug)]
pub(crate) struct Verdict<'a> {
    pub peer: &'a NodeExpect,
    pub cidr: &'a PodCidr,
    pub hops: Hops<'a>,
    /// The route the rule walk picked for the CIDR, if any.
    pub chosen: Option<&'a Route>,
    pub issue: Issue<'a>,
    /// Narrower routes inside the CIDR that send part of it elsewhere.
    pub narrower: Vec<&'a Route>,
}

impl Verdict<'_> {
    /// The route to install, as `ip route replace` takes it.
    pub fn expected_route(&self) -> String {
        let Some(h) = self.hops.as_slice().first() else {
            return format!("{}", self.cidr.net);
        };
        let mut s = self.cidr.net.to_string();
        if let Some(gw) = h.gw {
            s.push_str(&format!(" via {gw}"));
        }
        if let Some(d) = h.dev {
            s.push_str(&format!(" dev {d}"));
        }
        if h.onlink {
            s.push_str(" onlink");
        }
        s
    }
}

pub(crate) fn verdicts<'e>(cx: &NodeCx<'e>) -> Vec<Verdict<'e>> {
    let mut out = Vec::with_capacity(cx.exp.nodes.len());
    if cx.model.profile().is_none() {
        return out;
    }
    for peer in cx.exp.nodes.iter().filter(|p| p.name != cx.node.name) {
        for c in peer
            .pod_cidrs
            .iter()
            .filter(|c| !cx.exp.contested.contains(&c.net))
        {
            out.push(verdict(cx, peer, c));
        }
    }
    out
}

fn verdict<'e>(cx: &NodeCx<'e>, peer: &'e NodeExpect, c: &'e PodCidr) -> Verdict<'e> {
    let hops = expected_hops(cx, peer, c);
    let chosen = cx.fib.lookup(&c.net);
    let chosen_route = match &chosen {
        Lookup::Route(r) => Some(*r),
        _ => None,
    };
    let issue = if cx.model.needs_l2_adjacency() && !adjacent(cx, peer) {
        Issue::NotAdjacent {
            route: chosen_route,
        }
    } else {
        classify(cx, c, hops.as_slice(), chosen)
    };
    let narrower = cx
        .fib
        .inside(&c.net)
        .into_iter()
        .filter(|r| is_shadowing_narrower(cx, r, hops.as_slice()))
        .collect();
    Verdict {
        peer,
        cidr: c,
        hops,
        chosen: chosen_route,
        issue,
        narrower,
    }
}

fn classify<'e>(cx: &NodeCx<'e>, c: &PodCidr, hops: &[Hop<'_>], chosen: Lookup<'e>) -> Issue<'e> {
    let hidden = || -> Vec<&'e Route> {
        cx.fib
            .exact(&c.net)
            .into_iter()
            .filter(|r| matches(r, hops))
            .collect()
    };
    match chosen {
        Lookup::Rule(rule) => Issue::Shadowed {
            by: Shadow::Rule(rule),
            hidden: hidden(),
        },
        Lookup::None => Issue::Missing { chosen: None },
        Lookup::Route(r) if r.dst.prefix_len() == 0 && r.route_type == RouteType::Unicast => {
            Issue::Missing { chosen: Some(r) }
        }
        Lookup::Route(r) if is_drop(r) => Issue::Shadowed {
            by: Shadow::Route(r),
            hidden: hidden(),
        },
        Lookup::Route(r) if matches(r, hops) => Issue::Ok,
        Lookup::Route(r) if needs_adjacent_gw(cx) && !gateways_adjacent(cx, r) => {
            Issue::NotAdjacent { route: Some(r) }
        }
        Lookup::Route(r) => {
            let h = hidden();
            if h.is_empty() {
                Issue::Wrong { route: r }
            } else {
                Issue::Shadowed {
                    by: Shadow::Route(r),
                    hidden: h,
                }
            }
        }
    }
}

pub(crate) fn is_drop(r: &Route) -> bool {
    matches!(
        r.route_type,
        RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit
    )
}

/// A narrower route hides part of a peer's CIDR when it drops traffic or
/// sends a whole sub-range elsewhere. Host routes to live pods are left to
/// the pod checks (Calico routes borrowed IPs that way).
fn is_shadowing_narrower(cx: &NodeCx<'_>, r: &Route, hops: &[Hop<'_>]) -> bool {
    if is_drop(r) {
        return true;
    }
    if r.dst.prefix_len() == r.dst.max_prefix_len() && cx.exp.pod_by_ip(r.dst.addr()).is_some() {
        return false;
    }
    matches!(r.route_type, RouteType::Unicast | RouteType::Local) && !matches(r, hops)
}

/// True when every path of the route fits one of the hops.
pub(crate) fn matches(r: &Route, hops: &[Hop<'_>]) -> bool {
    if r.route_type != RouteType::Unicast {
        return false;
    }
    fib::paths(r).all(|(gw, dev)| {
        hops.iter()
            .any(|h| h.gw.is_none_or(|g| gw == Some(g)) && h.dev.is_none_or(|d| dev == Some(d)))
    })
}

/// Models whose next hop is resolved by ARP on the underlay.
fn needs_adjacent_gw(cx: &NodeCx<'_>) -> bool {
    let profile = cx.model.profile();
    profile.is_some_and(|p| p.next_hop.needs_adjacent_gateway())
}

/// Every gateway of the route lies in a connected subnet (an `onlink`
/// route can name any gateway; the kernel then ARPs for it regardless).
pub(crate) fn gateways_adjacent(cx: &NodeCx<'_>, r: &Route) -> bool {
    fib::paths(r)
        .filter_map(|(gw, _)| gw)
        .all(|gw| in_connected(cx, gw))
}

fn in_connected(cx: &NodeCx<'_>, ip: IpAddr) -> bool {
    let mut nets = cx
        .node
        .addrs
        .iter()
        .filter(|a| a.scope == "global" && a.addr.prefix_len() < a.addr.max_prefix_len())
        .peekable();
    nets.peek().is_none() || nets.any(|a| a.addr.trunc().contains(&ip))
}

/// The peer's node IP is inside one of this node's connected subnets.
/// With no addresses dumped adjacency cannot be judged and is assumed.
pub(crate) fn adjacent(cx: &NodeCx<'_>, peer: &NodeExpect) -> bool {
    peer.ip().is_none_or(|ip| in_connected(cx, ip))
}

fn hop(gw: Option<IpAddr>, dev: Option<&str>, onlink: bool) -> Hop<'_> {
    Hop { gw, dev, onlink }
}

/// The acceptable next hops toward the peer's CIDR, in the shape the
/// model's profile gives.
fn expected_hops<'e>(cx: &NodeCx<'e>, peer: &NodeExpect, c: &PodCidr) -> Hops<'e> {
    let ip = peer.ip_for(&c.net);
    let same_family = ip.is_some_and(|i| Some(i) == peer.ip());
    // The underlay device is known for the primary family only.
    let direct = hop(ip, cx.underlay_dev().filter(|_| same_family), false);
    let tunnel_or_direct = |tunnel: Hop<'e>| {
        let mut v = Hops::of(tunnel);
        if adjacent(cx, peer) {
            v.push(direct);
        }
        v
    };
    let Some(profile) = cx.model.profile() else {
        return Hops::default();
    };
    match profile.next_hop {
        NextHop::VtepOnlink => flannel_hops(cx, peer, vtep_hop(cx, peer, c), direct),
        NextHop::NodeIp => Hops::of(direct),
        NextHop::NodeIpRecursive => Hops::of(calico_bgp_hop(cx, direct)),
        NextHop::NodeIpTunl0Onlink => tunnel_or_direct(hop(ip, Some("tunl0"), true)),
        NextHop::TunnelAddrOnlink => {
            let dev = cx.vxlan_dev.or(profile.tunnel.map(|t| t.name));
            tunnel_or_direct(hop(peer.tunnel_addr, dev, true))
        }
        NextHop::Device(dev) => Hops::of(hop(None, Some(dev), false)),
        NextHop::Isolated => Hops::default(),
    }
}

/// Flannel VXLAN: via the peer's VTEP on flannel.1. flannel.1 carries
/// IPv4; an IPv6 CIDR goes over flannel-v6.1 via the network address of
/// the peer's IPv6 subnet (flanneld v0.25 `handleSubnetEvents`), a device
/// required only where the node has it (any device otherwise).
fn vtep_hop<'e>(cx: &NodeCx<'e>, peer: &NodeExpect, c: &PodCidr) -> Hop<'e> {
    let v4 = matches!(c.net, ipnet::IpNet::V4(_));
    let v6_dev = crate::cni::model::FLANNEL_V6_DEV;
    let dev = if v4 {
        cx.vxlan_dev.or(Some("flannel.1"))
    } else {
        cx.link(v6_dev).map(|l| l.name.as_str())
    };
    let vtep = peer
        .vtep
        .as_ref()
        .map(|v| v.ip)
        .filter(|ip| ip.is_ipv4() == v4);
    hop(Some(vtep.unwrap_or(c.net.network())), dev, true)
}

/// Flannel VXLAN: over VXLAN, or with DirectRouting straight to an on-link
/// peer's IP (IPv4 only here: the lab and the setting's evidence are IPv4).
fn flannel_hops<'e>(
    cx: &NodeCx<'e>,
    peer: &NodeExpect,
    tunnel: Hop<'e>,
    direct: Hop<'e>,
) -> Hops<'e> {
    if tunnel.dev.is_none() || !adjacent(cx, peer) {
        return Hops::of(tunnel);
    }
    match cx.exp.flannel_direct_routing {
        Some(true) => Hops::of(direct),
        Some(false) => Hops::of(tunnel),
        None => {
            let mut v = Hops::of(tunnel);
            v.push(direct);
            v
        }
    }
}

/// Calico BGP toward a peer on another subnet: BIRD resolves the BGP next
/// hop recursively, so the kernel route goes via the node's route to the
/// peer's IP.
fn calico_bgp_hop<'e>(cx: &NodeCx<'e>, direct: Hop<'e>) -> Hop<'e> {
    let Some(ip) = direct.gw.filter(|ip| !in_connected(cx, *ip)) else {
        return direct;
    };
    match cx.fib.lookup(&cidr::host(ip)) {
        Lookup::Route(r) if r.gateway.is_some() => hop(r.gateway, r.dev.as_deref(), false),
        _ => direct,
    }
}

/// The peer and CIDR as evidence (`node/node-2 podCIDR … InternalIP …`).
pub(crate) fn peer_evidence(v: &Verdict<'_>) -> String {
    v.peer.describe()
}
