//! A node's forwarding tables indexed for the checks: longest-prefix match
//! through the policy rules, and "which routes lie inside this prefix".
//!
//! Lookups are for traffic forwarded from the node's pods to a prefix: rules
//! with an `iif`, `oif`, `fwmark` or `not` selector are for other traffic and
//! are passed over; a `from` selector applies when it covers one of the
//! node's own pod CIDRs. Building is O(routes); a lookup is at most one hash
//! probe per distinct prefix length in each consulted table.

use std::collections::HashMap;

use cnictl_model::{NodeSnapshot, Route, RouteType, Rule, RuleAction, TableId};
use ipnet::IpNet;

/// What the rule walk decided for a prefix.
#[derive(Debug, Clone)]
pub(crate) enum Lookup<'a> {
    /// A route in this table.
    Route(&'a Route),
    /// A rule whose action drops the traffic (`blackhole`, `unreachable`, `prohibit`).
    Rule(Rule),
    /// No rule yielded a route.
    None,
}

struct Table<'a> {
    /// Routes by their (truncated) destination prefix.
    exact: HashMap<IpNet, Vec<&'a Route>>,
    /// Distinct prefix lengths present, longest first, per family (v4, v6).
    lens: [Vec<u8>; 2],
    /// Routes sorted by (family, network address, prefix length).
    sorted: Vec<(u8, u128, u8, &'a Route)>,
}

pub(crate) struct Fib<'a> {
    tables: HashMap<TableId, Table<'a>>,
    rules: Vec<Rule>,
    rules_collected: bool,
    own_cidrs: Vec<IpNet>,
}

fn fam(n: &IpNet) -> usize {
    usize::from(matches!(n, IpNet::V6(_)))
}

/// (family, first address, last address) as integers.
pub(crate) fn span(n: &IpNet) -> (u8, u128, u128) {
    match n {
        IpNet::V4(v) => (
            0,
            u128::from(u32::from(v.network())),
            u128::from(u32::from(v.broadcast())),
        ),
        IpNet::V6(v) => (1, u128::from(v.network()), u128::from(v.broadcast())),
    }
}

impl<'a> Table<'a> {
    fn new(routes: Vec<&'a Route>) -> Self {
        let mut exact: HashMap<IpNet, Vec<&'a Route>> = HashMap::with_capacity(routes.len());
        let mut lens = [Vec::new(), Vec::new()];
        let mut sorted = Vec::with_capacity(routes.len());
        for r in routes {
            let key = r.dst.trunc();
            exact.entry(key).or_default().push(r);
            lens[fam(&key)].push(key.prefix_len());
            let (f, start, _) = span(&key);
            sorted.push((f, start, key.prefix_len(), r));
        }
        for l in &mut lens {
            l.sort_unstable_by(|a, b| b.cmp(a));
            l.dedup();
        }
        sorted.sort_unstable_by(|a, b| {
            (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)).then_with(|| {
                a.3.metric
                    .cmp(&b.3.metric)
                    .then_with(|| a.3.to_string().cmp(&b.3.to_string()))
            })
        });
        Table {
            exact,
            lens,
            sorted,
        }
    }

    /// Longest match among routes whose prefix is no longer than `p`'s and
    /// longer than `suppress`; ties go to the lowest metric.
    fn lpm(&self, p: &IpNet, suppress: Option<u8>) -> Option<&'a Route> {
        for &len in &self.lens[fam(p)] {
            if len > p.prefix_len() {
                continue;
            }
            if suppress.is_some_and(|s| len <= s) {
                return None;
            }
            let key = IpNet::new(p.addr(), len).ok()?.trunc();
            if let Some(rs) = self.exact.get(&key) {
                return best(rs);
            }
        }
        None
    }

    fn inside(&self, p: &IpNet, out: &mut Vec<&'a Route>) {
        let (f, lo, hi) = span(&p.trunc());
        let start = self.sorted.partition_point(|e| (e.0, e.1) < (f, lo));
        for e in self.sorted[start..]
            .iter()
            .take_while(|e| e.0 == f && e.1 <= hi)
        {
            if e.2 > p.prefix_len() {
                out.push(e.3);
            }
        }
    }
}

