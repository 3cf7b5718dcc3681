//! The aggregator's refresh, measured (bench/aggregator.sh): pulls N agents
//! at 127.0.0.1:(BASE + i) with the aggregator's puller (bounded
//! concurrency, keep-alive), assembles the ClusterSnapshot with the API
//! objects from K8S (JSON), runs the exporter's analysis on it (what `serve`
//! does per refresh), then pulls again (every agent answers 304). Prints
//! one JSON line of timings and the peak RSS (VmHWM).
//!
//! ```text
//! bench_aggregate --nodes 1000 --base-port 20000 --k8s FILE [--concurrency 32]
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cnictl_agent::aggregator::{assemble, Agents, Puller};
use cnictl_model::K8s;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mut nodes, mut base, mut k8s_path, mut conc) =
        (1000usize, 20000u16, String::new(), 32usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => nodes = v.parse()?,
            "--base-port" => base = v.parse()?,
            "--k8s" => k8s_path = v,
            "--concurrency" => conc = v.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    let k8s: K8s = serde_json::from_slice(
        &std::fs::read(&k8s_path).with_context(|| format!("reading {k8s_path}"))?,
    )?;
    let targets = (0..nodes)
        .map(|i| Ok((format!("127.0.0.1:{}", base + u16::try_from(i)?), None)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut agents = Agents::default();
    agents.reconcile(targets);
    let puller = Puller::new(Duration::from_secs(10), None);

    let t0 = Instant::now();
    let cold = agents.pull_round(&puller, conc, None).await;
    let pull_cold = t0.elapsed();
    eprintln!("rss after pull: {} KiB", status_kib("VmRSS:"));
    let t1 = Instant::now();
    let stored = agents.stored();
    let held: usize = stored.iter().map(|(_, s)| s.len()).sum();
    eprintln!("snapshots held: {} KiB compressed", held / 1024);
    let snap = tokio::task::spawn_blocking(move || assemble(k8s, stored, "bench").0).await?;
    let routes: usize = snap.nodes.values().map(|n| n.routes.len()).sum();
    eprintln!("rss after assemble: {} KiB", status_kib("VmRSS:"));
    let analysis = tokio::task::spawn_blocking(move || {
        let a = cnictl_analyzers::pipeline::Analysis::new(std::sync::Arc::new(snap));
        a.warm();
        a
    })
    .await?;
    let analyse = t1.elapsed();
    let findings = analysis.report().findings.len();
    eprintln!("rss after analysis: {} KiB", status_kib("VmRSS:"));
    drop(analysis);
    let t2 = Instant::now();
    let warm = agents.pull_round(&puller, conc, None).await;
    let pull_warm = t2.elapsed();
    let hwm = status_kib("VmHWM:");
    println!(
        "{{\"nodes\": {nodes}, \"up\": {}, \"changed\": {}, \"routes\": {routes}, \"findings\": {findings}, \
         \"pull_cold_s\": {:.3}, \"analysis_s\": {:.3}, \"full_refresh_s\": {:.3}, \"pull_304_s\": {:.3}, \
         \"warm_unchanged\": {}, \"peak_rss_kib\": {hwm}}}",
        cold.up,
        cold.changed,
        pull_cold.as_secs_f64(),
        analyse.as_secs_f64(),
        (pull_cold + analyse).as_secs_f64(),
        pull_warm.as_secs_f64(),
        warm.changed == 0,
    );
    Ok(())
}

/// A `/proc/self/status` field in KiB (0 when unreadable).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
