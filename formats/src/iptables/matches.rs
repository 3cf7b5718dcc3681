//! `-s/-d/-i/-o/-p` and the match extensions (`-m tcp`, `conntrack`,
//! `mark`, `addrtype`, `statistic`, `set`, …) as model matches.

use std::net::IpAddr;

use cnictl_model::netfilter::{proto_number, AddrType, CtState, Dir, Match, Statistic};
use ipnet::IpNet;

use super::opt::{opt_text, Opt, OptError};

/// `10.0.0.0/8`, `10.0.0.1`, `a,b` (iptables 1.4.6+ comma lists), `/255.255.0.0` masks.
pub(super) fn nets(text: &str) -> Result<Vec<IpNet>, OptError> {
    text.split(',').map(net).collect()
}

pub(super) fn net(text: &str) -> Result<IpNet, OptError> {
    let bad = || ("an address or prefix".to_string(), text.to_string());
    if let Ok(n) = text.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(a) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(a));
    }
    let (addr, mask) = text.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let mask: IpAddr = mask.parse().map_err(|_| bad())?;
    IpNet::with_netmask(addr, mask).map_err(|_| bad())
}

/// `-p` value → protocol number; `all`/`0` match everything (None).
pub(super) fn proto(text: &str) -> Result<Option<u8>, OptError> {
    if text == "all" || text == "0" {
        return Ok(None);
    }
    proto_number(text)
        .map(Some)
        .ok_or(("a protocol name or number".into(), text.into()))
}

/// `N` or `N:M` (`:M` from 0, `N:` to 65535).
pub(super) fn port_range(text: &str) -> Result<(u16, u16), OptError> {
    let bad = || ("a port or port range".to_string(), text.to_string());
    let parse = |s: &str, default: u16| {
        if s.is_empty() {
            Ok(default)
        } else {
            s.parse::<u16>().map_err(|_| bad())
        }
    };
    match text.split_once(':') {
        Some((a, b)) => Ok((parse(a, 0)?, parse(b, u16::MAX)?)),
        None => {
            let p = parse(text, 0)?;
            Ok((p, p))
        }
    }
}

pub(super) fn port_match(opt: &Opt<'_>) -> Result<Match, OptError> {
    let dir = match opt.name {
        "--dport" | "--destination-port" => Dir::Dst,
        "--sport" | "--source-port" => Dir::Src,
        _ => {
            return Ok(Match::Unknown {
                text: opt_text(opt),
            })
        }
    };
    let range = port_range(opt.values.first().copied().unwrap_or(""))?;
    Ok(Match::Port {
        dir,
        ranges: vec![range],
        neg: opt.neg,
    })
}

pub(super) fn multiport(opt: &Opt<'_>) -> Result<Match, OptError> {
    let dir = match opt.name {
        "--dports" | "--destination-ports" => Dir::Dst,
        "--sports" | "--source-ports" => Dir::Src,
        _ => {
            return Ok(Match::Unknown {
                text: format!("-m multiport {}", opt_text(opt)),
            })
        }
    };
    let list = opt.values.first().copied().unwrap_or("");
    let ranges = list.split(',').map(port_range).collect::<Result<_, _>>()?;
    Ok(Match::Port {
        dir,
        ranges,
        neg: opt.neg,
    })
}

pub(super) fn ct_match(opt: &Opt<'_>) -> Match {
    if opt.name != "--ctstate" && opt.name != "--state" {
        return Match::Unknown {
            text: format!("-m conntrack {}", opt_text(opt)),
        };
    }
    let list = opt.values.first().copied().unwrap_or("");
    let states: Option<Vec<CtState>> = list.split(',').map(ct_state).collect();
    match states {
        Some(states) => Match::CtState {
            states,
            neg: opt.neg,
        },
        None => Match::Unknown {
            text: format!("-m conntrack {}", opt_text(opt)),
        },
    }
}

pub(super) fn ct_state(s: &str) -> Option<CtState> {
    Some(match s {
        "NEW" => CtState::New,
        "ESTABLISHED" => CtState::Established,
        "RELATED" => CtState::Related,
        "INVALID" => CtState::Invalid,
        "UNTRACKED" => CtState::Untracked,
        "SNAT" => CtState::Snat,
        "DNAT" => CtState::Dnat,
        _ => return None,
    })
}

/// `--mark V[/M]`.
pub(super) fn mark_match(opt: &Opt<'_>, conn: bool) -> Result<Match, OptError> {
    if opt.name != "--mark" {
        return Ok(Match::Unknown {
            text: opt_text(opt),
        });
    }
    let (value, mask) = value_mask(opt.values.first().copied().unwrap_or(""))?;
    Ok(if conn {
        Match::ConnMark {
            value,
            mask,
            neg: opt.neg,
        }
    } else {
        Match::Mark {
            value,
            mask,
            neg: opt.neg,
        }
    })
}

