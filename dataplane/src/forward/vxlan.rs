//! VXLAN encapsulation: neighbour (next hop → VTEP MAC), FDB (MAC → remote
//! node IP, or the all-zero default, or the device's fixed remote), then
//! the outer UDP packet is sent from this namespace.

use super::tunnel::{encapsulate, nested};
use super::{drop_at, hop, Egress, Encapsulation, Next, PacketState, Rec};
use crate::tables::{Dataplane, Namespace};
use crate::types::*;

/// Outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
const VXLAN_OVERHEAD: u32 = 50;

impl Dataplane {
    pub(super) fn vxlan_encap<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        rec: &mut R,
    ) -> Next {
        let (nsid, dev) = (out.ns, out.dev);
        let ns = &self.ns[nsid.0 as usize];
        let Some(vx) = ns.vxlan_of(dev) else {
            let r = Reason::NotCollected(Section::VxlanInfo);
            return drop_at(rec, nsid, None, Disposition::InsufficientInfo, r);
        };
        if st.inner.is_some() {
            return nested(rec, nsid);
        }
        let neigh = match vtep_neigh(ns, out) {
            Ok(n) => n,
            Err((d, r)) => return drop_at(rec, nsid, None, d, r),
        };
        let mac = ns.neigh_mac(neigh);
        let fdb = ns
            .fdb_for(dev, mac)
            .or_else(|| ns.fdb_zero.get(&dev).copied());
        let entry = fdb.map(|f| &ns.fdb[f as usize]);
        let Some(remote) = entry.and_then(|e| e.dst).or(vx.remote) else {
            rec.push(hop(nsid, None, Some(dev), Step::Neigh { neigh }));
            let (d, r) = fdb_missing(ns);
            return drop_at(rec, nsid, Some(dev), d, r);
        };
        let vni = entry.and_then(|e| e.vni).unwrap_or(vx.vni);
        let port = entry.and_then(|e| e.port).unwrap_or(vx.port);
        let outer = Outer {
            src: self.tunnel_source(ns, vx.local, remote),
            dst: remote,
            vni,
            port,
            size: st.wire.packet.size.saturating_add(VXLAN_OVERHEAD),
        };
        rec.push(hop(
            nsid,
            None,
            Some(dev),
            Step::VxlanEncap { neigh, fdb, outer },
        ));
        encapsulate(
            st,
            outer,
            Proto::Udp,
            Encapsulation::Vxlan { vni, port, mac },
        );
        Next::Receive {
            ns: nsid,
            iif: None,
        }
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
