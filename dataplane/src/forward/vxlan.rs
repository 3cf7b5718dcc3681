//! VXLAN encapsulation: neighbour (next hop → VTEP MAC), FDB (MAC → remote
//! node IP, or the all-zero default, or the device's fixed remote), then
//! the outer UDP packet is sent from this namespace.

use cnictl_model::{VxlanDf, VxlanInfo};

use super::tunnel::{encapsulate, nested, not_collected};
use super::{drop_at, hop, Egress, Encapsulation, Next, PacketState, Rec};
use crate::tables::{Dataplane, Namespace};
use crate::types::*;

/// Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
const VXLAN_OVERHEAD: u32 = 50;
/// An IPv6 outer header is 20 bytes longer (the kernel's VXLAN6_HEADROOM).
const VXLAN6_EXTRA: u32 = 20;

impl Dataplane {
    pub(super) fn vxlan_encap<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[out.ns.0 as usize];
        let Some(vx) = ns.vxlan_of(out.dev) else {
            return not_collected(rec, out.ns, Section::VxlanInfo);
        };
        if st.inner.is_some() {
            return nested(rec, out.ns);
        }
        let neigh = match vtep_neigh(ns, out) {
            Ok(n) => n,
            Err((d, r)) => return drop_at(rec, out.ns, None, d, r),
        };
        let mac = ns.neigh_mac(neigh);
        let fdb = ns
            .fdb_for(out.dev, mac)
            .or_else(|| ns.fdb_zero.get(&out.dev).copied());
        let Some(outer) = self.vxlan_outer(ns, vx, fdb, &st.wire.packet) else {
            rec.push(hop(out.ns, None, Some(out.dev), Step::Neigh { neigh }));
            let (d, r) = fdb_missing(ns);
            return drop_at(rec, out.ns, Some(out.dev), d, r);
        };
        rec.push(hop(
            out.ns,
            None,
            Some(out.dev),
            Step::VxlanEncap { neigh, fdb, outer },
        ));
        let (vni, port, v6) = (outer.vni, outer.port, outer.dst.is_ipv6());
        encapsulate(
            st,
            outer,
            Proto::Udp,
            Encapsulation::Vxlan { vni, port, mac, v6 },
        );
        Next::sent_from(out.ns)
    }

    /// The outer header towards the FDB entry's destination (else the
    /// device's fixed remote), with the entry's VNI and port if it has them.
    fn vxlan_outer(
        &self,
        ns: &Namespace,
        vx: &VxlanInfo,
        fdb: Option<u32>,
        inner: &Packet,
    ) -> Option<Outer> {
        let entry = fdb.map(|f| &ns.fdb[f as usize]);
        let remote = entry.and_then(|e| e.dst).or(vx.remote)?;
        let extra = if remote.is_ipv6() { VXLAN6_EXTRA } else { 0 };
        Some(Outer {
            src: self.tunnel_source(ns, vx.local, remote),
            dst: remote,
            vni: entry.and_then(|e| e.vni).unwrap_or(vx.vni),
            port: entry.and_then(|e| e.port).unwrap_or(vx.port),
            size: inner.size.saturating_add(VXLAN_OVERHEAD + extra),
            df: VxlanDf::outer(vx.df, inner.df),
        })
    }
}

/// The neighbour entry mapping the next hop to the remote VTEP MAC.
fn vtep_neigh(ns: &Namespace, out: Egress) -> Result<u32, (Disposition, Reason)> {
    if let Some(n) = ns.usable_neigh(out.dev, out.next_hop) {
        return Ok(n);
    }
    Err(if ns.neigh_collected {
        (
            Disposition::NeighbourUnresolved,
            Reason::VxlanNeighMissing { ip: out.next_hop },
        )
    } else {
        (
            Disposition::InsufficientInfo,
            Reason::NotCollected(Section::Neighbours),
        )
    })
}

fn fdb_missing(ns: &Namespace) -> (Disposition, Reason) {
    if ns.fdb_collected {
        (Disposition::FdbMissing, Reason::VxlanFdbMissing)
    } else {
        (
            Disposition::InsufficientInfo,
            Reason::NotCollected(Section::Fdb),
        )
    }
}
