//! BIRD 2 `show protocols all` / `show route all` → [`Bgp`] parts.
//!
//! Two input forms are accepted and give the same result:
//! - what `birdc` prints: the reply text without reply codes;
//! - the raw control-socket reply, each line `DDDD-text` (more follows),
//!   `DDDD text` (last line) or ` text` (continuation of the previous
//!   code); codes starting with 8 or 9 are errors ([`ParseError::ToolError`]),
//!   code 0000 ends the reply. The form is chosen from the first non-empty
//!   line, so the live socket reader can hand its buffer over unchanged.
//!
//! Protocol rows are `name proto table state since info`; `since` may be two
//! tokens (`2024-01-02 03:04:05`, "iso long" time format). Detail lines read:
//! `BGP state`, `Neighbor address`, `Neighbor AS`, `Local AS`, `Last error`
//! and each channel's `Routes: N imported, M exported` (summed over
//! channels). Route entries read the prefix, kind (`unicast`, `blackhole`,
//! `unreachable`, `prohibited`, or BIRD 1 style `via X on DEV` inline), the
//! protocol in brackets, the `*` best mark, the first `via … on DEV` or
//! `dev DEV` line, `BGP.next_hop` (first address) and `BGP.as_path`.

use std::net::IpAddr;

use cnictl_model::{Bgp, BgpProtocol, BgpRoute};
use ipnet::IpNet;

use super::{column_of, ParseError};
use std::fmt::Write as _;

/// A line of reply text with its 1-based line number in the input.
struct Line<'a> {
    n: usize,
    text: &'a str,
}

/// Parses `show protocols all` into a [`Bgp`] whose `daemon` is the
/// greeting's banner (`BIRD 2.0.12`) when present and whose `routes` are
/// `None` (they come from [`parse_bird_routes`]).
pub fn parse_bird_protocols(text: &str) -> Result<Bgp, ParseError> {
    let mut daemon = None;
    let mut out: Vec<BgpProtocol> = Vec::new();
    for l in reply_lines(text)? {
        let t = l.text.trim_end();
        if t.trim().is_empty() {
            continue;
        }
        if let Some(banner) = t.strip_suffix(" ready.") {
            daemon = Some(banner.trim().to_string());
        } else if t.starts_with("Name ") && t.contains("Proto") {
            continue;
        } else if t.starts_with(char::is_whitespace) {
            if let Some(p) = out.last_mut() {
                protocol_detail(p, &l)?;
            }
        } else {
            out.push(protocol_row(&l)?);
        }
    }
    Ok(Bgp {
        daemon,
        protocols: out,
        routes: None,
    })
}

/// Parses `show route all`.
pub fn parse_bird_routes(text: &str) -> Result<Vec<BgpRoute>, ParseError> {
    let mut out: Vec<BgpRoute> = Vec::new();
    for l in reply_lines(text)? {
        let t = l.text.trim_end();
        let body = t.trim_start();
        if body.is_empty()
            || body.ends_with(" ready.")
            || (body.starts_with("Table ") && body.ends_with(':'))
        {
            continue;
        }
        if t.starts_with('\t') || !body.contains('[') {
            if let Some(r) = out.last_mut() {
                route_attribute(r, &l, body)?;
            }
            continue;
        }
        let prefix = if t.starts_with(' ') {
            out.last().map(|r| r.prefix)
        } else {
            None
        };
        out.push(route_line(&l, body, prefix)?);
    }
    Ok(out)
}

/// Strips reply codes when the input is a raw control-socket reply.
fn reply_lines(text: &str) -> Result<Vec<Line<'_>>, ParseError> {
    let raw = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| code_of(l).is_some());
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let text = if raw {
            raw_line(i + 1, line)?
        } else {
            birdc_line(i + 1, line)?
        };
        out.extend(text.map(|text| Line { n: i + 1, text }));
    }
    Ok(out)
}

/// A line of `birdc` output: itself, unless birdc reports an error.
fn birdc_line(n: usize, line: &str) -> Result<Option<&str>, ParseError> {
    if line.starts_with("Unable to connect") || line.starts_with("syntax error") {
        return Err(ParseError::tool(n, line));
    }
    Ok(Some(line))
}

/// A raw reply line without its code: `None` for the end (0000) and blank
/// lines; an 8xxx/9xxx code is BIRD's error.
fn raw_line(n: usize, line: &str) -> Result<Option<&str>, ParseError> {
    match code_of(line) {
        Some(code) if code.starts_with(['8', '9']) => Err(ParseError::tool(n, &line[5..])),
        Some("0000") => Ok(None),
        Some(_) => Ok(Some(&line[5..])),
        None => continuation(n, line),
    }
}

