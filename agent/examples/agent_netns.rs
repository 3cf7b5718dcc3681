//! Runs `cnictl agent` on one network namespace for bench/aggregator.sh's
//! steady-state measurement (no API: `--insecure-no-auth`, no expected
//! state), printing `listening on ADDR`.
//!
//! ```text
//! agent_netns NETNS [--listen 127.0.0.1:0] [--interval-secs 30]
//! ```

use std::time::Duration;

use anyhow::{bail, Context};
use cnictl_agent::{run_agent_on, AgentConfig, ExpectedSource, KubeOptions};
use cnictl_collect::live::{LiveOptions, NetnsTarget};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut it = std::env::args().skip(1);
    let netns = it
        .next()
        .context("usage: agent_netns NETNS [--listen ADDR] [--interval-secs N]")?;
    let (mut listen, mut interval) = ("127.0.0.1:0".to_string(), 30u64);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = v,
            "--interval-secs" => interval = v.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    let live = LiveOptions {
        netns: Some(NetnsTarget::Name(netns.clone())),
        node_name: Some(netns),
        ..LiveOptions::default()
    };
    let mut cfg = AgentConfig::new(live, KubeOptions::default());
    cfg.interval = Duration::from_secs(interval);
    cfg.expected = ExpectedSource::None;
    cfg.insecure_no_auth = true;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    run_agent_on(listener, cfg, cnictl_exporter::shutdown_signal()).await
}
