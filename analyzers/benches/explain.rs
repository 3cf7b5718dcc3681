//! One `explain` (resolve, trace, render hops, classify) on a generated
//! 1,000-node Calico-BGP cluster after compiling its dataplane; budget ≤ 1 ms.

use std::hint::black_box;

use cnictl_analyzers::explain::{explain, render_text, ExplainRequest};
use cnictl_analyzers::hints;
use cnictl_gen::{generate, GenModel, GenSpec};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let spec = GenSpec {
        model: GenModel::CalicoBgp,
        nodes: 1000,
        pods_per_node: 110,
        services: 0,
    };
    let snap = generate(&spec).expect("generate");
    let dp = hints::dataplane(&snap);
    let pods = &snap.k8s.pods;
    let (a, b) = (
        pods.first().expect("pods").key(),
        pods.last().expect("pods").key(),
    );
    let req = ExplainRequest::new(a.clone(), b);
    let by_name = ExplainRequest::new(
        a.rsplit('/').next().unwrap_or(&a).to_string(),
        pods[pods.len() / 2].key(),
    );
    let mut g = c.benchmark_group("explain_calico_bgp_1000_nodes");
    g.bench_function("explain_pod_to_pod", |bch| {
        bch.iter(|| explain(&snap, &dp, black_box(&req)).expect("explain"))
    });
    g.bench_function("explain_by_bare_name", |bch| {
        bch.iter(|| explain(&snap, &dp, black_box(&by_name)).expect("explain"))
    });
    g.bench_function("explain_and_render_text", |bch| {
        bch.iter(|| render_text(&explain(&snap, &dp, black_box(&req)).expect("explain")).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
