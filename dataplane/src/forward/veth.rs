//! Out a veth: into its peer — a collected interface (pod eth0, host veth,
//! a bridge port) or a pod whose netns was not collected.

use super::bridge::BridgeFrame;
use super::neighbour::resolve_neigh;
use super::{
    arp_unresolved, drop_at, hop, veth_into, veth_into_pod, Egress, Next, PacketState, Rec,
};
use crate::tables::{Dataplane, Mac, Namespace};
use crate::types::*;

impl Dataplane {
    /// Out a veth whose peer `(pns, plink)` is a collected interface.
    pub(super) fn veth_send<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        (pns, plink): (NsId, u32),
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[out.ns.0 as usize];
        let peer = &self.ns[pns.0 as usize];
        let bridge = peer.device(plink).master;
        let (owner, port) = peer_owner(peer, pns, plink, bridge, out);
        let Some(mac) = resolve_neigh(ns, out.ns, out.dev, out.next_hop, owner, rec) else {
            return arp_unresolved(rec, out.ns, out.next_hop);
        };
        let step = veth_into(pns, plink);
        rec.push(hop(out.ns, None, Some(out.dev), step));
        let Some(b) = bridge else {
            return Next::arrive(pns, plink);
        };
        let arrival = BridgeArrival { port, owner, mac };
        self.enter_bridge(st, pns, b, plink, arrival, rec)
    }

    /// The frame enters bridge `b` by port `plink`: up to the bridge's own
    /// stack, or bridged on to the owner's port.
    fn enter_bridge<R: Rec>(
        &self,
        st: &mut PacketState,
        pns: NsId,
        b: u32,
        plink: u32,
        arrival: BridgeArrival,
        rec: &mut R,
    ) -> Next {
        match arrival.owner {
            Some(Owner::Bridge { .. }) => {
                rec.push(hop(pns, Some(plink), Some(b), Step::BridgeLocal));
                Next::arrive(pns, b)
            }
            Some(owner) => {
                let frame = BridgeFrame {
                    ns: pns,
                    bridge: b,
                    in_port: Some(plink),
                    port: arrival.port,
                    owner,
                    neigh_mac: arrival.mac,
                };
                self.bridge_out(st, frame, rec)
            }
            None => drop_at(
                rec,
                pns,
                Some(plink),
                Disposition::InsufficientInfo,
                Reason::PeerUnknown,
            ),
        }
    }

    /// Out a host veth whose pod netns was not collected.
    pub(super) fn veth_to_pod<R: Rec>(&self, out: Egress, pod: PodId, rec: &mut R) -> Next {
        let ns = &self.ns[out.ns.0 as usize];
        let owns = self.pods[pod.0 as usize].ips.contains(&out.next_hop);
        let owner = owns.then_some(Owner::Pod(pod));
        if resolve_neigh(ns, out.ns, out.dev, out.next_hop, owner, rec).is_none() {
            return arp_unresolved(rec, out.ns, out.next_hop);
        }
        let step = veth_into_pod(pod);
        rec.push(hop(out.ns, None, Some(out.dev), step));
        Next::PodReceive { pod }
    }
}

/// What the far side of a veth knows about the next hop.
struct BridgeArrival {
    port: Option<u32>,
    owner: Option<Owner>,
    mac: Option<Mac>,
}

/// Who answers for the next hop behind the peer: the owner on the peer's
/// bridge segment (and its port), the peer itself when it holds the
/// address, or the peer by proxy ARP.
fn peer_owner(
    peer: &Namespace,
    pns: NsId,
    plink: u32,
    bridge: Option<u32>,
    out: Egress,
) -> (Option<Owner>, Option<u32>) {
    let nh = out.next_hop;
    let here = (pns, plink);
    match bridge {
        Some(b) => match peer.segment_owners.get(&(b, nh)) {
            Some(&(port, o)) => (Some(o), port),
            None => (None, None),
        },
        None if peer.holds(plink, nh) => (Some(dev_owner(here)), None),
        None if peer.device(plink).answers_proxy_arp() => (
            Some(Owner::Proxy {
                ns: pns,
                link: plink,
            }),
            None,
        ),
        None => (None, None),
    }
}

fn dev_owner((ns, link): (NsId, u32)) -> Owner {
    Owner::Dev { ns, link }
}
