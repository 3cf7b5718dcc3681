//! `ip -d -j route show table all` → [`Route`]s.
//!
//! Tolerated differences between iproute2 versions and invocations:
//! - `table` absent means `main` (plain `ip route`); `main`/`local`/`default`
//!   /`unspec`, numbers and numeric strings are read as ids; any other name
//!   is a custom table from `rt_tables` whose id the dump does not carry: it
//!   maps to [`custom_table_id`] (FNV-1a of the name with the top bit set,
//!   so it never collides with a numeric id below 2³¹) and the name is kept
//!   by [`parse_routes_with_names`].
//! - `protocol` absent means `boot` (iproute2 omits it without `-d`);
//!   numeric protocols print as strings (`"80"`).
//! - `type` absent means `unicast`; `scope` absent means `global`.
//! - `dst` is `default`, a prefix, or a bare address for a host route
//!   (`"10.244.1.2"` is a /32). The family of `default` comes from the
//!   gateway, prefsrc or next hops, else from `pref` (iproute2 versions that
//!   print it print it for every IPv6 route and never for IPv4: so when any
//!   route of the array has `pref`, a default without it is IPv4), else from
//!   the closest earlier route of the same array, else IPv4: an IPv6 default
//!   becomes `::/0`.
//! - `onlink` in `flags` becomes [`Route::onlink`]; other flags are kept.
//! - multipath `nexthops` keep their `weight` (default 1); a `via` object
//!   (`{"family":"inet6","host":…}`, IPv4 over IPv6 next hops) is a gateway.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_model::route::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{NextHop, Protocol, Route, RouteType, Scope, TableId};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::json::json_line;
use super::json::{arrays, lenient_u32, parse_net, present, Scalar};
use super::ParseError;
use cnictl_model::route::table_name;

/// Parses an `ip -j route` dump (one or several concatenated arrays).
pub fn parse_routes(text: &str) -> Result<Vec<Route>, ParseError> {
    parse_routes_with_names(text).map(|(routes, _)| routes)
}

/// Like [`parse_routes`], also returning the names of custom tables and the
/// ids they were mapped to.
pub fn parse_routes_with_names(
    text: &str,
) -> Result<(Vec<Route>, BTreeMap<TableId, String>), ParseError> {
    let mut out = Vec::new();
    let mut names = BTreeMap::new();
    arrays::<JRoute, _>(text, |_, items| {
        out.reserve(items.len());
        let prints_pref = items.iter().any(|j| j.pref);
        let mut last_v6: Option<bool> = None;
        for j in items {
            if let Some((id, name)) = &j.table.name {
                names.insert(*id, name.clone());
            }
            let route = j.into_route(prints_pref, &mut last_v6);
            out.push(route);
        }
        Ok(())
    })?;
    Ok((out, names))
}

/// The id a custom table name maps to: 32-bit FNV-1a of the name with the
/// top bit set. Stable across runs and machines, documented in the module.
pub fn custom_table_id(name: &str) -> TableId {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h | 0x8000_0000
}

#[derive(Deserialize)]
struct JRoute<'a> {
    #[serde(rename = "type", default, deserialize_with = "de_type")]
    route_type: RouteType,
    #[serde(deserialize_with = "de_dst")]
    dst: Dst,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    via: Option<JVia<'a>>,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default = "main_table", deserialize_with = "de_table")]
    table: JTable,
    #[serde(default, deserialize_with = "de_protocol")]
    protocol: Protocol,
    #[serde(default, deserialize_with = "de_scope")]
    scope: Scope,
    #[serde(default, deserialize_with = "lenient_u32")]
    metric: Option<u32>,
    #[serde(default)]
    prefsrc: Option<IpAddr>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default, borrow)]
    nexthops: Vec<JNextHop<'a>>,
    #[serde(default, deserialize_with = "present")]
    pref: bool,
}

#[derive(Deserialize)]
struct JNextHop<'a> {
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default, borrow)]
    via: Option<JVia<'a>>,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    weight: Option<u32>,
    #[serde(default)]
    flags: Vec<String>,
}

/// `"via": {"family": "inet6", "host": "fe80::1"}` (RTA_VIA).
#[derive(Deserialize)]
struct JVia<'a> {
    #[serde(default, borrow)]
    #[allow(dead_code)]
    family: Option<Cow<'a, str>>,
    host: IpAddr,
}

enum Dst {
    Default,
    Net(IpNet),
}

struct JTable {
    id: TableId,
    name: Option<(TableId, String)>,
}

fn main_table() -> JTable {
    JTable {
        id: TABLE_MAIN,
        name: None,
    }
}

