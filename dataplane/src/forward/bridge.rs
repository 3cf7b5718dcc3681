//! The bridge: a routed packet out a bridge device finds the next hop's
//! owner on the segment; a frame is forwarded by FDB entry or flooded, and
//! when it is bridged between ports with `bridge-nf-call-iptables = 1` it
//! traverses the bridge netfilter hooks.

use super::neighbour::resolve_neigh;
use super::netfilter::{Hook, HookPoint};
use super::{
    arp_unresolved, drop_at, hop, veth_into, veth_into_pod, Egress, Next, PacketState, Rec,
};
use crate::tables::{Dataplane, Mac, Peer};
use crate::types::*;

const BRIDGED_HOOKS: &[Hook] = &[
    Hook::BridgePrerouting,
    Hook::BridgeForward,
    Hook::BridgePostrouting,
];

/// A frame on bridge `bridge` of `ns`, bound for `owner` behind `port`.
#[derive(Debug, Clone, Copy)]
pub(super) struct BridgeFrame {
    pub ns: NsId,
    pub bridge: u32,
    /// The port it entered by; None when the bridge device itself sends.
    pub in_port: Option<u32>,
    pub port: Option<u32>,
    pub owner: Owner,
    /// The destination MAC from a neighbour entry, when one gave it.
    pub neigh_mac: Option<Mac>,
}

impl Dataplane {
    /// Routed out a bridge device: find who owns the next hop on the segment.
    pub(super) fn bridge_send<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[out.ns.0 as usize];
        let (b, nh) = (out.dev, out.next_hop);
        let seg = ns.segment_owners.get(&(b, nh)).copied();
        let Some(mac) = resolve_neigh(ns, out.ns, b, nh, seg.map(|s| s.1), rec) else {
            return arp_unresolved(rec, out.ns, nh);
        };
        let Some((port, owner)) = seg else {
            return self.bridge_by_fdb(st, out, mac, rec);
        };
        let frame = BridgeFrame {
            ns: out.ns,
            bridge: b,
            in_port: None,
            port,
            owner,
            neigh_mac: mac,
        };
        self.bridge_out(st, frame, rec)
    }

    /// Only a neighbour entry: follow its MAC through the FDB to a port.
    fn bridge_by_fdb<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        mac: Option<Mac>,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[out.ns.0 as usize];
        let b = out.dev;
        let port = ns
            .fdb_for(b, mac)
            .and_then(|f| ns.fdb_port(f))
            .filter(|p| ns.device(*p).master == Some(b));
        let owner = match port.map(|p| ns.device(p).peer) {
            Some(Peer::Dev(o, link)) => Owner::Dev { ns: o, link },
            Some(Peer::Pod(pod)) => Owner::Pod(pod),
            _ => {
                let r = Reason::NotAttached { ip: out.next_hop };
                return drop_at(rec, out.ns, None, Disposition::NeighbourUnresolved, r);
            }
        };
        let frame = BridgeFrame {
            ns: out.ns,
            bridge: b,
            in_port: None,
            port,
            owner,
            neigh_mac: mac,
        };
        self.bridge_out(st, frame, rec)
    }

    /// The bridge forwards a frame to its owner: by FDB entry when the
    /// destination MAC (neighbour's, else the owner's) is learned, else by
    /// flooding.
    pub(super) fn bridge_out<R: Rec>(
        &self,
        st: &mut PacketState,
        frame: BridgeFrame,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[frame.ns.0 as usize];
        let owner_mac = match frame.owner {
            Owner::Dev { ns: o, link } => self.ns[o.0 as usize].device(link).mac,
            _ => None,
        };
        let fdb = ns.fdb_for(frame.bridge, frame.neigh_mac.or(owner_mac));
        let port = fdb.and_then(|f| ns.fdb_port(f)).or(frame.port);
        let step = match fdb {
            Some(f) => Step::Fdb { fdb: f },
            None => Step::Flood { port },
        };
        rec.push(hop(
            frame.ns,
            frame.in_port.or(Some(frame.bridge)),
            port,
            step,
        ));
        if let Some(next) = self.bridged_hooks(st, &frame, port, rec) {
            return next;
        }
        bridge_deliver(rec, frame, port)
    }

    /// br_netfilter: a frame bridged from one port to another traverses
    /// the IP hooks when `bridge-nf-call-ip{,6}tables = 1`. Frames up to
    /// the bridge's own stack meet PREROUTING there instead, and frames the
    /// node routes out the bridge met POSTROUTING already.
    fn bridged_hooks<R: Rec>(
        &self,
        st: &mut PacketState,
        frame: &BridgeFrame,
        port: Option<u32>,
        rec: &mut R,
    ) -> Option<Next> {
        let bridged = matches!(frame.owner, Owner::Dev { .. } | Owner::Pod(_));
        let on = self.ns[frame.ns.0 as usize]
            .bridge_netfilter
            .applies_to(st.wire.packet.dst);
        if !(on && bridged && frame.in_port.is_some()) {
            return None;
        }
        let at = HookPoint {
            bridge: Some(frame.bridge),
            ..HookPoint::new(Hook::BridgePrerouting, frame.ns, frame.in_port, port)
        };
        self.netfilter_each(st, at, BRIDGED_HOOKS, rec)
    }
}

/// The frame leaves the bridge: through the owner's port into its veth
/// peer, to an inferred pod, or up the bridge's own stack.
fn bridge_deliver<R: Rec>(rec: &mut R, frame: BridgeFrame, port: Option<u32>) -> Next {
    match frame.owner {
        Owner::Dev { ns: o, link } => {
            if let Some(p) = port {
                let step = veth_into(o, link);
                rec.push(hop(frame.ns, None, Some(p), step));
            }
            Next::arrive(o, link)
        }
        Owner::Pod(pod) => {
            let step = veth_into_pod(pod);
            rec.push(hop(frame.ns, None, port, step));
            Next::PodReceive { pod }
        }
        Owner::Bridge { .. } | Owner::Proxy { .. } => Next::arrive(frame.ns, frame.bridge),
    }
}
