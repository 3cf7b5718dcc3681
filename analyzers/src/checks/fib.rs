//! A node's forwarding tables indexed for the checks: longest-prefix match
//! through the policy rules, and "which routes lie inside this prefix".
//!
//! Lookups are for traffic forwarded from the node's pods to a prefix: rules
//! with an `iif`, `oif`, `fwmark` or `not` selector are for other traffic and
//! are passed over; a `from` selector applies when it covers one of the
//! node's own pod CIDRs. Each table is one vector sorted by (family, network
//! address, prefix length): building is O(routes log routes), an exact or
//! "inside" query is a binary search, and a longest-prefix match one binary
//! search per distinct prefix length present. No hashing, no per-route
//! allocation: a 1,000-node Calico node has ~1,100 routes and ~1,000 peers.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

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

/// (family, network address, prefix length): the sort key of a prefix.
type Key = (u8, u128, u8);

struct Table<'a> {
    /// Distinct prefix lengths present, longest first, per family (v4, v6).
    lens: [Vec<u8>; 2],
    /// Routes sorted by key, then metric (the kernel's preference).
    sorted: Vec<(Key, &'a Route)>,
}

pub(crate) struct Fib<'a> {
    tables: Vec<(TableId, Table<'a>)>,
    rules: Vec<Rule>,
    rules_collected: bool,
    own_cidrs: Vec<IpNet>,
    /// Tables the walk consults for any destination, when no applicable
    /// rule has a `to` selector (the usual case); `None` otherwise.
    generic_tables: Option<Vec<TableId>>,
    /// Indexes of the rules that apply to any v4 / v6 destination, when no
    /// rule has a `to` selector; `None` otherwise (walk all rules).
    generic_walk: Option<[Vec<usize>; 2]>,
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

fn key(n: &IpNet) -> Key {
    let (f, lo, _) = span(n);
    (f, lo, n.prefix_len())
}

/// The key of `addr` truncated to `len` bits.
fn key_at(addr: IpAddr, len: u8) -> Option<Key> {
    IpNet::new(addr, len).ok().map(|n| key(&n.trunc()))
}

/// Same-prefix routes in one table: the kernel prefers the lowest metric;
/// the rest only makes the order independent of the input's.
#[allow(clippy::type_complexity)]
fn tie(
    r: &Route,
) -> (
    u32,
    RouteType,
    u8,
    Option<IpAddr>,
    Option<&str>,
    Option<IpAddr>,
) {
    (
        r.metric,
        r.route_type,
        r.protocol.0,
        r.gateway,
        r.dev.as_deref(),
        r.prefsrc,
    )
}

impl<'a> Table<'a> {
    fn new(routes: Vec<&'a Route>) -> Self {
        let mut lens = [Vec::new(), Vec::new()];
        let mut sorted: Vec<(Key, &'a Route)> = routes
            .into_iter()
            .map(|r| {
                let k = key(&r.dst.trunc());
                lens[usize::from(k.0)].push(k.2);
                (k, r)
            })
            .collect();
        for l in &mut lens {
            l.sort_unstable_by(|a, b| b.cmp(a));
            l.dedup();
        }
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(a.1).cmp(&tie(b.1))));
        Table { lens, sorted }
    }

    /// Routes with exactly this key, preferred first.
    fn exact(&self, k: Key) -> &[(Key, &'a Route)] {
        let start = self.sorted.partition_point(|e| e.0 < k);
        let end = start + self.sorted[start..].partition_point(|e| e.0 == k);
        &self.sorted[start..end]
    }

    /// Longest match among routes whose prefix is no longer than `p`'s and
    /// longer than `suppress`; same-prefix ties go to the lowest metric.
    fn lpm(&self, p: &IpNet, suppress: Option<u8>) -> Option<&'a Route> {
        for &len in &self.lens[fam(p)] {
            if len > p.prefix_len() {
                continue;
            }
            if suppress.is_some_and(|s| len <= s) {
                return None;
            }
            if let Some(&(_, r)) = self.exact(key_at(p.addr(), len)?).first() {
                return Some(r);
            }
        }
        None
    }

    fn inside(&self, p: &IpNet, out: &mut Vec<&'a Route>) {
        let (f, lo, hi) = span(&p.trunc());
        let start = self.sorted.partition_point(|e| (e.0 .0, e.0 .1) < (f, lo));
        let within = self.sorted[start..]
            .iter()
            .take_while(|e| e.0 .0 == f && e.0 .1 <= hi);
        out.extend(within.filter(|e| e.0 .2 > p.prefix_len()).map(|e| e.1));
    }
}

