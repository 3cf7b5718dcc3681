//! `ipvsadm -Ln` text → [`VirtualService`]s.
//!
//! ```text
//! IP Virtual Server version 1.2.1 (size=4096)
//! Prot LocalAddress:Port Scheduler Flags
//!   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
//! TCP  10.96.0.10:53 rr persistent 360 mask 255.255.255.255 ops
//!   -> 10.244.1.5:53                Masq    1      0          0
//! UDP  [fd00::a]:53 sh (sh-fallback,sh-port)
//! FWM  5 IPv6 wrr
//! ```
//! A service line is `PROTO ADDR SCHED [persistent N [mask M]] [ops]
//! [(sched,flags)] [pe NAME]`; `persistent` is both a flag and the timeout;
//! the netmask and persistence engine are read and dropped (the model has no
//! field for them). Real servers follow their service. An error from the
//! tool (no IPVS in the kernel) is a [`ParseError::ToolError`].

use std::net::IpAddr;

use cnictl_model::{Forward, IpvsProto, RealServer, VirtualService};

use super::{column_of, ParseError};
use std::fmt::Write as _;

/// The protocol column's words, for the parser and the writer.
const PROTOCOLS: [(IpvsProto, &str); 4] = [
    (IpvsProto::Tcp, "TCP"),
    (IpvsProto::Udp, "UDP"),
    (IpvsProto::Sctp, "SCTP"),
    (IpvsProto::Fwmark, "FWM"),
];

/// The Forward column's words.
const FORWARDS: [(Forward, &str); 4] = [
    (Forward::Masq, "Masq"),
    (Forward::Route, "Route"),
    (Forward::Tunnel, "Tunnel"),
    (Forward::Local, "Local"),
];

fn value_of<T: Copy>(table: &[(T, &str)], word: &str) -> Option<T> {
    table.iter().find(|(_, w)| *w == word).map(|(v, _)| *v)
}

fn word_of<T: PartialEq>(table: &[(T, &'static str)], value: &T) -> &'static str {
    table
        .iter()
        .find(|(v, _)| v == value)
        .map_or("", |(_, w)| w)
}

/// Parses `ipvsadm -Ln` output.
pub fn parse_ipvsadm(text: &str) -> Result<Vec<VirtualService>, ParseError> {
    let mut out: Vec<VirtualService> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || is_header(t) {
            continue;
        }
        if let Some(rest) = t.strip_prefix("->") {
            let real = real_server(line, rest, n)?;
            let vs = out
                .last_mut()
                .ok_or_else(|| ParseError::unexpected(n, 1, "a service line before \"->\"", t))?;
            vs.reals.push(real);
        } else if is_tool_error(t) {
            return Err(ParseError::tool(n, t));
        } else {
            out.push(service(line, n)?);
        }
    }
    Ok(out)
}

fn is_header(t: &str) -> bool {
    t.starts_with("IP Virtual Server version")
        || t.starts_with("Prot LocalAddress")
        || t.starts_with("-> RemoteAddress")
}

fn is_tool_error(t: &str) -> bool {
    let lower = t.to_ascii_lowercase();
    lower.contains("can't initialize ipvs")
        || lower.contains("protocol not available")
        || lower.contains("permission denied")
        || lower.starts_with("memory allocation problem")
}

fn service(line: &str, n: usize) -> Result<VirtualService, ParseError> {
    let mut tok = line.split_whitespace();
    let bad = |tok: &str, what: &str| ParseError::unexpected(n, column_of(line, tok), what, tok);
    let proto_tok = tok.next().unwrap_or_default();
    let proto =
        value_of(&PROTOCOLS, proto_tok).ok_or_else(|| bad(proto_tok, "TCP, UDP, SCTP or FWM"))?;
    let addr = tok
        .next()
        .ok_or_else(|| bad(proto_tok, "an address after the protocol"))?;
    let (vip, port, fwmark) = service_target(proto, addr).map_err(|what| bad(addr, what))?;
    let mut sched = tok.next().ok_or_else(|| bad(addr, "a scheduler"))?;
    if proto == IpvsProto::Fwmark && sched == "IPv6" {
        sched = tok.next().ok_or_else(|| bad(sched, "a scheduler"))?;
    }
    let mut vs = VirtualService {
        proto,
        vip,
        port,
        fwmark,
        scheduler: sched.to_string(),
        flags: Vec::new(),
        persistent: None,
        reals: Vec::new(),
    };
    service_options(line, n, &mut tok, &mut vs)?;
    Ok(vs)
}

/// `(vip, port, fwmark)` of a service's address column; on error, what
/// was expected there.
type Target = (Option<IpAddr>, u16, Option<u32>);

fn service_target(proto: IpvsProto, addr: &str) -> Result<Target, &'static str> {
    if proto == IpvsProto::Fwmark {
        let mark = super::json::parse_u64(addr).and_then(|m| u32::try_from(m).ok());
        return Ok((None, 0, Some(mark.ok_or("a firewall mark")?)));
    }
    let (ip, port) = addr_port(addr).ok_or("ADDR:PORT or [ADDR]:PORT")?;
    Ok((Some(ip), port, None))
}

fn service_options<'a>(
    line: &'a str,
    n: usize,
    tok: &mut impl Iterator<Item = &'a str>,
    vs: &mut VirtualService,
) -> Result<(), ParseError> {
    let bad = |t: &str, what: &str| ParseError::unexpected(n, column_of(line, t), what, t);
    while let Some(t) = tok.next() {
        match t {
            "persistent" => {
                let v = tok.next().unwrap_or_default();
                let secs = v.parse().map_err(|_| bad(v, "a persistence timeout"))?;
                vs.persistent = Some(secs);
                vs.flags.push("persistent".into());
            }
            "mask" | "pe" => {
                tok.next().ok_or_else(|| bad(t, "a value after mask/pe"))?;
            }
            "ops" => vs.flags.push("ops".into()),
            flags if flags.starts_with('(') && flags.ends_with(')') => {
                vs.flags.extend(flag_list(&flags[1..flags.len() - 1]))
            }
            other => return Err(bad(other, "persistent, mask, ops, pe or (flags)")),
        }
    }
    Ok(())
}

