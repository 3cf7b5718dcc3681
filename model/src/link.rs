//! Links (`ip -d link`) and addresses (`ip addr`).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A network interface, with the kind-specific details cnictl reasons about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// `linkinfo.info_kind` (`bridge`, `veth`, `vxlan`, `ipip`, …); `None`
    /// for physical devices and loopback, which have no link info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `link_type` (`ether`, `loopback`, `none` for tunl0, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_type: Option<String>,
    /// Name of the master device (the bridge a veth is enslaved to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    pub mtu: u32,
    /// Lower-case, zero-padded `aa:bb:cc:dd:ee:ff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Interface flags as `ip` prints them (`UP`, `LOWER_UP`, `NOARP`, …).
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operstate: Option<String>,
    /// For a veth (or any link with a peer): the peer's ifindex (`link_index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ifindex: Option<u32>,
    /// The netns id the peer lives in (`link_netnsid`), when not this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_netnsid: Option<i32>,
    /// Name of the lower link (`link` in `ip -j`, e.g. `eth0@if5` peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<VxlanInfo>,
    /// IPIP / GRE style point-to-point tunnel details (tunl0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelInfo>,
}

impl Link {
    /// [`Link::kind`] of a device whose kind was not collected (a text
    /// `ip link` without `-d`): it may be a NIC, a VXLAN or IPIP device or
    /// anything else, so a path through it cannot be answered.
    pub const KIND_UNKNOWN: &'static str = "unknown";

    pub fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }

    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind.as_deref() == Some(kind)
    }
}

/// VXLAN device parameters (`ip -d link` `info_data`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanInfo {
    pub vni: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    /// Fixed remote or multicast group; `None` for FDB-driven devices (Flannel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    /// UDP destination port (Flannel 8472, IANA 4789).
    pub port: u16,
    #[serde(default)]
    pub learning: bool,
    /// The underlay device (`dev eth0`), by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Don't-Fragment on the outer packets (`df set|unset|inherit`); `None`
    /// when the dump does not say (kernels before 5.2, which behave as
    /// `unset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub df: Option<VxlanDf>,
}

/// How a VXLAN device sets DF on its outer IPv4 header (IFLA_VXLAN_DF).
/// `unset`, the kernel default, lets the underlay fragment an outer packet
/// larger than its MTU; `inherit` copies the inner packet's DF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VxlanDf {
    Unset,
    Set,
    Inherit,
}

impl VxlanDf {
    /// The outer DF for an inner packet with `inner_df`; `None` (not
    /// reported) is the kernel default, `unset`.
    pub fn outer(df: Option<VxlanDf>, inner_df: bool) -> bool {
        match df {
            Some(VxlanDf::Set) => true,
            Some(VxlanDf::Inherit) => inner_df,
            Some(VxlanDf::Unset) | None => false,
        }
    }

    /// The word `ip -d link` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            VxlanDf::Unset => "unset",
            VxlanDf::Set => "set",
            VxlanDf::Inherit => "inherit",
        }
    }
}

/// Point-to-point tunnel parameters (IPIP's tunl0: both usually `any`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
}

/// One interface address. `addr` keeps the host bits (`10.244.1.1/24`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    pub ifindex: u32,
    pub dev: String,
    pub addr: IpNet,
    /// `host`, `link`, `global`, …
    #[serde(default = "global")]
    pub scope: String,
    /// Peer address of a point-to-point address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpNet>,
}

fn global() -> String {
    "global".to_string()
}

/// A one-line summary in `ip -d link` terms:
/// `flannel.1 vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472 nolearning mtu 1450 state UNKNOWN`.
impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(kind) = &self.kind {
            write!(f, " {kind}")?;
        }
        if let Some(v) = &self.vxlan {
            write!(f, " id {}", v.vni)?;
            if let Some(r) = v.remote {
                write!(f, " remote {r}")?;
            }
            if let Some(l) = v.local {
                write!(f, " local {l}")?;
            }
            if let Some(d) = &v.dev {
                write!(f, " dev {d}")?;
            }
            write!(f, " dstport {}", v.port)?;
            if !v.learning {
                f.write_str(" nolearning")?;
            }
        }
        if let Some(m) = &self.master {
            write!(f, " master {m}")?;
        }
        write!(f, " mtu {}", self.mtu)?;
        if let Some(mac) = &self.mac {
            write!(f, " link/ether {mac}")?;
        }
        if let Some(s) = &self.operstate {
            write!(f, " state {s}")?;
        }
        Ok(())
    }
}

/// As `ip addr` lists it: `10.244.1.1/24 dev cni0 scope global`.
impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} dev {} scope {}", self.addr, self.dev, self.scope)
    }
}