const REPLY_LINE: &str = "a BIRD reply line (DDDD-, DDDD or space)";

/// A continuation line (` text`) of the previous code.
fn continuation(n: usize, line: &str) -> Result<Option<&str>, ParseError> {
    match line.strip_prefix(' ') {
        Some(rest) => Ok(Some(rest)),
        None if line.trim().is_empty() => Ok(None),
        None => Err(ParseError::unexpected(n, 1, REPLY_LINE, line)),
    }
}

/// The 4-digit code of a raw reply line (`1002-…`, `0000 `).
fn code_of(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    (b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && (b[4] == b'-' || b[4] == b' '))
        .then(|| &line[..4])
}

fn protocol_row(l: &Line) -> Result<BgpProtocol, ParseError> {
    let toks: Vec<&str> = l.text.split_whitespace().collect();
    if toks.len() < 5 {
        let t = l.text.trim();
        return Err(ParseError::unexpected(
            l.n,
            column_of(l.text, t),
            "\"name proto table state since info\"",
            t,
        ));
    }
    let (since, info) = since_and_info(l.text, &toks);
    Ok(BgpProtocol {
        name: toks[0].to_string(),
        proto: toks[1].to_string(),
        table: (toks[2] != "---").then(|| toks[2].to_string()),
        state: toks[3].to_string(),
        since: (since != "---").then_some(since),
        info,
        ..BgpProtocol::default()
    })
}

/// The Since column (one token, or a date and a time) and the Info text
/// after it, spaces kept.
fn since_and_info(text: &str, toks: &[&str]) -> (String, String) {
    let two = toks[4].contains('-') && toks.get(5).is_some_and(|t| t.contains(':'));
    let since_end = if two { 6 } else { 5 };
    let last = toks[since_end - 1];
    let info_start = column_of(text, last) - 1 + last.len();
    let info = text.get(info_start..).unwrap_or_default().trim();
    (toks[4..since_end].join(" "), info.to_string())
}

fn protocol_detail(p: &mut BgpProtocol, l: &Line) -> Result<(), ParseError> {
    let Some((key, value)) = l.text.trim().split_once(':') else {
        return Ok(());
    };
    let value = value.trim();
    let bad = |what: &str| ParseError::unexpected(l.n, column_of(l.text, value), what, value);
    match key.trim() {
        "BGP state" => p.bgp_state = Some(value.to_string()),
        "Neighbor address" => {
            // BIRD may append `%iface` for link-local neighbours.
            let ip = value.split('%').next().unwrap_or(value);
            p.neighbor_address = Some(ip.parse().map_err(|_| bad("an IP address"))?);
        }
        "Source address" => {
            p.source_address = Some(value.parse().map_err(|_| bad("an IP address"))?);
        }
        "Neighbor AS" => p.neighbor_as = Some(value.parse().map_err(|_| bad("an AS number"))?),
        "Local AS" => p.local_as = Some(value.parse().map_err(|_| bad("an AS number"))?),
        "Last error" => p.last_error = Some(value.to_string()),
        "Routes" => {
            let (imported, exported) =
                route_counts(value).ok_or_else(|| bad("\"N imported, M exported, …\""))?;
            p.routes_imported = Some(p.routes_imported.unwrap_or(0) + imported);
            p.routes_exported = Some(p.routes_exported.unwrap_or(0) + exported);
        }
        _ => {}
    }
    Ok(())
}

/// `9 imported, 2 filtered, 1 exported, 9 preferred` → (9, 1).
fn route_counts(value: &str) -> Option<(u64, u64)> {
    let (mut imported, mut exported) = (0, 0);
    for part in value.split(',') {
        let mut it = part.split_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        match it.next()? {
            "imported" => imported = n,
            "exported" => exported = n,
            _ => {}
        }
    }
    Some((imported, exported))
}

fn route_line(l: &Line, body: &str, same_prefix: Option<IpNet>) -> Result<BgpRoute, ParseError> {
    let (head, tail) = body.split_once('[').unwrap_or((body, ""));
    let mut toks = head.split_whitespace().peekable();
    let prefix = match same_prefix {
        Some(p) => p,
        None => route_prefix(l, toks.next().unwrap_or(body))?,
    };
    let (inside, after) = tail.split_once(']').unwrap_or((tail, ""));
    let protocol = inside.split_whitespace().next().unwrap_or_default();
    let protocol = protocol.to_string();
    let mut r = BgpRoute {
        prefix,
        kind: "unicast".into(),
        via: None,
        dev: None,
        protocol,
        bgp_next_hop: None,
        best: after.split_whitespace().next() == Some("*"),
        as_path: None,
    };
    let rest: Vec<&str> = toks.collect();
    match rest.first().copied() {
        Some("via") | Some("dev") => route_attribute(&mut r, l, &rest.join(" "))?,
        Some(kind) => r.kind = kind.to_string(),
        None => {}
    }
    Ok(r)
}

