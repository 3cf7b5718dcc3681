//! The forwarding engine: a small state machine stepping a packet through
//! namespaces as Linux would (policy rules → LPM → route type → next hop →
//! neighbour/ARP → veth/bridge/underlay/tunnel), recording hops as indices.
//!
//! One stage per file, in the order a packet meets them:
//!
//! | stage | file | Linux |
//! |---|---|---|
//! | receive or send, routing decision | `input.rs`, `route.rs` | `ip_rcv`, `ip_route_input`/`_output`, `fib_lookup` |
//! | local delivery | `local.rs` | `ip_local_deliver` |
//! | forward / output, then by device kind | `unicast.rs` | `ip_forward`, `ip_output` |
//! | neighbour / ARP | `neighbour.rs` | `neigh_output`, `arp_process` |
//! | veth, bridge, underlay | `veth.rs`, `bridge.rs`, `underlay.rs` | `veth_xmit`, `br_forward` |
//! | tunnels | `vxlan.rs`, `ipip.rs`, `tunnel.rs` | `vxlan_xmit`, `ipip_tunnel_xmit` |
//! | IPVS | `ipvs.rs` | `ip_vs_in` (LOCAL_IN) |
//! | pods whose netns was not collected | `pod.rs` | — |
//! | netfilter hooks: the node's rules | `netfilter.rs`, `nfview.rs` | `NF_HOOK` |
//!
//! Multipath: every next hop is listed in the route hop (the route renders
//! them all); the first next hop is followed for the verdict, since the
//! kernel's choice depends on a flow hash the snapshot cannot predict.
//! IPVS: each real server is traced as its own branch; so is each way a
//! netfilter `statistic`/`numgen` rule splits new connections.
//! Netfilter: the node's rules at every hook (`netfilter.rs`); pod netns
//! rules are not collected. Not modelled: ARP for routers outside the
//! snapshot (assumed to answer).

mod bridge;
mod input;
mod ipip;
mod ipvs;
mod local;
mod neighbour;
mod netfilter;
mod nfview;
mod pod;
mod route;
mod tunnel;
mod underlay;
mod unicast;
mod veth;
mod vxlan;

use std::net::IpAddr;

use crate::tables::{Dataplane, Mac};
use crate::types::*;

pub use netfilter::{Hook, HookPoint, HookVerdict};
pub(crate) use nfview::{family_name, policy_name, rule_label};

/// Upper bound on engine steps: a safety net behind the TTL.
const MAX_STEPS: usize = 512;
const INITIAL_TTL: u8 = 64;

/// Where the hops go: a vector when tracing, nowhere for `reachable`, only
/// the netfilter hook points for `netfilter_path`.
pub(crate) trait Rec: Sized {
    fn push(&mut self, hop: Hop);
    fn child(&self) -> Self;
    fn branch(
        &mut self,
        ns: NsId,
        vs: u32,
        real: u32,
        child: Self,
        disp: Disposition,
        reason: Reason,
    );
    /// The engine reached a netfilter hook (before asking for its verdict).
    fn hook(&mut self, _point: HookPoint) {}
    /// Whether to keep every netfilter rule evaluated.
    fn records_rules(&self) -> bool {
        false
    }
    /// Hops recorded so far.
    fn hops_len(&self) -> usize {
        0
    }
    /// A netfilter hook was evaluated.
    fn hook_eval(&mut self, _eval: HookEval) {}
    /// Something the verdict depends on that was not evaluated.
    fn note(&mut self, _text: String) {}
    /// The packet left the cluster, as it was on the wire.
    fn left(&mut self, _exit: Exit) {}
    /// A netfilter rule rewrote the destination to `to`.
    fn dnat(&mut self, _to: (IpAddr, u16)) {}
    /// A netfilter rule rewrote the source to `to`.
    fn snat(&mut self, _to: (IpAddr, u16)) {}
    /// One way a netfilter split sends new connections, traced to its end.
    fn split_branch(&mut self, split: Split, child: Self, disp: Disposition, reason: Reason) {
        self.branch(split.ns, u32::MAX, split.path, child, disp, reason);
    }
}

/// One way a netfilter split goes: where, which path, its share, and the
/// destination after its rewrites.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub ns: NsId,
    pub path: u32,
    pub share_ppm: u32,
    pub to: (IpAddr, u16),
}

#[derive(Default)]
pub(crate) struct TraceRec {
    opts: TraceOptions,
    hops: Vec<Hop>,
    branches: Vec<Branch>,
    netfilter: Vec<HookEval>,
    notes: Vec<String>,
    exit: Option<Exit>,
    dnat: Option<(IpAddr, u16)>,
    snat: Option<(IpAddr, u16)>,
}

