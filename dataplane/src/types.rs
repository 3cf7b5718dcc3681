//! The public vocabulary of a trace: packets, ingress points, hops and
//! dispositions. Hops hold indices into the [`Dataplane`](crate::Dataplane),
//! never strings, so tracing allocates only the hop vector; text is rendered
//! on demand by [`crate::render`].

use std::fmt;
use std::net::IpAddr;

use cnictl_model::RouteType;
use serde::Serialize;

pub use crate::forward::Hook;
pub use crate::nf::RuleRef;

/// What a netfilter hop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NfAction {
    Drop,
    Reject,
    Dnat,
    Snat,
    Masquerade,
    Redirect,
    Mark,
    /// The rule cannot be evaluated (an unknown match or target, a set
    /// that was not collected): the trace ends as `unknown`.
    Unknown,
}

impl NfAction {
    pub fn as_str(self) -> &'static str {
        match self {
            NfAction::Drop => "drop",
            NfAction::Reject => "reject",
            NfAction::Dnat => "dnat",
            NfAction::Snat => "snat",
            NfAction::Masquerade => "masquerade",
            NfAction::Redirect => "redirect",
            NfAction::Mark => "mark",
            NfAction::Unknown => "unknown",
        }
    }
}

/// A node, by index into the dataplane (stable for one `Dataplane`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// A pod known to the dataplane (from the Kubernetes pods or a collected netns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodId(pub u32);

/// A network namespace: a node's root namespace or a collected pod netns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId(pub u32);

/// IP protocol of the traced packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Proto {
    #[default]
    Icmp,
    Tcp,
    Udp,
    Other(u8),
}

impl Proto {
    pub fn number(self) -> u8 {
        match self {
            Proto::Icmp => 1,
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Other(n) => n,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Icmp => "icmp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Other(4) => "ipip",
            Proto::Other(_) => "ip",
        }
    }
}

/// The packet to forward. `size` is the IP total length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Proto,
    pub sport: u16,
    pub dport: u16,
    pub size: u32,
    /// Don't Fragment (set by ping and TCP, so the default).
    pub df: bool,
    pub fwmark: u32,
}

/// A default ping's IP total length (56 data + 8 ICMP + 20 IP).
pub const DEFAULT_SIZE: u32 = 84;

impl Packet {
    /// An ICMP echo of default size with DF set.
    pub fn new(src: IpAddr, dst: IpAddr) -> Self {
        Packet {
            src,
            dst,
            proto: Proto::Icmp,
            sport: 0,
            dport: 0,
            size: DEFAULT_SIZE,
            df: true,
            fwmark: 0,
        }
    }
}

/// Where the packet enters the dataplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// Sent by the pod (from its netns, collected or inferred).
    Pod(PodId),
    /// Sent by the node itself (its root namespace, locally originated).
    Node(NodeId),
    /// Arriving on a device of a namespace (`link` indexes its links).
    Device { ns: NsId, link: u32 },
}

/// How a trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    Delivered,
    NoRoute,
    NullRouted,
    NeighbourUnresolved,
    FdbMissing,
    IpForwardDisabled,
    MtuExceeded,
    LeftCluster,
    Loop,
    InsufficientInfo,
    /// A netfilter rule or chain policy dropped the packet.
    NetfilterDrop,
    /// A netfilter rule rejected it (the sender gets an ICMP error or RST).
    NetfilterReject,
    /// The packet reached a netfilter rule cnictl cannot evaluate: where it
    /// goes from there is not known.
    Unknown,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Delivered => "delivered",
            Disposition::NoRoute => "no-route",
            Disposition::NullRouted => "null-routed",
            Disposition::NeighbourUnresolved => "neighbour-unresolved",
            Disposition::FdbMissing => "fdb-missing",
            Disposition::IpForwardDisabled => "ip-forward-disabled",
            Disposition::MtuExceeded => "mtu-exceeded",
            Disposition::LeftCluster => "left-cluster",
            Disposition::Loop => "loop",
            Disposition::InsufficientInfo => "insufficient-info",
            Disposition::NetfilterDrop => "netfilter-drop",
            Disposition::NetfilterReject => "netfilter-reject",
            Disposition::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a trace ended the way it did; finer than [`Disposition`], and what
