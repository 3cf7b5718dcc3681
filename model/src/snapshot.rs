//! The top-level snapshot types.
//!
//! Optional bundle files map to `Option<…>` sections: `None` means "not
//! collected", which checks report as skipped; `Some(vec![])` means collected
//! and empty. The two must never be confused, or a check would report a
//! missing FDB entry on a node whose FDB was simply not dumped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::netfilter::Netfilter;
use crate::{Addr, Bgp, FdbEntry, K8s, Link, Neigh, Route, Rule, VirtualService};

/// The schema tag written into every snapshot and JSON document.
pub const SCHEMA: &str = "cnictl/v1";

/// A whole cluster: Kubernetes objects plus one dataplane snapshot per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub schema: String,
    /// Where it came from: `bundle:DIR`, `live:NODE`, `demo`, `gen:MODEL`.
    #[serde(default)]
    pub source: String,
    /// RFC 3339 time of collection when known; analyzers take time from here,
    /// never from the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    pub k8s: K8s,
    /// Keyed by node name (the Kubernetes node name, the bundle dir name).
    pub nodes: BTreeMap<String, NodeSnapshot>,
    /// What the importer has to say about its input, shown beside every
    /// answer: text dumps lacking what the JSON carries, Kubernetes objects
    /// inferred from node dumps. Absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

/// One thing the importer says about its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// [`Notice::TEXT_DUMP`], [`Notice::K8S_INFERRED`] or
    /// [`Notice::POD_NETNS_UNMATCHED`].
    pub kind: String,
    /// The bundle-relative path it is about (`nodes/node-1/ip-link.txt`, `k8s/`).
    pub path: String,
    pub message: String,
}

impl Notice {
    /// A text listing that lacks something its JSON form carries.
    pub const TEXT_DUMP: &'static str = "text-dump";
    /// No `k8s/`: nodes, addresses, pod CIDRs and pods inferred from node dumps.
    pub const K8S_INFERRED: &'static str = "k8s-inferred";
    /// A pod netns dumped under its runtime name that matched no pod.
    pub const POD_NETNS_UNMATCHED: &'static str = "pod-netns-unmatched";

    pub fn new(kind: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Notice {
            kind: kind.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl ClusterSnapshot {
    /// Whether the Kubernetes objects were inferred (a bundle without `k8s/`).
    pub fn k8s_inferred(&self) -> bool {
        self.notices.iter().any(|n| n.kind == Notice::K8S_INFERRED)
    }
}

impl ClusterSnapshot {
    pub fn new(source: impl Into<String>) -> Self {
        ClusterSnapshot {
            schema: SCHEMA.to_string(),
            source: source.into(),
            collected_at: None,
            k8s: K8s::default(),
            nodes: BTreeMap::new(),
            notices: Vec::new(),
        }
    }
}

/// One node's dataplane, as its kernel held it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub name: String,
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    /// Routes of every table (`ip route show table all`).
    pub routes: Vec<Route>,
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    #[serde(default)]
    pub neighbours: Option<Vec<Neigh>>,
    #[serde(default)]
    pub fdb: Option<Vec<FdbEntry>>,
    #[serde(default)]
    pub ipvs: Option<Vec<VirtualService>>,
    #[serde(default)]
    pub bgp: Option<Bgp>,
    #[serde(default)]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// Pod network namespaces collected on this node, keyed `namespace/name`.
    #[serde(default)]
    pub pods: BTreeMap<String, PodNetns>,
    /// Netfilter (`iptables-save`, `ip6tables-save`, their legacy twins,
    /// `nft -j list ruleset`, `ipset save`); `None` when none of those files
    /// was collected. Absent from the JSON when `None`, so snapshots of
    /// earlier versions read and write unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netfilter: Option<Netfilter>,
    /// Offload features of the tunnel devices (`ethtool -k DEV`, bundle
    /// `ethtool.txt`); `None` when not collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offloads: Option<Vec<DevFeatures>>,
    /// The running kernel's release (`uname -r`, bundle `uname.txt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Cilium's agent state (bundle `cilium/`); `None` when not collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cilium: Option<crate::Cilium>,
}

/// One device's offload features, as `ethtool -k` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevFeatures {
    pub dev: String,
    /// Feature name (`tx-checksum-ip-generic`) → its state.
    pub features: BTreeMap<String, Feature>,
}

/// A feature's state: on or off, and whether the driver lets it change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    pub on: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
}

/// `major.minor` of a kernel release (`5.4.0-42-generic` → (5, 4)).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl DevFeatures {
    /// Whether `name` is on (`None`: the device does not list it).
    pub fn is_on(&self, name: &str) -> Option<bool> {
        self.features.get(name).map(|f| f.on)
    }
}

impl NodeSnapshot {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn link_by_index(&self, ifindex: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }

    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.sysctls.as_ref()?.get(key).map(String::as_str)
    }

    /// Names of the optional sections that were not collected, in bundle
    /// file terms, for "skipped" reports.
    pub fn not_collected(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.rules.is_none() {
            out.push("ip-rule.json");
        }
        if self.neighbours.is_none() {
            out.push("ip-neigh.json");
        }
        if self.fdb.is_none() {
            out.push("bridge-fdb.json");
        }
        if self.ipvs.is_none() {
            out.push("ipvsadm.txt");
        }
        if self.bgp.is_none() {
            out.push("bird-protocols.txt");
        }
        if self.sysctls.is_none() {
            out.push("sysctl.txt");
        }
        out
    }
}

/// A pod's own network namespace, when it was collected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodNetns {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub addrs: Vec<Addr>,
    #[serde(default)]
    pub routes: Vec<Route>,
}
