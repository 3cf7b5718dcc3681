//! Local delivery: INPUT, then tunnel decapsulation, IPVS, or the end of
//! the trip; and broadcast delivery.

use super::netfilter::{Hook, HookPoint};
use super::{deliver, hop, route_step, Next, PacketState, Rec, RouteChoice};
use crate::tables::Dataplane;
use crate::types::*;

/// A locally originated packet to a local address loops back through `lo`.
const LOOPBACK_HOOKS: &[Hook] = &[
    Hook::Output,
    Hook::Postrouting,
    Hook::Prerouting,
    Hook::Input,
];

impl Dataplane {
    /// A `local`/`anycast` route: tunnel decap, IPVS, or delivery.
    pub(super) fn local_in<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        choice: RouteChoice,
        rec: &mut R,
    ) -> Next {
        rec.push(hop(nsid, iif, None, route_step(&choice, false)));
        if let Some(next) = self.local_hooks(st, nsid, iif, rec) {
            return next;
        }
        if let Some((inner, encap)) = st.inner {
            return self.decap(st, nsid, iif, inner, encap, rec);
        }
        let p = st.wire.packet;
        let ipvs = &self.ns[nsid.0 as usize].ipvs_idx;
        match ipvs.get(&(p.dst, p.dport, p.proto.number())) {
            Some(&vs) => self.ipvs(st, nsid, iif, vs, rec),
            None => deliver(rec, nsid, iif, Reason::Local),
        }
    }

    /// A `broadcast` route: delivered here.
    pub(super) fn broadcast_in<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        choice: RouteChoice,
        rec: &mut R,
    ) -> Next {
        rec.push(hop(nsid, iif, None, route_step(&choice, false)));
        if let Some(next) = self.local_hooks(st, nsid, iif, rec) {
            return next;
        }
        deliver(rec, nsid, iif, Reason::Broadcast)
    }

    /// INPUT for a received packet; OUTPUT, POSTROUTING, PREROUTING, INPUT
    /// for one sent here (by this namespace, or by IPVS to a local real).
    fn local_hooks<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        rec: &mut R,
    ) -> Option<Next> {
        let looped = iif.is_none() || std::mem::take(&mut st.rerouted);
        let hooks: &[Hook] = if looped {
            LOOPBACK_HOOKS
        } else {
            &[Hook::Input]
        };
        let at = HookPoint::new(Hook::Input, nsid, iif, None);
        self.netfilter_each(st, at, hooks, rec)
    }
}
