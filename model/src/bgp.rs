//! BGP state as BIRD reports it (`show protocols all`, `show route all`).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What the node's BGP daemon said. Only BGP protocols matter to checks,
/// but all protocols are kept (kernel, static, device …) as evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bgp {
    /// Daemon and version when known (`BIRD 2.0.12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<String>,
    pub protocols: Vec<BgpProtocol>,
    /// `None` when bird-routes.txt was not collected.
    #[serde(default)]
    pub routes: Option<Vec<BgpRoute>>,
}

/// One BIRD protocol instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpProtocol {
    pub name: String,
    /// `BGP`, `Kernel`, `Static`, `Device`, `Direct`, …
    pub proto: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Protocol state: `up`, `start`, `down`, …
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The info column (`Established`, `Active  Socket: Connection refused`).
    #[serde(default)]
    pub info: String,
    /// BGP state line (`Established`, `Active`, `Connect`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_address: Option<IpAddr>,
    /// The address this end speaks from (`Source address`, shown once the
    /// session is up): a node whose autodetection picked the wrong
    /// interface shows it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_as: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_as: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_imported: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_exported: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl BgpProtocol {
    pub fn is_bgp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("bgp")
    }

    pub fn is_established(&self) -> bool {
        self.bgp_state.as_deref() == Some("Established")
            || (self.state == "up" && self.info.starts_with("Established"))
    }
}

/// One route in BIRD's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpRoute {
    pub prefix: IpNet,
    /// Route kind: `unicast`, `blackhole`, `unreachable`, …
    #[serde(default = "unicast")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// The protocol that supplied it (`Mesh_192_0_2_12`, `static1`).
    pub protocol: String,
    /// `BGP.next_hop`, when a BGP route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_next_hop: Option<IpAddr>,
    /// Marked `*` (preferred) by BIRD.
    #[serde(default)]
    pub best: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_path: Option<String>,
}

fn unicast() -> String {
    "unicast".into()
}
