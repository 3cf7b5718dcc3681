//! `cnictl gen`: write a synthetic bundle (the input of every benchmark).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use cnictl_gen::{generate_with, GenModel, GenSpec, KubeProxyMode, ServiceSpec};

use crate::args::GenArgs;

pub fn run(args: GenArgs) -> Result<ExitCode> {
    let model: GenModel = args.model.parse().context("--model")?;
    let spec = GenSpec {
        model,
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        services: args.services,
    };
    let kube_proxy: Option<KubeProxyMode> = (args.kube_proxy.as_deref())
        .map(str::parse)
        .transpose()
        .context("--kube-proxy")?;
    let services = ServiceSpec {
        kube_proxy: kube_proxy.unwrap_or_default(),
        endpoints_per_service: args.endpoints_per_service,
        node_ports: kube_proxy.is_some(),
    };
    let started = Instant::now();
    let snap = generate_with(&spec, &services).context("generating the cluster")?;
    cnictl_collect::write::write_dir(&snap, &args.out)
        .with_context(|| format!("writing bundle {}", args.out.display()))?;
    let routes: usize = snap.nodes.values().map(|n| n.routes.len()).sum();
    eprintln!(
        "wrote {}: {model}, {} nodes, {} pods, {} services (kube-proxy {}), {routes} routes in {:.1}s",
        args.out.display(),
        spec.nodes,
        snap.k8s.pods.len(),
        spec.services,
        services.kube_proxy,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
