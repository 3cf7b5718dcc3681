//! A frozen longest-prefix-match table: prefixes flattened into disjoint
//! address intervals, found by a bucket index plus a short binary search.
//!
//! Why hand-rolled rather than a trie crate: a snapshot's tables never change
//! after `Dataplane::new`, so we can pay once at build time for a layout that
//! is two or three cache lines per lookup. Tries (prefix-trie, iptrie) walk one
//! node per prefix level; the benchmark `lpm` in `benches/` measures both on
//! the same 100k-route table. Memory is ~8 bytes per interval plus a bucket
//! index sized to the table (4 bytes × next power of two ≥ intervals, capped
//! at 2^16), so a 1,000-route node table costs a few KiB.

use std::net::IpAddr;

use ipnet::IpNet;

/// Value stored for addresses no prefix covers.
pub const NONE: u32 = u32::MAX;

/// An address as an unsigned integer key (u32 for IPv4, u128 for IPv6).
pub trait Key: Copy + Ord {
    const BITS: u32;
    const MIN: Self;
    const MAX: Self;
    /// The last address of the prefix starting at `self` with `len` bits.
    fn last(self, len: u8) -> Self;
    /// `self + 1`; only called when `self < MAX`.
    fn succ(self) -> Self;
    /// The bucket of this key: its top bits, given `shift = BITS - bits`.
    fn bucket(self, shift: u32) -> usize;
    /// The first key of bucket `b`.
    fn bucket_start(b: usize, shift: u32) -> Self;
}

impl Key for u32 {
    const BITS: u32 = 32;
    const MIN: Self = 0;
    const MAX: Self = u32::MAX;
    fn last(self, len: u8) -> Self {
        if len == 0 {
            u32::MAX
        } else {
            self | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0)
        }
    }
    fn succ(self) -> Self {
        self + 1
    }
    fn bucket(self, shift: u32) -> usize {
        self.checked_shr(shift).unwrap_or(0) as usize
    }
    fn bucket_start(b: usize, shift: u32) -> Self {
        (b as u32).checked_shl(shift).unwrap_or(0)
    }
}

impl Key for u128 {
    const BITS: u32 = 128;
    const MIN: Self = 0;
    const MAX: Self = u128::MAX;
    fn last(self, len: u8) -> Self {
        if len == 0 {
            u128::MAX
        } else {
            self | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)
        }
    }
    fn succ(self) -> Self {
        self + 1
    }
    fn bucket(self, shift: u32) -> usize {
        self.checked_shr(shift).unwrap_or(0) as usize
    }
    fn bucket_start(b: usize, shift: u32) -> Self {
        (b as u128).checked_shl(shift).unwrap_or(0)
    }
}

/// A frozen LPM table for one address family.
#[derive(Debug, Clone)]
pub struct Frozen<K: Key> {
    /// Interval start addresses, ascending; `starts[0] == K::MIN`.
    starts: Vec<K>,
    /// The value (or `NONE`) of each interval.
    vals: Vec<u32>,
    /// `index[b]` = the interval holding the first address of bucket `b`;
    /// one extra entry at the end.
    index: Vec<u32>,
    shift: u32,
}

impl<K: Key> Frozen<K> {
    /// Builds from `(network, prefix length, value)`. Host bits of the network
    /// must be clear; when a prefix occurs twice the later entry wins, so the
    /// caller dedups first (the dataplane keeps the best route per prefix).
    pub fn build(mut prefixes: Vec<(K, u8, u32)>) -> Self {
        prefixes.sort_by_key(|p| (p.0, p.1));
        let mut out: Vec<(K, u32)> = vec![(K::MIN, NONE)];
        let mut stack: Vec<(K, u32)> = Vec::new();
        for (start, len, val) in prefixes {
            pop_before(&mut stack, &mut out, Some(start));
            emit(&mut out, start, val);
            stack.push((start.last(len), val));
        }
        pop_before(&mut stack, &mut out, None);
        let (starts, vals): (Vec<K>, Vec<u32>) = out.into_iter().unzip();
        let bits = bucket_bits(starts.len());
        let shift = K::BITS - bits;
        let index = (0..=(1usize << bits))
            .map(|b| {
                if b == 1usize << bits {
                    return (starts.len() - 1) as u32;
                }
                let first = K::bucket_start(b, shift);
                (starts.partition_point(|s| *s <= first) - 1) as u32
            })
            .collect();
        Frozen {
            starts,
            vals,
            index,
            shift,
        }
    }

