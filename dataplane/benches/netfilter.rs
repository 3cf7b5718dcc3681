//! Netfilter on one node of a 10,000-Service cluster (5 endpoints each),
//! as kube-proxy v1.31 programs it in iptables mode (10,000 KUBE-SVC and
//! 50,000 KUBE-SEP chains, `cnictl_gen::kube_proxy`) and in nftables mode
//! (the `service-ips` verdict map, 10,000 `service-` and 50,000
//! `endpoint-` chains, `cnictl_gen::kube_proxy_nft`): parse + compile,
//! then one packet through the nat hooks to the last Service (the longest
//! walk without the indexes) and to a pod that is no Service.
//!
//! `cargo bench -p cnictl-dataplane --bench netfilter` (short runs: 10
//! samples for the loads, 2 s per packet case). Not run by test.sh.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use cnictl_dataplane::nf::{NfPacket, NodeView, Ruleset};
use cnictl_formats::iptables::parse_iptables_save;
use cnictl_formats::nft::parse_nft_ruleset;
use cnictl_gen::kube_proxy::{bench_cluster, offset_ip};
use cnictl_model::netfilter::{AddrType, Hook, Netfilter, Source, Table};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

const SERVICES: usize = 10_000;
const ENDPOINTS: usize = 5;
const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

fn service_ip(s: usize) -> IpAddr {
    offset_ip([10, 96, 0, 10], s)
}

fn pod_ip(i: usize) -> IpAddr {
    offset_ip([10, 128, 0, 2], i)
}

struct Node;

impl NodeView for Node {
    fn addr_type(&self, addr: IpAddr, _dev: Option<&str>) -> AddrType {
        if addr == IpAddr::V4(NODE_IP) {
            AddrType::Local
        } else {
            AddrType::Unicast
        }
    }
    fn primary_addr(&self, _dev: &str, _dst: IpAddr) -> Option<IpAddr> {
        Some(IpAddr::V4(NODE_IP))
    }
}

fn netfilter(tables: Vec<Table>, source: Source) -> Netfilter {
    Netfilter {
        tables,
        ipsets: None,
        sources: vec![source],
        tool_versions: None,
        nft_json: None,
    }
}

fn iptables(text: &str) -> Netfilter {
    let tables = parse_iptables_save(text, Source::IptablesSave).expect("generated rules parse");
    netfilter(tables, Source::IptablesSave)
}

fn nft(text: &str) -> Netfilter {
    let tables = parse_nft_ruleset(text).expect("generated JSON parses");
    netfilter(tables, Source::NftRuleset)
}

/// One packet per case, recording or not (`--verbose`).
fn packets(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, mode: &str, rs: &Ruleset) {
    let mut to_last = NfPacket::new(pod_ip(0), service_ip(SERVICES - 1), 6, 40000, 80);
    to_last.iif = Some("cni0".into());
    let from_node = NfPacket::new(IpAddr::V4(NODE_IP), service_ip(SERVICES - 1), 6, 40000, 80);
    let mut to_pod = to_last.clone();
    to_pod.dst = pod_ip(7);
    to_pod.dport = 8080;
    for (what, hook, p) in [
        (
            "nat PREROUTING to the last Service",
            Hook::Prerouting,
            &to_last,
        ),
        ("nat OUTPUT to the last Service", Hook::Output, &from_node),
        (
            "nat PREROUTING to a pod (no Service)",
            Hook::Prerouting,
            &to_pod,
        ),
    ] {
        g.bench_function(format!("{mode}: {what}"), |b| {
            b.iter(|| rs.eval_hook(hook, p, &Node, false))
        });
    }
    g.bench_function(
        format!("{mode}: nat PREROUTING to the last Service, recording"),
        |b| b.iter(|| rs.eval_hook(Hook::Prerouting, &to_last, &Node, true)),
    );
}

fn bench(c: &mut Criterion) {
    let k8s = bench_cluster(SERVICES, ENDPOINTS);
    let cidr = "10.128.0.0/9".parse().unwrap();
    let ipt = cnictl_gen::kube_proxy::iptables_save(&k8s, cidr);
    let json = cnictl_gen::kube_proxy_nft::nft_json(&k8s, cidr, IpAddr::V4(NODE_IP));
    drop(k8s);
    let mut g = c.benchmark_group("netfilter-10k-services");
    g.sample_size(10);
    g.bench_function("iptables: parse + compile_owned", |b| {
        b.iter(|| Ruleset::compile_owned(iptables(&ipt)))
    });
    g.bench_function("iptables: parse + compile (copying the model)", |b| {
        b.iter(|| Ruleset::compile(&iptables(&ipt)))
    });
    g.bench_function("nft: parse + compile_owned", |b| {
        b.iter(|| Ruleset::compile_owned(nft(&json)))
    });
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    let rs = Ruleset::compile_owned(iptables(&ipt));
    packets(&mut g, "iptables", &rs);
    drop(rs);
    let rs = Ruleset::compile_owned(nft(&json));
    packets(&mut g, "nft", &rs);
    let mut fwd = NfPacket::new(pod_ip(0), pod_ip(7), 6, 40000, 8080);
    fwd.iif = Some("cni0".into());
    fwd.oif = Some("eth0".into());
    g.bench_function("nft: filter FORWARD, pod to pod", |b| {
        b.iter(|| rs.eval_hook(Hook::Forward, &fwd, &Node, false))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
