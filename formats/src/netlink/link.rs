//! RTM_NEWLINK / RTM_NEWADDR decoding into [`Link`] and [`Addr`], with the
//! conventions of `ip -d -j link show` and `ip -j addr show`.

use std::collections::HashMap;

use cnictl_model::{Addr, Link, TunnelInfo, VxlanDf, VxlanInfo};
use ipnet::IpNet;

use super::consts::*;
use super::{
    attrs, is_unspecified, read_be16, read_i32, read_ip, read_mac, read_str, read_u16, read_u32,
    read_u8,
};

/// A link as first decoded: the names of `master` / `lower` need the whole
/// dump (ifindex → name), so they are resolved in [`resolve_links`].
pub struct RawLink {
    pub link: Link,
    master: Option<u32>,
    iflink: Option<u32>,
    vxlan_dev: Option<u32>,
}

/// Decodes one RTM_NEWLINK payload (ifinfomsg + attributes).
pub fn decode_link(payload: &[u8]) -> Option<RawLink> {
    let mut raw = link_header(payload.get(..16)?)?;
    let mut netnsid = None;
    for (kind, v) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => raw.link.name = read_str(v),
            IFLA_MTU => raw.link.mtu = read_u32(v).unwrap_or(0),
            IFLA_ADDRESS => raw.link.mac = read_mac(v),
            IFLA_MASTER => raw.master = read_u32(v),
            IFLA_LINK => raw.iflink = read_u32(v),
            IFLA_LINK_NETNSID => netnsid = read_i32(v),
            IFLA_OPERSTATE => raw.link.operstate = read_u8(v).map(operstate_name),
            IFLA_LINKINFO => decode_linkinfo(v, &mut raw),
            _ => {}
        }
    }
    if let Some(id) = netnsid {
        raw.peer_in_netns(id);
    }
    Some(raw)
}

/// The link the ifinfomsg alone describes: type, ifindex and flags.
fn link_header(hdr: &[u8]) -> Option<RawLink> {
    let link = Link {
        ifindex: read_i32(&hdr[4..8])? as u32,
        link_type: Some(link_type_name(read_u16(&hdr[2..4])?)),
        flags: flag_names(read_u32(&hdr[8..12])?),
        ..Link::default()
    };
    Some(RawLink {
        link,
        master: None,
        iflink: None,
        vxlan_dev: None,
    })
}

impl RawLink {
    /// `ip` prints `link_index` + `link_netnsid` for a peer in another
    /// namespace, and `link: NAME` (resolved later) for one in this one.
    fn peer_in_netns(&mut self, netnsid: i32) {
        if let Some(peer) = self.iflink.take() {
            self.link.peer_netnsid = Some(netnsid);
            self.link.peer_ifindex = Some(peer).filter(|&p| p != 0);
        }
    }
}

fn decode_linkinfo(v: &[u8], raw: &mut RawLink) {
    let mut data = None;
    for (kind, v) in attrs(v) {
        match kind {
            IFLA_INFO_KIND => raw.link.kind = Some(read_str(v)),
            IFLA_INFO_DATA => data = Some(v),
            _ => {}
        }
    }
    let Some(data) = data else { return };
    match raw.link.kind.as_deref() {
        Some("vxlan") => {
            let (info, dev) = decode_vxlan(data);
            raw.link.vxlan = Some(info);
            raw.vxlan_dev = dev;
        }
        Some("ipip" | "sit" | "ip6tnl") => {
            raw.link.tunnel = Some(decode_tunnel(data, IFLA_IPTUN_ENDPOINTS))
        }
        Some("gre" | "gretap" | "ip6gre" | "ip6gretap") => {
            raw.link.tunnel = Some(decode_tunnel(data, IFLA_GRE_ENDPOINTS))
        }
        _ => {}
    }
}