/// `(sh-fallback,sh-port)` without its parentheses.
fn flag_list(inner: &str) -> impl Iterator<Item = String> + '_ {
    inner
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
}

fn real_server(line: &str, rest: &str, n: usize) -> Result<RealServer, ParseError> {
    let toks: Vec<&str> = rest.split_whitespace().collect();
    let bad = |t: &str, what: &str| ParseError::unexpected(n, column_of(line, t), what, t);
    if toks.len() < 5 {
        return Err(bad(
            rest.trim(),
            "\"-> ADDR:PORT Forward Weight ActiveConn InActConn\"",
        ));
    }
    let (ip, port) = addr_port(toks[0]).ok_or_else(|| bad(toks[0], "ADDR:PORT or [ADDR]:PORT"))?;
    let forward =
        value_of(&FORWARDS, toks[1]).ok_or_else(|| bad(toks[1], "Masq, Route, Tunnel or Local"))?;
    let num = |t: &str, what: &str| t.parse::<u64>().map_err(|_| bad(t, what));
    Ok(RealServer {
        ip,
        port,
        forward,
        weight: u32::try_from(num(toks[2], "a weight")?)
            .map_err(|_| bad(toks[2], "a 32-bit weight"))?,
        active_conns: num(toks[3], "an active connection count")?,
        inactive_conns: num(toks[4], "an inactive connection count")?,
    })
}

/// `10.0.0.1:80` or `[fd00::1]:80`.
fn addr_port(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (ip, port) = rest.split_once("]:")?;
            (ip.parse().ok()?, port)
        }
        None => {
            let (ip, port) = s.rsplit_once(':')?;
            (IpAddr::V4(ip.parse().ok()?), port)
        }
    };
    Some((ip, port.parse().ok()?))
}

// ---- writer: `ipvsadm -Ln` --------------------------------------------------

const IPVSADM_HEADER: &str = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";

/// `services` as `ipvsadm -Ln` prints them.
pub fn write_ipvsadm(services: &[VirtualService]) -> String {
    let mut s = String::from(IPVSADM_HEADER);
    for vs in services {
        service_line(&mut s, vs);
        for r in &vs.reals {
            real_line(&mut s, r);
        }
    }
    s
}

fn service_line(s: &mut String, vs: &VirtualService) {
    let addr = match (vs.proto, vs.vip) {
        (IpvsProto::Fwmark, _) => vs.fwmark.unwrap_or(0).to_string(),
        (_, Some(ip)) => endpoint_text(ip, vs.port),
        (_, None) => format!("0.0.0.0:{}", vs.port),
    };
    let proto = word_of(&PROTOCOLS, &vs.proto);
    let _ = write!(s, "{proto}  {addr} {}", vs.scheduler);
    if let Some(t) = vs.persistent {
        let _ = write!(s, " persistent {t}");
    }
    if vs.flags.iter().any(|f| f == "ops") {
        s.push_str(" ops");
    }
    let other: Vec<&str> = vs
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "ops" && *f != "persistent")
        .collect();
    if !other.is_empty() {
        let _ = write!(s, " ({})", other.join(","));
    }
    s.push('\n');
}

fn real_line(s: &mut String, r: &RealServer) {
    let fwd = word_of(&FORWARDS, &r.forward);
    let line = format!(
        "  -> {:<28} {fwd:<7} {:<6} {:<10} {:<10}",
        endpoint_text(r.ip, r.port),
        r.weight,
        r.active_conns,
        r.inactive_conns
    );
    s.push_str(line.trim_end());
    s.push('\n');
}

fn endpoint_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_errors() {
        let text =
            "TCP  10.0.0.1:80 sh persistent 360 mask 255.255.255.0 ops (sh-fallback,sh-port)\n";
        let vs = &parse_ipvsadm(text).unwrap()[0];
        assert_eq!(vs.persistent, Some(360));
        assert_eq!(vs.flags, ["persistent", "ops", "sh-fallback", "sh-port"]);
        let e = parse_ipvsadm("TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Bogus 1 0 0\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 18));
        assert!(parse_ipvsadm("  -> 10.1.1.1:80 Masq 1 0 0\n").is_err());
        let e = parse_ipvsadm("Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n")
            .unwrap_err();
        assert!(matches!(e, ParseError::ToolError { line: 1, .. }));
    }
}
