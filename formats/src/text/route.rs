//! `ip -d route show table all` text (or plain `ip route`) → [`Route`]s,
//! as [`crate::route`] maps the JSON.
//!
//! A route is `[TYPE] DST [from S] [tos T] [via [FAMILY] GW] [dev D] [table
//! T] [proto P] [scope S] [src A] [metric M] [FLAGS…] [pref P] [METRICS…]`,
//! multipath next hops on the following indented `nexthop via … dev …
//! weight N [onlink]` lines. Without `-d`, iproute2 leaves out what is the
//! default (type `unicast`, table `main`, proto `boot`, scope `global`),
//! which the model also defaults to; custom table names map as in the JSON
//! reader. `default` takes its family as there: from the gateway, source
//! or next hops, else from `pref` (printed for IPv6 only), else from the
//! previous route. Kernel metrics (`mtu`, `advmss`, `expires`, `hoplimit`,
//! …) are not modelled and skipped with their values.
//!
//! Plain `ip route` lists the IPv4 main table only: that is said in
//! [`FromText::lacks`] when no route of the dump names a table.

use std::net::IpAddr;

use cnictl_model::route::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{NextHop, Protocol, Route, RouteType, Scope, TableId};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{indented, lines, FromText, Toks};
use crate::json::parse_net;
use crate::route::custom_table_id;
use crate::ParseError;

/// Route flags, kept in [`Route::flags`] (`onlink` becomes [`Route::onlink`]).
const FLAGS: &[&str] = &[
    "onlink",
    "pervasive",
    "linkdown",
    "dead",
    "offload",
    "trap",
    "notify",
    "rt_offload",
    "rt_trap",
    "rt_offload_failed",
];

/// Keywords followed by one value that cnictl does not model.
const SKIPPED: &[&str] = &[
    "from",
    "tos",
    "dsfield",
    "nhid",
    "pref",
    "expires",
    "error",
    "hoplimit",
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "initcwnd",
    "initrwnd",
    "ssthresh",
    "rto_min",
    "quickack",
    "congctl",
    "features",
    "fastopen_no_cookie",
    "realms",
    "age",
    "used",
    "users",
    "ttl-propagate",
];

/// Parses `ip [-d] route show [table all]` text.
pub fn parse_routes_text(text: &str) -> Result<FromText<Vec<Route>>, ParseError> {
    let mut routes: Vec<(Route, Pending)> = Vec::new();
    for (no, line) in lines(text) {
        let mut t = Toks::new(no, line);
        if indented(line) && t.peek() == Some("nexthop") {
            let Some((r, _)) = routes.last_mut() else {
                return Err(t.err(t.peek(), "a route before its next hops"));
            };
            t.next();
            r.nexthops.push(nexthop(&mut t)?);
            continue;
        }
        routes.push(route(&mut t)?);
    }
    let prints_pref = routes.iter().any(|(_, p)| p.pref);
    let named_table = routes.iter().any(|(_, p)| p.table_named);
    let mut last_v6: Option<bool> = None;
    let out: Vec<Route> = routes
        .into_iter()
        .map(|(r, p)| p.finish(r, prints_pref, &mut last_v6))
        .collect();
    let mut res = FromText::full(out);
    if !named_table && !res.value.is_empty() {
        res.lacks.push(
            "the local table (the node's own addresses), other tables and IPv6 routes: it is plain `ip route` (`ip -d route show table all` lists every table)"
                .into(),
        );
    }
    Ok(res)
}

/// What a line said that is settled only once the whole dump is read.
#[derive(Default)]
struct Pending {
    default_dst: bool,
    pref: bool,
    table_named: bool,
}

impl Pending {
    fn finish(self, mut r: Route, prints_pref: bool, last_v6: &mut Option<bool>) -> Route {
        if self.default_dst {
            let v6 = r
                .gateway
                .or(r.prefsrc)
                .or(r.nexthops.iter().find_map(|n| n.gateway))
                .map(|ip| ip.is_ipv6())
                .or(prints_pref.then_some(self.pref))
                .or(*last_v6)
                .unwrap_or(false);
            r.dst = if v6 {
                IpNet::V6(Ipv6Net::default())
            } else {
                IpNet::V4(Ipv4Net::default())
            };
        }
        *last_v6 = Some(r.dst.addr().is_ipv6());
        r
    }
}

