//! A unicast route: forwarding checks (ip_forward, TTL), the next hop, the
//! MTU, FORWARD or OUTPUT then POSTROUTING, and the hand-off to the stage
//! for the out device's kind.

use super::netfilter::{Hook, HookPoint};
use super::{drop_at, hop, route_step, too_big, Egress, Next, PacketState, Rec, RouteChoice};
use crate::tables::{Dataplane, LinkKind, Namespace, Peer};
use crate::types::*;

impl Dataplane {
    /// Forwards (`iif` set) or sends (`iif` None) along a unicast route.
    pub(super) fn forward<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        choice: RouteChoice,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[nsid.0 as usize];
        let step = route_step(&choice, iif.is_some());
        if let Some(next) = forwarding_checks(st, ns, nsid, iif, step, rec) {
            return next;
        }
        let (dev, gw) = match self.resolve_nh(ns, ns.next_hops[choice.route as usize][0]) {
            Ok(x) => x,
            Err(r) => {
                rec.push(hop(nsid, iif, None, step));
                return drop_at(rec, nsid, iif, Disposition::NoRoute, r);
            }
        };
        rec.push(hop(nsid, iif, Some(dev), step));
        if let Some(r) = too_big(&st.wire.packet, ns.device(dev).mtu) {
            return drop_at(rec, nsid, iif, Disposition::MtuExceeded, r);
        }
        if let Some(next) = self.transmit_hooks(st, nsid, iif, dev, rec) {
            return next;
        }
        let out = Egress {
            ns: nsid,
            dev,
            next_hop: gw.unwrap_or(st.wire.packet.dst),
            via_gateway: gw.is_some(),
        };
        self.l2_send(st, out, rec)
    }

    /// FORWARD (or OUTPUT for a packet sent here), then POSTROUTING. The
    /// MTU was checked first: `ip_forward` does so before FORWARD, and a
    /// local sender with DF is refused by the socket layer.
    fn transmit_hooks<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        dev: u32,
        rec: &mut R,
    ) -> Option<Next> {
        let sent_here = iif.is_none() || std::mem::take(&mut st.rerouted);
        let first = if sent_here {
            Hook::Output
        } else {
            Hook::Forward
        };
        let in_dev = iif.filter(|_| !sent_here);
        let at = HookPoint::new(first, nsid, in_dev, Some(dev));
        self.netfilter_each(st, at, &[first, Hook::Postrouting], rec)
    }

    /// Sends a frame out `out.dev` towards `out.next_hop`, by device kind.
    fn l2_send<R: Rec>(&self, st: &mut PacketState, out: Egress, rec: &mut R) -> Next {
        let device = self.ns[out.ns.0 as usize].device(out.dev);
        match device.kind {
            LinkKind::Vxlan => return self.vxlan_encap(st, out, rec),
            LinkKind::Ipip => return self.ipip_encap(st, out, rec),
            LinkKind::Bridge => return self.bridge_send(st, out, rec),
            LinkKind::Loopback => return Next::arrive(out.ns, out.dev),
            LinkKind::Unknown => {
                return super::tunnel::not_collected(rec, out.ns, Section::LinkKind)
            }
            _ => {}
        }
        match device.peer {
            Peer::Dev(pns, plink) => self.veth_send(st, out, (pns, plink), rec),
            Peer::Pod(pod) => self.veth_to_pod(out, pod, rec),
            Peer::None if device.kind == LinkKind::Veth && !device.underlay => drop_at(
                rec,
                out.ns,
                None,
                Disposition::InsufficientInfo,
                Reason::PeerUnknown,
            ),
            Peer::None => self.underlay_send(st, out, rec),
        }
    }
}

/// A forwarded packet needs `ip_forward` on and a TTL left (decremented
/// here). Nothing to check for a packet sent here.
fn forwarding_checks<R: Rec>(
    st: &mut PacketState,
    ns: &Namespace,
    nsid: NsId,
    iif: Option<u32>,
    step: Step,
    rec: &mut R,
) -> Option<Next> {
    iif?;
    let (d, r) = if ns.ip_forward == Some(false) {
        let r = match ns.pod {
            Some(_) => Reason::PodDoesNotForward,
            None => Reason::IpForwardOff,
        };
        (Disposition::IpForwardDisabled, r)
    } else if st.wire.ttl <= 1 {
        (Disposition::Loop, Reason::TtlExpired)
    } else {
        st.wire.ttl -= 1;
        return None;
    };
    rec.push(hop(nsid, iif, None, step));
    Some(drop_at(rec, nsid, iif, d, r))
}
