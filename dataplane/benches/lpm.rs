//! LPM lookups per second over a 100k-route IPv4 table: the frozen interval
//! table used by the dataplane against prefix-trie's `PrefixMap` on the same
//! routes and the same addresses.

use std::hint::black_box;
use std::net::Ipv4Addr;

use cnictl_dataplane::lpm::Frozen;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::Ipv4Net;
use prefix_trie::PrefixMap;

const ROUTES: usize = 100_000;
const KEYS: usize = 1 << 16;

/// xorshift64: deterministic, dependency-free.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// A table shaped like a big node's: mostly /26 blocks and /32 pod routes
/// inside 10.0.0.0/8, some /16–/24 aggregates elsewhere, and a default.
fn routes() -> Vec<(u32, u8)> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = vec![(0u32, 0u8)];
    while out.len() < ROUTES {
        let r = next(&mut s);
        let len = match r % 10 {
            0..=4 => 26,
            5..=7 => 32,
            8 => 24,
            _ => 16 + (r >> 8) as u8 % 8,
        };
        let base = if len >= 26 {
            0x0a00_0000 | ((r >> 16) as u32 & 0x00ff_ffff)
        } else {
            (r >> 16) as u32
        };
        let mask = u32::MAX << (32 - len);
        out.push((base & mask, len));
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn keys(table: &[(u32, u8)]) -> Vec<u32> {
    let mut s = 42u64;
    (0..KEYS)
        .map(|i| {
            let r = next(&mut s);
            if i % 2 == 0 {
                // Hit a route: a random address inside a random prefix.
                let (n, l) = table[(r as usize) % table.len()];
                n | ((r >> 32) as u32 & u32::MAX.checked_shr(u32::from(l)).unwrap_or(0))
            } else {
                r as u32
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let table = routes();
    let keys = keys(&table);
    let frozen = Frozen::build(
        table
            .iter()
            .enumerate()
            .map(|(i, (n, l))| (*n, *l, i as u32))
            .collect(),
    );
    let mut trie: PrefixMap<Ipv4Net, u32> = PrefixMap::new();
    for (i, (n, l)) in table.iter().enumerate() {
        trie.insert(Ipv4Net::new_assert(Ipv4Addr::from(*n), *l), i as u32);
    }
    for k in &keys {
        let want = trie
            .get_lpm(&Ipv4Net::new_assert(Ipv4Addr::from(*k), 32))
            .map_or(u32::MAX, |(_, v)| *v);
        assert_eq!(frozen.lookup(*k), want, "frozen and trie agree on {k:#x}");
    }
    let mut g = c.benchmark_group("lpm_100k_routes");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("frozen", |b| {
        b.iter(|| {
            keys.iter()
                .fold(0u32, |acc, k| acc ^ frozen.lookup(black_box(*k)))
        })
    });
    g.bench_function("prefix_trie", |b| {
        b.iter(|| {
            keys.iter().fold(0u32, |acc, k| {
                let p = Ipv4Net::new_assert(Ipv4Addr::from(black_box(*k)), 32);
                acc ^ trie.get_lpm(&p).map_or(0, |(_, v)| *v)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