/// The route the kernel prefers among same-prefix routes: lowest metric,
/// then a fixed order so the answer never depends on input order.
fn best<'a>(rs: &[&'a Route]) -> Option<&'a Route> {
    rs.iter()
        .min_by(|a, b| {
            a.metric
                .cmp(&b.metric)
                .then_with(|| a.to_string().cmp(&b.to_string()))
        })
        .copied()
}

impl<'a> Fib<'a> {
    pub(crate) fn new(node: &'a NodeSnapshot, own_cidrs: Vec<IpNet>) -> Self {
        let mut by_table: HashMap<TableId, Vec<&'a Route>> = HashMap::new();
        for r in &node.routes {
            by_table.entry(r.table).or_default().push(r);
        }
        let tables = by_table
            .into_iter()
            .map(|(t, rs)| (t, Table::new(rs)))
            .collect();
        let mut rules = node.rules.clone().unwrap_or_else(Rule::defaults_v4);
        rules.sort_by_key(|r| r.priority);
        Fib {
            tables,
            rules,
            rules_collected: node.rules.is_some(),
            own_cidrs,
        }
    }

    fn applies(&self, rule: &Rule, p: &IpNet) -> bool {
        let family_ok = !self.rules_collected
            || match p {
                IpNet::V4(_) => rule.family != "inet6",
                IpNet::V6(_) => rule.family != "inet",
            };
        let src_ok = rule.src.as_ref().is_none_or(|s| {
            s.prefix_len() == 0
                || self
                    .own_cidrs
                    .iter()
                    .any(|c| cnictl_model::cidr::overlaps(s, c))
        });
        let dst_ok = rule.dst.as_ref().is_none_or(|d| d.contains(p));
        family_ok
            && src_ok
            && dst_ok
            && !rule.not
            && rule.iif.is_none()
            && rule.oif.is_none()
            && rule.fwmark.is_none()
    }

    /// The route (or rule) that decides traffic to `p`, considering only
    /// routes at least as wide as `p` (narrower ones: [`Fib::inside`]).
    pub(crate) fn lookup(&self, p: &IpNet) -> Lookup<'a> {
        let mut min_prio = 0;
        for rule in &self.rules {
            if rule.priority < min_prio || !self.applies(rule, p) {
                continue;
            }
            match rule.action {
                RuleAction::Table(t) => {
                    let Some(table) = self.tables.get(&t) else {
                        continue;
                    };
                    match table.lpm(p, rule.suppress_prefixlen) {
                        Some(r) if r.route_type == RouteType::Throw => continue,
                        Some(r) => return Lookup::Route(r),
                        None => continue,
                    }
                }
                RuleAction::Goto(target) => min_prio = target,
                RuleAction::Nop => {}
                RuleAction::Blackhole | RuleAction::Unreachable | RuleAction::Prohibit => {
                    return Lookup::Rule(rule.clone());
                }
            }
        }
        Lookup::None
    }

    /// Routes strictly inside `p` (longer prefixes) in every table the rule
    /// walk for `p` can consult, sorted by table then prefix.
    pub(crate) fn inside(&self, p: &IpNet) -> Vec<&'a Route> {
        let mut tables: Vec<TableId> = self
            .rules
            .iter()
            .filter(|r| self.applies(r, p))
            .filter_map(|r| match r.action {
                RuleAction::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        tables.sort_unstable();
        tables.dedup();
        let mut out = Vec::new();
        for t in tables {
            if let Some(table) = self.tables.get(&t) {
                table.inside(p, &mut out);
            }
        }
        out
    }

    /// Every route with exactly this destination, in any table.
    pub(crate) fn exact(&self, p: &IpNet) -> Vec<&'a Route> {
        let key = p.trunc();
        let mut ts: Vec<(&TableId, &Table<'a>)> = self.tables.iter().collect();
        ts.sort_by_key(|(t, _)| **t);
        ts.into_iter()
            .filter_map(|(_, t)| t.exact.get(&key))
            .flatten()
            .copied()
            .collect()
    }
}
