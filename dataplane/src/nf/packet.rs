//! What netfilter sees of a packet, and what it asks of the node.

use std::net::IpAddr;

use cnictl_model::netfilter::{AddrType, CtState, Dir};
use ipnet::IpNet;

/// The packet as a rule sees it at one hook: header fields, the devices it
/// came in and goes out on, its mark and its connection's state.
#[derive(Debug, Clone, PartialEq)]
pub struct NfPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 4 IPIP, …).
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// ICMP type, for ICMP packets.
    pub icmp_type: Option<u8>,
    /// In device (`None` for locally generated packets).
    pub iif: Option<String>,
    /// Out device (`None` before the routing decision).
    pub oif: Option<String>,
    /// Bridge ports when the packet is bridged (br_netfilter): in and out.
    pub physdev_in: Option<String>,
    pub physdev_out: Option<String>,
    pub mark: u32,
    pub ctmark: u32,
    /// NEW for the first packet of a connection, ESTABLISHED for its reply.
    pub ct: CtState,
    /// The connection's NAT for this hook's manip type is already set up
    /// (an earlier hook, or a reply): nat chains do not run.
    pub nat_done: bool,
}

impl NfPacket {
    /// A NEW connection's first packet with no devices, mark 0.
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> Self {
        NfPacket {
            src,
            dst,
            proto,
            sport,
            dport,
            icmp_type: (proto == 1 || proto == 58).then_some(if proto == 1 { 8 } else { 128 }),
            iif: None,
            oif: None,
            physdev_in: None,
            physdev_out: None,
            mark: 0,
            ctmark: 0,
            ct: CtState::New,
            nat_done: false,
        }
    }

    pub fn family(&self) -> IpFamily {
        match self.src {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// Whether the protocol carries ports (a port match needs them).
    pub fn has_ports(&self) -> bool {
        matches!(self.proto, 6 | 17 | 132 | 136 | 33)
    }
}

/// IPv4 or IPv6: which tables see the packet (`ip`/`ip6`, and `inet` both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

/// What a rule needs to know about the node: the type of an address as the
/// node's routing tables classify it (`addrtype`, `fib daddr type`) and the
/// primary address of a device (MASQUERADE, REDIRECT).
pub trait NodeView {
    /// `dev`: only this device's addresses count (`--limit-iface-in/out`).
    fn addr_type(&self, addr: IpAddr, dev: Option<&str>) -> AddrType;
    /// The address MASQUERADE would pick on `dev` for a packet to `dst`.
    fn primary_addr(&self, dev: &str, dst: IpAddr) -> Option<IpAddr>;
}

pub(super) fn addr(p: &NfPacket, dir: Dir) -> IpAddr {
    match dir {
        Dir::Src => p.src,
        Dir::Dst => p.dst,
    }
}

pub(super) fn iface_matches(dev: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => dev.starts_with(prefix),
        None => dev == pattern,
    }
}

/// Whether `net` holds `addr` (used by set element matching).
pub(super) fn net_contains(net: &IpNet, addr: IpAddr) -> bool {
    net.contains(&addr)
}
