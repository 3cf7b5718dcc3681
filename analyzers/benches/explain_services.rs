//! One `explain` from a pod through a Service of a 10,000-Service cluster
//! (5 endpoints each, every 10th a NodePort, every 20th eTP Local) whose
//! nodes carry kube-proxy's rules as `cnictl gen --kube-proxy MODE` writes
//! them, in iptables and in nftables mode: the pod is on node-1, the
//! Services are the first, a middle and the last one (the longest walk
//! without the netfilter indexes). Budget: ≤ 1 ms per explain after load.
//!
//! `cargo bench -p cnictl-analyzers --bench explain_services` (loads take
//! a few seconds each, so the group runs 2 s per case). Not run by test.sh.

use std::hint::black_box;
use std::time::Duration;

use cnictl_analyzers::explain::{explain, ExplainRequest};
use cnictl_analyzers::hints;
use cnictl_gen::{generate_with, GenModel, GenSpec, KubeProxyMode, ServiceSpec};
use criterion::{criterion_group, criterion_main, Criterion};

const SERVICES: usize = 10_000;

fn bench(c: &mut Criterion) {
    let spec = GenSpec {
        model: GenModel::FlannelVxlan,
        nodes: 3,
        pods_per_node: 110,
        services: SERVICES,
    };
    let mut g = c.benchmark_group("explain_10k_services");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    for mode in [KubeProxyMode::Iptables, KubeProxyMode::Nftables] {
        let svc = ServiceSpec {
            kube_proxy: mode,
            endpoints_per_service: Some(5),
            node_ports: true,
        };
        let snap = generate_with(&spec, &svc).expect("generate");
        let dp = hints::dataplane(&snap);
        for s in [1, SERVICES / 2 + 1, SERVICES] {
            let req = ExplainRequest::new("default/web-1-1", format!("svc/default/svc-{s}"));
            let report = explain(&snap, &dp, &req).expect("explain");
            assert_eq!(report.backends.len(), 5, "{mode} svc-{s}: {report:?}");
            g.bench_function(format!("{mode}: pod to svc-{s}"), |b| {
                b.iter(|| explain(&snap, &dp, black_box(&req)).expect("explain"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
