//! `ip -d link show` (and `ip link show`) text → [`Link`]s, as
//! [`crate::link`] maps the JSON.
//!
//! A record is a header line `IDX: NAME[@PEER]: <FLAGS> mtu N … state S …`,
//! the `link/TYPE ADDR brd …` line, and with `-d` a line per link-info kind
//! (`vxlan id 1 local … dev eth0 … dstport 8472 nolearning …`, `veth`,
//! `bridge …`, `bridge_slave …`); `altname` lines are skipped.
//!
//! What the text cannot carry: without `-d` there is no kind and no VXLAN or
//! tunnel details (reported in [`FromText::lacks`]): veths (a peer in
//! another namespace) and bridges (named as `master`) are told, every other
//! device gets [`Link::KIND_UNKNOWN`] so that the dataplane answers
//! "unknown" for a path through it rather than guess; a peer in a named
//! namespace prints as `link-netns NAME`, not its netns id, so
//! [`Link::peer_netnsid`] is known only from `link-netnsid N`.

use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_model::cidr::normalize_mac;
use cnictl_model::{Link, TunnelInfo, VxlanDf, VxlanInfo};

use super::{indented, lines, FromText, Toks};
use crate::ParseError;

/// Tunnel kinds whose details have IPIP-style `remote`/`local`/`ttl`.
const TUNNEL_KINDS: &[&str] = &[
    "ipip",
    "sit",
    "gre",
    "gretap",
    "ip6tnl",
    "ip6gre",
    "ip6gretap",
];

/// Parses `ip [-d] link show` text.
pub fn parse_links_text(text: &str) -> Result<FromText<Vec<Link>>, ParseError> {
    let mut raw: Vec<Raw> = Vec::new();
    for (no, line) in lines(text) {
        if !indented(line) {
            raw.push(header(no, line)?);
            continue;
        }
        let Some(cur) = raw.last_mut() else {
            return Err(Toks::new(no, line).err(line.split_whitespace().next(), "a link header"));
        };
        continuation(cur, no, line)?;
    }
    let detailed = raw.iter().any(|r| r.detailed);
    let index: HashMap<String, u32> = raw
        .iter()
        .map(|r| (r.link.name.clone(), r.link.ifindex))
        .collect();
    let mut links: Vec<Link> = raw
        .into_iter()
        .map(|r| r.resolve(&index, detailed))
        .collect();
    let mut out = FromText::full(Vec::new());
    if !detailed && !links.is_empty() {
        bridges_by_ports(&mut links);
        out.lacks.push(
            "device kinds and VXLAN/tunnel details: it is `ip link` without -d (`ip -d link show` prints them); veths and bridges are told by their peers and ports, every other device's kind is unknown and a path through it is answered `unknown`"
                .into(),
        );
    }
    out.value = links;
    Ok(out)
}

/// Without `-d`: a device other devices name as `master` is their bridge
/// (the CNI bridge of a node's pod veths). Called after [`Raw::resolve`]
/// marked every kind it could not tell as unknown.
fn bridges_by_ports(links: &mut [Link]) {
    let masters: Vec<String> = links.iter().filter_map(|l| l.master.clone()).collect();
    for l in links.iter_mut() {
        if masters.contains(&l.name) && l.kind.as_deref() == Some(Link::KIND_UNKNOWN) {
            l.kind = Some("bridge".into());
        }
    }
}

/// A link being read, with what its `@PEER` said until every name is known.
struct Raw {
    link: Link,
    peer: Option<String>,
    /// The `link/…` line was seen (the next indented line may be the kind).
    seen_type: bool,
    /// The kind line was seen (or cannot come any more).
    seen_kind: bool,
    detailed: bool,
    /// `link-netns NAME`: the peer is in another namespace, id unknown.
    netns_named: bool,
}