fn route_prefix(l: &Line, t: &str) -> Result<IpNet, ParseError> {
    t.parse()
        .map_err(|_| ParseError::unexpected(l.n, column_of(l.text, t), "a prefix", t))
}

fn route_attribute(r: &mut BgpRoute, l: &Line, body: &str) -> Result<(), ParseError> {
    let bad = |t: &str, what: &str| ParseError::unexpected(l.n, column_of(l.text, t), what, t);
    let mut toks = body.split_whitespace();
    match toks.next() {
        Some("via") if r.via.is_none() => {
            let ip = toks.next().unwrap_or_default();
            r.via = Some(
                ip.parse::<IpAddr>()
                    .map_err(|_| bad(ip, "a gateway address"))?,
            );
            if toks.next() == Some("on") {
                r.dev = toks.next().map(str::to_string);
            }
        }
        Some("dev") if r.dev.is_none() => r.dev = toks.next().map(str::to_string),
        Some("BGP.next_hop:") => {
            let ip = toks.next().unwrap_or_default();
            r.bgp_next_hop = Some(ip.parse().map_err(|_| bad(ip, "a next hop address"))?);
        }
        Some("BGP.as_path:") => {
            let v = body.strip_prefix("BGP.as_path:").unwrap_or_default();
            r.as_path = Some(v.trim().to_string());
        }
        _ => {}
    }
    Ok(())
}

// ---- writer: `birdc show protocols all`, `birdc show route all` -------------

/// `bgp` as `birdc show protocols all` prints it (the subset
/// [`parse_bird_protocols`] reads).
pub fn write_bird_protocols(bgp: &Bgp) -> String {
    let mut s = String::new();
    if let Some(d) = &bgp.daemon {
        let _ = writeln!(s, "{d} ready.");
    }
    s.push_str("Name       Proto      Table      State  Since         Info\n");
    for p in &bgp.protocols {
        protocol_text(&mut s, p);
    }
    s
}

fn protocol_text(s: &mut String, p: &BgpProtocol) {
    let row = format!(
        "{:<10} {:<10} {:<10} {:<6} {:<13} {}",
        p.name,
        p.proto,
        p.table.as_deref().unwrap_or("---"),
        p.state,
        p.since.as_deref().unwrap_or("---"),
        p.info
    );
    s.push_str(row.trim_end());
    s.push('\n');
    if let Some(st) = &p.bgp_state {
        let _ = writeln!(s, "  BGP state:          {st}");
    }
    protocol_details(s, p);
    if p.routes_imported.is_some() || p.routes_exported.is_some() {
        let _ = writeln!(
            s,
            "  Channel ipv4\n    State:          UP\n    Routes:         {} imported, {} exported, 0 preferred",
            p.routes_imported.unwrap_or(0),
            p.routes_exported.unwrap_or(0)
        );
    }
    s.push('\n');
}

/// The `Neighbor …`, `Local AS` and `Last error` lines the protocol has.
fn protocol_details(s: &mut String, p: &BgpProtocol) {
    let details = [
        (
            "Neighbor address:",
            p.neighbor_address.map(|a| a.to_string()),
        ),
        ("Neighbor AS:", p.neighbor_as.map(|a| a.to_string())),
        ("Local AS:", p.local_as.map(|a| a.to_string())),
        ("Source address:", p.source_address.map(|a| a.to_string())),
        ("Last error:", p.last_error.clone()),
    ];
    for (k, v) in details.iter().filter_map(|(k, v)| Some((k, v.as_ref()?))) {
        let _ = writeln!(s, "    {k:<17} {v}");
    }
}

/// `routes` as `birdc show route all` prints them, one table per family.
pub fn write_bird_routes(bgp: &Bgp, routes: &[BgpRoute]) -> String {
    let mut s = String::new();
    if let Some(d) = &bgp.daemon {
        let _ = writeln!(s, "{d} ready.");
    }
    let mut table: Option<bool> = None;
    for r in routes {
        let v6 = r.prefix.addr().is_ipv6();
        if table != Some(v6) {
            let _ = writeln!(s, "Table master{}:", if v6 { 6 } else { 4 });
            table = Some(v6);
        }
        route_text(&mut s, r);
    }
    s
}

