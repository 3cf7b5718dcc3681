//! The routing decision: policy rules in priority order, the LPM of each
//! table they name (with `throw` and `suppress_prefixlength`), and the
//! adjacency of the chosen next hop.

use std::net::IpAddr;

use cnictl_model::route::TABLE_MAIN;
use cnictl_model::{RouteType, Rule, RuleAction};

use super::{hop, Rec, RouteChoice};
use crate::tables::{CompiledNextHop, Dataplane, Namespace};
use crate::types::*;

/// A rule's outcome for one packet.
enum RuleOutcome {
    /// Go on with the next rule (no match, no route, throw, suppressed, nop).
    Continue,
    /// Jump to the first rule at this index.
    Goto(usize),
    Route(RouteChoice),
    Discard,
}

impl Dataplane {
    /// Policy rules in priority order, then the LPM of each table they name.
    pub(super) fn fib<R: Rec>(
        &self,
        ns: &Namespace,
        nsid: NsId,
        p: &Packet,
        iif: Option<u32>,
        rec: &mut R,
    ) -> Result<RouteChoice, (Disposition, Reason)> {
        let iif_name = match iif {
            Some(i) => ns.links[i as usize].name.as_str(),
            None => "lo",
        };
        let mut i = 0;
        while i < ns.rules.len() {
            let rule = &ns.rules[i];
            let at = (nsid, iif, i as u32);
            i += 1;
            if !rule_matches(rule, p, iif_name) {
                continue;
            }
            match apply_rule(ns, rule, at, p, rec) {
                RuleOutcome::Continue => {}
                RuleOutcome::Goto(next) => i = next,
                RuleOutcome::Route(choice) => return Ok(choice),
                RuleOutcome::Discard => return Err((Disposition::NullRouted, Reason::RuleAction)),
            }
        }
        Err((Disposition::NoRoute, Reason::NoMatchingRoute))
    }

    /// The out device and gateway of a next hop, checking the gateway is
    /// adjacent (connected subnet or a link-scope route on the device) unless
    /// the next hop is onlink.
    pub(super) fn resolve_nh(
        &self,
        ns: &Namespace,
        nh: CompiledNextHop,
    ) -> Result<(u32, Option<IpAddr>), Reason> {
        let dev = nh.dev.map_err(|_| Reason::DeviceMissing)?;
        let Some(gw) = nh.gateway else {
            return dev.map(|d| (d, None)).ok_or(Reason::DeviceMissing);
        };
        let connected = ns
            .addr_nets
            .iter()
            .find(|(l, n)| n.contains(&gw) && dev.is_none_or(|d| d == *l))
            .map(|(l, _)| *l);
        if let Some(d) = connected {
            return Ok((dev.unwrap_or(d), Some(gw)));
        }
        match dev {
            Some(d) if nh.onlink || link_route_to(ns, gw, d) => Ok((d, Some(gw))),
            _ => Err(Reason::GatewayNotAdjacent { gw }),
        }
    }
}

/// One matching rule: its table's LPM result (unless thrown or
/// suppressed), a goto, or a discarding action. `at` = (ns, iif, rule index).
fn apply_rule<R: Rec>(
    ns: &Namespace,
    rule: &Rule,
    at: (NsId, Option<u32>, u32),
    p: &Packet,
    rec: &mut R,
) -> RuleOutcome {
    let (nsid, iif, ri) = at;
    match rule.action {
        RuleAction::Table(t) => table_lookup(ns, rule, at, t, p, rec),
        RuleAction::Goto(target) if target > rule.priority => {
            RuleOutcome::Goto(ns.rules.partition_point(|x| x.priority < target))
        }
        RuleAction::Goto(_) | RuleAction::Nop => RuleOutcome::Continue,
        RuleAction::Blackhole | RuleAction::Unreachable | RuleAction::Prohibit => {
            rec.push(hop(nsid, iif, None, Step::RuleAction { rule: ri }));
            RuleOutcome::Discard
        }
    }
}

fn table_lookup<R: Rec>(
    ns: &Namespace,
    rule: &Rule,
    (nsid, iif, ri): (NsId, Option<u32>, u32),
    table: u32,
    p: &Packet,
    rec: &mut R,
) -> RuleOutcome {
    let Some(route) = ns.table(table).and_then(|l| l.lookup(p.dst)) else {
        return RuleOutcome::Continue;
    };
    let rt = &ns.routes[route as usize];
    if rt.route_type == RouteType::Throw {
        rec.push(hop(nsid, iif, None, Step::Throw { rule: ri, route }));
        return RuleOutcome::Continue;
    }
    if rule
        .suppress_prefixlen
        .is_some_and(|n| rt.dst.prefix_len() <= n)
    {
        rec.push(hop(nsid, iif, None, Step::Suppressed { rule: ri, route }));
        return RuleOutcome::Continue;
    }
    RuleOutcome::Route(RouteChoice { rule: ri, route })
}

/// True when the main table routes `gw` directly (no gateway) via `dev`.
fn link_route_to(ns: &Namespace, gw: IpAddr, dev: u32) -> bool {
    let Some(r) = ns.table(TABLE_MAIN).and_then(|t| t.lookup(gw)) else {
        return false;
    };
    ns.routes[r as usize].route_type == RouteType::Unicast
        && ns.next_hops[r as usize]
            .iter()
            .any(|h| h.gateway.is_none() && h.dev == Ok(Some(dev)))
}

/// Rule selectors (from/to/iif/fwmark, family), inverted by `not`. `oif`
/// rules only match sockets bound to a device, which a trace never is.
fn rule_matches(r: &Rule, p: &Packet, iif: &str) -> bool {
    let fam_ok = match p.dst {
        IpAddr::V4(_) => r.family != "inet6",
        IpAddr::V6(_) => r.family == "inet6",
    };
    if !fam_ok {
        return false;
    }
    let sel = r.src.is_none_or(|s| s.contains(&p.src))
        && r.dst.is_none_or(|d| d.contains(&p.dst))
        && r.iif.as_deref().is_none_or(|i| i == iif)
        && r.oif.is_none()
        && r.fwmark.is_none_or(|m| {
            let mask = r.fwmask.unwrap_or(u32::MAX);
            p.fwmark & mask == m & mask
        });
    sel != r.not
}