    /// The value of the longest prefix containing `key`, or `NONE`.
    #[inline]
    pub fn lookup(&self, key: K) -> u32 {
        let b = key.bucket(self.shift);
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        let window = &self.starts[lo..=hi];
        let pos = lo + window.partition_point(|s| *s <= key) - 1;
        self.vals[pos]
    }

    /// Number of intervals (for sizing reports and tests).
    pub fn intervals(&self) -> usize {
        self.starts.len()
    }
}

/// Closes every stacked prefix that ends before `next` (all of them when
/// `next` is `None`), handing the rest of its range back to its parent.
fn pop_before<K: Key>(stack: &mut Vec<(K, u32)>, out: &mut Vec<(K, u32)>, next: Option<K>) {
    while let Some(&(end, _)) = stack.last() {
        if next.is_some_and(|n| end >= n) {
            break;
        }
        stack.pop();
        if end < K::MAX {
            let parent = stack.last().map_or(NONE, |p| p.1);
            emit(out, end.succ(), parent);
        }
    }
}

fn emit<K: Key>(out: &mut Vec<(K, u32)>, start: K, val: u32) {
    match out.last_mut() {
        Some(last) if last.0 == start => last.1 = val,
        Some(last) if last.1 == val => {}
        _ => out.push((start, val)),
    }
}

/// Bucket index width: about one bucket per interval, capped at 2^16.
fn bucket_bits(intervals: usize) -> u32 {
    let want = intervals.next_power_of_two().trailing_zeros();
    want.clamp(1, 16)
}

/// Both families of one routing table.
#[derive(Debug, Clone)]
pub struct Lpm {
    v4: Frozen<u32>,
    v6: Frozen<u128>,
}

impl Lpm {
    /// Builds from `(prefix, value)` pairs; host bits are ignored.
    pub fn build(entries: impl IntoIterator<Item = (IpNet, u32)>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (net, val) in entries {
            match net.trunc() {
                IpNet::V4(n) => v4.push((u32::from(n.network()), n.prefix_len(), val)),
                IpNet::V6(n) => v6.push((u128::from(n.network()), n.prefix_len(), val)),
            }
        }
        Lpm {
            v4: Frozen::build(v4),
            v6: Frozen::build(v6),
        }
    }

    /// The value of the longest matching prefix, if any.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        let v = match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        };
        (v != NONE).then_some(v)
    }

    /// The IPv4 table, for benchmarks that want the raw `u32` path.
    pub fn v4(&self) -> &Frozen<u32> {
        &self.v4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(prefixes: &[(u32, u8, u32)], key: u32) -> u32 {
        prefixes
            .iter()
            .filter(|(s, l, _)| *s <= key && key <= s.last(*l))
            .max_by_key(|(_, l, _)| *l)
            .map_or(NONE, |p| p.2)
    }

    fn norm(raw: Vec<(u32, u8)>) -> Vec<(u32, u8, u32)> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for (i, (a, l)) in raw.into_iter().enumerate() {
            let l = l % 33;
            let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            if seen.insert((a & mask, l)) {
                out.push((a & mask, l, i as u32));
            }
        }
        out
    }

    #[test]
    fn nested_prefixes_resolve_to_the_longest() {
        let p = norm(vec![
            (0, 0),
            (0x0a00_0000, 8),
            (0x0af4_0100, 24),
            (0x0af4_0102, 32),
        ]);
        let t = Frozen::build(p.clone());
        for key in [
            0u32,
            0x0a00_0001,
            0x0af4_0101,
            0x0af4_0102,
            0x0af4_0103,
            0x0b00_0000,
            u32::MAX,
        ] {
            assert_eq!(t.lookup(key), brute(&p, key), "key {key:#x}");
        }
    }

    #[test]
    fn empty_table_matches_nothing() {
        let t: Frozen<u32> = Frozen::build(vec![]);
        assert_eq!(t.lookup(12345), NONE);
    }

    proptest! {
        #[test]
        fn agrees_with_brute_force(raw in prop::collection::vec((any::<u32>(), 0u8..33), 0..60),
                                   keys in prop::collection::vec(any::<u32>(), 1..40)) {
            let p = norm(raw);
            let t = Frozen::build(p.clone());
            for k in keys.into_iter().chain(p.iter().flat_map(|(s, l, _)| [*s, s.last(*l), s.last(*l).wrapping_add(1)])) {
                prop_assert_eq!(t.lookup(k), brute(&p, k));
            }
        }
    }
}
