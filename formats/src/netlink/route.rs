//! RTM_NEWROUTE and RTM_NEWRULE decoding into [`Route`] and [`Rule`], with
//! the conventions of `ip -d -j route show table all` and `ip -j rule show`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cnictl_model::{NextHop, Protocol, Route, RouteType, Rule, RuleAction, Scope};
use ipnet::IpNet;

use super::consts::*;
use super::{align4, attrs, read_ip, read_str, read_u16, read_u32};

/// Ifindex → name, falling back to `ifN` as `ip` does for unknown indexes.
pub fn dev_name(names: &HashMap<u32, String>, ifindex: u32) -> String {
    names
        .get(&ifindex)
        .cloned()
        .unwrap_or_else(|| format!("if{ifindex}"))
}

/// Decodes one RTM_NEWROUTE payload (rtmsg + attributes). Cloned (cache)
/// entries are skipped as `ip route show` skips them; families other than
/// IPv4/IPv6 (multicast routing tables) are not routes of this model.
pub fn decode_route(payload: &[u8], names: &HashMap<u32, String>) -> Option<Route> {
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
        v = &v[align4(len).min(v.len())..];
    }
    out
}

/// Decodes the RTM_NEWROUTE answer to a route get; `dev_name` maps an
/// ifindex to its name (`ifN` when unknown, as `ip` prints it).
pub fn decode_route_get(
    dst: IpAddr,
    payload: &[u8],
    dev_name: &dyn Fn(u32) -> Option<String>,
) -> Option<Route> {
    let hdr = payload.get(..12)?;
    let bits = if dst.is_ipv4() { 32 } else { 128 };
    let mut route = Route::unicast(IpNet::new(dst, bits).ok()?);
    route.table = u32::from(hdr[4]);
    route.protocol = Protocol(hdr[5]);
    route.scope = Scope(hdr[6]);
    route.route_type = route_type(hdr[7]);
    let name = |i: u32| dev_name(i).unwrap_or_else(|| format!("if{i}"));
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            RTA_TABLE => route.table = read_u32(v).unwrap_or(route.table),
            RTA_OIF => route.dev = read_u32(v).map(name),
            RTA_GATEWAY => route.gateway = read_ip(v),
            RTA_VIA => route.gateway = v.get(2..).and_then(read_ip),
            RTA_PREFSRC => route.prefsrc = read_ip(v),
            _ => {}
        }
    }
    Some(route)
}