impl JRoute<'_> {
    /// Builds the model route; `prints_pref` says the array's dumper prints
    /// `pref` for IPv6 routes, `last_v6` carries the family of the previous
    /// route of the array, both for `default` routes without other hints.
    fn into_route(self, prints_pref: bool, last_v6: &mut Option<bool>) -> Route {
        let gateway = self.gateway.or(self.via.map(|v| v.host));
        let nexthops: Vec<NextHop> = self
            .nexthops
            .into_iter()
            .map(JNextHop::into_model)
            .collect();
        let dst = match self.dst {
            Dst::Net(n) => n,
            Dst::Default => {
                let hint = gateway
                    .or(self.prefsrc)
                    .or(nexthops.iter().find_map(|n| n.gateway))
                    .map(|ip| ip.is_ipv6())
                    .or(prints_pref.then_some(self.pref))
                    .or(*last_v6)
                    .unwrap_or(false);
                default_net(hint)
            }
        };
        *last_v6 = Some(dst.addr().is_ipv6());
        let (onlink, flags) = split_onlink(self.flags);
        Route {
            table: self.table.id,
            route_type: self.route_type,
            dst,
            protocol: self.protocol,
            scope: self.scope,
            gateway,
            dev: self.dev,
            onlink,
            nexthops,
            metric: self.metric.unwrap_or(0),
            prefsrc: self.prefsrc,
            flags,
        }
    }
}

impl JNextHop<'_> {
    fn into_model(self) -> NextHop {
        let (onlink, _) = split_onlink(self.flags);
        NextHop {
            gateway: self.gateway.or(self.via.map(|v| v.host)),
            dev: self.dev,
            weight: self.weight.unwrap_or(1),
            onlink,
        }
    }
}

/// `0.0.0.0/0` or `::/0` (ipnet's `Default` for each family).
fn default_net(v6: bool) -> IpNet {
    if v6 {
        IpNet::V6(Ipv6Net::default())
    } else {
        IpNet::V4(Ipv4Net::default())
    }
}

fn split_onlink(flags: Vec<String>) -> (bool, Vec<String>) {
    if !flags.iter().any(|f| f == "onlink") {
        return (false, flags);
    }
    (true, flags.into_iter().filter(|f| f != "onlink").collect())
}

fn de_type<'de, D: Deserializer<'de>>(d: D) -> Result<RouteType, D::Error> {
    let v = Scalar::deserialize(d)?;
    let s = v.as_str().unwrap_or_default();
    RouteType::parse(s).ok_or_else(|| de::Error::custom(format!("unknown route type {v:?}")))
}

fn de_dst<'de, D: Deserializer<'de>>(d: D) -> Result<Dst, D::Error> {
    let v = Scalar::deserialize(d)?;
    match v.as_str() {
        Some("default" | "any") => Ok(Dst::Default),
        Some(s) => parse_net(s)
            .map(|n| Dst::Net(n.trunc()))
            .ok_or_else(|| de::Error::custom(format!("invalid route dst {s:?}"))),
        None => Err(de::Error::custom(format!(
            "expected a route dst string, found {v:?}"
        ))),
    }
}

fn de_table<'de, D: Deserializer<'de>>(d: D) -> Result<JTable, D::Error> {
    let v = Scalar::deserialize(d)?;
    if let Some(n) = v.as_u64() {
        let id = TableId::try_from(n)
            .map_err(|_| de::Error::custom(format!("table id {n} out of range")))?;
        return Ok(JTable { id, name: None });
    }
    let name = v
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| de::Error::custom(format!("expected a table name or id, found {v:?}")))?;
    let id = match name {
        "main" => TABLE_MAIN,
        "local" => TABLE_LOCAL,
        "default" => TABLE_DEFAULT,
        "unspec" => 0,
        custom => {
            let id = custom_table_id(custom);
            return Ok(JTable {
                id,
                name: Some((id, custom.to_string())),
            });
        }
    };
    Ok(JTable { id, name: None })
}

fn de_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
    let v = Scalar::deserialize(d)?;
    let parsed = match &v {
        Scalar::Num(n) => u8::try_from(*n).ok().map(Protocol),
        Scalar::Str(s) => Protocol::parse(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        de::Error::custom(format!(
            "unknown route protocol {v:?} (expected an rt_protos name or a number 0-255)"
        ))
    })
}

pub(crate) fn de_scope<'de, D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
    let v = Scalar::deserialize(d)?;
    let parsed = match &v {
        Scalar::Num(n) => u8::try_from(*n).ok().map(Scope),
        Scalar::Str(s) => Scope::parse(s),
        _ => None,
    };
    parsed.ok_or_else(|| de::Error::custom(format!("unknown scope {v:?}")))
}

// ---- writer: `ip -j route` --------------------------------------------------

