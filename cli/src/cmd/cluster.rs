//! The live cluster: `cnictl agent`, `cnictl bundle --kube`, and the
//! aggregator behind `cnictl serve --kube` and `--kube` on analysis
//! commands. Thin wiring of cnictl-agent's library.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cnictl_agent::aggregator::SERVICE_ACCOUNT_TOKEN;
use cnictl_agent::{
    AgentConfig, AggregatorConfig, Discovery, ExpectedSource, Frontend, KubeOptions, SnapshotLoader,
};
use cnictl_analyzers::Finding;
use cnictl_collect::live::{LiveOptions, NetnsTarget};
use cnictl_exporter::AppState;

use crate::args::{AgentArgs, BundleArgs, ClusterArgs, ServeArgs};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn kube_options(c: &ClusterArgs) -> KubeOptions {
    KubeOptions {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
        ..KubeOptions::default()
    }
}

/// Aggregator settings: static agents when given, else API discovery; the
/// service account token when running in a pod and none was named.
pub fn aggregator_config(c: &ClusterArgs) -> AggregatorConfig {
    let discovery = if c.agents.is_empty() {
        Discovery::Kube {
            namespace: c.agent_namespace.clone(),
            selector: c.agent_selector.clone(),
            port: c.agent_port,
        }
    } else {
        Discovery::Static(c.agents.clone())
    };
    let api = c.agents.is_empty() || c.kubeconfig.is_some() || c.context.is_some();
    let kube = (api && c.k8s_from.is_none()).then(|| kube_options(c));
    let mut cfg = AggregatorConfig::new(discovery, kube);
    cfg.k8s_bundle = c.k8s_from.clone();
    cfg.token_file = c.token_file.clone().or_else(|| {
        Path::new(SERVICE_ACCOUNT_TOKEN)
            .exists()
            .then(|| SERVICE_ACCOUNT_TOKEN.into())
    });
    cfg
}

pub fn pull_bundle(c: &ClusterArgs, out: &Path) -> Result<cnictl_agent::aggregator::BundleOutcome> {
    let cfg = aggregator_config(c);
    let progress = std::io::stderr().is_terminal();
    runtime()?
        .block_on(cnictl_agent::write_bundle(&cfg, out, progress))
        .with_context(|| format!("writing bundle {}", out.display()))
}

pub fn bundle(args: BundleArgs) -> Result<ExitCode> {
    if !args.kube {
        bail!("cnictl bundle needs --kube (offline bundles are written by lab/collect-node.sh)");
    }
    let outcome = pull_bundle(&args.cluster, &args.out)?;
    eprintln!(
        "wrote {}: {} nodes",
        args.out.display(),
        outcome.nodes_written.len()
    );
    for (target, node, reason) in &outcome.failed {
        eprintln!(
            "  failed: {target} (node {}): {reason}",
            node.as_deref().unwrap_or("?")
        );
    }
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    crate::logging::init(args.log_format)?;
    let mut cfg = aggregator_config(&args.cluster);
    cfg.listen = args.listen;
    cfg.refresh = args.refresh;
    let frontend = Arc::new(Exporter(AppState::new(cfg.limits)));
    runtime()?.block_on(cnictl_agent::run_aggregator(cfg, frontend))?;
    Ok(ExitCode::SUCCESS)
}

/// The aggregator's analysis served by the exporter's HTTP surface.
struct Exporter(AppState);

impl Frontend for Exporter {
    fn router(&self) -> axum::Router {
        cnictl_exporter::router(self.0.clone())
    }

    fn refresh(&self, load: &SnapshotLoader, extra: Vec<Finding>) {
        // Failures are kept in the state (`/readyz`, metrics).
        let _ = self.0.refresh_blocking_with(load, extra);
    }

    fn publish_metrics(&self, openmetrics: String) {
        self.0.set_extra_metrics(openmetrics);
    }

    fn data_collected(&self, unix_secs: f64) {
        self.0.set_data_time(cnictl_exporter::DataTime {
            at: unix_secs,
            basis: cnictl_exporter::DataBasis::CollectedAt,
        });
    }
}

pub fn agent(args: AgentArgs) -> Result<ExitCode> {
    crate::logging::init(args.log_format)?;
    let live = LiveOptions {
        netns: args.netns.clone().map(NetnsTarget::Name),
        node_name: args.node_name.clone(),
        pods: args.pods,
        pod_prefix: args.pods_prefix.clone(),
        bird_socket: args.bird_socket.clone(),
        ..LiveOptions::default()
    };
    let kube = kube_options(&args.cluster);
    let mut cfg = AgentConfig::new(live, kube.clone());
    cfg.listen = args.listen;
    cfg.interval = args.interval;
    cfg.insecure_no_auth = args.insecure_no_auth;
    cfg.expected = match (&args.k8s_bundle, args.kube) {
        (Some(dir), _) => ExpectedSource::Bundle(dir.clone()),
        (None, true) => ExpectedSource::Kube(kube.clone()),
        (None, false) => ExpectedSource::None,
    };
    if !args.kube {
        cfg.auth_kube = None;
    }
    if cfg.auth_kube.is_none() && !cfg.insecure_no_auth {
        bail!("the agent serves the node's whole network configuration: give --kube (tokens checked with TokenReview) or, in a local lab only, --insecure-no-auth");
    }
    runtime()?.block_on(cnictl_agent::run_agent(cfg))?;
    Ok(ExitCode::SUCCESS)
}
