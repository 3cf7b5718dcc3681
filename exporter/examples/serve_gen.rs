//! A cli-like runner for `cnictl serve` while the real cli is wired up:
//! serves a generated cluster (or a snapshot JSON file) on a loopback port.
//!
//! ```text
//! cargo run -p cnictl-exporter --example serve-gen -- [--model calico-bgp] [--nodes 20]
//!     [--listen 127.0.0.1:9640] [--snapshot FILE] [--bundle DIR] [--break-node N] [--refresh SECS]
//! ```
//! `--break-node N` deletes node N's routes to node 0's pods, so the UI has a
//! failing path to show. The bound address is printed on stdout as
//! `listening on ADDR` (tests read it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cnictl_exporter::{Loader, ServeConfig, Source};
use cnictl_gen::{GenModel, GenSpec};
use cnictl_model::ClusterSnapshot;

struct Args {
    model: GenModel,
    nodes: usize,
    listen: String,
    snapshot: Option<PathBuf>,
    bundle: Option<PathBuf>,
    break_node: Option<usize>,
    refresh: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        model: GenModel::CalicoBgp,
        nodes: 20,
        listen: "127.0.0.1:9640".into(),
        snapshot: None,
        bundle: None,
        break_node: None,
        refresh: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = val()?.parse().map_err(|e| format!("{e}"))?,
            "--nodes" => a.nodes = val()?.parse().map_err(|e| format!("--nodes: {e}"))?,
            "--listen" => a.listen = val()?,
            "--snapshot" => a.snapshot = Some(PathBuf::from(val()?)),
            "--bundle" => a.bundle = Some(PathBuf::from(val()?)),
            "--break-node" => {
                a.break_node = Some(val()?.parse().map_err(|e| format!("--break-node: {e}"))?)
            }
            "--refresh" => a.refresh = val()?.parse().map_err(|e| format!("--refresh: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// Removes node `n`'s routes to node-0's pod CIDRs (a missing-pod-route fault).
fn break_routes(snap: &mut ClusterSnapshot, n: usize) {
    let cidrs: Vec<ipnet::IpNet> = snap
        .k8s
        .nodes
        .first()
        .map(|k| k.pod_cidrs.clone())
        .unwrap_or_default();
    let blocks: Vec<ipnet::IpNet> = snap
        .nodes
        .values()
        .next()
        .map(|n0| {
            n0.routes
                .iter()
                .filter(|r| r.route_type == cnictl_model::RouteType::Blackhole)
                .map(|r| r.dst)
                .collect()
        })
        .unwrap_or_default();
    if let Some(node) = snap.nodes.values_mut().nth(n) {
        node.routes.retain(|r| {
            !cidrs.iter().chain(&blocks).any(|c| {
                c.contains(&r.dst.network()) && r.route_type != cnictl_model::RouteType::Blackhole
            })
        });
    }
}

fn loader(a: &Args) -> (Source, Loader) {
    if let Some(dir) = &a.bundle {
        let d = dir.clone();
        let load: Loader = Arc::new(move || {
            cnictl_collect::bundle::load_dir(&d).map_err(|e| format!("bundle {}: {e}", d.display()))
        });
        return (Source::Bundle(dir.clone()), load);
    }
    if let Some(p) = &a.snapshot {
        let path = p.clone();
        let load: Loader = Arc::new(move || {
            let text =
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            serde_json::from_slice(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
        });
        return (Source::Snapshot(p.clone()), load);
    }
    let spec = GenSpec::new(a.model, a.nodes);
    let brk = a.break_node;
    let load: Loader = Arc::new(move || {
        let mut snap = cnictl_gen::generate(&spec).map_err(|e| e.to_string())?;
        if let Some(n) = brk {
            break_routes(&mut snap, n);
        }
        Ok(snap)
    });
    // Generated in memory: a path that does not exist never changes, so the
    // cluster is analysed once (and again only after a failure).
    (Source::Snapshot(PathBuf::from("generated-in-memory")), load)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("serve-gen: {e}");
            std::process::exit(2);
        }
    };
    let (source, load) = loader(&args);
    let mut cfg = ServeConfig::new(source, load);
    cfg.refresh = Duration::from_secs(args.refresh.max(1));
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("serve-gen: cannot listen on {}: {e}", args.listen);
            std::process::exit(2);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on {addr}");
    }
    if let Err(e) =
        cnictl_exporter::serve_on(listener, cfg, cnictl_exporter::shutdown_signal()).await
    {
        eprintln!("serve-gen: {e}");
        std::process::exit(1);
    }
}
