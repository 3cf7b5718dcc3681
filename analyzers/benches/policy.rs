//! NetworkPolicy intent on the benchmark cluster of `cnictl_gen::policy_bench`
//! (1,000 pods in 20 namespaces, 100 policies: default deny, DNS egress,
//! named ports, namespaceSelectors, an endPort range): compiling the
//! policies (`PolicyIndex::new`), one pair with the rules that decided
//! (`pair`, what explain asks), and the 1M-pair matrix (`matrix`, then
//! reading every cell with `allowed`, as `cnictl matrix` does); budget for
//! the matrix ≤ 10 s whole-process on 2 cores (bench/matrix.sh measures
//! that).

use std::hint::black_box;
use std::time::Duration;

use cnictl_analyzers::policy::{Endpoint, PolicyIndex, Probe};
use cnictl_gen::policy_bench::{policy_cluster, PolicySpec};
use criterion::{criterion_group, criterion_main, Criterion};

const SPEC: PolicySpec = PolicySpec {
    pods: 1000,
    namespaces: 20,
};

/// Every cell of the matrix, read one by one: the allowed count.
fn all_cells(index: &PolicyIndex, probe: &Probe) -> usize {
    let m = index.matrix(probe);
    let n = index.pods().len();
    let cells = (0..n).flat_map(|s| (0..n).map(move |d| (s, d)));
    cells.filter(|&(s, d)| m.allowed(s, d)).count()
}

fn bench(c: &mut Criterion) {
    let k8s = policy_cluster(&SPEC);
    let index = PolicyIndex::new(&k8s).expect("policies");
    let http = Probe::new("TCP", 8080);
    let last = index.pods().len() - 1;
    // A web pod of ns-00 to an api pod of ns-00: allowed on the named port.
    let web = index.pod_index("ns-00", "app-0-0").expect("web pod");
    let api = index.pod_index("ns-00", "app-4-80").expect("api pod");
    assert!(index
        .pair(Endpoint::Pod(web), Endpoint::Pod(api), &http)
        .allowed());
    assert!(!index
        .pair(Endpoint::Pod(0), Endpoint::Pod(last), &http)
        .allowed());
    let mut g = c.benchmark_group("policy_1000_pods_100_policies");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("PolicyIndex::new", |b| {
        b.iter(|| PolicyIndex::new(black_box(&k8s)).map(|i| i.policy_count()))
    });
    g.bench_function("pair (allowed, named port)", |b| {
        b.iter(|| index.pair(Endpoint::Pod(web), Endpoint::Pod(black_box(api)), &http))
    });
    g.bench_function("pair (denied)", |b| {
        b.iter(|| index.pair(Endpoint::Pod(0), Endpoint::Pod(black_box(last)), &http))
    });
    g.bench_function("matrix (TCP 8080)", |b| {
        b.iter(|| index.matrix(black_box(&http)))
    });
    g.bench_function("matrix + allowed for all 1M cells", |b| {
        b.iter(|| all_cells(&index, black_box(&http)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
