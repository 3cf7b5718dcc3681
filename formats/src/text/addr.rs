//! `ip addr show` text → [`Addr`]s, in dump order, as [`crate::addr`] maps
//! the JSON: `inet ADDR/LEN` keeps its host bits, `inet ADDR peer P/LEN` is
//! a point-to-point address with its peer, `scope` is kept as printed.
//!
//! Other indented lines (`link/…`, `valid_lft …`, `-d` details) carry
//! nothing cnictl models; flags after the scope (`dynamic`, `secondary`,
//! `noprefixroute`, …) and the IPv4 label are not modelled either. The text
//! form carries every field the JSON reader keeps.

use std::net::IpAddr;

use cnictl_model::Addr;
use ipnet::IpNet;

use super::link::header_link;
use super::{indented, lines, FromText, Toks};
use crate::ParseError;

/// Parses `ip addr show` text.
pub fn parse_addrs_text(text: &str) -> Result<FromText<Vec<Addr>>, ParseError> {
    let mut out = Vec::new();
    let mut cur: Option<(u32, String)> = None;
    for (no, line) in lines(text) {
        if !indented(line) {
            let (link, _) = header_link(no, line)?;
            cur = Some((link.ifindex, link.name));
            continue;
        }
        let mut t = Toks::new(no, line);
        let family = t.peek().unwrap_or_default();
        if family != "inet" && family != "inet6" {
            continue;
        }
        let Some((ifindex, dev)) = &cur else {
            return Err(t.err(Some(family), "a link header before its addresses"));
        };
        t.next();
        out.push(address(&mut t, *ifindex, dev)?);
    }
    Ok(FromText::full(out))
}

/// `ADDR[/LEN] [peer P/LEN] [brd B] [scope S] …`.
fn address(t: &mut Toks<'_>, ifindex: u32, dev: &str) -> Result<Addr, ParseError> {
    let local = t.value("inet", "an address like 10.0.0.1/24")?;
    let mut peer: Option<IpNet> = None;
    let mut scope = "global".to_string();
    while let Some(key) = t.next() {
        match key {
            "peer" => peer = Some(t.parsed(key, "a peer address with prefix length")?),
            "brd" | "metric" => {
                t.value(key, "a value")?;
            }
            "scope" => scope = t.value(key, "a scope")?.to_string(),
            _ => {}
        }
    }
    let addr = match (local.split_once('/'), peer) {
        (Some(_), _) => local.parse::<IpNet>().ok(),
        (None, Some(p)) => local
            .parse::<IpAddr>()
            .ok()
            .and_then(|ip| IpNet::new(ip, p.prefix_len()).ok()),
        (None, None) => local.parse::<IpAddr>().ok().map(IpNet::from),
    };
    let addr = addr.ok_or_else(|| t.err(Some(local), "an address like 10.0.0.1/24"))?;
    Ok(Addr {
        ifindex,
        dev: dev.to_string(),
        addr,
        scope,
        peer,
    })
}
