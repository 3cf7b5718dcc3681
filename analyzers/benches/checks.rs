//! Benchmarks of the checks on generated Calico BGP clusters: `run` on
//! 100/500/1,000 nodes (110 pods per node, ~1M routes at 1,000) and
//! `run_node` for one node of a 5,000-node cluster (what a node agent does).
//! Inputs come from cnictl-gen, built once outside the timed loop.

use cnictl_analyzers::checks;
use cnictl_analyzers::expected::Expected;
use cnictl_gen::{generate, GenModel, GenSpec};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn spec(nodes: usize) -> GenSpec {
    GenSpec {
        model: GenModel::CalicoBgp,
        nodes,
        pods_per_node: 110,
        services: 0,
    }
}

fn bench_run(c: &mut Criterion) {
    let mut g = c.benchmark_group("checks_run_calico_bgp");
    g.sample_size(10);
    for nodes in [100, 500, 1000] {
        let snap = generate(&spec(nodes)).expect("generate");
        g.bench_with_input(BenchmarkId::from_parameter(nodes), &snap, |b, s| {
            b.iter(|| checks::run(s))
        });
    }
    g.finish();
}

fn bench_run_node(c: &mut Criterion) {
    let snap = generate(&spec(5000)).expect("generate");
    let exp = Expected::build(&snap);
    let node = snap.nodes.values().next().expect("a node");
    let mut g = c.benchmark_group("checks_run_node_calico_bgp");
    g.sample_size(20);
    g.bench_function("one_node_of_5000", |b| {
        b.iter(|| checks::run_node(&exp, node))
    });
    g.bench_function("expected_build_5000", |b| b.iter(|| Expected::build(&snap)));
    g.finish();
}

criterion_group!(benches, bench_run, bench_run_node);
criterion_main!(benches);
