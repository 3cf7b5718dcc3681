//! The forwarding engine: a small state machine stepping a packet through
//! namespaces as Linux would (policy rules → LPM → route type → next hop →
//! neighbour/ARP → veth/bridge/underlay/tunnel), recording hops as indices.
//!
//! Multipath: every next hop is listed in the route hop (the route renders
//! them all); the first next hop is followed for the verdict, since the
//! kernel's choice depends on a flow hash the snapshot cannot predict.
//! IPVS: each real server is traced as its own branch.
//! Not modelled: SNAT/masquerade, rp_filter, netfilter, ARP for routers
//! outside the snapshot (assumed to answer).

use std::net::IpAddr;

use cnictl_model::{RouteType, RuleAction};

use crate::build::{parse_mac, Dataplane, Kind, Mac, Ns, Peer};
use crate::types::*;

/// Upper bound on engine steps: a safety net behind the TTL.
const MAX_STEPS: usize = 512;
const INITIAL_TTL: u8 = 64;
const VXLAN_OVERHEAD: u32 = 50;
const IPIP_OVERHEAD: u32 = 20;

/// Where the hops go: a vector when tracing, nowhere for `reachable`.
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
}

#[derive(Default)]
pub(crate) struct TraceRec {
    hops: Vec<Hop>,
    branches: Vec<Branch>,
}

