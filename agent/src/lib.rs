//! cnictl in a real cluster: the Kubernetes API reader ([`kube`]), the
//! per-node agent ([`agent`]) and the aggregator ([`aggregator`]).
//!
//! **Architecture Invariant:** an IO edge and a shell. It reads (API,
//! netlink, peers' HTTP) and serves; analysis is `cnictl_analyzers`'s and
//! runs on snapshots. The async runtime lives here so the pure crates and
//! the collect crate's default build stay free of tokio.

pub mod agent;
pub mod aggregator;
pub mod auth;
pub mod kube;
pub mod metrics;
pub mod notify;
mod util;

pub use agent::{run_agent, run_agent_on, AgentConfig, ExpectedSource, NodeFindings};
pub use aggregator::{
    run_aggregator, run_aggregator_on, write_bundle, AggregatorConfig, Discovery, Frontend,
    SnapshotLoader,
};
pub use kube::{read_cluster, KubeError, KubeOptions};