/// `V[/M]` in hex or decimal; the mask defaults to all ones.
pub(super) fn value_mask(text: &str) -> Result<(u32, u32), OptError> {
    let (v, m) = text.split_once('/').unwrap_or((text, "0xffffffff"));
    Ok((number(v)?, number(m)?))
}

pub(super) fn number(text: &str) -> Result<u32, OptError> {
    let bad = || ("a number (decimal or 0x hex)".to_string(), text.to_string());
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).map_err(|_| bad()),
        None => text.parse().map_err(|_| bad()),
    }
}

pub(super) fn addr_types(text: &str) -> Result<Vec<AddrType>, OptError> {
    text.split(',')
        .map(|t| addr_type(t).ok_or(("an address type (LOCAL, UNICAST, …)".into(), t.into())))
        .collect()
}

/// Address type names as `addrtype` and nft `fib … type` print them.
pub fn addr_type(t: &str) -> Option<AddrType> {
    Some(match t.to_ascii_uppercase().as_str() {
        "UNSPEC" => AddrType::Unspec,
        "UNICAST" => AddrType::Unicast,
        "LOCAL" => AddrType::Local,
        "BROADCAST" => AddrType::Broadcast,
        "ANYCAST" => AddrType::Anycast,
        "MULTICAST" => AddrType::Multicast,
        "BLACKHOLE" => AddrType::Blackhole,
        "UNREACHABLE" => AddrType::Unreachable,
        "PROHIBIT" => AddrType::Prohibit,
        "THROW" => AddrType::Throw,
        "NAT" => AddrType::Nat,
        "XRESOLVE" => AddrType::Xresolve,
        _ => return None,
    })
}

pub(super) fn statistic(neg: bool, opts: &[(&str, &str)]) -> Match {
    let get = |k: &str| opts.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let text = || {
        let parts: Vec<String> = opts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("-m statistic {}", parts.join(" "))
    };
    let mode = match get("--mode") {
        Some("random") => get("--probability")
            .and_then(|p| p.parse().ok())
            .map(|probability| Statistic::Random { probability }),
        Some("nth") => match (
            get("--every").and_then(|v| v.parse().ok()),
            get("--packet").map_or(Some(0), |v| v.parse().ok()),
        ) {
            (Some(every), Some(packet)) => Some(Statistic::Nth { every, packet }),
            _ => None,
        },
        _ => None,
    };
    match mode {
        Some(mode) => Match::Statistic { mode, neg },
        None => Match::Unknown { text: text() },
    }
}

/// `--match-set NAME src,dst`.
pub(super) fn set_match(opt: &Opt<'_>) -> Match {
    if opt.name != "--match-set" {
        return Match::Unknown {
            text: format!("-m set {}", opt_text(opt)),
        };
    }
    let (Some(name), Some(dirs)) = (opt.values.first(), opt.values.get(1)) else {
        return Match::Unknown {
            text: format!("-m set {}", opt_text(opt)),
        };
    };
    let dirs: Option<Vec<Dir>> = dirs
        .split(',')
        .map(|d| match d {
            "src" => Some(Dir::Src),
            "dst" => Some(Dir::Dst),
            _ => None,
        })
        .collect();
    match dirs {
        Some(dirs) => Match::IpSet {
            name: name.to_string(),
            dirs,
            neg: opt.neg,
        },
        None => Match::Unknown {
            text: format!("-m set {}", opt_text(opt)),
        },
    }
}

/// `--icmp-type 8[/0]` or a name (`echo-request`).
pub(super) fn icmp_match(opt: &Opt<'_>) -> Match {
    let unknown = || Match::Unknown {
        text: opt_text(opt),
    };
    if opt.name != "--icmp-type" && opt.name != "--icmpv6-type" {
        return unknown();
    }
    let v = opt.values.first().copied().unwrap_or("");
    let (t, c) = match v.split_once('/') {
        Some((t, c)) => (t, c.parse().ok()),
        None => (v, None),
    };
    match t.parse().ok().or_else(|| icmp_type_name(t)) {
        Some(icmp) => Match::IcmpType {
            icmp,
            code: c,
            neg: opt.neg,
        },
        None => unknown(),
    }
}

pub(super) fn icmp_type_name(name: &str) -> Option<u8> {
    Some(match name {
        "echo-reply" => 0,
        "destination-unreachable" => 3,
        "echo-request" => 8,
        "time-exceeded" => 11,
        _ => return None,
    })
}
