//! What the netfilter evaluator sees of the engine: the packet at a hook
//! (devices by name, marks, conntrack state) and the node it runs on
//! (address types from the local routing table, MASQUERADE's address).

use std::net::IpAddr;

use cnictl_model::netfilter::{AddrType, CtState, Expr, Stmt};
use cnictl_model::RouteType;

use crate::nf::{NfPacket, NodeView, RuleRef, Ruleset};
use crate::tables::Namespace;
use crate::types::{NfAction, Proto};

use super::netfilter::HookPoint;
use super::PacketState;

/// The kernel's `local` table: local and broadcast addresses.
const LOCAL_TABLE: u32 = 255;

/// A namespace as netfilter's address-type and MASQUERADE lookups see it.
pub(super) struct NsView<'a>(pub &'a Namespace);

impl NodeView for NsView<'_> {
    fn addr_type(&self, addr: IpAddr, dev: Option<&str>) -> AddrType {
        let ns = self.0;
        if addr.is_multicast() {
            return AddrType::Multicast;
        }
        let on_dev = |link: u32| dev.is_none_or(|d| ns.links[link as usize].name == d);
        if ns.local.get(&addr).is_some_and(|&l| on_dev(l)) {
            return AddrType::Local;
        }
        match local_route_type(ns, addr) {
            Some(RouteType::Broadcast) => AddrType::Broadcast,
            Some(RouteType::Local) if dev.is_none() => AddrType::Local,
            _ => AddrType::Unicast,
        }
    }

    fn primary_addr(&self, dev: &str, dst: IpAddr) -> Option<IpAddr> {
        let ns = self.0;
        let link = *ns.by_name.get(dev)?;
        let same_family: Vec<_> = ns
            .addrs_of(link)
            .filter(|a| a.addr().is_ipv4() == dst.is_ipv4())
            .collect();
        // inet_select_addr: an address on the destination's subnet first,
        // else the device's first (primary) address ...
        let on_dev = same_family
            .iter()
            .find(|a| a.contains(&dst))
            .or(same_family.first())
            .map(|a| a.addr());
        on_dev.or_else(|| any_global_addr(ns, dst))
    }
}

/// ... and for a device without one (Calico's cali* veths), the first
/// global-scope address of the family on any device of the namespace, in
/// device order (`inet_select_addr`'s `for_each_netdev` fallback): a pod
/// masqueraded towards its own Service takes the node's address.
fn any_global_addr(ns: &Namespace, dst: IpAddr) -> Option<IpAddr> {
    let mut links: Vec<u32> = (0..ns.links.len() as u32).collect();
    links.sort_by_key(|&l| ns.links[l as usize].ifindex);
    links.into_iter().find_map(|l| {
        ns.addrs_of(l)
            .map(|a| a.addr())
            .find(|a| a.is_ipv4() == dst.is_ipv4() && global_scope(*a))
    })
}

/// Not loopback or link-local: what RT_SCOPE_UNIVERSE admits.
fn global_scope(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// The type of the local-table route covering `addr` (a whole local
/// prefix such as 127.0.0.0/8, or a broadcast address).
fn local_route_type(ns: &Namespace, addr: IpAddr) -> Option<RouteType> {
    let route = ns.table(LOCAL_TABLE)?.lookup(addr)?;
    Some(ns.routes[route as usize].route_type)
}

/// The packet as the rules at `point` see it.
pub(super) fn nf_packet(ns: &Namespace, point: HookPoint, st: &PacketState) -> NfPacket {
    let p = &st.wire.packet;
    let mut n = NfPacket::new(p.src, p.dst, p.proto.number(), p.sport, p.dport);
    if st.reply && n.icmp_type.is_some() {
        n.icmp_type = Some(if p.proto == Proto::Icmp { 0 } else { 129 });
    }
    let name = |i: Option<u32>| i.map(|i| ns.links[i as usize].name.clone());
    match point.bridge {
        // br_netfilter: `-i`/`-o` see the bridge, `--physdev-in/out` the ports.
        Some(br) => {
            n.iif = point.in_dev.and(name(Some(br)));
            n.oif = point.out_dev.and(name(Some(br)));
            n.physdev_in = name(point.in_dev);
            n.physdev_out = name(point.out_dev);
        }
        None => {
            n.iif = name(point.in_dev);
            n.oif = name(point.out_dev);
        }
    }
    n.mark = p.fwmark;
    n.ctmark = st.ct.ctmark;
    n.ct = conntrack_state(st);
    n
}

fn conntrack_state(st: &PacketState) -> CtState {
    if st.ct.untracked {
        CtState::Untracked
    } else if st.reply {
        CtState::Established
    } else {
        CtState::New
    }
}

/// What the rule at `at` does to a packet it rewrites.
pub(super) fn action_of(rules: &Ruleset, at: RuleRef) -> NfAction {
    let Some(i) = at.rule else {
        return NfAction::Mark;
    };
    let mut stmts = rules
        .rule(at.chain, i as usize)
        .exprs
        .iter()
        .filter_map(as_stmt);
    stmts.find_map(stmt_action).unwrap_or(NfAction::Mark)
}

fn as_stmt(e: &Expr) -> Option<&Stmt> {
    match e {
        Expr::Stmt(s) => Some(s),
        _ => None,
    }
}

fn stmt_action(s: &Stmt) -> Option<NfAction> {
    Some(match s {
        Stmt::Dnat(_) => NfAction::Dnat,
        Stmt::Snat(_) => NfAction::Snat,
        Stmt::Masquerade { .. } => NfAction::Masquerade,
        Stmt::Redirect { .. } => NfAction::Redirect,
        Stmt::Mark { .. } | Stmt::ConnMark(_) => NfAction::Mark,
        _ => return None,
    })
}

/// `ip filter FORWARD #3: -A FORWARD … -j DROP`, or `… policy DROP`.
pub(crate) fn rule_label(rules: &Ruleset, at: RuleRef) -> String {
    let table = rules.table(at.chain);
    let chain = rules.chain(at.chain);
    let head = format!(
        "{} {} {}",
        family_name(table.family),
        table.name,
        chain.name
    );
    match at.rule {
        Some(i) => {
            let r = &chain.rules[i as usize];
            format!("{head} #{}: {}", r.position, r.text)
        }
        None => format!("{head} policy {}", policy_name(rules, at)),
    }
}

/// nft's family names, in `Family`'s variant order.
const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "bridge", "arp", "netdev"];

pub(crate) fn family_name(f: cnictl_model::netfilter::Family) -> &'static str {
    FAMILIES[f as usize]
}

pub(crate) fn policy_name(rules: &Ruleset, at: RuleRef) -> &'static str {
    use cnictl_model::netfilter::Verdict;
    match rules.chain(at.chain).base.as_ref().map(|b| &b.policy) {
        Some(Verdict::Drop) => "DROP",
        _ => "ACCEPT",
    }
}
