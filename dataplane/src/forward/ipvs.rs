//! IPVS (kube-proxy's ipvs mode): a packet delivered locally to a virtual
//! service is DNATed to each real server, every one traced as its own
//! branch; the trace takes the first failing branch's verdict.

use cnictl_model::RealServer;

use super::{drop_at, hop, Next, PacketState, Rec};
use crate::tables::Dataplane;
use crate::types::*;

impl Dataplane {
    pub(super) fn ipvs<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        vs: u32,
        rec: &mut R,
    ) -> Next {
        let svc = &self.ns[nsid.0 as usize].ipvs[vs as usize];
        let mut worst: Option<(Disposition, Reason)> = None;
        let mut any = false;
        for (ri, real) in svc.reals.iter().enumerate().filter(|(_, r)| r.weight != 0) {
            any = true;
            let (d, r) = self.ipvs_branch(st, (nsid, iif), (vs, ri as u32), real, rec);
            if d != Disposition::Delivered && worst.is_none() {
                worst = Some((d, r));
            }
        }
        if !any {
            return drop_at(rec, nsid, iif, Disposition::NoRoute, Reason::IpvsNoBackends);
        }
        let (d, r) = worst.unwrap_or((Disposition::Delivered, Reason::Local));
        Next::Done(d, r)
    }

    /// One real server: DNAT, then routed again from this namespace (as
    /// `ip_vs_nat_xmit` sends it: OUTPUT and POSTROUTING, no PREROUTING).
    fn ipvs_branch<R: Rec>(
        &self,
        st: &PacketState,
        (nsid, iif): (NsId, Option<u32>),
        (vs, real): (u32, u32),
        server: &RealServer,
        rec: &mut R,
    ) -> (Disposition, Reason) {
        let mut child = rec.child();
        child.push(hop(nsid, iif, None, Step::IpvsDnat { vs, real }));
        let mut branch = *st;
        branch.wire.packet.dst = server.ip;
        branch.wire.packet.dport = server.port;
        branch.rerouted = true;
        let (d, r) = self.run(&mut branch, Next::Receive { ns: nsid, iif }, &mut child);
        rec.branch(nsid, vs, real, child, d, r);
        (d, r)
    }
}
