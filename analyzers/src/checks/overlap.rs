//! Overlap detection over many prefixes in O(n log n + pairs).
//!
//! Two prefixes either are disjoint or one contains the other (prefixes are
//! laminar), so after sorting by (family, network address, prefix length)
//! a stack of the enclosing prefixes holds, for each prefix, exactly the
//! earlier prefixes that contain it. No pairwise comparison is needed.

use ipnet::IpNet;

use super::fib::span;

/// Every pair of overlapping prefixes, as index pairs `(i, j)` into `nets`
/// with `i < j`, sorted. Equal prefixes overlap.
pub fn overlapping_pairs(nets: &[IpNet]) -> Vec<(usize, usize)> {
    let mut order: Vec<(u8, u128, u8, u128, usize)> = nets
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (f, lo, hi) = span(n);
            (f, lo, n.prefix_len(), hi, i)
        })
        .collect();
    order.sort_unstable();
    let mut stack: Vec<(u8, u128, u128, usize)> = Vec::new();
    let mut pairs = Vec::new();
    for (f, lo, _, hi, i) in order {
        while stack
            .last()
            .is_some_and(|&(sf, _, shi, _)| sf != f || shi < lo)
        {
            stack.pop();
        }
        for &(_, _, _, j) in &stack {
            pairs.push((i.min(j), i.max(j)));
        }
        stack.push((f, lo, hi, i));
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn nested_equal_and_disjoint() {
        let n = nets(&[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.0.0/16",
            "11.0.0.0/8",
            "10.1.2.0/24",
        ]);
        assert_eq!(
            overlapping_pairs(&n),
            vec![(0, 1), (0, 2), (0, 4), (1, 2), (1, 4), (2, 4)]
        );
    }

    #[test]
    fn families_never_overlap() {
        let n = nets(&["0.0.0.0/0", "::/0"]);
        assert!(overlapping_pairs(&n).is_empty());
    }
}