/// explain maps to a finding code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Delivered to a local address.
    Local,
    /// Delivered as broadcast.
    Broadcast,
    /// No rule produced a route.
    NoMatchingRoute,
    /// A blackhole/unreachable/prohibit route.
    RouteType(RouteType),
    /// A blackhole/unreachable/prohibit policy rule.
    RuleAction,
    /// The gateway is not on a connected subnet of the device and not onlink.
    GatewayNotAdjacent { gw: IpAddr },
    /// The route names a device that does not exist in the namespace.
    DeviceMissing,
    /// No neighbour entry and nobody on the segment owns the address.
    ArpUnresolved { ip: IpAddr },
    /// A neighbour entry exists, but no port of the bridge leads to the
    /// address (its veth was detached, or the entry is stale).
    NotAttached { ip: IpAddr },
    /// No neighbour entry for the next hop on a VXLAN device.
    VxlanNeighMissing { ip: IpAddr },
    /// No FDB entry (nor all-zero default, nor fixed remote) for the VTEP MAC.
    VxlanFdbMissing,
    /// The decapsulating node's VTEP MAC is not the inner destination MAC.
    VtepMacMismatch,
    /// No VXLAN/IPIP device to decapsulate on the receiving node.
    NoTunnelDevice,
    /// The receiving node's tunnel device is administratively down: its
    /// VXLAN socket (or IPIP handler) is closed, the kernel drops what
    /// arrives for it.
    TunnelDown,
    /// `net.ipv4.ip_forward = 0` on a node that had to forward.
    IpForwardOff,
    /// A pod netns received a packet for someone else (pods do not forward).
    PodDoesNotForward,
    /// Packet (or outer packet) larger than the egress MTU with DF set.
    Mtu { mtu: u32, size: u32 },
    /// Left through a gateway that is no node (`None`: directly on-link).
    LeftCluster { gw: Option<IpAddr> },
    /// A macvlan/ipvlan child and its parent device exchange no frames:
    /// ARP for `ip` goes unanswered.
    MacvlanParent { ip: IpAddr },
    /// Reverse-path filtering (`rp_filter` 1 = strict, 2 = loose): the route
    /// back to the source does not leave through the arrival device (strict)
    /// or does not exist (loose).
    RpFilter { mode: u8 },
    /// TTL reached zero.
    TtlExpired,
    /// A section needed here was not collected.
    NotCollected(Section),
    /// The veth's other end is unknown (peer not collected, no pod route).
    PeerUnknown,
    /// An IPVS virtual service with no real servers (or all weight 0).
    IpvsNoBackends,
    /// Something the reference dataplane does not model (multicast, NAT routes,
    /// nested encapsulation).
    Unsupported,
    /// A netfilter rule (or, `rule: None`, a chain's policy) dropped,
    /// rejected, or could not be evaluated.
    Netfilter { ns: NsId, hook: Hook, at: RuleRef },
}

/// A snapshot section that may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Neighbours,
    Fdb,
    VxlanInfo,
    TunnelRemote,
    /// The device's kind (`ip link` without `-d`).
    LinkKind,
}

impl Section {
    pub fn file(self) -> &'static str {
        match self {
            Section::Neighbours => "ip-neigh.json",
            Section::Fdb => "bridge-fdb.json",
            Section::VxlanInfo => "ip-link.json (vxlan details)",
            Section::TunnelRemote => "ip-link.json (tunnel remote)",
            Section::LinkKind => "ip-link.json (device kinds: `ip -d link show`)",
        }
    }
}

/// The outer header added by an encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// VNI and UDP port for VXLAN; both 0 for IPIP.
    pub vni: u32,
    pub port: u16,
    pub size: u32,
    /// Don't-Fragment on the outer header: a VXLAN device's `df` setting
    /// (unset by default, so the underlay fragments rather than drops),
    /// the inner packet's DF for IPIP (tunl0 copies it).
    pub df: bool,
}

/// Who answers ARP for a next hop when no neighbour entry exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// An interface in another namespace that holds the address.
    Dev { ns: NsId, link: u32 },
    /// The bridge device itself holds the address.
    Bridge { ns: NsId, link: u32 },
    /// A pod whose netns was not collected holds it.
    Pod(PodId),
    /// The device answers by proxy ARP (a routed pod's link-local gateway).
    Proxy { ns: NsId, link: u32 },
}

