//! IPIP encapsulation (tunl0): the gateway of an onlink route is the remote
//! node, else the device's fixed remote; the outer packet (protocol 4) is
//! then sent from this namespace.

use super::tunnel::{encapsulate, nested, not_collected};
use super::{hop, Egress, Encapsulation, Next, PacketState, Rec};
use crate::tables::Dataplane;
use crate::types::*;

/// The outer IPv4 header.
const IPIP_OVERHEAD: u32 = 20;
const IPPROTO_IPIP: u8 = 4;

impl Dataplane {
    pub(super) fn ipip_encap<R: Rec>(
        &self,
        st: &mut PacketState,
        out: Egress,
        rec: &mut R,
    ) -> Next {
        let nsid = out.ns;
        let ns = &self.ns[nsid.0 as usize];
        if st.inner.is_some() {
            return nested(rec, nsid);
        }
        let tun = ns.links[out.dev as usize].tunnel.as_ref();
        let remote = match out.via_gateway {
            true => Some(out.next_hop),
            false => tun.and_then(|t| t.remote),
        };
        let Some(remote) = remote else {
            return not_collected(rec, nsid, Section::TunnelRemote);
        };
        let outer = Outer {
            src: self.tunnel_source(ns, tun.and_then(|t| t.local), remote),
            dst: remote,
            vni: 0,
            port: 0,
            size: st.wire.packet.size.saturating_add(IPIP_OVERHEAD),
            // ip_tunnel_xmit copies the inner DF (tunl0 is nopmtudisc).
            df: st.wire.packet.df,
        };
        rec.push(hop(nsid, None, Some(out.dev), Step::IpipEncap { outer }));
        encapsulate(st, outer, Proto::Other(IPPROTO_IPIP), Encapsulation::Ipip);
        Next::sent_from(nsid)
    }
}