/// IFLA_VXLAN_*: an unset (all-zero) local or remote is `None`, as `ip`
/// omits it; the underlay device comes back as an ifindex.
fn decode_vxlan(data: &[u8]) -> (VxlanInfo, Option<u32>) {
    // Learning is the kernel default; the attribute is always sent.
    let mut info = VxlanInfo {
        learning: true,
        ..VxlanInfo::default()
    };
    let mut dev = None;
    for (kind, v) in attrs(data) {
        match kind {
            IFLA_VXLAN_ID => info.vni = read_u32(v).unwrap_or(0),
            IFLA_VXLAN_GROUP | IFLA_VXLAN_GROUP6 => {
                info.remote = read_ip(v).filter(|ip| !is_unspecified(ip))
            }
            IFLA_VXLAN_LOCAL | IFLA_VXLAN_LOCAL6 => {
                info.local = read_ip(v).filter(|ip| !is_unspecified(ip))
            }
            IFLA_VXLAN_LINK => dev = read_u32(v).filter(|&i| i != 0),
            IFLA_VXLAN_LEARNING => info.learning = read_u8(v).unwrap_or(0) != 0,
            IFLA_VXLAN_PORT => info.port = read_be16(v).unwrap_or(0),
            IFLA_VXLAN_DF => info.df = read_u8(v).and_then(vxlan_df),
            _ => {}
        }
    }
    (info, dev)
}

/// enum ifla_vxlan_df: 0 unset, 1 set, 2 inherit.
fn vxlan_df(v: u8) -> Option<VxlanDf> {
    match v {
        0 => Some(VxlanDf::Unset),
        1 => Some(VxlanDf::Set),
        2 => Some(VxlanDf::Inherit),
        _ => None,
    }
}

/// Point-to-point tunnel endpoints: `any` (zero) endpoints and `inherit`
/// (zero) TTL are `None`, as the bundle importer reads `ip`'s words.
fn decode_tunnel(data: &[u8], (local, remote, ttl): (u16, u16, u16)) -> TunnelInfo {
    let mut t = TunnelInfo::default();
    for (kind, v) in attrs(data) {
        if kind == local {
            t.local = read_ip(v).filter(|ip| !is_unspecified(ip));
        } else if kind == remote {
            t.remote = read_ip(v).filter(|ip| !is_unspecified(ip));
        } else if kind == ttl {
            t.ttl = read_u8(v).filter(|&n| n != 0);
        }
    }
    t
}

/// Resolves master / lower / VXLAN device ifindexes to names, and adds
/// `M-DOWN` to ports whose master is down, as `ip` does.
pub fn resolve_links(raws: Vec<RawLink>) -> Vec<Link> {
    let names: HashMap<u32, (String, bool)> = raws
        .iter()
        .map(|r| (r.link.ifindex, (r.link.name.clone(), r.link.is_up())))
        .collect();
    let name = |i: u32| {
        names
            .get(&i)
            .map_or_else(|| format!("if{i}"), |(n, _)| n.clone())
    };
    raws.into_iter()
        .map(|mut r| {
            if let Some(m) = r.master {
                r.link.master = Some(name(m));
                if names.get(&m).is_some_and(|(_, up)| !up) {
                    r.link.flags.push("M-DOWN".into());
                }
            }
            if let Some(i) = r.iflink.filter(|&i| i != 0 && i != r.link.ifindex) {
                r.link.lower = Some(name(i));
                r.link.peer_ifindex = Some(i);
            }
            if let (Some(vx), Some(dev)) = (r.link.vxlan.as_mut(), r.vxlan_dev) {
                vx.dev = Some(name(dev));
            }
            r.link
        })
        .collect()
}

/// Link flag words in `ip link`'s print order.
const IFF_NAMES: [(u32, &str); 18] = [
    (0x8, "LOOPBACK"),
    (0x2, "BROADCAST"),
    (0x10, "POINTOPOINT"),
    (0x1000, "MULTICAST"),
    (0x80, "NOARP"),
    (0x200, "ALLMULTI"),
    (0x100, "PROMISC"),
    (0x400, "MASTER"),
    (0x800, "SLAVE"),
    (0x4, "DEBUG"),
    (0x8000, "DYNAMIC"),
    (0x4000, "AUTOMEDIA"),
    (0x2000, "PORTSEL"),
    (0x20, "NOTRAILERS"),
    (0x1, "UP"),
    (0x10000, "LOWER_UP"),
    (0x20000, "DORMANT"),
    (0x40000, "ECHO"),
];

