//! What VXLAN and IPIP share: wrapping the packet in an outer header (which
//! the node then sends as its own), and unwrapping it on the tunnel device
//! of the receiving node.

use std::net::IpAddr;

use super::{drop_at, hop, Datagram, Encapsulation, Next, PacketState, Rec};
use crate::tables::{Dataplane, LinkKind, Namespace};
use crate::types::*;

impl Dataplane {
    /// The outer source: the tunnel's `local`, else the node's primary IP.
    pub(super) fn tunnel_source(
        &self,
        ns: &Namespace,
        local: Option<IpAddr>,
        remote: IpAddr,
    ) -> IpAddr {
        local
            .or(self.nodes[ns.node as usize].primary_ip)
            .unwrap_or(remote)
    }

    /// The inner packet re-enters on the tunnel device that matches how it
    /// was wrapped (VNI and port for VXLAN), after the VTEP MAC check.
    pub(super) fn decap<R: Rec>(
        &self,
        st: &mut PacketState,
        nsid: NsId,
        iif: Option<u32>,
        inner: Datagram,
        encap: Encapsulation,
        rec: &mut R,
    ) -> Next {
        let ns = &self.ns[nsid.0 as usize];
        let Some(dev) = tunnel_device(ns, encap) else {
            if let Some(section) = undetailed_tunnel(ns) {
                return not_collected(rec, nsid, section);
            }
            return drop_at(rec, nsid, iif, Disposition::NoRoute, Reason::NoTunnelDevice);
        };
        if admin_down(&ns.links[dev as usize]) {
            return drop_at(rec, nsid, iif, Disposition::NoRoute, Reason::TunnelDown);
        }
        if let Encapsulation::Vxlan { mac: Some(m), .. } = encap {
            if ns.device(dev).mac.is_some_and(|own| own != m) {
                let r = Reason::VtepMacMismatch;
                return drop_at(rec, nsid, iif, Disposition::FdbMissing, r);
            }
        }
        let vni = match encap {
            Encapsulation::Vxlan { vni, .. } => Some(vni),
            Encapsulation::Ipip => None,
        };
        rec.push(hop(nsid, iif, Some(dev), Step::Decap { vni }));
        st.wire = inner;
        st.inner = None;
        Next::arrive(nsid, dev)
    }
}

/// A device whose flags were collected and lack `UP` (`ip link set …
/// down`). Without flags the state is not known and the device counts as up.
fn admin_down(link: &cnictl_model::Link) -> bool {
    !link.flags.is_empty() && !link.flags.iter().any(|f| f == "UP")
}

/// A device that could be the missing tunnel device but whose kind or
/// VXLAN details were not collected: no tunnel device is then unknown,
/// not a drop.
fn undetailed_tunnel(ns: &Namespace) -> Option<Section> {
    let unknown = ns.devices.iter().any(|d| d.kind == LinkKind::Unknown);
    let vxlan_bare = (ns.devices.iter().zip(&ns.links))
        .any(|(d, l)| d.kind == LinkKind::Vxlan && l.vxlan.is_none());
    match (unknown, vxlan_bare) {
        (true, _) => Some(Section::LinkKind),
        (_, true) => Some(Section::VxlanInfo),
        _ => None,
    }
}

fn tunnel_device(ns: &Namespace, encap: Encapsulation) -> Option<u32> {
    let found = ns
        .devices
        .iter()
        .enumerate()
        .position(|(i, d)| match encap {
            Encapsulation::Ipip => d.kind == LinkKind::Ipip,
            Encapsulation::Vxlan { vni, port, v6, .. } => {
                d.kind == LinkKind::Vxlan
                    && ns.links[i]
                        .vxlan
                        .as_ref()
                        .is_some_and(|v| v.vni == vni && v.port == port && socket_v6(v) == v6)
            }
        });
    found.map(|i| i as u32)
}

/// Whether a VXLAN device listens on an IPv6 socket: its local address's
/// family, else its fixed remote's; IPv4 without either (the kernel's
/// `vxlan_open` picks the socket family from the device's addresses).
fn socket_v6(v: &cnictl_model::VxlanInfo) -> bool {
    v.local.or(v.remote).is_some_and(|ip| ip.is_ipv6())
}

/// Wraps the packet in `outer`; the inner one waits for decapsulation.
pub(super) fn encapsulate(st: &mut PacketState, outer: Outer, proto: Proto, kind: Encapsulation) {
    let inner = st.wire;
    let packet = Packet {
        src: outer.src,
        dst: outer.dst,
        proto,
        sport: 0,
        dport: outer.port,
        size: outer.size,
        df: outer.df,
        fwmark: inner.packet.fwmark,
    };
    st.wire = Datagram {
        packet,
        ttl: inner.ttl,
    };
    st.inner = Some((inner, kind));
}

/// Nested encapsulation is not modelled.
pub(super) fn nested<R: Rec>(rec: &mut R, nsid: NsId) -> Next {
    drop_at(
        rec,
        nsid,
        None,
        Disposition::InsufficientInfo,
        Reason::Unsupported,
    )
}

/// A section the tunnel needs was not collected.
pub(super) fn not_collected<R: Rec>(rec: &mut R, nsid: NsId, section: Section) -> Next {
    let r = Reason::NotCollected(section);
    drop_at(rec, nsid, None, Disposition::InsufficientInfo, r)
}