fn route_text(s: &mut String, r: &BgpRoute) {
    let best = if r.best { " *" } else { "" };
    let _ = writeln!(
        s,
        "{:<20} {} [{} 00:00:00.000]{best} (100)",
        r.prefix.to_string(),
        r.kind,
        r.protocol
    );
    let _ = match (r.via, &r.dev) {
        (Some(via), Some(dev)) => writeln!(s, "\tvia {via} on {dev}"),
        (Some(via), None) => writeln!(s, "\tvia {via}"),
        (None, Some(dev)) => writeln!(s, "\tdev {dev}"),
        (None, None) => Ok(()),
    };
    if let Some(nh) = r.bgp_next_hop {
        let _ = writeln!(s, "\tBGP.next_hop: {nh}");
    }
    if let Some(path) = &r.as_path {
        let _ = writeln!(s, "\tBGP.as_path: {path}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_long_since_and_errors() {
        let text = "kernel1    Kernel     master4    up     2024-01-02 03:04:05  \nbgp1 BGP --- start 2024-01-02 03:04:05  Active  Socket: Connection refused\n";
        let p = parse_bird_protocols(text).unwrap().protocols;
        assert_eq!(p[0].since.as_deref(), Some("2024-01-02 03:04:05"));
        assert_eq!(p[0].info, "");
        assert_eq!(p[1].info, "Active  Socket: Connection refused");
        assert_eq!(p[1].table, None);
        let e = parse_bird_protocols("0001 BIRD 2.0.12 ready.\n9001 syntax error\n").unwrap_err();
        assert!(matches!(e, ParseError::ToolError { line: 2, .. }));
        let e = parse_bird_protocols("bgp1 BGP --- up 00:00:01 Established\n  Neighbor AS: x\n")
            .unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 16));
    }

    #[test]
    fn bird1_style_and_alternative_routes() {
        let text = "10.0.0.0/24 via 192.0.2.1 on eth0 [bgp1 12:00:00] * (100) [i]\n                   via 192.0.2.2 on eth0 [bgp2 12:00:00] (100) [i]\n\tBGP.next_hop: 192.0.2.2 fe80::1\n\tBGP.as_path: 64512 64513\n";
        let r = parse_bird_routes(text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].via, r[0].dev.as_deref(), r[0].best),
            (Some("192.0.2.1".parse().unwrap()), Some("eth0"), true)
        );
        assert_eq!(
            (r[1].prefix, r[1].best, r[1].protocol.as_str()),
            (r[0].prefix, false, "bgp2")
        );
        assert_eq!(r[1].as_path.as_deref(), Some("64512 64513"));
        assert!(parse_bird_routes("nonsense [x]\n").is_err());
    }

    /// Calico's IPv6 sessions and routes as BIRD 2.0.12 printed them in a
    /// `lab up calico-bgp --dual-stack` (one session shut with `disable`).
    #[test]
    fn ipv6_sessions_and_routes() {
        let text = "Mesh_fd00_192_0_2__12 BGP        ---        down   23:50:51.170  \n  BGP state:          Down\n    Neighbor address: fd00:192:0:2::12\n    Neighbor AS:      64512\n    Local AS:         64512\n  Channel ipv6\n    State:          DOWN\n    Table:          master6\nMesh_fd00_192_0_2__13 BGP        ---        up     23:50:08.899  Established   \n  BGP state:          Established\n    Neighbor address: fd00:192:0:2::13\n  Channel ipv6\n    Routes:         1 imported, 1 exported, 1 preferred\n";
        let p = parse_bird_protocols(text).unwrap().protocols;
        assert_eq!(
            p[0].neighbor_address,
            Some("fd00:192:0:2::12".parse().unwrap())
        );
        assert!(p[0].is_bgp() && !p[0].is_established());
        assert!(p[1].is_established());
        assert_eq!(
            (p[1].routes_imported, p[1].routes_exported),
            (Some(1), Some(1))
        );
        let text = "Table master6:\nfd00:10:244:3::/122  unicast [Mesh_fd00_192_0_2__13 23:50:08.941] * (100) [i]\n\tvia fd00:192:0:2::13 on eth0\n\tType: BGP univ\n\tBGP.as_path: \n\tBGP.next_hop: fd00:192:0:2::13\nfd00:10:244:1::/122  blackhole [static6 23:50:08.093] * (200)\n\tType: static univ\n";
        let r = parse_bird_routes(text).unwrap();
        assert_eq!(r[0].prefix.to_string(), "fd00:10:244:3::/122");
        assert_eq!(r[0].bgp_next_hop, Some("fd00:192:0:2::13".parse().unwrap()));
        assert_eq!(
            (r[1].kind.as_str(), r[1].protocol.as_str()),
            ("blackhole", "static6")
        );
    }
}
