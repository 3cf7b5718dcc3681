//! RTM_NEWROUTE and RTM_NEWRULE decoding into [`Route`] and [`Rule`], with
//! the conventions of `ip -d -j route show table all` and `ip -j rule show`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cnictl_model::{NextHop, Protocol, Route, RouteType, Rule, RuleAction, Scope};
use ipnet::IpNet;

use super::nl::{attrs, read_ip, read_str, read_u16, read_u32};

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;

const RTNH_F_ONLINK: u32 = 4;
const RTM_F_CLONED: u32 = 0x200;

/// Ifindex → name, falling back to `ifN` as `ip` does for unknown indexes.
pub(crate) fn dev_name(names: &HashMap<u32, String>, ifindex: u32) -> String {
    names
        .get(&ifindex)
        .cloned()
        .unwrap_or_else(|| format!("if{ifindex}"))
}

/// Decodes one RTM_NEWROUTE payload (rtmsg + attributes). Cloned (cache)
/// entries are skipped as `ip route show` skips them; families other than
/// IPv4/IPv6 (multicast routing tables) are not routes of this model.
pub(crate) fn decode_route(payload: &[u8], names: &HashMap<u32, String>) -> Option<Route> {
    let hdr = payload.get(..12)?;
    let (family, dst_len) = (hdr[0], hdr[1]);
    let flags = read_u32(&hdr[8..12])?;
    if (family != AF_INET && family != AF_INET6) || flags & RTM_F_CLONED != 0 {
        return None;
    }
    let mut route = Route::unicast(default_net(family));
    route.table = u32::from(hdr[4]);
    route.protocol = Protocol(hdr[5]);
    route.scope = Scope(hdr[6]);
    route.route_type = route_type(hdr[7]);
    route.onlink = flags & RTNH_F_ONLINK != 0;
    route.flags = route_flags(flags);
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            RTA_DST => route.dst = IpNet::new(read_ip(v)?, dst_len).ok()?,
            RTA_TABLE => route.table = read_u32(v).unwrap_or(route.table),
            RTA_OIF => route.dev = read_u32(v).map(|i| dev_name(names, i)),
            RTA_GATEWAY => route.gateway = read_ip(v),
            RTA_VIA => route.gateway = read_via(v),
            RTA_PRIORITY => route.metric = read_u32(v).unwrap_or(0),
            RTA_PREFSRC => route.prefsrc = read_ip(v),
            RTA_MULTIPATH => route.nexthops = decode_multipath(v, names),
            _ => {}
        }
    }
    Some(route)
}

fn default_net(family: u8) -> IpNet {
    if family == AF_INET6 {
        IpNet::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).unwrap_or_default()
    } else {
        IpNet::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).unwrap_or_default()
    }
}

/// RTA_VIA: `struct rtvia { u16 family; u8 addr[]; }` (IPv4 over IPv6 next hop).
fn read_via(v: &[u8]) -> Option<IpAddr> {
    read_ip(v.get(2..)?)
}

/// RTA_MULTIPATH: a packed list of `struct rtnexthop` (len, flags, hops,
/// ifindex) each followed by its own attributes. `ip` prints weight =
/// hops + 1.
fn decode_multipath(mut v: &[u8], names: &HashMap<u32, String>) -> Vec<NextHop> {
    let mut out = Vec::new();
    while v.len() >= 8 {
        let len = usize::from(read_u16(v).unwrap_or(0));
        if len < 8 || len > v.len() {
            break;
        }
        let flags = u32::from(v[2]);
        let ifindex = read_u32(&v[4..8]).unwrap_or(0);
        let mut nh = NextHop {
            gateway: None,
            dev: (ifindex != 0).then(|| dev_name(names, ifindex)),
            weight: u32::from(v[3]) + 1,
            onlink: flags & RTNH_F_ONLINK != 0,
        };
        for (kind, a) in attrs(&v[8..len]) {
            match kind {
                RTA_GATEWAY => nh.gateway = read_ip(a),
                RTA_VIA => nh.gateway = read_via(a),
                _ => {}
            }
        }
        out.push(nh);
        v = &v[super::nl::align4(len).min(v.len())..];
    }
    out
}

