//! What the caller knows about pod attachment that a snapshot cannot show.
//!
//! The engine reads structure, never CNI names: a veth is a veth because
//! `ip -d link` says so, proxy ARP is on because the sysctl says so, and a
//! `/32 dev X scope link` route to a veth is a routed pod attachment. Some
//! facts are invisible when a section was not collected — the default
//! gateway inside a pod netns that was not dumped, or `proxy_arp` without
//! `sysctl.txt` — and only the CNI knows them. The caller (who has inferred
//! the CNI) passes them here; [`Dataplane::new`](crate::Dataplane::new)
//! takes none.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How pods attach to a node, for the facts the snapshot may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodAttachment {
    /// Pods hang off a bridge whose subnet holds their IP; their gateway is
    /// the bridge's address. Everything is in the snapshot: nothing to add,
    /// and a routed veth found on such a node gets no inferred gateway.
    Bridged,
    /// Each pod has its own veth and the node routes `/32 dev <veth> scope
    /// link` to it.
    Routed {
        /// The pods' IPv4 default gateway, used when a pod netns was not
        /// collected (`None`: unknown, egress from such a pod is not traced).
        gateway_v4: Option<Ipv4Addr>,
        /// The same for IPv6.
        gateway_v6: Option<Ipv6Addr>,
        /// The host-side veth answers ARP for the gateway, used when
        /// `net.ipv4.conf.<dev>.proxy_arp` was not collected.
        proxy_arp: bool,
    },
}

impl PodAttachment {
    /// The inferred default gateway of a pod with address `ip`.
    pub fn gateway_for(&self, ip: IpAddr) -> Option<IpAddr> {
        match (self, ip) {
            (PodAttachment::Routed { gateway_v4, .. }, IpAddr::V4(_)) => gateway_v4.map(IpAddr::V4),
            (PodAttachment::Routed { gateway_v6, .. }, IpAddr::V6(_)) => gateway_v6.map(IpAddr::V6),
            (PodAttachment::Bridged, _) => None,
        }
    }

    /// The proxy-ARP default for routed host veths whose sysctl is absent.
    pub fn proxy_arp(&self) -> Option<bool> {
        match self {
            PodAttachment::Routed { proxy_arp, .. } => Some(*proxy_arp),
            PodAttachment::Bridged => None,
        }
    }
}

/// Pod attachment per node (by node name), with a default for nodes not
/// listed. `Hints::default()` knows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    pub nodes: BTreeMap<String, PodAttachment>,
    pub default: Option<PodAttachment>,
}

impl Hints {
    /// The same attachment on every node.
    pub fn everywhere(attachment: PodAttachment) -> Hints {
        Hints {
            nodes: BTreeMap::new(),
            default: Some(attachment),
        }
    }

    /// The attachment of `node`, if known.
    pub fn node(&self, node: &str) -> Option<&PodAttachment> {
        self.nodes.get(node).or(self.default.as_ref())
    }
}