impl Rec for TraceRec {
    fn push(&mut self, hop: Hop) {
        self.hops.push(hop);
    }
    fn child(&self) -> Self {
        TraceRec::default()
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
        self.branches.push(Branch {
            ns,
            vs,
            real,
            trace: Trace {
                hops: child.hops,
                disposition: disp,
                reason,
                branches: child.branches,
            },
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

#[derive(Debug, Clone, Copy)]
struct Pkt {
    p: Packet,
    ttl: u8,
}

#[derive(Debug, Clone, Copy)]
enum Encap {
    Vxlan {
        vni: u32,
        port: u16,
        mac: Option<Mac>,
    },
    Ipip,
}

#[derive(Debug, Clone, Copy)]
struct St {
    pkt: Pkt,
    /// The inner packet while encapsulated.
    inner: Option<(Pkt, Encap)>,
}

/// The next engine state.
#[derive(Debug, Clone, Copy)]
enum At {
    Input { ns: NsId, iif: Option<u32> },
    PodInput { pod: PodId },
    Done(Disposition, Reason),
}

/// The route a lookup chose.
struct Sel {
    rule: u32,
    route: u32,
}

fn done(d: Disposition, r: Reason) -> At {
    At::Done(d, r)
}

impl Dataplane {
    /// Forwards `pkt` from `ingress` and records every hop.
    pub fn trace(&self, pkt: &Packet, ingress: Ingress) -> Trace {
        let mut rec = TraceRec::default();
        let (disposition, reason) = self.run_from(pkt, ingress, &mut rec);
        Trace {
            hops: rec.hops,
            disposition,
            reason,
            branches: rec.branches,
        }
    }

    /// The disposition `trace` would give, without recording hops.
    pub fn reachable(&self, pkt: &Packet, ingress: Ingress) -> Disposition {
        self.run_from(pkt, ingress, &mut Discard).0
    }

    fn run_from<R: Rec>(
        &self,
        pkt: &Packet,
        ingress: Ingress,
        rec: &mut R,
    ) -> (Disposition, Reason) {
        let mut st = St {
            pkt: Pkt {
                p: *pkt,
                ttl: INITIAL_TTL,
            },
            inner: None,
        };
        let at = match ingress {
            Ingress::Node(n) => {
                let ns = self.nodes[n.0 as usize].root;
                rec.push(hop(ns, None, None, Step::Origin));
                At::Input { ns, iif: None }
            }
            Ingress::Device { ns, link } => At::Input {
                ns,
                iif: Some(link),
            },
            Ingress::Pod(pod) => self.pod_egress(pod, &mut st, rec),
        };
        self.run(&mut st, at, rec)
    }

    fn run<R: Rec>(&self, st: &mut St, mut at: At, rec: &mut R) -> (Disposition, Reason) {
        for _ in 0..MAX_STEPS {
            at = match at {
                At::Done(d, r) => return (d, r),
                At::Input { ns, iif } => self.ip_input(st, ns, iif, rec),
                At::PodInput { pod } => self.pod_input(st, pod, rec),
            };
        }
        (Disposition::Loop, Reason::TtlExpired)
    }

    /// A pod sends: from its collected netns, or along the inferred default
    /// route straight onto its host-side device.
    fn pod_egress<R: Rec>(&self, pod: PodId, st: &mut St, rec: &mut R) -> At {
        let p = &self.pods[pod.0 as usize];
        let root = self.nodes[p.node as usize].root;
        if let Some(ns) = p.ns {
            rec.push(hop(ns, None, None, Step::Origin));
            return At::Input { ns, iif: None };
        }
        let Some(gw) = p.gw else {
            return self.drop_at(
                rec,
                root,
                Some(pod),
                None,
                Disposition::InsufficientInfo,
                Reason::PeerUnknown,
            );
        };
        let rns = &self.ns[root.0 as usize];
        let dev = p.host_dev.or(p.bridge);
        let mtu = dev.map_or(1500, |d| rns.l[d as usize].mtu);
        if st.pkt.p.df && st.pkt.p.size > mtu {
            let r = Reason::Mtu {
                mtu,
                size: st.pkt.p.size,
            };
            return self.drop_at(rec, root, Some(pod), None, Disposition::MtuExceeded, r);
        }
        rec.push(Hop {
            ns: root,
            pod: Some(pod),
            in_dev: None,
            out_dev: None,
            step: Step::InferredEgress { gw },
        });
        match (p.host_dev, p.bridge) {
            (Some(d), _) => {
                if p.bridge.is_none() {
                    let owner = Owner::Proxy { ns: root, link: d };
                    rec.push(Hop {
                        ns: root,
                        pod: Some(pod),
                        in_dev: None,
                        out_dev: None,
                        step: Step::Arp { ip: gw, owner },
                    });
                }
                rec.push(Hop {
                    ns: root,
                    pod: Some(pod),
                    in_dev: None,
                    out_dev: None,
                    step: Step::Veth {
                        to: Some(root),
                        to_link: d,
                        to_pod: None,
                    },
                });
                At::Input {
                    ns: root,
                    iif: p.bridge.or(Some(d)),
                }
            }
            (None, Some(b)) => {
                let owner = Owner::Bridge { ns: root, link: b };
                rec.push(Hop {
                    ns: root,
                    pod: Some(pod),
                    in_dev: None,
                    out_dev: None,
                    step: Step::Arp { ip: gw, owner },
                });
                rec.push(hop(root, Some(b), None, Step::BridgeLocal));
                At::Input {
                    ns: root,
                    iif: Some(b),
                }
            }
            (None, None) => done(Disposition::InsufficientInfo, Reason::PeerUnknown),
        }
    }

    /// A packet reaches a pod whose netns was not collected.
    fn pod_input<R: Rec>(&self, st: &mut St, pod: PodId, rec: &mut R) -> At {
        let p = &self.pods[pod.0 as usize];
        let root = self.nodes[p.node as usize].root;
        if p.ips.contains(&st.pkt.p.dst) {
            rec.push(Hop {
                ns: root,
                pod: Some(pod),
                in_dev: None,
                out_dev: None,
                step: Step::Deliver {
                    reason: Reason::Local,
                },
            });
            return done(Disposition::Delivered, Reason::Local);
        }
        self.drop_at(
            rec,
            root,
            Some(pod),
            None,
            Disposition::IpForwardDisabled,
            Reason::PodDoesNotForward,
        )
    }

    fn drop_at<R: Rec>(
        &self,
        rec: &mut R,
        ns: NsId,
        pod: Option<PodId>,
        in_dev: Option<u32>,
        d: Disposition,
        r: Reason,
    ) -> At {
        rec.push(Hop {
            ns,
            pod,
            in_dev,
            out_dev: None,
            step: Step::Drop {
                disposition: d,
                reason: r,
            },
        });
        done(d, r)
    }

    /// IP input (or local output when `iif` is None) in one namespace.
    fn ip_input<R: Rec>(&self, st: &mut St, nsid: NsId, iif: Option<u32>, rec: &mut R) -> At {
        let ns = &self.ns[nsid.0 as usize];
        if let Some(i) = iif {
            let mode = ns.l[i as usize].rp_filter;
            if mode != 0 && !self.rp_ok(ns, nsid, &st.pkt.p, i, mode) {
                let r = Reason::RpFilter { mode };
                return self.drop_at(rec, nsid, None, iif, Disposition::NoRoute, r);
            }
        }
        let sel = match self.fib(ns, nsid, &st.pkt.p, iif, rec) {
            Ok(s) => s,
            Err((d, r)) => return self.drop_at(rec, nsid, None, iif, d, r),
        };
        let route = &ns.routes[sel.route as usize];
        match route.route_type {
            RouteType::Local | RouteType::Anycast => self.local_in(st, nsid, iif, sel, rec),
            RouteType::Broadcast => {
                rec.push(hop(nsid, iif, None, route_step(&sel, false)));
                rec.push(hop(
                    nsid,
                    iif,
                    None,
                    Step::Deliver {
                        reason: Reason::Broadcast,
                    },
                ));
                done(Disposition::Delivered, Reason::Broadcast)
            }
            RouteType::Unicast => self.forward(st, nsid, iif, sel, rec),
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit => {
                rec.push(hop(nsid, iif, None, route_step(&sel, false)));
                let r = Reason::RouteType(route.route_type);
                self.drop_at(rec, nsid, None, iif, Disposition::NullRouted, r)
            }
            _ => {
                rec.push(hop(nsid, iif, None, route_step(&sel, iif.is_some())));
                self.drop_at(
                    rec,
                    nsid,
                    None,
                    iif,
                    Disposition::InsufficientInfo,
                    Reason::Unsupported,
                )
            }
        }
    }

    /// Reverse-path check as `fib_validate_source` does it: look the source
    /// up (as locally originated); strict mode wants the arrival device among
    /// the result's next hops, loose mode any usable route.
    fn rp_ok(&self, ns: &Ns, nsid: NsId, p: &Packet, iif: u32, mode: u8) -> bool {
        let back = Packet {
            src: p.dst,
            dst: p.src,
            ..*p
        };
        let Ok(sel) = self.fib(ns, nsid, &back, None, &mut Discard) else {
            return false;
        };
        match ns.routes[sel.route as usize].route_type {
            RouteType::Local | RouteType::Broadcast => true,
            RouteType::Unicast if mode == 1 => ns.nh[sel.route as usize]
                .iter()
                .any(|h| h.dev == Ok(Some(iif))),
            RouteType::Unicast => true,
            _ => false,
        }
    }

    /// Policy rules in priority order, then the LPM of each table they name.
    fn fib<R: Rec>(
        &self,
        ns: &Ns,
        nsid: NsId,
        p: &Packet,
        iif: Option<u32>,
        rec: &mut R,
    ) -> Result<Sel, (Disposition, Reason)> {
        let iif_name = match iif {
            Some(i) => ns.links[i as usize].name.as_str(),
            None => "lo",
        };
        let rules = &ns.rules;
        let mut i = 0;
        while i < rules.len() {
            let r = &rules[i];
            let ri = i as u32;
            i += 1;
            if !rule_matches(r, p, iif_name) {
                continue;
            }
            match r.action {
                RuleAction::Table(t) => {
                    let Some(route) = ns.table(t).and_then(|l| l.lookup(p.dst)) else {
                        continue;
                    };
                    let rt = &ns.routes[route as usize];
                    if rt.route_type == RouteType::Throw {
                        rec.push(hop(nsid, iif, None, Step::Throw { rule: ri, route }));
                        continue;
                    }
                    if r.suppress_prefixlen
                        .is_some_and(|n| rt.dst.prefix_len() <= n)
                    {
                        rec.push(hop(nsid, iif, None, Step::Suppressed { rule: ri, route }));
                        continue;
                    }
                    return Ok(Sel { rule: ri, route });
                }
                RuleAction::Goto(target) => {
                    if target > r.priority {
                        i = rules.partition_point(|x| x.priority < target);
                    }
                }
                RuleAction::Nop => {}
                RuleAction::Blackhole | RuleAction::Unreachable | RuleAction::Prohibit => {
                    rec.push(hop(nsid, iif, None, Step::RuleAction { rule: ri }));
                    return Err((Disposition::NullRouted, Reason::RuleAction));
                }
            }
        }
        Err((Disposition::NoRoute, Reason::NoMatchingRoute))
    }

    /// Local delivery: tunnel decap, IPVS, or the end of the trip.
    fn local_in<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        iif: Option<u32>,
        sel: Sel,
        rec: &mut R,
    ) -> At {
        rec.push(hop(nsid, iif, None, route_step(&sel, false)));
        if let Some((inner, encap)) = st.inner {
            return self.decap(st, nsid, iif, inner, encap, rec);
        }
        let ns = &self.ns[nsid.0 as usize];
        let p = st.pkt.p;
        if let Some(&vs) = ns.ipvs_idx.get(&(p.dst, p.dport, p.proto.number())) {
            return self.ipvs(st, nsid, iif, vs, rec);
        }
        rec.push(hop(
            nsid,
            iif,
            None,
            Step::Deliver {
                reason: Reason::Local,
            },
        ));
        done(Disposition::Delivered, Reason::Local)
    }

    fn decap<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        iif: Option<u32>,
        inner: Pkt,
        encap: Encap,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        let found = ns.l.iter().enumerate().position(|(i, lc)| match encap {
            Encap::Ipip => lc.kind == Kind::Ipip,
            Encap::Vxlan { vni, port, .. } => {
                lc.kind == Kind::Vxlan
                    && ns.links[i]
                        .vxlan
                        .as_ref()
                        .is_some_and(|v| v.vni == vni && v.port == port)
            }
        });
        let Some(dev) = found else {
            return self.drop_at(
                rec,
                nsid,
                None,
                iif,
                Disposition::NoRoute,
                Reason::NoTunnelDevice,
            );
        };
        let dev = dev as u32;
        if let Encap::Vxlan { mac: Some(m), .. } = encap {
            if ns.l[dev as usize].mac.is_some_and(|own| own != m) {
                return self.drop_at(
                    rec,
                    nsid,
                    None,
                    iif,
                    Disposition::FdbMissing,
                    Reason::VtepMacMismatch,
                );
            }
        }
        let vni = match encap {
            Encap::Vxlan { vni, .. } => Some(vni),
            Encap::Ipip => None,
        };
        rec.push(hop(nsid, iif, Some(dev), Step::Decap { vni }));
        st.pkt = inner;
        st.inner = None;
        At::Input {
            ns: nsid,
            iif: Some(dev),
        }
    }

    /// IPVS DNAT: each real server continues as its own branch.
    fn ipvs<R: Rec>(&self, st: &mut St, nsid: NsId, iif: Option<u32>, vs: u32, rec: &mut R) -> At {
        let svc = &self.ns[nsid.0 as usize].ipvs[vs as usize];
        let mut worst: Option<(Disposition, Reason)> = None;
        let mut any = false;
        for (ri, real) in svc.reals.iter().enumerate() {
            if real.weight == 0 {
                continue;
            }
            any = true;
            let mut child = rec.child();
            child.push(hop(
                nsid,
                iif,
                None,
                Step::IpvsDnat {
                    vs,
                    real: ri as u32,
                },
            ));
            let mut bst = *st;
            bst.pkt.p.dst = real.ip;
            bst.pkt.p.dport = real.port;
            let (d, r) = self.run(&mut bst, At::Input { ns: nsid, iif }, &mut child);
            if d != Disposition::Delivered && worst.is_none() {
                worst = Some((d, r));
            }
            rec.branch(nsid, vs, ri as u32, child, d, r);
        }
        if !any {
            return self.drop_at(
                rec,
                nsid,
                None,
                iif,
                Disposition::NoRoute,
                Reason::IpvsNoBackends,
            );
        }
        let (d, r) = worst.unwrap_or((Disposition::Delivered, Reason::Local));
        done(d, r)
    }

    /// A unicast route: forwarding checks, next-hop resolution, MTU, then L2.
    fn forward<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        iif: Option<u32>,
        sel: Sel,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        let forwarded = iif.is_some();
        let step = route_step(&sel, forwarded);
        if forwarded {
            if ns.ip_forward == Some(false) {
                rec.push(hop(nsid, iif, None, step));
                let r = if ns.pod.is_some() {
                    Reason::PodDoesNotForward
                } else {
                    Reason::IpForwardOff
                };
                return self.drop_at(rec, nsid, None, iif, Disposition::IpForwardDisabled, r);
            }
            if st.pkt.ttl <= 1 {
                rec.push(hop(nsid, iif, None, step));
                return self.drop_at(rec, nsid, None, iif, Disposition::Loop, Reason::TtlExpired);
            }
            st.pkt.ttl -= 1;
        }
        let nh = ns.nh[sel.route as usize][0];
        let dst = st.pkt.p.dst;
        let (dev, gw) = match self.resolve_nh(ns, nh) {
            Ok(x) => x,
            Err(r) => {
                rec.push(hop(nsid, iif, None, step));
                return self.drop_at(rec, nsid, None, iif, Disposition::NoRoute, r);
            }
        };
        rec.push(hop(nsid, iif, Some(dev), step));
        let mtu = ns.l[dev as usize].mtu;
        if st.pkt.p.df && st.pkt.p.size > mtu {
            let r = Reason::Mtu {
                mtu,
                size: st.pkt.p.size,
            };
            return self.drop_at(rec, nsid, None, iif, Disposition::MtuExceeded, r);
        }
        self.l2_send(st, nsid, dev, gw.unwrap_or(dst), gw.is_some(), rec)
    }

    /// The out device and gateway of a next hop, checking the gateway is
    /// adjacent (connected subnet or a link-scope route on the device) unless
    /// the next hop is onlink.
    fn resolve_nh(&self, ns: &Ns, nh: crate::build::CNh) -> Result<(u32, Option<IpAddr>), Reason> {
        let dev = nh.dev.map_err(|_| Reason::DeviceMissing)?;
        let Some(gw) = nh.gw else {
            return dev.map(|d| (d, None)).ok_or(Reason::DeviceMissing);
        };
        let connected = ns
            .addr_nets
            .iter()
            .find(|(l, n)| n.contains(&gw) && dev.is_none_or(|d| d == *l))
            .map(|(l, _)| *l);
        if let Some(d) = connected {
            return Ok((dev.unwrap_or(d), Some(gw)));
        }
        if let Some(d) = dev {
            if nh.onlink || self.link_route_to(ns, gw, d) {
                return Ok((d, Some(gw)));
            }
        }
        Err(Reason::GatewayNotAdjacent { gw })
    }

    /// True when the main table routes `gw` directly (no gateway) via `dev`.
    fn link_route_to(&self, ns: &Ns, gw: IpAddr, dev: u32) -> bool {
        let Some(r) = ns
            .table(cnictl_model::route::TABLE_MAIN)
            .and_then(|t| t.lookup(gw))
        else {
            return false;
        };
        let route = &ns.routes[r as usize];
        route.route_type == RouteType::Unicast
            && ns.nh[r as usize]
                .iter()
                .any(|h| h.gw.is_none() && h.dev == Ok(Some(dev)))
    }

    /// Sends a frame out `dev` towards next hop `nh`.
    fn l2_send<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        dev: u32,
        nh: IpAddr,
        via_gw: bool,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        match ns.l[dev as usize].kind {
            Kind::Vxlan => return self.vxlan_encap(st, nsid, dev, nh, rec),
            Kind::Ipip => return self.ipip_encap(st, nsid, dev, nh, via_gw, rec),
            Kind::Loopback => {
                return At::Input {
                    ns: nsid,
                    iif: Some(dev),
                }
            }
            Kind::Bridge => return self.bridge_send(st, nsid, dev, nh, rec),
            _ => {}
        }
        match ns.l[dev as usize].peer {
            Peer::Dev(pns, plink) => self.veth_send(nsid, dev, nh, pns, plink, rec),
            Peer::Pod(pod) => {
                if self
                    .resolve_neigh(
                        ns,
                        nsid,
                        dev,
                        nh,
                        Owner::Pod(pod),
                        self.pods[pod.0 as usize].ips.contains(&nh),
                        rec,
                    )
                    .is_none()
                {
                    return self.drop_at(
                        rec,
                        nsid,
                        None,
                        None,
                        Disposition::NeighbourUnresolved,
                        Reason::ArpUnresolved { ip: nh },
                    );
                }
                rec.push(hop(
                    nsid,
                    None,
                    Some(dev),
                    Step::Veth {
                        to: None,
                        to_link: 0,
                        to_pod: Some(pod),
                    },
                ));
                At::PodInput { pod }
            }
            Peer::None if ns.l[dev as usize].kind == Kind::Veth && !ns.l[dev as usize].underlay => {
                self.drop_at(
                    rec,
                    nsid,
                    None,
                    None,
                    Disposition::InsufficientInfo,
                    Reason::PeerUnknown,
                )
            }
            Peer::None => self.underlay_send(st, nsid, dev, nh, via_gw, rec),
        }
    }

