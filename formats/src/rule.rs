//! `ip -j rule show` → [`Rule`]s.
//!
//! - `src`/`dst` are `all` or an address with `srclen`/`dstlen` (absent
//!   length = host prefix); `not`, `nop` print as `null` flags.
//! - `fwmark`/`fwmask` are hex strings (`"0x4000"`) or numbers.
//! - The action is `table` (name or id, custom names as for routes), `goto`,
//!   `action` (`blackhole`, `unreachable`, `prohibit`, `nop`) or `nop`;
//!   `l3mdev` rules (VRF) have no table: they become `nop`, as cnictl does
//!   not model VRFs.
//! - The dump carries no family: it is that of any address in the same
//!   array; an array without addresses is `inet` when it is the first,
//!   else the other family than the previous array (`ip -4 -j rule; ip -6
//!   -j rule` concatenated) — plain `ip -j rule show` lists IPv4 only.

use std::net::IpAddr;

use cnictl_model::route::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use cnictl_model::{Rule, RuleAction, TableId};
use ipnet::IpNet;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::json::json_line;
use super::json::{arrays, lenient_u32, present, Scalar};
use super::route::custom_table_id;
use super::ParseError;
use cnictl_model::route::table_name;
use serde_json::json;

/// Parses an `ip -j rule show` dump (one or several concatenated arrays).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, ParseError> {
    let mut out = Vec::new();
    let mut prev_v6: Option<bool> = None;
    arrays::<JRule, _>(text, |_, items| {
        let v6 = items
            .iter()
            .find_map(|r| r.src.or(r.dst).map(|ip| ip.is_ipv6()))
            .unwrap_or(matches!(prev_v6, Some(false)));
        prev_v6 = Some(v6);
        for r in items {
            out.push(r.into_model(v6));
        }
        Ok(())
    })?;
    Ok(out)
}

#[derive(Deserialize)]
struct JRule {
    #[serde(default, deserialize_with = "lenient_u32")]
    priority: Option<u32>,
    #[serde(default, deserialize_with = "de_addr_or_all")]
    src: Option<IpAddr>,
    #[serde(default)]
    srclen: Option<u8>,
    #[serde(default, deserialize_with = "de_addr_or_all")]
    dst: Option<IpAddr>,
    #[serde(default)]
    dstlen: Option<u8>,
    #[serde(default)]
    iif: Option<String>,
    #[serde(default)]
    oif: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    fwmark: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    fwmask: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    not: bool,
    #[serde(default, deserialize_with = "de_rule_table")]
    table: Option<TableId>,
    #[serde(default, deserialize_with = "lenient_u32")]
    goto: Option<u32>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    suppress_prefixlen: Option<u32>,
}

impl JRule {
    fn into_model(self, v6: bool) -> Rule {
        Rule {
            priority: self.priority.unwrap_or(0),
            family: if v6 { "inet6" } else { "inet" }.to_string(),
            src: self.src.map(|ip| net(ip, self.srclen)),
            dst: self.dst.map(|ip| net(ip, self.dstlen)),
            iif: self.iif,
            oif: self.oif,
            fwmark: self.fwmark,
            fwmask: self.fwmask,
            not: self.not,
            action: action(self.table, self.goto, self.action.as_deref()),
            suppress_prefixlen: self.suppress_prefixlen.and_then(|n| u8::try_from(n).ok()),
        }
    }
}

fn net(ip: IpAddr, len: Option<u8>) -> IpNet {
    len.and_then(|l| IpNet::new(ip, l).ok())
        .unwrap_or_else(|| IpNet::from(ip))
        .trunc()
}

/// The rule's action; `nop` rules, `l3mdev` rules and any other without
/// `table`/`goto`/`action` do nothing cnictl models: `nop`.
fn action(table: Option<TableId>, goto: Option<u32>, act: Option<&str>) -> RuleAction {
    match (table, goto, act) {
        (Some(t), _, _) => RuleAction::Table(t),
        (_, Some(g), _) => RuleAction::Goto(g),
        (_, _, Some("blackhole")) => RuleAction::Blackhole,
        (_, _, Some("unreachable")) => RuleAction::Unreachable,
        (_, _, Some("prohibit")) => RuleAction::Prohibit,
        _ => RuleAction::Nop,
    }
}

fn de_addr_or_all<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let v = Scalar::deserialize(d)?;
    match v.as_str() {
        Some("all") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("invalid rule address {s:?}"))),
        None if v == Scalar::Null => Ok(None),
        None => Err(de::Error::custom(format!(
            "expected an address or \"all\", found {v:?}"
        ))),
    }
}

