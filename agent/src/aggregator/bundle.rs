//! `cnictl bundle --kube`: one round of pulls plus the API objects,
//! written as a bundle directory.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use cnictl_model::ClusterSnapshot;
use futures::StreamExt;

use super::agents::Agents;
use super::pull::{Pulled, Puller};
use super::{discover, read_k8s, read_token, AggregatorConfig};
use crate::kube as kubeapi;
use crate::util::now_rfc3339;

/// What `bundle --kube` wrote and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleOutcome {
    pub nodes_written: Vec<String>,
    /// `(agent target, node if known, reason)`.
    pub failed: Vec<(String, Option<String>, String)>,
}

/// `cnictl bundle --kube -o DIR`: one round of pulls plus the API objects,
/// written as a bundle. Nodes that fail are listed, the rest are kept;
/// `progress` shows a bar (the caller passes `stderr.is_terminal()`).
pub async fn write_bundle(
    cfg: &AggregatorConfig,
    out: &Path,
    progress: bool,
) -> anyhow::Result<BundleOutcome> {
    let client = match &cfg.kube {
        Some(opts) => Some(kubeapi::client(opts).await?),
        None => None,
    };
    let k8s = read_k8s(cfg, client.as_ref()).await?;
    let targets = discover(&cfg.discovery, client.as_ref(), cfg.kube.as_ref()).await?;
    let mut agents = Agents::default();
    agents.reconcile(targets);
    let puller = Puller::new(cfg.timeout, read_token(cfg)?);
    let done = pull_all(&agents, &puller, cfg.concurrency, progress).await;
    let mut snap = ClusterSnapshot::new(format!("bundle:{}", out.display()));
    snap.collected_at = Some(now_rfc3339());
    snap.k8s = k8s;
    let outcome = fill(&mut snap, &agents, done);
    let dir = out.to_path_buf();
    tokio::task::spawn_blocking(move || cnictl_collect::write::write_dir(&snap, &dir))
        .await
        .context("bundle writer panicked")?
        .with_context(|| format!("writing bundle {}", out.display()))?;
    Ok(outcome)
}

/// Pulls every agent once (no entity tags), `concurrency` at a time.
async fn pull_all(
    agents: &Agents,
    puller: &Puller,
    concurrency: usize,
    progress: bool,
) -> BTreeMap<String, Pulled> {
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(agents.by_target.len() as u64);
        bar.set_message("pulling agents");
        bar
    });
    let jobs: Vec<String> = agents.by_target.keys().cloned().collect();
    let mut stream = futures::stream::iter(jobs)
        .map(|t| async move {
            let r = puller.pull(&t, None).await;
            (t, r)
        })
        .buffer_unordered(concurrency.max(1));
    let mut done = BTreeMap::new();
    while let Some((target, pulled)) = stream.next().await {
        if let Some(b) = &bar {
            b.inc(1);
        }
        done.insert(target, pulled);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    done
}

/// Adds every pulled node to `snap`; the rest are the outcome's failures.
fn fill(
    snap: &mut ClusterSnapshot,
    agents: &Agents,
    done: BTreeMap<String, Pulled>,
) -> BundleOutcome {
    let mut outcome = BundleOutcome::default();
    for (target, pulled) in done {
        let node = agents.by_target.get(&target).and_then(|a| a.node.clone());
        let reason = match pulled {
            Pulled::Changed(_, name, stored) => match stored.decode() {
                Ok(n) => {
                    outcome.nodes_written.push(name.clone());
                    snap.nodes.insert(name, n);
                    continue;
                }
                Err(e) => {
                    outcome
                        .failed
                        .push((target, Some(name), format!("decode: {e}")));
                    continue;
                }
            },
            Pulled::NotModified(_) => "unexpected 304".to_string(),
            Pulled::Failed(code, msg) => format!("{code}: {msg}"),
        };
        outcome.failed.push((target, node, reason));
    }
    outcome
}
