//! `-j TARGET [options]` as model statements and verdicts.

use std::net::IpAddr;

use cnictl_model::netfilter::{ConnMarkOp, Expr, NatTarget, Stmt, Verdict};

use super::matches::{number, value_mask};
use super::opt::TargetOpt;

/// `-j TARGET [options]` → statements and verdict.
pub(super) fn target(name: &str, opts: &[TargetOpt<'_>], is_chain: bool) -> Vec<Expr> {
    let get = |k: &str| {
        opts.iter()
            .find(|(_, n, _)| *n == k)
            .and_then(|(_, _, v)| v.first())
            .copied()
    };
    let has = |k: &str| opts.iter().any(|(_, n, _)| *n == k);
    let verdict = |v: Verdict| vec![Expr::Verdict(v)];
    let unknown = || {
        vec![Expr::Stmt(Stmt::Unknown {
            text: target_text(name, opts),
        })]
    };
    match name {
        "ACCEPT" => verdict(Verdict::Accept),
        "DROP" => verdict(Verdict::Drop),
        "RETURN" => verdict(Verdict::Return),
        "REJECT" => verdict(Verdict::Reject(get("--reject-with").map(str::to_string))),
        "DNAT" => nat(get("--to-destination"), Stmt::Dnat).unwrap_or_else(unknown),
        "SNAT" => nat(get("--to-source"), Stmt::Snat).unwrap_or_else(unknown),
        "MASQUERADE" => nat_end(Stmt::Masquerade {
            ports: get("--to-ports").and_then(ports),
            random_fully: has("--random-fully"),
        }),
        "REDIRECT" => nat_end(Stmt::Redirect {
            ports: get("--to-ports").and_then(ports),
        }),
        "MARK" => mark_target(opts)
            .map(|s| vec![Expr::Stmt(s)])
            .unwrap_or_else(unknown),
        "CONNMARK" => connmark_target(opts)
            .map(|s| vec![Expr::Stmt(s)])
            .unwrap_or_else(unknown),
        "NOTRACK" => vec![Expr::Stmt(Stmt::Notrack)],
        "CT" if has("--notrack") => vec![Expr::Stmt(Stmt::Notrack)],
        _ if is_passive_target(name) => vec![Expr::Stmt(Stmt::Log {
            text: target_text(name, opts),
        })],
        _ if is_chain => verdict(Verdict::Jump(name.to_string())),
        _ => unknown(),
    }
}

/// Targets that only observe or adjust headers cnictl does not model
/// (logging, MSS clamping, checksums, QoS): no effect on the path.
pub(super) fn is_passive_target(name: &str) -> bool {
    matches!(
        name,
        "LOG"
            | "NFLOG"
            | "ULOG"
            | "TRACE"
            | "TCPMSS"
            | "CHECKSUM"
            | "CLASSIFY"
            | "DSCP"
            | "TOS"
            | "TTL"
            | "HL"
            | "AUDIT"
            | "SECMARK"
            | "CONNSECMARK"
            | "IDLETIMER"
            | "LED"
    )
}

pub(super) fn target_text(name: &str, opts: &[TargetOpt<'_>]) -> String {
    let mut s = format!("-j {name}");
    for (neg, n, vs) in opts {
        if *neg {
            s.push_str(" !");
        }
        s.push(' ');
        s.push_str(n);
        for v in vs {
            s.push(' ');
            s.push_str(v);
        }
    }
    s
}

/// NAT targets end the traversal of the hook's nat chains (NF_ACCEPT).
pub(super) fn nat_end(stmt: Stmt) -> Vec<Expr> {
    vec![Expr::Stmt(stmt), Expr::Verdict(Verdict::Accept)]
}

pub(super) fn nat(to: Option<&str>, make: fn(NatTarget) -> Stmt) -> Option<Vec<Expr>> {
    Some(nat_end(make(nat_target(to?)?)))
}

/// `a.b.c.d[-e.f.g.h][:p[-q]]`, `[v6]:p`, `:p` alone.
pub(super) fn nat_target(text: &str) -> Option<NatTarget> {
    let (addr, port) = if let Some(rest) = text.strip_prefix('[') {
        let (a, p) = rest.split_once(']')?;
        (a, p.strip_prefix(':'))
    } else if text.matches(':').count() > 1 {
        (text, None)
    } else {
        match text.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        }
    };
    let addr = if addr.is_empty() {
        None
    } else {
        Some(addr_range(addr)?)
    };
    let ports = match port {
        Some(p) => Some(ports(p)?),
        None => None,
    };
    Some(NatTarget { addr, ports })
}

pub(super) fn addr_range(text: &str) -> Option<(IpAddr, IpAddr)> {
    match text.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => {
            let a = text.parse().ok()?;
            Some((a, a))
        }
    }
}

/// `p` or `p-q` (NAT targets use `-`).
pub(super) fn ports(text: &str) -> Option<(u16, u16)> {
    match text.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => {
            let p = text.parse().ok()?;
            Some((p, p))
        }
    }
}

/// MARK: every form as `mark = (mark & !mask) ^ value`.
pub(super) fn mark_target(opts: &[TargetOpt<'_>]) -> Option<Stmt> {
    let (_, name, values) = opts.first()?;
    let v = values.first()?;
    let (value, mask) = match *name {
        "--set-xmark" => value_mask(v).ok()?,
        "--set-mark" => {
            let (value, mask) = value_mask(v).ok()?;
            (value, mask | value)
        }
        "--or-mark" => {
            let x = number(v).ok()?;
            (x, x)
        }
        "--and-mark" => (0, !number(v).ok()?),
        "--xor-mark" => (number(v).ok()?, 0),
        _ => return None,
    };
    Some(Stmt::Mark { value, mask })
}

pub(super) fn connmark_target(opts: &[TargetOpt<'_>]) -> Option<Stmt> {
    let (_, name, values) = opts.first()?;
    let get = |k: &str| {
        opts.iter()
            .find(|(_, n, _)| *n == k)
            .and_then(|(_, _, v)| v.first())
            .and_then(|v| number(v).ok())
    };
    let masks = || {
        let mask = get("--mask");
        (
            get("--nfmask").or(mask).unwrap_or(u32::MAX),
            get("--ctmask").or(mask).unwrap_or(u32::MAX),
        )
    };
    Some(Stmt::ConnMark(match *name {
        "--set-xmark" | "--set-mark" => {
            let (value, mask) = value_mask(values.first()?).ok()?;
            ConnMarkOp::Set { value, mask }
        }
        "--save-mark" => {
            let (nfmask, ctmask) = masks();
            ConnMarkOp::Save { nfmask, ctmask }
        }
        "--restore-mark" => {
            let (nfmask, ctmask) = masks();
            ConnMarkOp::Restore { nfmask, ctmask }
        }
        _ => return None,
    }))
}