impl TraceRec {
    fn into_trace(self, disposition: Disposition, reason: Reason) -> Trace {
        Trace {
            hops: self.hops,
            disposition,
            reason,
            branches: self.branches,
            netfilter: self.netfilter,
            notes: self.notes,
            exit: self.exit,
            dnat: self.dnat,
            snat: self.snat,
        }
    }
}

impl Rec for TraceRec {
    fn push(&mut self, hop: Hop) {
        self.hops.push(hop);
    }
    fn child(&self) -> Self {
        TraceRec {
            opts: self.opts,
            ..TraceRec::default()
        }
    }
    fn records_rules(&self) -> bool {
        self.opts.rules
    }
    fn hops_len(&self) -> usize {
        self.hops.len()
    }
    fn hook_eval(&mut self, eval: HookEval) {
        self.netfilter.push(eval);
    }
    fn note(&mut self, text: String) {
        if !self.notes.contains(&text) {
            self.notes.push(text);
        }
    }
    fn left(&mut self, exit: Exit) {
        self.exit = Some(exit);
    }
    fn dnat(&mut self, to: (IpAddr, u16)) {
        self.dnat = Some(to);
    }
    fn snat(&mut self, to: (IpAddr, u16)) {
        self.snat = Some(to);
    }
    fn split_branch(&mut self, split: Split, child: Self, disp: Disposition, reason: Reason) {
        let trace = child.into_trace(disp, reason);
        self.branches.push(Branch {
            ns: split.ns,
            vs: u32::MAX,
            real: split.path,
            share_ppm: Some(split.share_ppm),
            to: Some(split.to),
            trace,
        });
    }
    fn branch(
        &mut self,
        ns: NsId,
        vs: u32,
        real: u32,
        child: Self,
        disp: Disposition,
        reason: Reason,
    ) {
        let trace = child.into_trace(disp, reason);
        self.branches.push(Branch {
            ns,
            vs,
            real,
            share_ppm: None,
            to: None,
            trace,
        });
    }
}

pub(crate) struct Discard;

impl Rec for Discard {
    fn push(&mut self, _: Hop) {}
    fn child(&self) -> Self {
        Discard
    }
    fn branch(&mut self, _: NsId, _: u32, _: u32, _: Self, _: Disposition, _: Reason) {}
}

/// A packet on the wire and its TTL.
#[derive(Debug, Clone, Copy)]
struct Datagram {
    packet: Packet,
    ttl: u8,
}

/// How the inner packet was wrapped, for the decapsulating side.
#[derive(Debug, Clone, Copy)]
enum Encapsulation {
    Vxlan {
        vni: u32,
        port: u16,
        mac: Option<Mac>,
        /// The outer header is IPv6: the kernel hands it to the VXLAN
        /// device bound to an IPv6 socket (Flannel's flannel-v6.1 shares
        /// flannel.1's VNI and port).
        v6: bool,
    },
    Ipip,
}

/// Everything the engine carries between steps.
#[derive(Debug, Clone, Copy)]
struct PacketState {
    wire: Datagram,
    /// The inner packet while encapsulated.
    inner: Option<(Datagram, Encapsulation)>,
    /// Set by IPVS for one routing pass: the DNATed packet leaves through
    /// OUTPUT/POSTROUTING (`ip_vs_nat_xmit`), not PREROUTING/FORWARD.
    rerouted: bool,
    /// The connection as conntrack holds it in the current namespace.
    ct: Conntrack,
    /// The reply of a connection (`--reverse`), not its first packet.
    reply: bool,
    /// A hook that already ran for this packet when its stage is entered
    /// again (after a netfilter split or an OUTPUT re-route).
    skip: Option<Hook>,
}

/// Conntrack's view of the packet's connection in one namespace.
#[derive(Debug, Clone, Copy, Default)]
struct Conntrack {
    /// (namespace, encapsulated?): a new key is a new connection.
    key: Option<(NsId, bool)>,
    dst_nat_done: bool,
    src_nat_done: bool,
    ctmark: u32,
    /// `NOTRACK` in the raw table: no connection, no NAT.
    untracked: bool,
}

/// The next engine state.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// IP receive on `iif` in `ns`, or local output when `iif` is None.
    Receive {
        ns: NsId,
        iif: Option<u32>,
    },
    /// Arrival in a pod whose netns was not collected.
    PodReceive {
        pod: PodId,
    },
    Done(Disposition, Reason),
}

impl Next {
    /// Arrival on `dev` of `ns`.
    fn arrive(ns: NsId, dev: u32) -> Next {
        Next::Receive { ns, iif: Some(dev) }
    }

    /// Sent by `ns` itself (locally originated).
    fn sent_from(ns: NsId) -> Next {
        Next::Receive { ns, iif: None }
    }
}

/// The route a lookup chose.
#[derive(Debug, Clone, Copy)]
struct RouteChoice {
    rule: u32,
    route: u32,
}

