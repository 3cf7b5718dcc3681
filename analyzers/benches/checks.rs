//! Benchmarks of the checks on generated Calico BGP clusters (cnictl-gen,
//! 110 pods per node): `run` on 100/500/1,000 nodes (~1M kernel routes at
//! 1,000) and `run_node` for one node of a 5,000-node cluster, which is
//! what a node agent does. Inputs are built once, outside the timed loop.
//!
//! A whole 5,000-node snapshot would hold 25M routes (~10 GB), more than
//! this 2-core machine should spend on one bench, and an agent never has
//! it: it has the Kubernetes objects and its own node. So that input is
//! the agent's view: a generated 251-node cluster (the smallest the
//! generator lays out on its large address plan) widened to 5,000 nodes
//! with the generator's own [`Plan`] (names, IPs, blocks of every node).
//!
//! The netfilter checks: `run_node` for node 1 of a 100-node flannel-vxlan
//! cluster whose node carries kube-proxy's iptables-mode ruleset for 10,000
//! Services (`cnictl_gen::kube_proxy`, 50,000 endpoints): every pod flow
//! probe walks nat PREROUTING through KUBE-SERVICES.

use cnictl_analyzers::checks;
use cnictl_analyzers::expected::Expected;
use cnictl_gen::{generate, GenModel, GenSpec, Plan};
use std::net::IpAddr;

use cnictl_model::netfilter::{Netfilter, Source};
use cnictl_model::ClusterSnapshot;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipnet::IpNet;

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

/// Node 1 of an `n`-node cluster as its agent sees it: all Kubernetes
/// objects, and node 1's tables with a route and a BIRD route per peer block.
fn agent_view(n: usize) -> ClusterSnapshot {
    const TEMPLATE_NODES: usize = 251;
    let mut snap = generate(&spec(TEMPLATE_NODES)).expect("generate");
    let plan = Plan::new(&spec(n)).expect("plan");
    let me = plan.node_name(0);
    snap.nodes.retain(|name, _| *name == me);
    let peer_ip = IpAddr::V4(plan.node_ip(1));
    let tpl_node = snap.k8s.node("node-2").cloned().expect("node-2");
    assert_eq!(
        tpl_node.internal_ips,
        vec![peer_ip],
        "template and plan disagree"
    );
    let tpl_pods: Vec<_> = snap
        .k8s
        .pods
        .iter()
        .filter(|p| p.node.as_deref() == Some("node-2"))
        .cloned()
        .collect();
    let node = snap.nodes.get_mut(&me).expect("node-1");
    let tpl_route = node
        .routes
        .iter()
        .find(|r| r.gateway == Some(peer_ip))
        .cloned()
        .expect("peer route");
    let bgp = node.bgp.as_mut().expect("bird");
    let bird = bgp.routes.as_mut().expect("bird routes");
    let tpl_bird = bird
        .iter()
        .find(|r| r.via == Some(peer_ip))
        .cloned()
        .expect("bird route");
    for i in TEMPLATE_NODES..n {
        let ip = IpAddr::V4(plan.node_ip(i));
        for block in plan.node_blocks(i) {
            let mut r = tpl_route.clone();
            r.dst = IpNet::V4(block);
            r.gateway = Some(ip);
            node.routes.push(r);
            let mut b = tpl_bird.clone();
            b.prefix = IpNet::V4(block);
            b.via = Some(ip);
            b.bgp_next_hop = Some(ip);
            bird.push(b);
        }
        let mut k = tpl_node.clone();
        k.name = plan.node_name(i);
        k.internal_ips = vec![ip];
        if !k.pod_cidrs.is_empty() {
            k.pod_cidrs = vec![IpNet::V4(plan.node_cidr(i))];
        }
        snap.k8s.nodes.push(k);
        for (slot, p) in tpl_pods.iter().enumerate() {
            let mut p = p.clone();
            p.name = plan.pod_name(i, slot);
            p.node = Some(plan.node_name(i));
            p.ips = vec![IpAddr::V4(plan.pod_ip(i, slot))];
            snap.k8s.pods.push(p);
        }
    }
    snap
}

fn bench_run_node(c: &mut Criterion) {
    let snap = agent_view(5000);
    let exp = Expected::build(&snap);
    let node = snap.nodes.values().next().expect("a node");
    let mut g = c.benchmark_group("checks_calico_bgp_5000_nodes");
    g.sample_size(20);
    g.bench_function("run_node", |b| b.iter(|| checks::run_node(&exp, node)));
    g.bench_function("expected_build", |b| b.iter(|| Expected::build(&snap)));
    g.finish();
}

/// Node 1 of a 100-node flannel-vxlan cluster with kube-proxy's rules for
/// 10,000 Services as its iptables-save.txt.
fn kube_proxy_node() -> ClusterSnapshot {
    let mut snap = generate(&GenSpec {
        model: GenModel::FlannelVxlan,
        nodes: 100,
        pods_per_node: 2,
        services: 0,
    })
    .expect("generate");
    let k8s = cnictl_gen::kube_proxy::bench_cluster(10_000, 5);
    let text = cnictl_gen::kube_proxy::iptables_save(&k8s, "10.244.0.0/16".parse().expect("cidr"));
    let tables = cnictl_formats::iptables::parse_iptables_save(&text, Source::IptablesSave)
        .expect("generated rules parse");
    let node = snap.nodes.get_mut("node-1").expect("node-1");
    node.netfilter = Some(Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::IptablesSave],
        tool_versions: None,
        nft_json: None,
    });
    snap
}

fn bench_netfilter(c: &mut Criterion) {
    let snap = kube_proxy_node();
    let exp = Expected::build(&snap);
    let node = &snap.nodes["node-1"];
    let mut g = c.benchmark_group("checks_netfilter_10k_services_100_nodes");
    g.sample_size(10);
    g.bench_function("run_node", |b| b.iter(|| checks::run_node(&exp, node)));
    g.finish();
}

criterion_group!(benches, bench_run, bench_run_node, bench_netfilter);
criterion_main!(benches);
