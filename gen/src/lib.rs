//! Synthetic clusters: a consistent [`ClusterSnapshot`] of any size for each
//! CNI model, built in memory (the CLI writes it out as a bundle).
//!
//! The point is realism at scale for benchmarks: what each node's kernel
//! would hold for that model (Flannel's per-peer route + neighbour + FDB
//! triplets, Calico's /26 blocks, /32 pod routes and BIRD sessions, kube-proxy
//! IPVS tables), with at most one default gateway per node and 110 pods per
//! node by default. Deterministic: the same spec gives the same snapshot.

pub mod agent_rules;
mod calico;
mod calico_objects;
pub mod docker;
pub mod felix_policy;
mod flannel;
mod k8s;
pub mod kube_proxy;
mod kube_proxy_gen;
pub mod kube_proxy_ipvs;
pub mod kube_proxy_nft;
mod kube_proxy_nft_elements;
mod kube_proxy_nft_expr;
mod kube_proxy_ports;
#[cfg(test)]
mod kube_proxy_tests;
pub mod kube_router;
pub mod lab;
mod lab_felix;
mod lab_netfilter;
pub mod lab_policy;
mod lab_rr;
mod lab_services;
mod lab_v6;
mod lab_vxlan;
mod netpol_select;
mod node;
mod plan;
pub mod policy_bench;

use std::fmt;
use std::str::FromStr;

use cnictl_model::ClusterSnapshot;

pub use kube_proxy_gen::{KubeProxyMode, ServiceSpec};
pub use lab::LabPlan;
pub use plan::Plan;

/// Which CNI dataplane to synthesise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenModel {
    FlannelVxlan,
    FlannelHostGw,
    CalicoBgp,
    CalicoIpip,
    /// Calico in VXLAN mode: built by the namespace lab only (`cnictl lab
    /// up calico-vxlan`); not in [`GenModel::ALL`], so `cnictl gen` refuses it.
    CalicoVxlan,
}

impl GenModel {
    pub const ALL: [GenModel; 4] = [
        GenModel::FlannelVxlan,
        GenModel::FlannelHostGw,
        GenModel::CalicoBgp,
        GenModel::CalicoIpip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GenModel::FlannelVxlan => "flannel-vxlan",
            GenModel::FlannelHostGw => "flannel-host-gw",
            GenModel::CalicoBgp => "calico-bgp",
            GenModel::CalicoIpip => "calico-ipip",
            GenModel::CalicoVxlan => "calico-vxlan",
        }
    }

    fn is_calico(self) -> bool {
        matches!(
            self,
            GenModel::CalicoBgp | GenModel::CalicoIpip | GenModel::CalicoVxlan
        )
    }
}

impl fmt::Display for GenModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GenModel {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Self, GenError> {
        GenModel::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| GenError::UnknownModel(s.to_string()))
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSpec {
    pub model: GenModel,
    pub nodes: usize,
    pub pods_per_node: usize,
    /// Services; when > 0 every node also gets kube-proxy's state for
    /// them in the mode [`ServiceSpec`] names (by default IPVS tables and a
    /// kube-ipvs0 device holding the ClusterIPs; with
    /// `ServiceSpec::node_ports`, every 10th a NodePort, every 20th with
    /// externalTrafficPolicy Local).
    pub services: usize,
}

impl GenSpec {
    pub fn new(model: GenModel, nodes: usize) -> Self {
        GenSpec {
            model,
            nodes,
            pods_per_node: 110,
            services: 0,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenError {
    #[error(
        "unknown model {0:?} (expected flannel-vxlan, flannel-host-gw, calico-bgp or calico-ipip)"
    )]
    UnknownModel(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("unknown kube-proxy mode {0:?} (expected iptables, nftables or ipvs)")]
    UnknownKubeProxyMode(String),
    /// A generator wrote rules cnictl's own parser rejects (a bug here).
    #[error("generated {file} of {node} does not parse: {reason}")]
    Rules {
        node: String,
        file: &'static str,
        reason: String,
    },
}

/// Builds the snapshot for `spec`, Services in kube-proxy IPVS mode with
/// three endpoints each.
pub fn generate(spec: &GenSpec) -> Result<ClusterSnapshot, GenError> {
    generate_with(spec, &ServiceSpec::default())
}

/// Builds the snapshot for `spec` with `services` saying how kube-proxy
/// programs the Services.
pub fn generate_with(spec: &GenSpec, services: &ServiceSpec) -> Result<ClusterSnapshot, GenError> {
    let plan = Plan::new(spec)?;
    let mut snap = ClusterSnapshot::new(format!("gen:{}", spec.model));
    snap.k8s = k8s::objects(&plan, services);
    for i in 0..spec.nodes {
        let mut node = match spec.model {
            GenModel::FlannelVxlan | GenModel::FlannelHostGw => flannel::node(&plan, i),
            GenModel::CalicoBgp | GenModel::CalicoIpip => calico::node(&plan, i),
            GenModel::CalicoVxlan => return Err(GenError::UnknownModel(spec.model.to_string())),
        };
        kube_proxy_gen::program(&plan, i, &snap.k8s, services, &mut node)?;
        snap.nodes.insert(node.name.clone(), node);
    }
    Ok(snap)
}

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
