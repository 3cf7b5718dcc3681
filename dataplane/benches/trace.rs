//! Trace costs on a generated 1,000-node Calico-BGP cluster (110 pods per
//! node, ~1M routes): `Dataplane::with_hints`, one pod-to-pod trace (with and
//! without rendering), `reachable` (no hop recording), and the all-pairs
//! node-to-node reachability matrix (1M traces, rayon).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use cnictl_dataplane::{Dataplane, Disposition, Hints, Ingress, Packet, PodAttachment, PodId};
use cnictl_gen::{generate, GenModel, GenSpec};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let spec = GenSpec {
        model: GenModel::CalicoBgp,
        nodes: 1000,
        pods_per_node: 110,
        services: 0,
    };
    let snap = generate(&spec).expect("generate");
    // Calico's pod attachment (the generator collects no pod netns).
    let hints = Hints::everywhere(PodAttachment::Routed {
        gateway_v4: Some(Ipv4Addr::new(169, 254, 1, 1)),
        gateway_v6: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        proxy_arp: true,
    });
    let dp = Dataplane::with_hints(&snap, &hints);
    let first = dp.pods_by_node();
    let (a, b) = (first[0], first[999]);
    let pkt = Packet::new(dp.pod_ips(a)[0], dp.pod_ips(b)[0]);
    let t = dp.trace(&pkt, Ingress::Pod(a));
    assert_eq!(t.disposition, Disposition::Delivered);

    let mut g = c.benchmark_group("calico_bgp_1000_nodes");
    g.bench_function("trace_pod_to_pod", |bch| {
        bch.iter(|| dp.trace(black_box(&pkt), Ingress::Pod(a)))
    });
    g.bench_function("trace_and_render", |bch| {
        bch.iter(|| {
            let t = dp.trace(black_box(&pkt), Ingress::Pod(a));
            t.hops
                .iter()
                .map(|h| dp.render_hop(h).entry.len())
                .sum::<usize>()
        })
    });
    g.bench_function("reachable_pod_to_pod", |bch| {
        bch.iter(|| dp.reachable(black_box(&pkt), Ingress::Pod(a)))
    });
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("dataplane_new", |bch| {
        bch.iter(|| Dataplane::with_hints(black_box(&snap), &hints).node_count())
    });
    g.throughput(Throughput::Elements((first.len() * first.len()) as u64));
    g.bench_function("all_pairs_node_matrix", |bch| {
        bch.iter(|| {
            let m = dp.reachability_matrix(&first);
            assert!(m.iter().all(|d| *d == Disposition::Delivered));
            m.len()
        })
    });
    g.finish();
    let _: &[PodId] = &first;
}

criterion_group!(benches, bench);
criterion_main!(benches);