    /// Records how the next hop's MAC is found: a usable neighbour entry, or
    /// ARP answered by `owner` when `owns`. `None` when neither; otherwise
    /// the neighbour's MAC when an entry gave one.
    #[allow(clippy::too_many_arguments)]
    fn resolve_neigh<R: Rec>(
        &self,
        ns: &Ns,
        nsid: NsId,
        dev: u32,
        nh: IpAddr,
        owner: Owner,
        owns: bool,
        rec: &mut R,
    ) -> Option<Option<Mac>> {
        if let Some(&n) = ns.neigh_idx.get(&(dev, nh)) {
            let e = &ns.neighs[n as usize];
            if e.is_usable() {
                rec.push(hop(nsid, None, Some(dev), Step::Neigh { neigh: n }));
                return Some(e.lladdr.as_deref().and_then(parse_mac));
            }
        }
        if owns {
            rec.push(hop(nsid, None, Some(dev), Step::Arp { ip: nh, owner }));
            return Some(None);
        }
        None
    }

    /// Out a veth whose peer is a collected interface (pod eth0, host veth,
    /// or a bridge port).
    fn veth_send<R: Rec>(
        &self,
        nsid: NsId,
        dev: u32,
        nh: IpAddr,
        pns: NsId,
        plink: u32,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        let peer = &self.ns[pns.0 as usize];
        let bridge = peer.l[plink as usize].master;
        let (owner, port) = match bridge {
            Some(b) => match peer.seg.get(&(b, nh)) {
                Some(&(port, o)) => (Some(o), port),
                None => (None, None),
            },
            None if peer.local.get(&nh) == Some(&plink) => (
                Some(Owner::Dev {
                    ns: pns,
                    link: plink,
                }),
                None,
            ),
            None if peer.l[plink as usize].proxy_arp => (
                Some(Owner::Proxy {
                    ns: pns,
                    link: plink,
                }),
                None,
            ),
            None => (None, None),
        };
        let o = owner.unwrap_or(Owner::Dev {
            ns: pns,
            link: plink,
        });
        let Some(mac) = self.resolve_neigh(ns, nsid, dev, nh, o, owner.is_some(), rec) else {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::NeighbourUnresolved,
                Reason::ArpUnresolved { ip: nh },
            );
        };
        rec.push(hop(
            nsid,
            None,
            Some(dev),
            Step::Veth {
                to: Some(pns),
                to_link: plink,
                to_pod: None,
            },
        ));
        match (bridge, owner) {
            (Some(b), Some(Owner::Bridge { .. })) => {
                rec.push(hop(pns, Some(plink), Some(b), Step::BridgeLocal));
                At::Input {
                    ns: pns,
                    iif: Some(b),
                }
            }
            (Some(b), Some(o)) => self.bridge_out(pns, b, Some(plink), port, o, mac, rec),
            (Some(_), None) => self.drop_at(
                rec,
                pns,
                None,
                Some(plink),
                Disposition::InsufficientInfo,
                Reason::PeerUnknown,
            ),
            (None, _) => At::Input {
                ns: pns,
                iif: Some(plink),
            },
        }
    }

    /// Routed out a bridge device: find who owns `nh` on the segment.
    fn bridge_send<R: Rec>(&self, _st: &mut St, nsid: NsId, b: u32, nh: IpAddr, rec: &mut R) -> At {
        let ns = &self.ns[nsid.0 as usize];
        let seg = ns.seg.get(&(b, nh)).copied();
        let o = seg.map_or(Owner::Bridge { ns: nsid, link: b }, |s| s.1);
        let Some(mac) = self.resolve_neigh(ns, nsid, b, nh, o, seg.is_some(), rec) else {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::NeighbourUnresolved,
                Reason::ArpUnresolved { ip: nh },
            );
        };
        if let Some((port, owner)) = seg {
            return self.bridge_out(nsid, b, None, port, owner, mac, rec);
        }
        // Only a neighbour entry: follow its MAC through the FDB to a port.
        let fdb = mac.and_then(|m| ns.fdb_idx.get(&(b, m)).copied());
        let port = fdb
            .and_then(|f| ns.by_name.get(&ns.fdb[f as usize].dev).copied())
            .filter(|p| ns.l[*p as usize].master == Some(b));
        match port.map(|p| (p, ns.l[p as usize].peer)) {
            Some((p, Peer::Dev(o, link))) => {
                self.bridge_out(nsid, b, None, Some(p), Owner::Dev { ns: o, link }, mac, rec)
            }
            Some((p, Peer::Pod(pod))) => {
                self.bridge_out(nsid, b, None, Some(p), Owner::Pod(pod), mac, rec)
            }
            _ => self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::NeighbourUnresolved,
                Reason::NotAttached { ip: nh },
            ),
        }
    }

    /// The bridge forwards a frame to `owner` behind `port`: by FDB entry
    /// when the destination MAC (neighbour's, else the owner's) is learned,
    /// else by flooding.
    #[allow(clippy::too_many_arguments)]
    fn bridge_out<R: Rec>(
        &self,
        nsid: NsId,
        b: u32,
        in_port: Option<u32>,
        port: Option<u32>,
        owner: Owner,
        neigh_mac: Option<Mac>,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        let mac = neigh_mac.or(match owner {
            Owner::Dev { ns: o, link } => self.ns[o.0 as usize].l[link as usize].mac,
            _ => None,
        });
        let fdb = mac.and_then(|m| ns.fdb_idx.get(&(b, m)).copied());
        let port = fdb
            .and_then(|f| ns.by_name.get(&ns.fdb[f as usize].dev).copied())
            .or(port);
        match fdb {
            Some(f) => rec.push(hop(nsid, in_port.or(Some(b)), port, Step::Fdb { fdb: f })),
            None => rec.push(hop(nsid, in_port.or(Some(b)), port, Step::Flood { port })),
        }
        match owner {
            Owner::Dev { ns: o, link } => {
                if let Some(p) = port {
                    rec.push(hop(
                        nsid,
                        None,
                        Some(p),
                        Step::Veth {
                            to: Some(o),
                            to_link: link,
                            to_pod: None,
                        },
                    ));
                }
                At::Input {
                    ns: o,
                    iif: Some(link),
                }
            }
            Owner::Pod(pod) => {
                rec.push(hop(
                    nsid,
                    None,
                    port,
                    Step::Veth {
                        to: None,
                        to_link: 0,
                        to_pod: Some(pod),
                    },
                ));
                At::PodInput { pod }
            }
            Owner::Bridge { .. } | Owner::Proxy { .. } => At::Input {
                ns: nsid,
                iif: Some(b),
            },
        }
    }

    /// Out a physical/underlay device: to the node owning the next hop, via
    /// a router that is no node (when the destination is a node), or out of
    /// the cluster.
    fn underlay_send<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        dev: u32,
        nh: IpAddr,
        via_gw: bool,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        if let Some(&(to, to_link)) = self.underlay.get(&nh).filter(|(to, _)| *to != nsid) {
            let owner = Owner::Dev {
                ns: to,
                link: to_link,
            };
            self.resolve_neigh(ns, nsid, dev, nh, owner, true, rec);
            rec.push(hop(
                nsid,
                None,
                Some(dev),
                Step::Underlay {
                    to,
                    to_link,
                    router: None,
                },
            ));
            return At::Input {
                ns: to,
                iif: Some(to_link),
            };
        }
        let neigh = ns
            .neigh_idx
            .get(&(dev, nh))
            .copied()
            .filter(|&n| ns.neighs[n as usize].is_usable());
        let has_neigh = neigh.is_some();
        if let Some(n) = neigh {
            rec.push(hop(nsid, None, Some(dev), Step::Neigh { neigh: n }));
        }
        let on_subnet = ns
            .addr_nets
            .iter()
            .any(|(l, n)| *l == dev && n.contains(&nh));
        if via_gw && !has_neigh && !on_subnet {
            // An onlink gateway off every connected subnet that no node owns.
            let r = Reason::GatewayNotAdjacent { gw: nh };
            return self.drop_at(rec, nsid, None, None, Disposition::NeighbourUnresolved, r);
        }
        if !via_gw && !has_neigh {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::NeighbourUnresolved,
                Reason::ArpUnresolved { ip: nh },
            );
        }
        if let Some(&(to, to_link)) = self
            .underlay
            .get(&st.pkt.p.dst)
            .filter(|(to, _)| *to != nsid)
        {
            rec.push(hop(
                nsid,
                None,
                Some(dev),
                Step::Underlay {
                    to,
                    to_link,
                    router: Some(nh),
                },
            ));
            return At::Input {
                ns: to,
                iif: Some(to_link),
            };
        }
        let gw = via_gw.then_some(nh);
        self.drop_at(
            rec,
            nsid,
            None,
            None,
            Disposition::LeftCluster,
            Reason::LeftCluster { gw },
        )
    }

    /// VXLAN: neighbour (next hop → VTEP MAC), FDB (MAC → remote node IP),
    /// then the outer UDP packet is routed from this namespace.
    fn vxlan_encap<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        dev: u32,
        nh: IpAddr,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        let Some(vx) = crate::build::vxlan_of(ns, dev) else {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::InsufficientInfo,
                Reason::NotCollected(Section::VxlanInfo),
            );
        };
        if st.inner.is_some() {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::InsufficientInfo,
                Reason::Unsupported,
            );
        }
        let neigh = ns
            .neigh_idx
            .get(&(dev, nh))
            .copied()
            .filter(|&n| ns.neighs[n as usize].is_usable());
        let Some(neigh) = neigh else {
            let (d, r) = if ns.neigh_collected {
                (
                    Disposition::NeighbourUnresolved,
                    Reason::VxlanNeighMissing { ip: nh },
                )
            } else {
                (
                    Disposition::InsufficientInfo,
                    Reason::NotCollected(Section::Neighbours),
                )
            };
            return self.drop_at(rec, nsid, None, None, d, r);
        };
        let mac = ns.neighs[neigh as usize]
            .lladdr
            .as_deref()
            .and_then(parse_mac);
        let fdb = mac
            .and_then(|m| ns.fdb_idx.get(&(dev, m)).copied())
            .or_else(|| ns.fdb_zero.get(&dev).copied());
        let entry = fdb.map(|f| &ns.fdb[f as usize]);
        let Some(remote) = entry.and_then(|e| e.dst).or(vx.remote) else {
            rec.push(hop(nsid, None, Some(dev), Step::Neigh { neigh }));
            let (d, r) = if ns.fdb_collected {
                (Disposition::FdbMissing, Reason::VxlanFdbMissing)
            } else {
                (
                    Disposition::InsufficientInfo,
                    Reason::NotCollected(Section::Fdb),
                )
            };
            return self.drop_at(rec, nsid, None, Some(dev), d, r);
        };
        let vni = entry.and_then(|e| e.vni).unwrap_or(vx.vni);
        let port = entry.and_then(|e| e.port).unwrap_or(vx.port);
        let src = vx
            .local
            .or(self.nodes[ns.node as usize].primary_ip)
            .unwrap_or(remote);
        let outer = Outer {
            src,
            dst: remote,
            vni,
            port,
            size: st.pkt.p.size.saturating_add(VXLAN_OVERHEAD),
        };
        rec.push(hop(
            nsid,
            None,
            Some(dev),
            Step::VxlanEncap { neigh, fdb, outer },
        ));
        self.encap(st, outer, 17, Encap::Vxlan { vni, port, mac });
        At::Input {
            ns: nsid,
            iif: None,
        }
    }

    /// IPIP (tunl0): the gateway of an onlink route is the remote node.
    fn ipip_encap<R: Rec>(
        &self,
        st: &mut St,
        nsid: NsId,
        dev: u32,
        nh: IpAddr,
        via_gw: bool,
        rec: &mut R,
    ) -> At {
        let ns = &self.ns[nsid.0 as usize];
        if st.inner.is_some() {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::InsufficientInfo,
                Reason::Unsupported,
            );
        }
        let tun = ns.links[dev as usize].tunnel.as_ref();
        let remote = if via_gw {
            Some(nh)
        } else {
            tun.and_then(|t| t.remote)
        };
        let Some(remote) = remote else {
            return self.drop_at(
                rec,
                nsid,
                None,
                None,
                Disposition::InsufficientInfo,
                Reason::NotCollected(Section::TunnelRemote),
            );
        };
        let src = tun
            .and_then(|t| t.local)
            .or(self.nodes[ns.node as usize].primary_ip)
            .unwrap_or(remote);
        let outer = Outer {
            src,
            dst: remote,
            vni: 0,
            port: 0,
            size: st.pkt.p.size.saturating_add(IPIP_OVERHEAD),
        };
        rec.push(hop(nsid, None, Some(dev), Step::IpipEncap { outer }));
        self.encap(st, outer, 4, Encap::Ipip);
        At::Input {
            ns: nsid,
            iif: None,
        }
    }

    fn encap(&self, st: &mut St, outer: Outer, proto: u8, kind: Encap) {
        let inner = st.pkt;
        let p = Packet {
            src: outer.src,
            dst: outer.dst,
            proto: if proto == 17 {
                Proto::Udp
            } else {
                Proto::Other(proto)
            },
            sport: 0,
            dport: outer.port,
            size: outer.size,
            df: inner.p.df,
            fwmark: inner.p.fwmark,
        };
        st.pkt = Pkt { p, ttl: inner.ttl };
        st.inner = Some((inner, kind));
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

fn route_step(sel: &Sel, forwarded: bool) -> Step {
    Step::Route {
        rule: sel.rule,
        route: sel.route,
        nexthop: 0,
        forwarded,
    }
}

/// Rule selectors (from/to/iif/fwmark, family), inverted by `not`. `oif`
/// rules only match sockets bound to a device, which a trace never is.
fn rule_matches(r: &cnictl_model::Rule, p: &Packet, iif: &str) -> bool {
    let fam_ok = match p.dst {
        IpAddr::V4(_) => r.family != "inet6",
        IpAddr::V6(_) => r.family == "inet6",
    };
    if !fam_ok {
        return false;
    }
    let sel = r.src.is_none_or(|s| s.contains(&p.src))
        && r.dst.is_none_or(|d| d.contains(&p.dst))
        && r.iif.as_deref().is_none_or(|i| i == iif)
        && r.oif.is_none()
        && r.fwmark.is_none_or(|m| {
            let mask = r.fwmask.unwrap_or(u32::MAX);
            p.fwmark & mask == m & mask
        });
    sel != r.not
}
