//! Indexes built once at compile time so one packet does not scan what
//! cannot match it: a kube-proxy node's KUBE-SERVICES chain holds one
//! `-d VIP/32 …` rule per Service port (10,000 on a 10,000-Service node),
//! and its nftables `service-ips` verdict map one element per Service port.
//!
//! Both keep exact first-match semantics: an index only tells the walk
//! which rules (or elements) it may skip because they cannot match the
//! packet; the rules and elements it may not skip are still evaluated in
//! their order.

use std::net::IpAddr;

use cnictl_model::netfilter::{Chain, Element, Expr, Match, Rule, Set, Value};
use ipnet::IpNet;
use rustc_hash::FxHashMap;

/// Chains shorter than this are walked rule by rule: indexing them would
/// cost more than the rules it skips.
const MIN_INDEXED_RULES: usize = 32;
/// Sets smaller than this are scanned.
const MIN_INDEXED_ELEMENTS: usize = 16;

/// A long chain's rules by the one destination address they require.
///
/// A rule whose first expression is `-d A/32` (`ip daddr A`, any number of
/// host addresses) cannot match a packet to another address, and a failed
/// first match evaluates nothing else of the rule (no fork, no statement,
/// nothing unknown): skipping it is what the kernel's walk amounts to.
#[derive(Debug, Clone, Default)]
pub(super) struct DstIndex {
    /// Host destination → positions of the rules that require it, ascending.
    by_dst: FxHashMap<IpAddr, Vec<u32>>,
    /// Positions of every other rule, ascending.
    others: Vec<u32>,
}

impl DstIndex {
    /// `None` for chains too short to gain from an index.
    pub(super) fn build(chain: &Chain) -> Option<Self> {
        if chain.rules.len() < MIN_INDEXED_RULES {
            return None;
        }
        let mut index = DstIndex::default();
        for (i, rule) in chain.rules.iter().enumerate() {
            index.add(i as u32, rule);
        }
        Some(index)
    }

    fn add(&mut self, at: u32, rule: &Rule) {
        match required_hosts(rule) {
            Some(hosts) => {
                for host in hosts {
                    self.by_dst.entry(host).or_default().push(at);
                }
            }
            None => self.others.push(at),
        }
    }

    /// The first rule at or after `from` a packet to `dst` may match
    /// (`len` of the chain, or beyond, when none).
    pub(super) fn next(&self, from: usize, dst: IpAddr) -> usize {
        let mine = self.by_dst.get(&dst).map_or(&[][..], Vec::as_slice);
        first_at_or_after(&self.others, from).min(first_at_or_after(mine, from))
    }
}

fn first_at_or_after(positions: &[u32], from: usize) -> usize {
    let i = positions.partition_point(|&p| (p as usize) < from);
    positions.get(i).map_or(usize::MAX, |&p| p as usize)
}

/// The host addresses a rule's first expression requires as destination.
fn required_hosts(rule: &Rule) -> Option<Vec<IpAddr>> {
    let Some(Expr::Match(Match::Addr {
        dir: cnictl_model::netfilter::Dir::Dst,
        nets,
        neg: false,
    })) = rule.exprs.first()
    else {
        return None;
    };
    nets.iter().map(host).collect()
}

fn host(net: &IpNet) -> Option<IpAddr> {
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

/// One dimension of a set key that an element matches only by equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ExactKey {
    Addr(IpAddr),
    Num(u64),
    /// An interface name with no wildcard (`*` printed as `+` already).
    Name(String),
}

/// A large set's or map's elements by their exact key: a hash lookup
/// instead of a scan, for `ip daddr . meta l4proto . th dport vmap
/// @service-ips` and its 10,000 elements.
#[derive(Debug, Clone, Default)]
pub(super) struct SetIndex {
    /// Exact key → the first element with that key.
    exact: FxHashMap<Vec<ExactKey>, u32>,
    /// Elements with a range, a prefix or a wildcard, in their order.
    rest: Vec<u32>,
}

impl SetIndex {
    /// `None` for sets small enough to scan.
    pub(super) fn build(set: &Set) -> Option<Self> {
        if set.elements.len() < MIN_INDEXED_ELEMENTS {
            return None;
        }
        let mut index = SetIndex::default();
        for (i, el) in set.elements.iter().enumerate() {
            match exact_key(el) {
                Some(key) => {
                    index.exact.entry(key).or_insert(i as u32);
                }
                None => index.rest.push(i as u32),
            }
        }
        Some(index)
    }

    /// The first element (in set order) that holds the packet's key:
    /// the exact hit, unless a range element before it holds the key too.
    /// `key`: the packet's fields, exact; `holds`: the element test.
    pub(super) fn find(
        &self,
        key: Option<&[ExactKey]>,
        holds: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let hit = key
            .and_then(|k| self.exact.get(k))
            .map_or(usize::MAX, |&i| i as usize);
        let ranged = self
            .rest
            .iter()
            .map(|&i| i as usize)
            .take_while(|&i| i < hit)
            .find(|&i| holds(i));
        ranged.or((hit != usize::MAX).then_some(hit))
    }
}

/// An element's key when every dimension is a single value.
fn exact_key(el: &Element) -> Option<Vec<ExactKey>> {
    el.key.iter().map(exact_value).collect()
}

fn exact_value(v: &Value) -> Option<ExactKey> {
    match v {
        Value::Net(n) => host(n).map(ExactKey::Addr),
        Value::AddrRange(lo, hi) if lo == hi => Some(ExactKey::Addr(*lo)),
        Value::Num(lo, hi) if lo == hi => Some(ExactKey::Num(*lo)),
        Value::Str(s) => {
            let name = s.replace('*', "+");
            (!name.ends_with('+')).then_some(ExactKey::Name(name))
        }
        _ => None,
    }
}
