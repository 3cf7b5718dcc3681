//! Whole-process figures for the netfilter path on a 10,000-Service node
//! (5 endpoints each), in kube-proxy's iptables or nftables mode:
//! `cargo run --release -p cnictl-dataplane --example nf_timing [SERVICES] [iptables|nft]`.
//! Prints generation, parse and compile times separately (compile copying
//! the model, as `Ruleset::compile(&Netfilter)` does, and moving it,
//! `Ruleset::compile_owned`) and the time of one packet through the nat
//! hooks to the last Service and to a pod that is no Service. The
//! criterion bench `netfilter` gives the statistics; this gives the split
//! and, under `/usr/bin/time -v`, the peak memory of one mode.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use cnictl_dataplane::nf::{NfPacket, NodeView, Ruleset};
use cnictl_gen::kube_proxy::{bench_cluster, offset_ip};
use cnictl_model::netfilter::{AddrType, Hook, Netfilter, Source, Table};

const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

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

fn main() {
    let mut args = std::env::args().skip(1);
    let services: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let nft = args.next().as_deref() == Some("nft");
    let t = Instant::now();
    let k8s = bench_cluster(services, 5);
    let cidr = "10.128.0.0/9".parse().unwrap();
    let text = if nft {
        cnictl_gen::kube_proxy_nft::nft_json(&k8s, cidr, IpAddr::V4(NODE_IP))
    } else {
        cnictl_gen::kube_proxy::iptables_save(&k8s, cidr)
    };
    drop(k8s);
    eprintln!("generate: {:?} ({} bytes)", t.elapsed(), text.len());
    let c0 = cpu();
    let (parse, nf) = timed(|| netfilter(&text, nft));
    let c1 = cpu();
    drop(text);
    let (copy, rs) = timed(|| Ruleset::compile(&nf));
    let c2 = cpu();
    drop(rs);
    let c3 = cpu();
    let (moved, rs) = timed(|| Ruleset::compile_owned(nf));
    let c4 = cpu();
    eprintln!(
        "wall (CPU): parse {parse:?} ({:?}); compile, copying the model, {copy:?} ({:?}); compile_owned, moving it, {moved:?} ({:?})",
        c1 - c0,
        c2 - c1,
        c4 - c3
    );
    eprintln!(
        "parse + compile_owned: {:?} ({:?} CPU)",
        parse + moved,
        c1 - c0 + (c4 - c3)
    );
    packets(&rs, services);
}

fn netfilter(text: &str, nft: bool) -> Netfilter {
    let (tables, source): (Vec<Table>, _) = if nft {
        let t = cnictl_formats::nft::parse_nft_ruleset(text).expect("generated JSON parses");
        (t, Source::NftRuleset)
    } else {
        let t = cnictl_formats::iptables::parse_iptables_save(text, Source::IptablesSave)
            .expect("generated rules parse");
        (t, Source::IptablesSave)
    };
    Netfilter {
        tables,
        ipsets: None,
        sources: vec![source],
        tool_versions: None,
        nft_json: None,
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed(), out)
}

/// This process's CPU time so far, every thread (`/proc/self/stat` utime +
/// stime, 10 ms ticks): on shared cores wall time says little.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields after the command: state, ppid, … utime (14th), stime (15th).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((tick(11) + tick(12)) * 10)
}

/// One packet (mean of 1,000, and the first) per case.
fn packets(rs: &Ruleset, services: usize) {
    let pod = offset_ip([10, 128, 0, 2], 0);
    let last = offset_ip([10, 96, 0, 10], services - 1);
    let mut from_pod = NfPacket::new(pod, last, 6, 40000, 80);
    from_pod.iif = Some("cni0".into());
    let from_node = NfPacket::new(IpAddr::V4(NODE_IP), last, 6, 40000, 80);
    let mut to_pod = from_pod.clone();
    to_pod.dst = offset_ip([10, 128, 0, 2], 7);
    to_pod.dport = 8080;
    for (what, hook, p) in [
        (
            "nat PREROUTING, pod to the last Service",
            Hook::Prerouting,
            &from_pod,
        ),
        (
            "nat OUTPUT, node to the last Service",
            Hook::Output,
            &from_node,
        ),
        (
            "nat PREROUTING, pod to a pod (no Service)",
            Hook::Prerouting,
            &to_pod,
        ),
    ] {
        for record in [false, true] {
            let (first, paths) = timed(|| rs.eval_hook(hook, p, &Node, record));
            let (all, _) = timed(|| {
                for _ in 0..1000 {
                    black_box(rs.eval_hook(hook, p, &Node, record));
                }
            });
            eprintln!(
                "{what}{}: {:?} per packet (first {first:?}), {} paths",
                if record {
                    ", recording (--verbose)"
                } else {
                    ""
                },
                all / 1000,
                paths.len()
            );
        }
    }
}
