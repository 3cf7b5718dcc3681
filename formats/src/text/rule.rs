//! `ip rule show` text → [`Rule`]s, as [`crate::rule`] maps the JSON:
//! `PRIO: [not] from SRC|all [to DST] [fwmark M[/MASK]] [iif D] [oif D]
//! ACTION`, the action `lookup TABLE [suppress_prefixlength N]`, `goto N`,
//! `blackhole`, `unreachable`, `prohibit` or `nop`; `l3mdev` rules (VRF)
//! become `nop` as there. Selectors cnictl does not model (`tos`,
//! `ipproto`, `sport`, `dport`, `uidrange`, `realms`, `proto`) are skipped
//! with their values.
//!
//! The family comes from any address of the dump; `ip rule show; ip -6
//! rule show` pasted one after the other is told apart where the
//! priorities start again, the second listing then being the other family
//! (as the JSON reader does with two arrays).

use cnictl_model::route::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{Rule, RuleAction, TableId};
use ipnet::IpNet;

use super::{lines, FromText, Toks};
use crate::json::{parse_net, parse_u64};
use crate::route::custom_table_id;
use crate::ParseError;

const SKIPPED: &[&str] = &[
    "tos", "dsfield", "ipproto", "sport", "dport", "uidrange", "realms", "proto", "protocol",
    "map-to",
];

/// Parses `ip rule show` text (one or two listings).
pub fn parse_rules_text(text: &str) -> Result<FromText<Vec<Rule>>, ParseError> {
    let mut runs: Vec<Vec<Rule>> = Vec::new();
    let mut last: Option<u32> = None;
    for (no, line) in lines(text) {
        let r = rule(&mut Toks::new(no, line))?;
        if last.is_none_or(|p| r.priority < p) {
            runs.push(Vec::new());
        }
        last = Some(r.priority);
        if let Some(run) = runs.last_mut() {
            run.push(r);
        }
    }
    let mut prev_v6: Option<bool> = None;
    let mut out = Vec::new();
    for mut run in runs {
        let v6 = run
            .iter()
            .find_map(|r| r.src.or(r.dst).map(|n| n.addr().is_ipv6()))
            .unwrap_or(matches!(prev_v6, Some(false)));
        prev_v6 = Some(v6);
        for r in &mut run {
            r.family = if v6 { "inet6" } else { "inet" }.to_string();
        }
        out.extend(run);
    }
    Ok(FromText::full(out))
}

fn rule(t: &mut Toks<'_>) -> Result<Rule, ParseError> {
    let prio = t.value("", "a priority like \"32766:\"")?;
    let priority = prio
        .strip_suffix(':')
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| t.err(Some(prio), "a priority like \"32766:\""))?;
    let mut r = Rule {
        priority,
        family: "inet".into(),
        src: None,
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        not: false,
        action: RuleAction::Nop,
        suppress_prefixlen: None,
    };
    let mut l3mdev = false;
    while let Some(key) = t.next() {
        match key {
            "not" => r.not = true,
            "from" => r.src = selector(t, key)?,
            "to" => r.dst = selector(t, key)?,
            "fwmark" => fwmark(t, &mut r)?,
            "iif" => r.iif = Some(t.value(key, "a device name")?.to_string()),
            "oif" => r.oif = Some(t.value(key, "a device name")?.to_string()),
            "[detached]" | "[unresolved]" => {}
            "l3mdev" => l3mdev = true,
            "lookup" | "table" => r.action = lookup(t, key)?,
            "goto" => r.action = RuleAction::Goto(t.parsed(key, "a rule priority")?),
            "blackhole" => r.action = RuleAction::Blackhole,
            "unreachable" => r.action = RuleAction::Unreachable,
            "prohibit" => r.action = RuleAction::Prohibit,
            "nop" => r.action = RuleAction::Nop,
            "suppress_prefixlength" => {
                r.suppress_prefixlen = Some(t.parsed(key, "a prefix length")?)
            }
            k if SKIPPED.contains(&k) => {
                t.value(k, "a value")?;
            }
            other => {
                return Err(t.err(
                    Some(other),
                    "a rule selector or action (from, to, fwmark, iif, oif, lookup, goto, …)",
                ))
            }
        }
    }
    if l3mdev {
        r.action = RuleAction::Nop;
    }
    Ok(r)
}

/// `all` or an address with an optional prefix length.
fn selector(t: &mut Toks<'_>, key: &str) -> Result<Option<IpNet>, ParseError> {
    match t.value(key, "an address or \"all\"")? {
        "all" => Ok(None),
        s => parse_net(s)
            .map(|n| Some(n.trunc()))
            .ok_or_else(|| t.err(Some(s), "an address or \"all\"")),
    }
}

fn fwmark(t: &mut Toks<'_>, r: &mut Rule) -> Result<(), ParseError> {
    let v = t.value("fwmark", "a mark like 0x4000/0xffff")?;
    let (mark, mask) = match v.split_once('/') {
        Some((m, k)) => (m, Some(k)),
        None => (v, None),
    };
    let num = |s: &str| parse_u64(s).and_then(|n| u32::try_from(n).ok());
    r.fwmark = Some(num(mark).ok_or_else(|| t.err(Some(v), "a mark like 0x4000/0xffff"))?);
    r.fwmask = match mask {
        Some(m) => Some(num(m).ok_or_else(|| t.err(Some(v), "a mask like 0xffff"))?),
        None => None,
    };
    Ok(())
}

/// `lookup TABLE`: a name, an id, or `[l3mdev-table]` (VRF: `nop`).
fn lookup(t: &mut Toks<'_>, key: &str) -> Result<RuleAction, ParseError> {
    let name = t.value(key, "a table name or id")?;
    let id: TableId = match name {
        "[l3mdev-table]" => return Ok(RuleAction::Nop),
        "main" => TABLE_MAIN,
        "local" => TABLE_LOCAL,
        "default" => TABLE_DEFAULT,
        "unspec" => 0,
        n => n.parse().unwrap_or_else(|_| custom_table_id(n)),
    };
    Ok(RuleAction::Table(id))
}
