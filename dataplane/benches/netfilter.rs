//! Netfilter on one node of a 10,000-Service cluster in kube-proxy iptables
//! mode (10,000 KUBE-SVC and 50,000 KUBE-SEP chains, as kube-proxy v1.31
//! writes them: `cnictl_gen::kube_proxy`): parse + compile the
//! `iptables-save` text, then one packet through the nat PREROUTING hook to
//! the last Service in KUBE-SERVICES (the longest walk) and the filter
//! FORWARD hook.
//!
//! `cargo bench -p cnictl-dataplane --bench netfilter`

use std::net::{IpAddr, Ipv4Addr};

use cnictl_dataplane::nf::{NfPacket, NodeView, Ruleset};
use cnictl_formats::iptables::parse_iptables_save;
use cnictl_gen::kube_proxy::{bench_cluster, offset_ip};
use cnictl_model::netfilter::{AddrType, Hook, Netfilter, Source};
use criterion::{criterion_group, criterion_main, Criterion};

const SERVICES: usize = 10_000;
const ENDPOINTS: usize = 5;

fn service_ip(s: usize) -> IpAddr {
    offset_ip([10, 96, 0, 10], s)
}

fn pod_ip(i: usize) -> IpAddr {
    offset_ip([10, 128, 0, 2], i)
}

struct Node;

impl NodeView for Node {
    fn addr_type(&self, addr: IpAddr, _dev: Option<&str>) -> AddrType {
        if addr == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)) {
            AddrType::Local
        } else {
            AddrType::Unicast
        }
    }
    fn primary_addr(&self, _dev: &str, _dst: IpAddr) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)))
    }
}

fn compile(text: &str) -> Ruleset {
    let tables = parse_iptables_save(text, Source::IptablesSave).expect("generated rules parse");
    Ruleset::compile(&Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::IptablesSave],
        tool_versions: None,
    })
}

fn bench(c: &mut Criterion) {
    let text = cnictl_gen::kube_proxy::iptables_save(
        &bench_cluster(SERVICES, ENDPOINTS),
        "10.128.0.0/9".parse().unwrap(),
    );
    let mut g = c.benchmark_group("netfilter-10k-services");
    g.sample_size(10);
    g.bench_function("parse+compile iptables-save", |b| b.iter(|| compile(&text)));
    let rs = compile(&text);
    let mut pkt = NfPacket::new(pod_ip(0), service_ip(SERVICES - 1), 6, 40000, 80);
    pkt.iif = Some("cni0".into());
    g.sample_size(100);
    g.bench_function(
        "explain one packet: nat PREROUTING to the last Service",
        |b| b.iter(|| rs.eval_hook(Hook::Prerouting, &pkt, &Node, false)),
    );
    g.bench_function(
        "explain one packet, recording every rule (--verbose)",
        |b| b.iter(|| rs.eval_hook(Hook::Prerouting, &pkt, &Node, true)),
    );
    let mut fwd = pkt.clone();
    fwd.dst = pod_ip(7);
    fwd.oif = Some("eth0".into());
    g.bench_function("filter FORWARD through KUBE-SERVICES", |b| {
        b.iter(|| rs.eval_hook(Hook::Forward, &fwd, &Node, false))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
