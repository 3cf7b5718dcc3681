//! Calico's own objects (the `crd.projectcalico.org/v1` custom resources of
//! a Kubernetes-datastore install), reduced to the fields cnictl reads: BGP
//! topology (BGPConfiguration, BGPPeer) and IPAM (IPPool, BlockAffinity).
//!
//! Field names and meanings follow Calico's API types, pinned at v3.27:
//! projectcalico/api `pkg/apis/projectcalico/v3/{bgpconfig,bgppeer,ippool}.go`
//! and libcalico-go `lib/apis/v3/blockaffinity.go`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The four Calico lists of a bundle; each `None` when its file was not
/// collected (then nothing is assumed from it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalicoObjects {
    /// `k8s/bgpconfigurations.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_configurations: Option<Vec<BgpConfiguration>>,
    /// `k8s/bgppeers.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_peers: Option<Vec<BgpPeer>>,
    /// `k8s/ippools.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_pools: Option<Vec<IpPool>>,
    /// `k8s/blockaffinities.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_affinities: Option<Vec<BlockAffinity>>,
}

impl CalicoObjects {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The cluster-wide BGPConfiguration (named `default`), when collected
    /// and present.
    pub fn default_bgp_configuration(&self) -> Option<&BgpConfiguration> {
        let all = self.bgp_configurations.as_ref()?;
        all.iter().find(|c| c.name == "default")
    }

    /// Whether the node-to-node mesh is on: `Some(false)` only when the
    /// `default` BGPConfiguration says so; `Some(true)` when the
    /// configurations were collected and do not turn it off (Calico's
    /// default); `None` when not collected.
    pub fn node_mesh_enabled(&self) -> Option<bool> {
        self.bgp_configurations.as_ref()?;
        let set = self
            .default_bgp_configuration()
            .and_then(|c| c.node_to_node_mesh_enabled);
        Some(set.unwrap_or(true))
    }
}

/// `BGPConfiguration.spec`, the fields that shape sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpConfiguration {
    pub name: String,
    /// `nodeToNodeMeshEnabled`; absent means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_to_node_mesh_enabled: Option<bool>,
    /// `asNumber`; absent means 64512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
}

/// `BGPPeer.spec`: who peers with whom. Exactly one of `peer_ip` and
/// `peer_selector` names the remote side; `node`/`node_selector` the local
/// side (neither: every node, a "global" peer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpPeer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,
    /// `peerIP`, kept as written (it may carry a `:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
}

/// `IPPool.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPool {
    pub name: String,
    pub cidr: IpNet,
    /// `blockSize`; absent: 26 (IPv4) / 122 (IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u8>,
    /// `ipipMode` (`Never`, `Always`, `CrossSubnet`); absent: `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip_mode: Option<String>,
    /// `vxlanMode`; absent: `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_mode: Option<String>,
    #[serde(default)]
    pub nat_outgoing: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,
}

impl IpPool {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip)
    }
}

/// `BlockAffinity.spec`: node `node` owns block `cidr` (BIRD on that node
/// announces it and blackholes what it does not use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAffinity {
    pub name: String,
    pub node: String,
    pub cidr: IpNet,
    /// `confirmed`, `pending`, `pendingDeletion`.
    #[serde(default)]
    pub state: String,
    /// `deleted` (a string in the CRD: "true"/"false").
    #[serde(default)]
    pub deleted: bool,
}

impl BlockAffinity {
    /// An affinity IPAM acts on: confirmed and not marked deleted.
    pub fn is_live(&self) -> bool {
        !self.deleted && (self.state.is_empty() || self.state == "confirmed")
    }
}