impl<'a> Fib<'a> {
    pub(crate) fn new(node: &'a NodeSnapshot, own_cidrs: Vec<IpNet>) -> Self {
        let mut by_table: Vec<(TableId, Vec<&'a Route>)> = Vec::new();
        for r in &node.routes {
            match by_table.iter_mut().find(|(t, _)| *t == r.table) {
                Some((_, v)) => v.push(r),
                None => by_table.push((r.table, vec![r])),
            }
        }
        by_table.sort_by_key(|(t, _)| *t);
        let tables = by_table
            .into_iter()
            .map(|(t, rs)| (t, Table::new(rs)))
            .collect();
        // IPv4-only rule dumps (`ip -j rule show`) get the IPv6 defaults.
        let mut rules = node
            .rules
            .clone()
            .map_or_else(Rule::defaults_v4, Rule::with_v6_defaults);
        rules.sort_by_key(|r| r.priority);
        let mut fib = Fib {
            tables,
            rules,
            rules_collected: node.rules.is_some(),
            own_cidrs,
            generic_tables: None,
            generic_walk: None,
        };
        fib.generic_tables = fib.generic_tables();
        if fib.generic_tables.is_some() {
            let walk = |p: IpNet| -> Vec<usize> {
                (0..fib.rules.len())
                    .filter(|&i| fib.applies(&fib.rules[i], &p))
                    .collect()
            };
            fib.generic_walk = Some([
                walk(IpNet::V4(Default::default())),
                walk(IpNet::V6(Default::default())),
            ]);
        }
        fib
    }

    fn generic_tables(&self) -> Option<Vec<TableId>> {
        if self.rules.iter().any(|r| r.dst.is_some()) {
            return None;
        }
        let v4: IpNet = IpNet::V4(Default::default());
        let v6: IpNet = IpNet::V6(Default::default());
        let mut ts: Vec<TableId> = [v4, v6].iter().flat_map(|p| self.rule_tables(p)).collect();
        ts.sort_unstable();
        ts.dedup();
        Some(ts)
    }

    fn rule_tables(&self, p: &IpNet) -> Vec<TableId> {
        self.rules
            .iter()
            .filter(|r| self.applies(r, p))
            .filter_map(|r| match r.action {
                RuleAction::Table(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn table(&self, id: TableId) -> Option<&Table<'a>> {
        self.tables.iter().find(|(t, _)| *t == id).map(|(_, t)| t)
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
        let all: Vec<usize>;
        let walk: &[usize] = match &self.generic_walk {
            Some(w) => &w[fam(p)],
            None => {
                all = (0..self.rules.len())
                    .filter(|&i| self.applies(&self.rules[i], p))
                    .collect();
                &all
            }
        };
        for rule in walk.iter().map(|&i| &self.rules[i]) {
            if rule.priority < min_prio {
                continue;
            }
            match rule.action {
                RuleAction::Table(t) => {
                    let found = self
                        .table(t)
                        .and_then(|tb| tb.lpm(p, rule.suppress_prefixlen));
                    match found {
                        Some(r) if r.route_type != RouteType::Throw => return Lookup::Route(r),
                        _ => continue,
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
    /// walk for `p` can consult, by table then prefix.
    pub(crate) fn inside(&self, p: &IpNet) -> Vec<&'a Route> {
        let mut out = Vec::new();
        let owned;
        let tables = match &self.generic_tables {
            Some(ts) => ts.as_slice(),
            None => {
                let mut ts = self.rule_tables(p);
                ts.sort_unstable();
                ts.dedup();
                owned = ts;
                owned.as_slice()
            }
        };
        for &t in tables {
            if let Some(table) = self.table(t) {
                table.inside(p, &mut out);
            }
        }
        out
    }

    /// Whether some route with exactly this destination (any table) passes `f`.
    pub(crate) fn any_exact(&self, p: &IpNet, f: impl Fn(&Route) -> bool) -> bool {
        let k = key(&p.trunc());
        self.tables
            .iter()
            .any(|(_, t)| t.exact(k).iter().any(|e| f(e.1)))
    }

    /// Every route with exactly this destination, in any table.
    pub(crate) fn exact(&self, p: &IpNet) -> Vec<&'a Route> {
        let k = key(&p.trunc());
        self.tables
            .iter()
            .flat_map(|(_, t)| t.exact(k).iter().map(|e| e.1))
            .collect()
    }
}

/// The paths of a route as (gateway, device), without allocating (the
/// model's `Route::paths` clones; this runs once per route per node).
pub(crate) fn paths(r: &Route) -> impl Iterator<Item = (Option<IpAddr>, Option<&str>)> {
    let single = r
        .nexthops
        .is_empty()
        .then_some((r.gateway, r.dev.as_deref()));
    single
        .into_iter()
        .chain(r.nexthops.iter().map(|n| (n.gateway, n.dev.as_deref())))
}

/// FxHash-style hasher with a final mix: maps keyed by addresses and names built per
/// snapshot, where SipHash's DoS resistance buys nothing and costs 3x.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The multiply only carries low input bits upward, and hashbrown picks
    /// buckets by the low bits (10.244.x.y differ only in high bytes), so
    /// fold the high half down (fmix64's last steps) or every key collides.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A HashMap with [`FxHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