/// The route type of an rtmsg's `rtm_type`: the one decoder for dumps
/// and `ip route get` answers.
pub fn route_type(t: u8) -> RouteType {
    match t {
        RTN_LOCAL => RouteType::Local,
        RTN_BROADCAST => RouteType::Broadcast,
        RTN_ANYCAST => RouteType::Anycast,
        RTN_MULTICAST => RouteType::Multicast,
        RTN_BLACKHOLE => RouteType::Blackhole,
        RTN_UNREACHABLE => RouteType::Unreachable,
        RTN_PROHIBIT => RouteType::Prohibit,
        RTN_THROW => RouteType::Throw,
        RTN_NAT => RouteType::Nat,
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
pub fn scope_name(s: u8) -> String {
    Scope(s).to_string()
}

/// Decodes one RTM_NEWRULE payload (fib_rule_hdr + attributes).
pub fn decode_rule(payload: &[u8]) -> Option<Rule> {
    let hdr = payload.get(..12)?;
    let mut rule = rule_header(hdr)?;
    let mut attrs_seen = RuleAttrs {
        table: u32::from(hdr[4]),
        ..RuleAttrs::default()
    };
    for (kind, v) in attrs(&payload[12..]) {
        attrs_seen.read(&mut rule, (hdr[1], hdr[2]), kind, v);
    }
    attrs_seen.finish(&mut rule, hdr[7]);
    Some(rule)
}

/// The rule the fib_rule_hdr alone describes: family and `not`.
fn rule_header(hdr: &[u8]) -> Option<Rule> {
    let family = match hdr[0] {
        AF_INET => "inet",
        AF_INET6 => "inet6",
        _ => return None,
    };
    let flags = read_u32(&hdr[8..12])?;
    Some(Rule {
        priority: 0,
        family: family.into(),
        src: None,
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        not: flags & FIB_RULE_INVERT != 0,
        action: RuleAction::Nop,
        suppress_prefixlen: None,
    })
}

/// The attributes that only make sense together (the action's table or
/// goto target, fwmark and mask), gathered before they are applied.
#[derive(Default)]
struct RuleAttrs {
    table: u32,
    goto: Option<u32>,
    mark: Option<u32>,
    mask: Option<u32>,
}

impl RuleAttrs {
    /// One FRA_* attribute; `(dst_len, src_len)` come from the header.
    fn read(&mut self, rule: &mut Rule, (dst_len, src_len): (u8, u8), kind: u16, v: &[u8]) {
        let net = |len| read_ip(v).and_then(|ip| IpNet::new(ip, len).ok());
        match kind {
            FRA_PRIORITY => rule.priority = read_u32(v).unwrap_or(0),
            FRA_SRC => rule.src = net(src_len),
            FRA_DST => rule.dst = net(dst_len),
            FRA_IIFNAME => rule.iif = Some(read_str(v)),
            FRA_OIFNAME => rule.oif = Some(read_str(v)),
            FRA_GOTO => self.goto = read_u32(v),
            FRA_TABLE => self.table = read_u32(v).unwrap_or(self.table),
            FRA_FWMARK => self.mark = read_u32(v),
            FRA_FWMASK => self.mask = read_u32(v),
            // `ip` hides the "unset" value, -1.
            FRA_SUPPRESS_PREFIXLEN => {
                rule.suppress_prefixlen = read_u32(v).and_then(|n| u8::try_from(n).ok())
            }
            _ => {}
        }
    }

    /// Applies the gathered attributes and the header's action code.
    fn finish(self, rule: &mut Rule, action_code: u8) {
        // `fwmark M/MASK`, with a full mask not printed.
        if self.mark.is_some() || self.mask.is_some() {
            rule.fwmark = Some(self.mark.unwrap_or(0));
            rule.fwmask = self.mask.filter(|&m| m != u32::MAX);
        }
        rule.action = rule_action(action_code, self.table, self.goto);
        if !matches!(rule.action, RuleAction::Table(_)) {
            rule.suppress_prefixlen = None;
        }
    }
}

fn rule_action(code: u8, table: u32, goto: Option<u32>) -> RuleAction {
    match code {
        FR_ACT_TO_TBL => RuleAction::Table(table),
        FR_ACT_GOTO => RuleAction::Goto(goto.unwrap_or(0)),
        FR_ACT_BLACKHOLE => RuleAction::Blackhole,
        FR_ACT_UNREACHABLE => RuleAction::Unreachable,
        FR_ACT_PROHIBIT => RuleAction::Prohibit,
        _ => RuleAction::Nop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::nla;

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

    #[test]
    fn answer_decodes_type_table_dev_gateway_and_prefsrc() {
        // rtmsg: inet /32, table main (254), boot, universe, unicast, CLONED.
        let mut msg = vec![AF_INET, 32, 0, 0, 254, 0, 0, 1, 0, 2, 0, 0];
        msg.extend(nla(RTA_TABLE, &254u32.to_ne_bytes()));
        msg.extend(nla(1, &[10, 244, 2, 3])); // RTA_DST
        msg.extend(nla(RTA_OIF, &5u32.to_ne_bytes()));
        msg.extend(nla(RTA_GATEWAY, &[10, 244, 2, 0]));
        msg.extend(nla(RTA_PREFSRC, &[10, 244, 1, 0]));
        let names = |i: u32| (i == 5).then(|| "flannel.1".to_string());
        let r = decode_route_get("10.244.2.3".parse().unwrap(), &msg, &names).unwrap();
        assert_eq!(r.route_type, RouteType::Unicast);
        assert_eq!(r.table, 254);
        assert_eq!(r.dev.as_deref(), Some("flannel.1"));
        assert_eq!(r.gateway, Some("10.244.2.0".parse().unwrap()));
        assert_eq!(r.prefsrc, Some("10.244.1.0".parse().unwrap()));
        assert_eq!(r.dst.to_string(), "10.244.2.3/32");
    }

    #[test]
    fn local_answer_and_unknown_ifindex() {
        let mut msg = vec![AF_INET, 32, 0, 0, 255, 0, 254, 2, 0, 2, 0, 0];
        msg.extend(nla(RTA_OIF, &9u32.to_ne_bytes()));
        let r = decode_route_get("192.0.2.11".parse().unwrap(), &msg, &|_| None).unwrap();
        assert_eq!(r.route_type, RouteType::Local);
        assert_eq!(r.table, 255);
        assert_eq!(r.dev.as_deref(), Some("if9"));
        assert!(decode_route_get("192.0.2.11".parse().unwrap(), &msg[..8], &|_| None).is_none());
    }
}