/// Where a routed packet leaves: device and next hop in one namespace.
#[derive(Debug, Clone, Copy)]
struct Egress {
    ns: NsId,
    dev: u32,
    next_hop: IpAddr,
    /// The next hop is a gateway (else the destination itself).
    via_gateway: bool,
}

impl Dataplane {
    /// Forwards `pkt` from `ingress` and records every hop.
    pub fn trace(&self, pkt: &Packet, ingress: Ingress) -> Trace {
        self.trace_with(pkt, ingress, TraceOptions::default())
    }

    /// [`Dataplane::trace`], recording as `opts` asks (every netfilter rule
    /// evaluated; the reply direction of a connection).
    pub fn trace_with(&self, pkt: &Packet, ingress: Ingress, opts: TraceOptions) -> Trace {
        let mut rec = TraceRec {
            opts,
            ..TraceRec::default()
        };
        let (disposition, reason) = self.run_from(pkt, ingress, opts, &mut rec);
        rec.into_trace(disposition, reason)
    }

    /// The disposition `trace` would give, without recording hops.
    pub fn reachable(&self, pkt: &Packet, ingress: Ingress) -> Disposition {
        self.run_from(pkt, ingress, TraceOptions::default(), &mut Discard)
            .0
    }

    fn run_from<R: Rec>(
        &self,
        pkt: &Packet,
        ingress: Ingress,
        opts: TraceOptions,
        rec: &mut R,
    ) -> (Disposition, Reason) {
        let wire = Datagram {
            packet: *pkt,
            ttl: INITIAL_TTL,
        };
        let mut st = PacketState {
            wire,
            inner: None,
            rerouted: false,
            ct: Conntrack::default(),
            reply: opts.reply,
            skip: None,
        };
        let next = match ingress {
            Ingress::Node(n) => {
                let ns = self.nodes[n.0 as usize].root;
                rec.push(hop(ns, None, None, Step::Origin));
                Next::sent_from(ns)
            }
            Ingress::Device { ns, link } => Next::arrive(ns, link),
            Ingress::Pod(pod) => self.pod_egress(pod, &mut st, rec),
        };
        self.run(&mut st, next, rec)
    }

    fn run<R: Rec>(
        &self,
        st: &mut PacketState,
        mut next: Next,
        rec: &mut R,
    ) -> (Disposition, Reason) {
        for _ in 0..MAX_STEPS {
            next = match next {
                Next::Done(d, r) => return (d, r),
                Next::Receive { ns, iif } => self.ip_input(st, ns, iif, rec),
                Next::PodReceive { pod } => self.pod_input(st, pod, rec),
            };
        }
        (Disposition::Loop, Reason::TtlExpired)
    }
}

fn hop(ns: NsId, in_dev: Option<u32>, out_dev: Option<u32>, step: Step) -> Hop {
    Hop {
        ns,
        pod: None,
        in_dev,
        out_dev,
        step,
    }
}

fn route_step(choice: &RouteChoice, forwarded: bool) -> Step {
    Step::Route {
        rule: choice.rule,
        route: choice.route,
        nexthop: 0,
        forwarded,
    }
}

/// Records a drop in `ns` and ends the trace.
fn drop_at<R: Rec>(rec: &mut R, ns: NsId, in_dev: Option<u32>, d: Disposition, r: Reason) -> Next {
    let step = Step::Drop {
        disposition: d,
        reason: r,
    };
    rec.push(hop(ns, in_dev, None, step));
    Next::Done(d, r)
}

/// Records delivery in `ns` and ends the trace.
fn deliver<R: Rec>(rec: &mut R, ns: NsId, in_dev: Option<u32>, reason: Reason) -> Next {
    rec.push(hop(ns, in_dev, None, Step::Deliver { reason }));
    Next::Done(Disposition::Delivered, reason)
}

/// Across a veth into `link` of `ns`.
fn veth_into(ns: NsId, link: u32) -> Step {
    Step::Veth {
        to: Some(ns),
        to_link: link,
        to_pod: None,
    }
}

/// Across a veth into a pod whose netns was not collected.
fn veth_into_pod(pod: PodId) -> Step {
    Step::Veth {
        to: None,
        to_link: 0,
        to_pod: Some(pod),
    }
}

/// Drops with "neighbour unresolved" when nothing answers ARP for `ip`.
fn arp_unresolved<R: Rec>(rec: &mut R, ns: NsId, ip: IpAddr) -> Next {
    drop_at(
        rec,
        ns,
        None,
        Disposition::NeighbourUnresolved,
        Reason::ArpUnresolved { ip },
    )
}

/// The packet exceeds `mtu` with DF set.
fn too_big(packet: &Packet, mtu: u32) -> Option<Reason> {
    (packet.df && packet.size > mtu).then_some(Reason::Mtu {
        mtu,
        size: packet.size,
    })
}