/// `ip link`'s flag list, in its order: NO-CARRIER first, unknown bits as hex.
fn flag_names(mut flags: u32) -> Vec<String> {
    let mut out = Vec::new();
    if flags & IFF_UP != 0 && flags & IFF_RUNNING == 0 {
        out.push("NO-CARRIER".to_string());
    }
    flags &= !IFF_RUNNING;
    for (bit, name) in IFF_NAMES {
        if flags & bit != 0 {
            out.push(name.to_string());
            flags &= !bit;
        }
    }
    if flags != 0 {
        out.push(format!("{flags:x}"));
    }
    out
}

fn operstate_name(s: u8) -> String {
    match s {
        0 => "UNKNOWN",
        1 => "NOTPRESENT",
        2 => "DOWN",
        3 => "LOWERLAYERDOWN",
        4 => "TESTING",
        5 => "DORMANT",
        6 => "UP",
        n => return format!("{n:#x}"),
    }
    .to_string()
}

/// iproute2's `ll_type_n2a` for the types a node plausibly has.
fn link_type_name(t: u16) -> String {
    match t {
        1 => "ether",
        24 => "ieee1394",
        32 => "infiniband",
        65534 => "none",
        65535 => "void",
        768 => "ipip",
        769 => "tunnel6",
        772 => "loopback",
        776 => "sit",
        778 => "gre",
        823 => "gre6",
        801 => "ieee802.11",
        519 => "can",
        n => return format!("[{n}]"),
    }
    .to_string()
}

/// Decodes one RTM_NEWADDR payload (ifaddrmsg + attributes). `ip` shows
/// IFA_LOCAL as the address and IFA_ADDRESS, when it differs, as the peer.
pub fn decode_addr(payload: &[u8], names: &HashMap<u32, String>) -> Option<Addr> {
    let hdr = payload.get(..8)?;
    let prefix = hdr[1];
    let scope = hdr[3];
    let ifindex = read_u32(&hdr[4..8])?;
    let (mut local, mut address) = (None, None);
    for (kind, v) in attrs(&payload[8..]) {
        match kind {
            IFA_LOCAL => local = read_ip(v),
            IFA_ADDRESS => address = read_ip(v),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    let peer = match (local, address) {
        (Some(l), Some(a)) if l != a => IpNet::new(a, prefix).ok(),
        _ => None,
    };
    Some(Addr {
        ifindex,
        dev: names
            .get(&ifindex)
            .cloned()
            .unwrap_or_else(|| format!("if{ifindex}")),
        addr: IpNet::new(addr, prefix).ok()?,
        scope: super::route::scope_name(scope),
        peer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_ip_order_with_no_carrier_first() {
        // UP | BROADCAST | MULTICAST without RUNNING, plus an unknown bit.
        let got = flag_names(0x1 | 0x2 | 0x1000 | 0x8000_0000);
        assert_eq!(
            got,
            vec!["NO-CARRIER", "BROADCAST", "MULTICAST", "UP", "80000000"]
        );
        assert_eq!(
            flag_names(0x1 | 0x40 | 0x8 | 0x10000),
            vec!["LOOPBACK", "UP", "LOWER_UP"]
        );
    }

    #[test]
    fn vxlan_info_data_decodes_flannel_device() {
        let mut data = Vec::new();
        let mut put = |kind: u16, v: &[u8]| data.extend(crate::netlink::nla(kind, v));
        put(1, &1u32.to_ne_bytes());
        put(3, &2u32.to_ne_bytes());
        put(4, &[192, 0, 2, 11]);
        put(2, &[0, 0, 0, 0]);
        put(7, &[0]);
        put(15, &8472u16.to_be_bytes());
        put(99, &[1, 2, 3]);
        let (info, dev) = decode_vxlan(&data);
        assert_eq!(info.vni, 1);
        assert_eq!(info.local, Some("192.0.2.11".parse().unwrap()));
        assert_eq!(info.remote, None);
        assert_eq!(info.port, 8472);
        assert!(!info.learning);
        assert_eq!(dev, Some(2));
    }
}
