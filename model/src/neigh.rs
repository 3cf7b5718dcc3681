//! Neighbour (ARP/NDP) entries and bridge FDB entries.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A neighbour entry (`ip neigh`). cnictl spells it "neighbour" throughout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neigh {
    pub dst: IpAddr,
    pub dev: String,
    /// Lower-case zero-padded MAC; `None` for INCOMPLETE/FAILED entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lladdr: Option<String>,
    /// NUD state bits as `ip` prints them (`PERMANENT`, `REACHABLE`, `STALE`, …).
    #[serde(default)]
    pub state: Vec<String>,
    #[serde(default)]
    pub router: bool,
    #[serde(default)]
    pub proxy: bool,
}

impl Neigh {
    /// Usable for forwarding: it has a link-layer address and is not FAILED
    /// or INCOMPLETE.
    pub fn is_usable(&self) -> bool {
        self.lladdr.is_some()
            && !self
                .state
                .iter()
                .any(|s| s == "FAILED" || s == "INCOMPLETE")
    }
}

/// A bridge forwarding database entry (`bridge fdb`), including VXLAN
/// `dst` entries that map a remote VTEP MAC to its underlay IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    pub mac: String,
    /// The port the entry is on (a bridge port, or the VXLAN device).
    pub dev: String,
    /// Remote VTEP underlay IP (VXLAN entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The bridge the port belongs to, for `master` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// `self`, `master`, `extern_learn`, `router`, `offload`, …
    #[serde(default)]
    pub flags: Vec<String>,
    /// `permanent`, `static`, or empty for learned entries.
    #[serde(default)]
    pub state: String,
}

impl FdbEntry {
    /// Flannel and Calico VXLAN devices use all-zero MAC entries for
    /// head-end replication / default destinations.
    pub fn is_all_zero(&self) -> bool {
        self.mac == "00:00:00:00:00:00"
    }
}

/// As `ip neigh` prints it: `10.244.2.0 dev flannel.1 lladdr aa:… PERMANENT`.
impl std::fmt::Display for Neigh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} dev {}", self.dst, self.dev)?;
        if let Some(ll) = &self.lladdr {
            write!(f, " lladdr {ll}")?;
        }
        if self.router {
            f.write_str(" router")?;
        }
        if self.proxy {
            f.write_str(" proxy")?;
        }
        for s in &self.state {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

/// As `bridge fdb` prints it: `aa:… dev flannel.1 dst 192.0.2.12 self permanent`.
impl std::fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} dev {}", self.mac, self.dev)?;
        if let Some(v) = self.vlan {
            write!(f, " vlan {v}")?;
        }
        if let Some(d) = self.dst {
            write!(f, " dst {d}")?;
        }
        if let Some(p) = self.port {
            write!(f, " port {p}")?;
        }
        if let Some(v) = self.vni {
            write!(f, " vni {v}")?;
        }
        if let Some(m) = &self.master {
            write!(f, " master {m}")?;
        }
        for fl in &self.flags {
            if fl != "master" || self.master.is_none() {
                write!(f, " {fl}")?;
            }
        }
        if !self.state.is_empty() {
            write!(f, " {}", self.state)?;
        }
        Ok(())
    }
}