/// What decided one step. Indices point into the namespace of the hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The packet is created here (locally originated).
    Origin,
    /// The pod side was not collected: default route inferred from the node.
    InferredEgress { gw: IpAddr },
    /// A route decided: `rule` is the rule index (None for inferred netns).
    Route {
        rule: u32,
        route: u32,
        nexthop: u16,
        forwarded: bool,
    },
    /// A `throw` route sent the lookup on to the next rule.
    Throw { rule: u32, route: u32 },
    /// `suppress_prefixlength` rejected a result.
    Suppressed { rule: u32, route: u32 },
    /// A rule with a blackhole/unreachable/prohibit action.
    RuleAction { rule: u32 },
    /// A neighbour entry resolved the next hop.
    Neigh { neigh: u32 },
    /// No neighbour entry, but ARP would resolve to this owner.
    Arp { ip: IpAddr, owner: Owner },
    /// The frame crosses a veth into its peer.
    Veth {
        to: Option<NsId>,
        to_link: u32,
        to_pod: Option<PodId>,
    },
    /// The bridge delivers the frame to its own IP stack.
    BridgeLocal,
    /// The bridge forwards by an FDB entry.
    Fdb { fdb: u32 },
    /// The bridge floods (unknown MAC); the owner's port takes it.
    Flood { port: Option<u32> },
    /// Across the underlay to another node; `router` when through a gateway
    /// that is no node.
    Underlay {
        to: NsId,
        to_link: u32,
        router: Option<IpAddr>,
    },
    /// VXLAN encapsulation.
    VxlanEncap {
        neigh: u32,
        fdb: Option<u32>,
        outer: Outer,
    },
    /// IPIP encapsulation.
    IpipEncap { outer: Outer },
    /// Decapsulation on a tunnel device.
    Decap { vni: Option<u32> },
    /// IPVS virtual service → real server DNAT (one branch per real).
    IpvsDnat { vs: u32, real: u32 },
    /// A netfilter rule changed the packet (DNAT, SNAT, MASQUERADE,
    /// REDIRECT, MARK) or decided its fate (drop, reject, not evaluable).
    Netfilter {
        hook: Hook,
        at: RuleRef,
        action: NfAction,
    },
    /// Delivered to a local address (or a pod, when inferred).
    Deliver { reason: Reason },
    /// Dropped here.
    Drop {
        disposition: Disposition,
        reason: Reason,
    },
}

/// One hop of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// The namespace (a node's root ns or a collected pod netns).
    pub ns: NsId,
    /// Set when the hop happens in a pod netns that was inferred.
    pub pod: Option<PodId>,
    pub in_dev: Option<u32>,
    pub out_dev: Option<u32>,
    pub step: Step,
}

/// A traced path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub hops: Vec<Hop>,
    pub disposition: Disposition,
    pub reason: Reason,
    /// IPVS: one sub-trace per real server, continuing after the DNAT hop;
    /// netfilter: one per way a `statistic`/`numgen` rule splits traffic.
    pub branches: Vec<Branch>,
    /// Every netfilter hook evaluated, in order (rules only when traced
    /// with [`TraceOptions::rules`]).
    pub netfilter: Vec<HookEval>,
    /// Why the trace ended `unknown`, or what was not evaluated on the way
    /// (e.g. a node whose netfilter rules were not collected).
    pub notes: Vec<String>,
    /// Set when the packet left the cluster: how it looked on the wire then
    /// (after SNAT/MASQUERADE), for egress answers and the reply's way back.
    pub exit: Option<Exit>,
    /// The destination (address, port) after the last DNAT of a path
    /// that did not split: a Service with one endpoint.
    pub dnat: Option<(IpAddr, u16)>,
    /// The source (address, port) after the last SNAT/MASQUERADE: where
    /// the reply will be sent.
    pub snat: Option<(IpAddr, u16)>,
}

/// A packet leaving the cluster through a node's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The namespace and device it left by.
    pub ns: NsId,
    pub dev: u32,
    /// The gateway it was sent to (`None`: on-link).
    pub gw: Option<IpAddr>,
    /// The packet as it left: source and ports after every rewrite.
    pub packet: Packet,
}

/// How much to record while tracing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// Keep every netfilter rule evaluated (explain `--verbose`).
    pub rules: bool,
    /// Trace the reply of a connection (`--reverse`): conntrack state
    /// ESTABLISHED, NAT chains not traversed.
    pub reply: bool,
}

/// One netfilter hook the packet passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEval {
    /// Hops recorded before the hook ran (its place in the path).
    pub after_hop: usize,
    pub ns: NsId,
    pub hook: Hook,
    /// How the hook ended (for a split hook: the path followed).
    pub action: Option<NfAction>,
    /// `None` when the node's rules were not collected.
    pub evaluated: Option<Vec<crate::nf::Visit>>,
}

/// One continuation of a split trace: an IPVS real server, or one way a
/// netfilter `statistic`/`numgen` rule sends new connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub ns: NsId,
    pub vs: u32,
    pub real: u32,
    /// Set for a netfilter split: its share of new connections, in parts
    /// per million (IPVS branches: `None`, the scheduler decides).
    pub share_ppm: Option<u32>,
    /// Set for a netfilter split: the destination (address, port) after
    /// the branch's rewrites (a DNAT picks an endpoint).
    pub to: Option<(IpAddr, u16)>,
    pub trace: Trace,
}

impl Trace {
    /// Index of the hop where the packet was dropped (the last one), if it was.
    pub fn drop_hop(&self) -> Option<usize> {
        (self.disposition != Disposition::Delivered && !self.hops.is_empty())
            .then(|| self.hops.len() - 1)
    }
}