fn de_rule_table<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TableId>, D::Error> {
    let v = Scalar::deserialize(d)?;
    if let Some(n) = v.as_u64() {
        return TableId::try_from(n)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("table id {n} out of range")));
    }
    match v.as_str() {
        Some("main") => Ok(Some(TABLE_MAIN)),
        Some("local") => Ok(Some(TABLE_LOCAL)),
        Some("default") => Ok(Some(TABLE_DEFAULT)),
        Some("unspec") => Ok(Some(0)),
        Some(name) if !name.is_empty() => Ok(Some(custom_table_id(name))),
        _ => Err(de::Error::custom(format!(
            "expected a table name or id, found {v:?}"
        ))),
    }
}

// ---- writer: `ip -4 -j rule; ip -6 -j rule` ---------------------------------

/// IPv4 rules as one array, then IPv6 rules as a second one when there are
/// any (`ip -4 -j rule; ip -6 -j rule`).
pub fn write_rules(rules: &[Rule]) -> String {
    let (v6, v4): (Vec<&Rule>, Vec<&Rule>) = rules.iter().partition(|r| r.family == "inet6");
    let mut s = rule_array(&v4);
    if !v6.is_empty() {
        s.push_str(&rule_array(&v6));
    }
    s
}

fn rule_array(rules: &[&Rule]) -> String {
    json_line(&rules.iter().map(|r| rule_out(r)).collect::<Vec<_>>())
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

fn rule_out(r: &Rule) -> serde_json::Value {
    let mut m = JsonMap::new();
    m.insert("priority".into(), json!(r.priority));
    if r.not {
        m.insert("not".into(), serde_json::Value::Null);
    }
    selector(&mut m, "src", "srclen", &r.src);
    selector(&mut m, "dst", "dstlen", &r.dst);
    let mut opt = |key: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            m.insert(key.into(), v);
        }
    };
    opt("iif", r.iif.as_ref().map(|i| json!(i)));
    opt("oif", r.oif.as_ref().map(|o| json!(o)));
    opt("fwmark", r.fwmark.map(|f| json!(format!("{f:#x}"))));
    opt("fwmask", r.fwmask.map(|f| json!(format!("{f:#x}"))));
    let (key, value) = action_out(&r.action);
    m.insert(key.into(), value);
    if let Some(n) = r.suppress_prefixlen {
        m.insert("suppress_prefixlen".into(), json!(n));
    }
    serde_json::Value::Object(m)
}

/// `src`/`dst` with its length when not a host prefix; an absent `src`
/// prints as `"all"`, an absent `dst` not at all.
fn selector(m: &mut JsonMap, key: &str, len_key: &str, net: &Option<IpNet>) {
    match net {
        Some(n) => {
            m.insert(key.into(), json!(n.trunc().addr()));
            if n.prefix_len() != n.max_prefix_len() {
                m.insert(len_key.into(), json!(n.prefix_len()));
            }
        }
        None if key == "src" => {
            m.insert(key.into(), json!("all"));
        }
        None => {}
    }
}

fn action_out(action: &RuleAction) -> (&'static str, serde_json::Value) {
    match *action {
        RuleAction::Table(t) => ("table", json!(table_name(t))),
        RuleAction::Goto(g) => ("goto", json!(g)),
        RuleAction::Nop => ("nop", serde_json::Value::Null),
        RuleAction::Blackhole => ("action", json!("blackhole")),
        RuleAction::Unreachable => ("action", json!("unreachable")),
        RuleAction::Prohibit => ("action", json!("prohibit")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_concatenated_arrays() {
        let text = r#"[{"priority":0,"src":"all","table":"local"}]
                      [{"priority":0,"src":"all","table":"local"}]"#;
        let r = parse_rules(text).unwrap();
        assert_eq!(
            (r[0].family.as_str(), r[1].family.as_str()),
            ("inet", "inet6")
        );
        let v6 = parse_rules(r#"[{"priority":5,"src":"2001:db8::","srclen":32,"table":"100"}]"#)
            .unwrap();
        assert_eq!(v6[0].family, "inet6");
    }

    #[test]
    fn host_src_without_len_and_hex_marks() {
        let r = parse_rules(
            r#"[{"priority":"9","src":"10.0.0.1","fwmark":"0x10","fwmask":"0xff","goto":"100"}]"#,
        )
        .unwrap();
        assert_eq!(r[0].src, Some("10.0.0.1/32".parse().unwrap()));
        assert_eq!(
            (r[0].fwmark, r[0].fwmask, r[0].priority),
            (Some(16), Some(255), 9)
        );
        assert_eq!(r[0].action, RuleAction::Goto(100));
        assert!(parse_rules(r#"[{"priority":1,"fwmark":"0xzz"}]"#).is_err());
    }
}
