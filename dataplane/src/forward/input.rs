//! IP input in one namespace: PREROUTING and reverse-path filtering for a
//! received packet, the routing decision, then the stage for the route's
//! type (local, broadcast, unicast, or a discarding type).

use cnictl_model::RouteType;

use super::netfilter::{Hook, HookPoint};
use super::{drop_at, hop, route_step, Discard, Next, PacketState, Rec, RouteChoice};
use crate::tables::{Dataplane, Namespace};
use crate::types::*;

impl Dataplane {
    /// IP receive (`iif` set) or local output (`iif` None) in `nsid`.
    pub(super) fn ip_input<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        rec: &mut R,
    ) -> Next {
        if let Some(next) = self.receive_checks(st, nsid, iif, rec) {
            return next;
        }
        let ns = &self.ns[nsid.0 as usize];
        match self.fib(ns, nsid, &st.wire.packet, iif, rec) {
            Ok(choice) => self.by_route_type(st, nsid, iif, choice, rec),
            Err((d, r)) => drop_at(rec, nsid, iif, d, r),
        }
    }

    /// PREROUTING, then the source validation the routing decision does
    /// (`fib_validate_source`). Nothing for a locally originated packet.
    fn receive_checks<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        rec: &mut R,
    ) -> Option<Next> {
        let i = iif?;
        if !st.rerouted {
            let point = HookPoint::new(Hook::Prerouting, nsid, iif, None);
            if let Some(next) = self.netfilter(st, point, rec) {
                return Some(next);
            }
        }
        let ns = &self.ns[nsid.0 as usize];
        let mode = ns.device(i).rp_filter;
        if mode == 0 || self.rp_ok(ns, nsid, &st.wire.packet, i, mode) {
            return None;
        }
        let r = Reason::RpFilter { mode };
        Some(drop_at(rec, nsid, iif, Disposition::NoRoute, r))
    }

    fn by_route_type<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        choice: RouteChoice,
        rec: &mut R,
    ) -> Next {
        let route_type = self.ns[nsid.0 as usize].routes[choice.route as usize].route_type;
        match route_type {
            RouteType::Local | RouteType::Anycast => self.local_in(st, nsid, iif, choice, rec),
            RouteType::Broadcast => self.broadcast_in(st, nsid, iif, choice, rec),
            RouteType::Unicast => self.forward(st, nsid, iif, choice, rec),
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit => {
                rec.push(hop(nsid, iif, None, route_step(&choice, false)));
                let r = Reason::RouteType(route_type);
                drop_at(rec, nsid, iif, Disposition::NullRouted, r)
            }
            _ => {
                rec.push(hop(nsid, iif, None, route_step(&choice, iif.is_some())));
                drop_at(
                    rec,
                    nsid,
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
    fn rp_ok(&self, ns: &Namespace, nsid: NsId, p: &Packet, iif: u32, mode: u8) -> bool {
        let back = Packet {
            src: p.dst,
            dst: p.src,
            ..*p
        };
        let Ok(choice) = self.fib(ns, nsid, &back, None, &mut Discard) else {
            return false;
        };
        match ns.routes[choice.route as usize].route_type {
            RouteType::Local | RouteType::Broadcast => true,
            RouteType::Unicast if mode == 1 => ns.next_hops[choice.route as usize]
                .iter()
                .any(|h| h.dev == Ok(Some(iif))),
            RouteType::Unicast => true,
            _ => false,
        }
    }
}
