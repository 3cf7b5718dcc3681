//! Routes of every table, as `ip -d route show table all` lists them.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A routing table id. The real id (the kernel's RTA_TABLE), not the 8-bit
/// header field, which says 252 for every table above 255.
pub type TableId = u32;

pub const TABLE_LOCAL: TableId = 255;
pub const TABLE_MAIN: TableId = 254;
pub const TABLE_DEFAULT: TableId = 253;

/// Name of a well-known table, as iproute2 prints it.
pub fn table_name(id: TableId) -> String {
    match id {
        TABLE_LOCAL => "local".into(),
        TABLE_MAIN => "main".into(),
        TABLE_DEFAULT => "default".into(),
        other => other.to_string(),
    }
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub table: TableId,
    #[serde(rename = "type", default)]
    pub route_type: RouteType,
    /// `default` is `0.0.0.0/0` or `::/0`.
    pub dst: IpNet,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub onlink: bool,
    /// Multipath next hops (`nexthop via … weight …`); empty for single-path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthops: Vec<NextHop>,
    #[serde(default)]
    pub metric: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefsrc: Option<IpAddr>,
    /// Route flags other than onlink (`linkdown`, `dead`, `pervasive`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Route {
    /// A minimal unicast route in the main table, for building snapshots in
    /// code (generator, tests).
    pub fn unicast(dst: IpNet) -> Self {
        Route {
            table: TABLE_MAIN,
            route_type: RouteType::Unicast,
            dst,
            protocol: Protocol::BOOT,
            scope: Scope::UNIVERSE,
            gateway: None,
            dev: None,
            onlink: false,
            nexthops: Vec::new(),
            metric: 0,
            prefsrc: None,
            flags: Vec::new(),
        }
    }

    /// All paths of the route: the multipath next hops, or the single one.
    pub fn paths(&self) -> Vec<NextHop> {
        if !self.nexthops.is_empty() {
            return self.nexthops.clone();
        }
        vec![NextHop {
            gateway: self.gateway,
            dev: self.dev.clone(),
            weight: 1,
            onlink: self.onlink,
        }]
    }
}

/// Renders the route as `ip route` would print it, for evidence and hops.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.route_type != RouteType::Unicast {
            write!(f, "{} ", self.route_type)?;
        }
        if self.dst.prefix_len() == 0 {
            f.write_str("default")?;
        } else if self.dst.prefix_len() == self.dst.max_prefix_len() {
            write!(f, "{}", self.dst.addr())?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.table != TABLE_MAIN {
            write!(f, " table {}", table_name(self.table))?;
        }
        if self.protocol != Protocol::BOOT {
            write!(f, " proto {}", self.protocol)?;
        }
        if self.scope != Scope::UNIVERSE {
            write!(f, " scope {}", self.scope)?;
        }
        if let Some(src) = self.prefsrc {
            write!(f, " src {src}")?;
        }
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        for flag in &self.flags {
            write!(f, " {flag}")?;
        }
        for nh in &self.nexthops {
            f.write_str(" nexthop")?;
            if let Some(gw) = nh.gateway {
                write!(f, " via {gw}")?;
            }
            if let Some(dev) = &nh.dev {
                write!(f, " dev {dev}")?;
            }
            write!(f, " weight {}", nh.weight)?;
            if nh.onlink {
                f.write_str(" onlink")?;
            }
        }
        Ok(())
    }
}

/// One path of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHop {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// `ip` prints weight = rtnh_hops + 1.
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub onlink: bool,
}

fn one() -> u32 {
    1
}

/// The route type (`rtm_type`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    #[default]
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
}

impl RouteType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unicast" => RouteType::Unicast,
            "local" => RouteType::Local,
            "broadcast" => RouteType::Broadcast,
            "anycast" => RouteType::Anycast,
            "multicast" => RouteType::Multicast,
            "blackhole" => RouteType::Blackhole,
            "unreachable" => RouteType::Unreachable,
            "prohibit" => RouteType::Prohibit,
            "throw" => RouteType::Throw,
            "nat" => RouteType::Nat,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Anycast => "anycast",
            RouteType::Multicast => "multicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
            RouteType::Nat => "nat",
        }
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who installed a route (`rtm_protocol`). Serialized by name as iproute2's
/// rt_protos does, or as the decimal number for unnamed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

const PROTOCOLS: &[(u8, &str)] = &[
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (17, "mrouted"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

impl Protocol {
    pub const KERNEL: Protocol = Protocol(2);
    pub const BOOT: Protocol = Protocol(3);
    pub const STATIC: Protocol = Protocol(4);
    pub const BIRD: Protocol = Protocol(12);

    /// Parses a name (`bird`) or a number (`"80"`, as newer iproute2 prints
    /// protocols it has no name for).
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<u8>() {
            return Some(Protocol(n));
        }
        PROTOCOLS
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(n, _)| Protocol(*n))
    }

    pub fn name(self) -> Option<&'static str> {
        PROTOCOLS
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, s)| *s)
    }
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol::BOOT
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Protocol::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown route protocol {s:?}")))
    }
}

/// Route scope (`rtm_scope`), serialized by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(pub u8);

impl Scope {
    pub const UNIVERSE: Scope = Scope(0);
    pub const SITE: Scope = Scope(200);
    pub const LINK: Scope = Scope(253);
    pub const HOST: Scope = Scope(254);
    pub const NOWHERE: Scope = Scope(255);

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "global" | "universe" => Scope::UNIVERSE,
            "site" => Scope::SITE,
            "link" => Scope::LINK,
            "host" => Scope::HOST,
            "nowhere" => Scope::NOWHERE,
            n => Scope(n.parse().ok()?),
        })
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::UNIVERSE
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Scope::UNIVERSE => f.write_str("global"),
            Scope::SITE => f.write_str("site"),
            Scope::LINK => f.write_str("link"),
            Scope::HOST => f.write_str("host"),
            Scope::NOWHERE => f.write_str("nowhere"),
            Scope(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Scope::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown scope {s:?}")))
    }
}
