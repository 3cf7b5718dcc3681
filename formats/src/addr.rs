//! `ip -j addr show` → [`Addr`]s, in dump order (link by link).
//!
//! `local` + `prefixlen` is [`Addr::addr`] (host bits kept); a different
//! `address` is the peer of a point-to-point address ([`Addr::peer`], same
//! prefix length). `scope` is kept as printed (`global` when absent).

use cnictl_model::Addr;
use ipnet::IpNet;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::net::IpAddr;

use super::json::json_line;
use super::json::{arrays, Scalar};
use super::ParseError;

/// Parses an `ip -j addr show` dump.
pub fn parse_addrs(text: &str) -> Result<Vec<Addr>, ParseError> {
    let mut out = Vec::new();
    arrays::<JLinkAddrs, _>(text, |_, links| {
        for l in links {
            for a in l.addr_info.into_iter().flatten() {
                out.push(a.into_model(l.ifindex, &l.ifname));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

#[derive(Deserialize)]
struct JLinkAddrs {
    ifindex: u32,
    ifname: String,
    #[serde(default)]
    addr_info: Vec<MaybeAddr>,
}

/// Older iproute2 printed `{}` placeholders in `addr_info` for addresses
/// filtered out by `-4`/`-6`: those are skipped.
#[derive(Deserialize)]
#[serde(try_from = "JAddrRaw")]
struct MaybeAddr(Option<JAddr>);

impl IntoIterator for MaybeAddr {
    type Item = JAddr;
    type IntoIter = std::option::IntoIter<JAddr>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

struct JAddr {
    local: IpNet,
    peer: Option<IpNet>,
    scope: String,
}

#[derive(Deserialize)]
struct JAddrRaw {
    #[serde(default)]
    local: Option<IpAddr>,
    #[serde(default)]
    address: Option<IpAddr>,
    #[serde(default)]
    prefixlen: Option<u8>,
    #[serde(default, deserialize_with = "de_scope_name")]
    scope: Option<String>,
}

impl TryFrom<JAddrRaw> for MaybeAddr {
    type Error = String;
    fn try_from(r: JAddrRaw) -> Result<Self, String> {
        let (local, prefixlen) = match (r.local, r.prefixlen) {
            (None, None) => return Ok(MaybeAddr(None)),
            (Some(l), Some(p)) => (l, p),
            (Some(_), None) => return Err("address without prefixlen".into()),
            (None, Some(_)) => return Err("prefixlen without local address".into()),
        };
        let net = |ip: IpAddr| {
            IpNet::new(ip, prefixlen)
                .map_err(|_| format!("prefixlen {prefixlen} too long for {ip}"))
        };
        Ok(MaybeAddr(Some(JAddr {
            local: net(local)?,
            peer: match r.address {
                Some(a) if a != local => Some(net(a)?),
                _ => None,
            },
            scope: r.scope.unwrap_or_else(|| "global".into()),
        })))
    }
}

impl JAddr {
    fn into_model(self, ifindex: u32, dev: &str) -> Addr {
        Addr {
            ifindex,
            dev: dev.to_string(),
            addr: self.local,
            scope: self.scope,
            peer: self.peer,
        }
    }
}

/// Scope as a name; numbers (unnamed scopes) are kept as decimal strings.
fn de_scope_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Str(s) => Ok(Some(s.into_owned())),
        Scalar::Num(n) => Ok(Some(n.to_string())),
        Scalar::Null => Ok(None),
        other => Err(de::Error::custom(format!(
            "expected a scope, found {other:?}"
        ))),
    }
}

// ---- writer: `ip -j addr` ---------------------------------------------------

#[derive(serde::Serialize)]
struct AddrLinkOut<'a> {
    ifindex: u32,
    ifname: &'a str,
    addr_info: Vec<AddrOut<'a>>,
}

#[derive(serde::Serialize)]
struct AddrOut<'a> {
    family: &'static str,
    local: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<IpAddr>,
    prefixlen: u8,
    scope: &'a str,
}

/// `addrs` as `ip -j addr` prints them: consecutive addresses of the same
/// link grouped under it.
pub fn write_addrs(addrs: &[Addr]) -> String {
    let mut out: Vec<AddrLinkOut> = Vec::new();
    for a in addrs {
        let entry = addr_out(a);
        match out.last_mut() {
            Some(l) if l.ifindex == a.ifindex && l.ifname == a.dev => l.addr_info.push(entry),
            _ => out.push(AddrLinkOut {
                ifindex: a.ifindex,
                ifname: &a.dev,
                addr_info: vec![entry],
            }),
        }
    }
    json_line(&out)
}

/// `ip`'s word for an address family.
fn family_word(ip: IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "inet6"
    } else {
        "inet"
    }
}

fn addr_out(a: &Addr) -> AddrOut<'_> {
    AddrOut {
        family: family_word(a.addr.addr()),
        local: a.addr.addr(),
        address: a.peer.map(|p| p.addr()),
        prefixlen: a.addr.prefix_len(),
        scope: &a.scope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_and_bad_prefix() {
        let text = r#"[{"ifindex":5,"ifname":"ppp0","addr_info":[{"family":"inet","local":"10.0.0.1","address":"10.0.0.2","prefixlen":32}]}]"#;
        let a = &parse_addrs(text).unwrap()[0];
        assert_eq!(a.peer, Some("10.0.0.2/32".parse().unwrap()));
        assert_eq!(a.scope, "global");
        let bad =
            r#"[{"ifindex":5,"ifname":"x","addr_info":[{"local":"10.0.0.1","prefixlen":40}]}]"#;
        assert!(parse_addrs(bad)
            .unwrap_err()
            .message()
            .contains("prefixlen 40"));
    }
}