#[derive(serde::Serialize)]
struct RouteOut<'a> {
    #[serde(rename = "type")]
    route_type: &'static str,
    dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<&'a str>,
    table: String,
    protocol: String,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefsrc: Option<IpAddr>,
    flags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pref: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nexthops: Vec<NextHopOut<'a>>,
}

#[derive(serde::Serialize)]
struct NextHopOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<&'a str>,
    weight: u32,
    flags: Vec<&'static str>,
}

/// `routes` as `ip -j route show table all` prints them (one array).
pub fn write_routes(routes: &[Route]) -> String {
    json_line(&routes.iter().map(route_out).collect::<Vec<_>>())
}

/// `default`, a bare address for host routes, else the prefix.
fn dst_text(dst: &IpNet) -> String {
    if dst.prefix_len() == 0 {
        "default".into()
    } else if dst.prefix_len() == dst.max_prefix_len() {
        dst.addr().to_string()
    } else {
        dst.to_string()
    }
}

fn route_out(r: &Route) -> RouteOut<'_> {
    let v6 = r.dst.addr().is_ipv6();
    let onlink = r.onlink.then_some("onlink");
    RouteOut {
        route_type: r.route_type.as_str(),
        dst: dst_text(&r.dst),
        gateway: r.gateway,
        dev: r.dev.as_deref(),
        table: table_name(r.table),
        protocol: r.protocol.to_string(),
        scope: r.scope.to_string(),
        metric: (r.metric != 0 || v6).then_some(r.metric),
        prefsrc: r.prefsrc,
        flags: onlink
            .into_iter()
            .chain(r.flags.iter().map(String::as_str))
            .collect(),
        // iproute2 prints the router preference for IPv6 routes only; the
        // parser uses it to tell an IPv6 `default` from an IPv4 one.
        pref: v6.then_some("medium"),
        nexthops: r.nexthops.iter().map(nexthop_out).collect(),
    }
}

fn nexthop_out(n: &NextHop) -> NextHopOut<'_> {
    NextHopOut {
        gateway: n.gateway,
        dev: n.dev.as_deref(),
        weight: n.weight,
        flags: if n.onlink { vec!["onlink"] } else { Vec::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_for_plain_ip_route_output() {
        let r = parse_routes(r#"[{"dst":"10.0.0.0/8","dev":"eth0","flags":[]}]"#).unwrap();
        assert_eq!(r[0].table, TABLE_MAIN);
        assert_eq!(r[0].protocol, Protocol::BOOT);
        assert_eq!(r[0].route_type, RouteType::Unicast);
        assert_eq!(r[0].scope, Scope::UNIVERSE);
    }

    #[test]
    fn default_family_from_hints() {
        // array 1 prints `pref` (IPv6 routes have it): a default without it
        // is IPv4; array 2 has no `pref` at all: the previous route decides.
        let text = r#"[{"dst":"default","gateway":"2001:db8::1"},
            {"type":"unreachable","dst":"default","pref":"medium"},
            {"dst":"2001:db8::/64","dev":"eth0","pref":"medium"},{"type":"blackhole","dst":"default"}]
            [{"type":"blackhole","dst":"default"},{"dst":"2001:db8::/64"},{"type":"throw","dst":"default"}]"#;
        let r = parse_routes(text).unwrap();
        let dsts: Vec<String> = r.iter().map(|r| r.dst.to_string()).collect();
        assert_eq!(
            dsts,
            [
                "::/0",
                "::/0",
                "2001:db8::/64",
                "0.0.0.0/0",
                "0.0.0.0/0",
                "2001:db8::/64",
                "::/0"
            ]
        );
    }

    #[test]
    fn custom_table_names_are_stable_and_kept() {
        let (r, names) =
            parse_routes_with_names(r#"[{"dst":"10.1.0.0/16","table":"calico"}]"#).unwrap();
        let id = custom_table_id("calico");
        assert!(id >= 0x8000_0000);
        assert_eq!(r[0].table, id);
        assert_eq!(names.get(&id).map(String::as_str), Some("calico"));
    }

    #[test]
    fn bad_values_report_position() {
        let err =
            parse_routes("[{\"dst\":\"10.0.0.0/8\"},\n {\"dst\":\"10.0.0.0/99\"}]").unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.message().contains("invalid route dst"), "{err}");
        let err = parse_routes(r#"[{"dst":"default","protocol":"nosuch"}]"#).unwrap_err();
        assert!(err.message().contains("unknown route protocol"), "{err}");
        let err = parse_routes(r#"[{"dst":"default","type":"weird"}]"#).unwrap_err();
        assert!(err.message().contains("unknown route type"), "{err}");
    }
}