fn route(t: &mut Toks<'_>) -> Result<(Route, Pending), ParseError> {
    let mut first = t.value("", "a route destination")?;
    let mut route_type = RouteType::Unicast;
    if let Some(ty) = RouteType::parse(first) {
        route_type = ty;
        first = t.value(first, "a route destination")?;
    }
    let mut p = Pending::default();
    let dst = match first {
        "default" | "any" => {
            p.default_dst = true;
            IpNet::V4(Ipv4Net::default())
        }
        s => parse_net(s)
            .map(|n| n.trunc())
            .ok_or_else(|| t.err(Some(s), "a route destination (default or a prefix)"))?,
    };
    let mut r = Route::unicast(dst);
    r.route_type = route_type;
    while let Some(key) = t.next() {
        attribute(t, key, &mut r, &mut p)?;
    }
    Ok((r, p))
}

fn attribute(
    t: &mut Toks<'_>,
    key: &str,
    r: &mut Route,
    p: &mut Pending,
) -> Result<(), ParseError> {
    match key {
        "via" => r.gateway = Some(via(t)?),
        "dev" => r.dev = Some(t.value(key, "a device name")?.to_string()),
        "table" => {
            r.table = table(t.value(key, "a table name or id")?);
            p.table_named = true;
        }
        "proto" => {
            let v = t.value(key, "a route protocol")?;
            r.protocol = Protocol::parse(v)
                .ok_or_else(|| t.err(Some(v), "an rt_protos name or a number 0-255"))?;
        }
        "scope" => {
            let v = t.value(key, "a scope")?;
            r.scope = Scope::parse(v).ok_or_else(|| t.err(Some(v), "a scope name or number"))?;
        }
        "src" => r.prefsrc = Some(t.parsed(key, "an IP address")?),
        "metric" => r.metric = t.parsed(key, "a metric")?,
        "onlink" => r.onlink = true,
        "pref" => {
            t.value(key, "a preference")?;
            p.pref = true;
        }
        f if FLAGS.contains(&f) => r.flags.push(f.to_string()),
        k if SKIPPED.contains(&k) => skip_value(t, k)?,
        other => {
            return Err(t.err(
                Some(other),
                "a route attribute (via, dev, table, proto, scope, src, metric, a flag)",
            ))
        }
    }
    Ok(())
}

/// A kernel metric's value; `lock` may come first (`mtu lock 1400`).
fn skip_value(t: &mut Toks<'_>, key: &str) -> Result<(), ParseError> {
    if t.value(key, "a value")? == "lock" {
        t.value(key, "a value")?;
    }
    Ok(())
}

/// `via GW` or `via inet6 GW` (RTA_VIA, IPv4 over an IPv6 next hop).
fn via(t: &mut Toks<'_>) -> Result<IpAddr, ParseError> {
    let mut v = t.value("via", "a gateway address")?;
    if v == "inet" || v == "inet6" {
        v = t.value(v, "a gateway address")?;
    }
    v.parse().map_err(|_| t.err(Some(v), "a gateway address"))
}

fn table(name: &str) -> TableId {
    match name {
        "main" => TABLE_MAIN,
        "local" => TABLE_LOCAL,
        "default" => TABLE_DEFAULT,
        "unspec" => 0,
        n => n.parse().unwrap_or_else(|_| custom_table_id(n)),
    }
}

/// `nexthop via GW dev D weight N [onlink]`.
fn nexthop(t: &mut Toks<'_>) -> Result<NextHop, ParseError> {
    let mut nh = NextHop {
        gateway: None,
        dev: None,
        weight: 1,
        onlink: false,
    };
    while let Some(key) = t.next() {
        match key {
            "via" => nh.gateway = Some(via(t)?),
            "dev" => nh.dev = Some(t.value(key, "a device name")?.to_string()),
            "weight" => nh.weight = t.parsed(key, "a weight")?,
            "onlink" => nh.onlink = true,
            f if FLAGS.contains(&f) => {}
            k if SKIPPED.contains(&k) => skip_value(t, k)?,
            other => {
                return Err(t.err(
                    Some(other),
                    "a next hop attribute (via, dev, weight, onlink)",
                ))
            }
        }
    }
    Ok(nh)
}