fn route_type(t: u8) -> RouteType {
    match t {
        2 => RouteType::Local,
        3 => RouteType::Broadcast,
        4 => RouteType::Anycast,
        5 => RouteType::Multicast,
        6 => RouteType::Blackhole,
        7 => RouteType::Unreachable,
        8 => RouteType::Prohibit,
        9 => RouteType::Throw,
        10 => RouteType::Nat,
        // RTN_UNICAST, and RTN_UNSPEC / XRESOLVE which no FIB dump carries.
        _ => RouteType::Unicast,
    }
}

/// `ip`'s route flag words in its print order, without `onlink` (the
/// model's own field).
fn route_flags(flags: u32) -> Vec<String> {
    const NAMED: [(u32, &str); 10] = [
        (1, "dead"),
        (2, "pervasive"),
        (8, "offload"),
        (0x40, "trap"),
        (0x100, "notify"),
        (16, "linkdown"),
        (32, "unresolved"),
        (0x4000, "rt_offload"),
        (0x8000, "rt_trap"),
        (0x2000_0000, "rt_offload_failed"),
    ];
    NAMED
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// `rtnl_rtscope_n2a`.
pub(crate) fn scope_name(s: u8) -> String {
    Scope(s).to_string()
}

/// Decodes one RTM_NEWRULE payload (fib_rule_hdr + attributes).
pub(crate) fn decode_rule(payload: &[u8]) -> Option<Rule> {
    const FRA_DST: u16 = 1;
    const FRA_SRC: u16 = 2;
    const FRA_IIFNAME: u16 = 3;
    const FRA_GOTO: u16 = 4;
    const FRA_PRIORITY: u16 = 6;
    const FRA_FWMARK: u16 = 10;
    const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
    const FRA_TABLE: u16 = 15;
    const FRA_FWMASK: u16 = 16;
    const FRA_OIFNAME: u16 = 17;
    const FIB_RULE_INVERT: u32 = 2;
    let hdr = payload.get(..12)?;
    let (family, dst_len, src_len) = (hdr[0], hdr[1], hdr[2]);
    let family_name = match family {
        AF_INET => "inet",
        AF_INET6 => "inet6",
        _ => return None,
    };
    let mut table = u32::from(hdr[4]);
    let action_code = hdr[7];
    let flags = read_u32(&hdr[8..12])?;
    let mut rule = Rule {
        priority: 0,
        family: family_name.into(),
        src: None,
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        not: flags & FIB_RULE_INVERT != 0,
        action: RuleAction::Nop,
        suppress_prefixlen: None,
    };
    let (mut goto, mut mark, mut mask) = (None, None, None);
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            FRA_PRIORITY => rule.priority = read_u32(v).unwrap_or(0),
            FRA_SRC => rule.src = read_ip(v).and_then(|ip| IpNet::new(ip, src_len).ok()),
            FRA_DST => rule.dst = read_ip(v).and_then(|ip| IpNet::new(ip, dst_len).ok()),
            FRA_IIFNAME => rule.iif = Some(read_str(v)),
            FRA_OIFNAME => rule.oif = Some(read_str(v)),
            FRA_GOTO => goto = read_u32(v),
            FRA_TABLE => table = read_u32(v).unwrap_or(table),
            FRA_FWMARK => mark = read_u32(v),
            FRA_FWMASK => mask = read_u32(v),
            // `ip` hides the "unset" value, -1.
            FRA_SUPPRESS_PREFIXLEN => {
                rule.suppress_prefixlen = read_u32(v).and_then(|n| u8::try_from(n).ok())
            }
            _ => {}
        }
    }
    // `fwmark M/MASK`, with a full mask not printed.
    if mark.is_some() || mask.is_some() {
        rule.fwmark = Some(mark.unwrap_or(0));
        rule.fwmask = mask.filter(|&m| m != u32::MAX);
    }
    rule.action = match action_code {
        1 => RuleAction::Table(table),
        2 => RuleAction::Goto(goto.unwrap_or(0)),
        6 => RuleAction::Blackhole,
        7 => RuleAction::Unreachable,
        8 => RuleAction::Prohibit,
        _ => RuleAction::Nop,
    };
    if !matches!(rule.action, RuleAction::Table(_)) {
        rule.suppress_prefixlen = None;
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::nl::nla;

    #[test]
    fn table_above_255_comes_from_rta_table_and_weights_are_hops_plus_one() {
        // rtmsg: inet, /16, table 252 (RT_TABLE_COMPAT), boot, universe, unicast.
        let mut msg = vec![AF_INET, 16, 0, 0, 252, 3, 0, 1, 16, 0, 0, 0];
        msg.extend(nla(RTA_DST, &[10, 6, 0, 0]));
        msg.extend(nla(RTA_TABLE, &1000u32.to_ne_bytes()));
        let mut mp = Vec::new();
        for (hops, gw) in [(2u8, [192, 0, 2, 2]), (0, [192, 0, 2, 3])] {
            let gw = nla(RTA_GATEWAY, &gw);
            mp.extend_from_slice(&((8 + gw.len()) as u16).to_ne_bytes());
            mp.extend_from_slice(&[0, hops]);
            mp.extend_from_slice(&2u32.to_ne_bytes());
            mp.extend(gw);
        }
        msg.extend(nla(RTA_MULTIPATH, &mp));
        msg.extend(nla(777, &[1, 2, 3, 4]));
        let names = HashMap::from([(2, "veth0".to_string())]);
        let r = decode_route(&msg, &names).unwrap();
        assert_eq!(r.table, 1000);
        assert_eq!(r.dst.to_string(), "10.6.0.0/16");
        assert_eq!(r.nexthops.len(), 2);
        assert_eq!(r.nexthops[0].weight, 3);
        assert_eq!(r.nexthops[0].dev.as_deref(), Some("veth0"));
        assert_eq!(r.nexthops[1].gateway, Some("192.0.2.3".parse().unwrap()));
        assert_eq!(r.nexthops[1].weight, 1);
        assert_eq!(r.metric, 0);
    }

    #[test]
    fn onlink_is_a_field_and_linkdown_a_flag() {
        let msg = vec![AF_INET, 0, 0, 0, 254, 3, 0, 1, 4 | 16, 0, 0, 0];
        let r = decode_route(&msg, &HashMap::new()).unwrap();
        assert!(r.onlink);
        assert_eq!(r.flags, vec!["linkdown"]);
        assert_eq!(r.dst.to_string(), "0.0.0.0/0");
    }

    #[test]
    fn rules_keep_fwmask_goto_and_suppress_prefixlength() {
        let mut msg = vec![AF_INET, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0];
        msg.extend(nla(6, &400u32.to_ne_bytes()));
        msg.extend(nla(14, &0u32.to_ne_bytes()));
        msg.extend(nla(10, &0x10u32.to_ne_bytes()));
        msg.extend(nla(16, &0xffu32.to_ne_bytes()));
        let r = decode_rule(&msg).unwrap();
        assert_eq!(r.priority, 400);
        assert_eq!(r.action, RuleAction::Table(254));
        assert_eq!(r.suppress_prefixlen, Some(0));
        assert_eq!((r.fwmark, r.fwmask), (Some(0x10), Some(0xff)));

        let mut msg = vec![AF_INET, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0];
        msg.extend(nla(4, &32766u32.to_ne_bytes()));
        msg.extend(nla(14, &u32::MAX.to_ne_bytes()));
        let r = decode_rule(&msg).unwrap();
        assert_eq!(r.action, RuleAction::Goto(32766));
        assert!(r.not);
        assert_eq!(r.suppress_prefixlen, None);
    }
}