/// `IDX: NAME[@PEER]: <FLAGS> key value …`; values other than mtu,
/// master and state are not modelled.
pub(super) fn header_link(no: usize, line: &str) -> Result<(Link, Option<String>), ParseError> {
    let mut t = Toks::new(no, line);
    let idx = t.next().unwrap_or_default();
    let ifindex = idx
        .strip_suffix(':')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| t.err_last("an interface index like \"2:\""))?;
    let name = t.value("the index", "an interface name like \"eth0:\"")?;
    let name = name
        .strip_suffix(':')
        .filter(|n| !n.is_empty())
        .ok_or_else(|| t.err_last("an interface name ending in ':'"))?;
    let (name, peer) = match name.split_once('@') {
        Some((n, p)) => (n, Some(p.to_string())),
        None => (name, None),
    };
    let mut link = Link {
        ifindex,
        name: name.to_string(),
        ..Link::default()
    };
    let flags = t.value("the name", "interface flags like <UP,LOWER_UP>")?;
    link.flags = flags
        .strip_prefix('<')
        .and_then(|f| f.strip_suffix('>'))
        .ok_or_else(|| t.err_last("interface flags like <UP,LOWER_UP>"))?
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    header_pairs(&mut t, &mut link)?;
    Ok((link, peer))
}

fn header_pairs(t: &mut Toks<'_>, link: &mut Link) -> Result<(), ParseError> {
    while let Some(key) = t.next() {
        match key {
            "mtu" => link.mtu = t.parsed(key, "an MTU")?,
            "master" => link.master = Some(t.value(key, "a device name")?.to_string()),
            "state" => link.operstate = Some(t.value(key, "an operational state")?.to_string()),
            _ => {
                t.value(key, "a value")?;
            }
        }
    }
    Ok(())
}

fn header(no: usize, line: &str) -> Result<Raw, ParseError> {
    let (link, peer) = header_link(no, line)?;
    Ok(Raw {
        link,
        peer,
        seen_type: false,
        seen_kind: false,
        detailed: false,
        netns_named: false,
    })
}

fn continuation(cur: &mut Raw, no: usize, line: &str) -> Result<(), ParseError> {
    let mut t = Toks::new(no, line);
    let first = t.peek().unwrap_or_default();
    if first == "altname" {
        return Ok(());
    }
    if let Some(ty) = first.strip_prefix("link/") {
        t.next();
        cur.seen_type = true;
        cur.link.link_type = Some(ty.to_string());
        return link_line(cur, &mut t);
    }
    if !cur.seen_type {
        return Err(t.err(Some(first), "a \"link/TYPE\" line"));
    }
    if !cur.seen_kind {
        cur.seen_kind = true;
        cur.detailed = true;
        kind_line(&mut cur.link, &mut t)?;
    }
    Ok(())
}

/// `link/ether ADDR brd BRD [link-netns NAME | link-netnsid N] [promiscuity …]`.
fn link_line(cur: &mut Raw, t: &mut Toks<'_>) -> Result<(), ParseError> {
    if let Some(addr) = t.peek().filter(|a| !is_link_keyword(a)) {
        t.next();
        cur.link.mac = normalize_mac(addr);
    }
    while let Some(key) = t.next() {
        match key {
            "brd" | "peer" => {
                t.value(key, "a value")?;
            }
            "link-netns" => {
                t.value(key, "a namespace name")?;
                cur.netns_named = true;
            }
            "link-netnsid" => cur.link.peer_netnsid = Some(t.parsed(key, "a netns id")?),
            // `-d`: the device's parameters follow on this line; the
            // link-info kind, if any, comes on the next.
            "promiscuity" => {
                cur.detailed = true;
                t.rest();
            }
            other => return Err(t.err(Some(other), "brd, link-netns, link-netnsid or promiscuity")),
        }
    }
    Ok(())
}

fn is_link_keyword(tok: &str) -> bool {
    matches!(
        tok,
        "brd" | "peer" | "link-netns" | "link-netnsid" | "promiscuity"
    )
}

/// The first line after `link/…` with `-d`: a link-info kind and its
/// data, or the device's generic parameters when it has no kind.
fn kind_line(link: &mut Link, t: &mut Toks<'_>) -> Result<(), ParseError> {
    let Some(kind) = t.next() else {
        return Ok(());
    };
    if kind == "addrgenmode" || kind.ends_with("_slave") {
        return Ok(());
    }
    link.kind = Some(kind.to_string());
    if kind == "vxlan" {
        link.vxlan = Some(vxlan(t)?);
    } else if TUNNEL_KINDS.contains(&kind) {
        link.tunnel = Some(tunnel(t)?);
    }
    Ok(())
}

