//! Cilium's own view of a node, read from its agent (`cilium-dbg`, Cilium
//! v1.15): the eBPF maps that decide forwarding, which routes alone do not
//! show. Each part is `None` when its bundle file was not collected.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The agent's state on one node (bundle `nodes/<node>/cilium/`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cilium {
    /// `cilium-dbg status -o json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CiliumStatus>,
    /// `cilium-dbg bpf ipcache list -o json`: prefix → where it lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipcache: Option<Vec<IpcacheEntry>>,
    /// `cilium-dbg bpf tunnel list -o json`: remote pod prefix → node IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Vec<TunnelEntry>>,
    /// `cilium-dbg endpoint list -o json`: the node's local endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<CiliumEndpoint>>,
    /// `cilium-dbg bpf lb list -o json`: frontend → backend lines, kept
    /// as the tool prints them (not evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb: Option<BTreeMap<String, Vec<String>>>,
}

/// What `cilium-dbg status` says about the agent and its routing mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumStatus {
    /// The agent's health: `Ok`, `Warning`, `Failure`, `Disabled`.
    pub state: Option<String>,
    /// `Tunnel` or `Native` (`routing.inter-host-routing-mode`).
    pub inter_host_routing: Option<String>,
    /// `BPF` or `Legacy` (`routing.intra-host-routing-mode`).
    pub intra_host_routing: Option<String>,
    /// `vxlan` or `geneve` in tunnel mode.
    pub tunnel_protocol: Option<String>,
}

/// One ipcache entry: a prefix, its security identity and, for a remote
/// endpoint, the node it is tunnelled to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcacheEntry {
    pub prefix: IpNet,
    pub identity: u32,
    /// `tunnelendpoint=`; `None` when `0.0.0.0` / absent (local, or native
    /// routing).
    pub tunnel_endpoint: Option<IpAddr>,
}

/// One tunnel map entry: remote prefix (or IP) → the node IP to encapsulate to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelEntry {
    pub prefix: IpAddr,
    pub endpoint: IpAddr,
}

/// One local endpoint (a pod, the host, the health endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpoint {
    pub id: u64,
    /// `ready`, `waiting-for-identity`, `not-ready`, `regenerating`, …
    pub state: String,
    pub identity: Option<u64>,
    pub addresses: Vec<IpAddr>,
    /// `namespace/name` of the pod, when it is one.
    pub pod: Option<String>,
    pub interface: Option<String>,
    /// `status.policy.realized.policy-enabled`: `none`, `ingress`,
    /// `egress`, `both` (or `audit-*`, evaluated but not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_enabled: Option<String>,
}

impl CiliumEndpoint {
    /// Whether the endpoint enforces policy in `direction` (`ingress` /
    /// `egress`); `None` when its status does not say.
    pub fn enforces(&self, direction: &str) -> Option<bool> {
        let p = self.policy_enabled.as_deref()?;
        Some(p == "both" || p == direction)
    }
}

impl Cilium {
    /// The longest ipcache prefix holding `ip`; `None` when the ipcache was
    /// not collected or has no entry for it.
    pub fn ipcache_lookup(&self, ip: IpAddr) -> Option<&IpcacheEntry> {
        let entries = self.ipcache.as_deref()?;
        entries
            .iter()
            .filter(|e| e.prefix.contains(&ip))
            .max_by_key(|e| e.prefix.prefix_len())
    }

    /// The local endpoint holding `ip`.
    pub fn endpoint_of(&self, ip: IpAddr) -> Option<&CiliumEndpoint> {
        let eps = self.endpoints.as_deref()?;
        eps.iter().find(|e| e.addresses.contains(&ip))
    }
}
