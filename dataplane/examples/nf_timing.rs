//! Whole-process figures for the netfilter path on a 10,000-Service node:
//! `cargo run --release -p cnictl-dataplane --example nf_timing [SERVICES]`.
//! Prints generation, parse and compile times separately (the criterion
//! bench `netfilter` gives the statistics; this gives the split and, under
//! `/usr/bin/time -v`, the peak memory).

use std::time::Instant;

fn main() {
    let services: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let t = Instant::now();
    let k8s = cnictl_gen::kube_proxy::bench_cluster(services, 5);
    let text = cnictl_gen::kube_proxy::iptables_save(&k8s, "10.128.0.0/9".parse().unwrap());
    eprintln!(
        "generate: {:?} ({} bytes, {} lines)",
        t.elapsed(),
        text.len(),
        text.lines().count()
    );
    let t = Instant::now();
    let tables = cnictl_formats::iptables::parse_iptables_save(
        &text,
        cnictl_model::netfilter::Source::IptablesSave,
    )
    .unwrap();
    eprintln!("parse: {:?}", t.elapsed());
    let nf = cnictl_model::netfilter::Netfilter {
        tables,
        ipsets: None,
        sources: vec![],
        tool_versions: None,
    };
    let t = Instant::now();
    let rs = cnictl_dataplane::nf::Ruleset::compile(&nf);
    eprintln!("compile: {:?} ({} tables)", t.elapsed(), rs.tables().len());
}