/// `vxlan id N [remote|group IP] [local IP] [dev NAME] srcport A B dstport N
/// [nolearning] [df set|inherit] …`: learning is on unless `nolearning` is
/// printed; iproute2 prints `df` in text only when it is not `unset` (its
/// JSON says `"df": "unset"`), so no `df` word reads as unset.
fn vxlan(t: &mut Toks<'_>) -> Result<VxlanInfo, ParseError> {
    let mut v = VxlanInfo {
        learning: true,
        df: Some(VxlanDf::Unset),
        ..VxlanInfo::default()
    };
    while let Some(key) = t.next() {
        match key {
            "id" => v.vni = t.parsed(key, "a VNI")?,
            "remote" | "group" => v.remote = Some(t.parsed(key, "an IP address")?),
            "local" => v.local = Some(t.parsed(key, "an IP address")?),
            "dev" => v.dev = Some(t.value(key, "a device name")?.to_string()),
            "dstport" => v.port = t.parsed(key, "a UDP port")?,
            "srcport" => {
                t.value(key, "a port range")?;
                t.value(key, "a port range")?;
            }
            "nolearning" => v.learning = false,
            "df" => v.df = Some(df(t)?),
            _ => {}
        }
    }
    Ok(v)
}

fn df(t: &mut Toks<'_>) -> Result<VxlanDf, ParseError> {
    const WANT: &str = "set, unset or inherit after df";
    match t.value("df", WANT)? {
        "set" => Ok(VxlanDf::Set),
        "inherit" => Ok(VxlanDf::Inherit),
        "unset" => Ok(VxlanDf::Unset),
        _ => Err(t.err_last(WANT)),
    }
}

/// `ipip [ipip] remote IP|any local IP|any [dev D] ttl N|inherit …`.
fn tunnel(t: &mut Toks<'_>) -> Result<TunnelInfo, ParseError> {
    let mut info = TunnelInfo::default();
    while let Some(key) = t.next() {
        match key {
            "remote" => info.remote = any_ip(t, key)?,
            "local" => info.local = any_ip(t, key)?,
            "ttl" => {
                let v = t.value(key, "a TTL or \"inherit\"")?;
                info.ttl = v.parse::<u8>().ok().filter(|&n| n != 0);
            }
            _ => {}
        }
    }
    Ok(info)
}

fn any_ip(t: &mut Toks<'_>, key: &str) -> Result<Option<IpAddr>, ParseError> {
    match t.value(key, "an IP address or \"any\"")? {
        "any" => Ok(None),
        ip => ip
            .parse()
            .map(Some)
            .map_err(|_| t.err_last("an IP address or \"any\"")),
    }
}

impl Raw {
    /// `@ifN` with a `link-netns*` is a peer in another namespace (JSON
    /// `link_index`); `@NAME` a link of this one (JSON `link`, resolved to
    /// its ifindex as the JSON reader does); `@NONE` is no link. Without
    /// `-d` (`detailed` false) a device's kind is not in the dump: a peer
    /// in another namespace is a veth (as the reference dataplane reads a
    /// JSON link without details), loopback has none, the rest unknown.
    fn resolve(self, index: &HashMap<String, u32>, detailed: bool) -> Link {
        let mut link = self.link;
        let other_ns = link.peer_netnsid.is_some() || self.netns_named;
        if !detailed && link.link_type.as_deref() != Some("loopback") {
            let kind = if other_ns { "veth" } else { Link::KIND_UNKNOWN };
            link.kind = Some(kind.to_string());
        }
        let Some(peer) = self.peer.filter(|p| p != "NONE") else {
            return link;
        };
        let num = peer.strip_prefix("if").and_then(|n| n.parse::<u32>().ok());
        if other_ns {
            link.peer_ifindex = num;
        } else {
            link.peer_ifindex = index.get(&peer).copied().or(num);
            link.lower = Some(peer);
        }
        link
    }
}
