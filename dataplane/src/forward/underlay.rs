//! Out a physical/underlay device: to the node owning the next hop, via a
//! router that is no node (when the destination is a node), or out of the
//! cluster.

use std::net::IpAddr;

use super::neighbour::resolve_neigh;
use super::{arp_unresolved, drop_at, hop, Egress, Next, PacketState, Rec};
use crate::tables::{Dataplane, Namespace};
use crate::types::*;

impl Dataplane {
    pub(super) fn underlay_send<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[out.ns.0 as usize];
        if let Some((to, to_link)) = self.underlay_peer(out.next_hop, out.ns) {
            if self.parent_and_child((out.ns, out.dev), (to, to_link)) {
                if let Some(shim) = self.shim_for((out.ns, out.dev), (to, to_link)) {
                    return cross_underlay(rec, out, (to, shim), None);
                }
                let r = Reason::MacvlanParent { ip: out.next_hop };
                return drop_at(rec, out.ns, None, Disposition::NeighbourUnresolved, r);
            }
            let owner = Owner::Dev {
                ns: to,
                link: to_link,
            };
            resolve_neigh(ns, out.ns, out.dev, out.next_hop, Some(owner), rec);
            return cross_underlay(rec, out, (to, to_link), None);
        }
        let has_neigh = record_neigh(ns, out, rec);
        if !has_neigh {
            if let Some(next) = unreachable_next_hop(ns, out, rec) {
                return next;
            }
        }
        if let Some(to) = self.underlay_peer(st.wire.packet.dst, out.ns) {
            return cross_underlay(rec, out, to, Some(out.next_hop));
        }
        let gw = out.via_gateway.then_some(out.next_hop);
        rec.left(Exit {
            ns: out.ns,
            dev: out.dev,
            gw,
            packet: st.wire.packet,
        });
        let r = Reason::LeftCluster { gw };
        drop_at(rec, out.ns, None, Disposition::LeftCluster, r)
    }

    /// One end is a macvlan/ipvlan child of the other (the kernel passes
    /// frames between children of a parent, and out to the wire, but never
    /// between a child and the parent itself).
    fn parent_and_child(&self, a: (NsId, u32), b: (NsId, u32)) -> bool {
        let lower = |(ns, l): (NsId, u32)| self.ns[ns.0 as usize].device(l).lower;
        match (lower(a), lower(b)) {
            (Some(p), None) => p == b,
            (None, Some(p)) => p == a,
            _ => false,
        }
    }

    /// A child sending to its parent's node: a shim (another child of the
    /// parent there, holding an address) answers ARP for every address of
    /// the node (arp_ignore 0, the default) and takes the frame in.
    fn shim_for(&self, child: (NsId, u32), parent: (NsId, u32)) -> Option<u32> {
        let cdev = self.ns[child.0 .0 as usize].device(child.1);
        if cdev.lower != Some(parent) {
            return None;
        }
        let pns = &self.ns[parent.0 .0 as usize];
        let shim = |&i: &u32| pns.device(i).lower == Some(parent);
        pns.local.values().copied().find(shim)
    }

    /// The node (root ns, link) holding `ip` on the underlay, other than `from`.
    fn underlay_peer(&self, ip: IpAddr, from: NsId) -> Option<(NsId, u32)> {
        self.underlay
            .get(&ip)
            .copied()
            .filter(|(to, _)| *to != from)
    }
}

fn cross_underlay<R: Rec>(
    rec: &mut R,
    out: Egress,
    (to, to_link): (NsId, u32),
    router: Option<IpAddr>,
) -> Next {
    let step = Step::Underlay {
        to,
        to_link,
        router,
    };
    rec.push(hop(out.ns, None, Some(out.dev), step));
    Next::arrive(to, to_link)
}

/// Records a usable neighbour entry for the next hop, if there is one.
fn record_neigh<R: Rec>(ns: &Namespace, out: Egress, rec: &mut R) -> bool {
    let Some(n) = ns.usable_neigh(out.dev, out.next_hop) else {
        return false;
    };
    rec.push(hop(out.ns, None, Some(out.dev), Step::Neigh { neigh: n }));
    true
}

/// Without a neighbour entry: an onlink gateway off every connected subnet
/// that no node owns is not adjacent; a direct destination is unresolved.
/// A gateway on a connected subnet is assumed to answer ARP.
fn unreachable_next_hop<R: Rec>(ns: &Namespace, out: Egress, rec: &mut R) -> Option<Next> {
    if !out.via_gateway {
        return Some(arp_unresolved(rec, out.ns, out.next_hop));
    }
    if ns.on_subnet(out.dev, out.next_hop) {
        return None;
    }
    let r = Reason::GatewayNotAdjacent { gw: out.next_hop };
    Some(drop_at(
        rec,
        out.ns,
        None,
        Disposition::NeighbourUnresolved,
        r,
    ))
}
