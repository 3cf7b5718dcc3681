//! `nft -j list ruleset` → netfilter tables (libnftables JSON schema 1).
//!
//! Read through a generic JSON tree (`json::Json`, borrowed from the text)
//! rather than typed structs: the schema is a tree of single-key objects
//! whose shapes vary between nftables releases (`op` is omitted for
//! implicit equality; set types and flags are a string or an array;
//! elements with comments are wrapped in `{"elem": …}`), and a construct
//! cnictl does not know must be kept verbatim, not rejected.
//!
//! Tables that iptables-nft owns (`ip`/`ip6` tables named like iptables'
//! tables whose rules hold `xt` compat expressions) are skipped here: nft
//! prints their matches as opaque `{"xt": {"name": "conntrack"}}`, so they
//! are read from `iptables-save`, which prints them in full.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_model::netfilter::{
    proto_number, AddrType, Backend, BaseChain, Chain, ChainKind, ConnMarkOp, Counters, CtState,
    Dir, Element, Expr, Family, Hook, Key, Lookup, MapValue, Match, NatTarget, NumgenVmap, Rule,
    Set, SetRef, Source, Stmt, Table, Value as NfValue, Verdict,
};
use ipnet::IpNet;

use super::nft_render;
use super::ParseError;

mod json;
mod read;

pub(crate) use json::Json;

pub use read::parse_nft_ruleset;

/// A rule with an `xt` compat expression: written by iptables-nft.
fn has_xt(rule: &Json) -> bool {
    rule.get("expr")
        .and_then(Json::as_array)
        .is_some_and(|e| e.iter().any(|x| x.get("xt").is_some()))
}

fn table_key(body: &Json) -> Option<(Family, String)> {
    Some((
        family(body.get("family")?.as_str()?).ok()?,
        body.get("table")?.as_str()?.to_string(),
    ))
}

fn shape_error(expected: &str, found: &serde_json::Value) -> ParseError {
    let found: String = found.to_string().chars().take(80).collect();
    ParseError::Json {
        line: 1,
        column: 1,
        message: format!("expected {expected}, found {found}"),
    }
}

type Res<T> = Result<T, String>;

/// The tables read so far, and where each chain is (kube-proxy's nftables
/// table has a chain per Service and per endpoint: rules find theirs by
/// name, not by scanning).
#[derive(Default)]
struct Doc {
    tables: Vec<Table>,
    /// Per table (by index), each chain's index by name.
    chains: Vec<HashMap<String, usize>>,
}

impl Doc {
    fn add_item(&mut self, item: &Json) -> Res<()> {
        let Some((kind, body)) = item.first_entry() else {
            return Err(format!("expected an object with one key, found {item}"));
        };
        match kind {
            "table" => self.tables.push(table(body)?),
            "chain" => self.add_chain(body)?,
            "set" | "map" => {
                let set = set(body)?;
                let t = find_table(&self.tables, body)?;
                self.tables[t].sets.push(set);
            }
            "rule" => {
                let (family, table, chain) = rule_place(body)?;
                self.add_rule(family, table, chain, rule(body)?)?;
            }
            _ => {} // metainfo, flowtables, counters, quotas, ct helpers: no effect on a path
        }
        Ok(())
    }

    fn add_chain(&mut self, body: &Json) -> Res<()> {
        let t = find_table(&self.tables, body)?;
        let c = chain(body)?;
        if self.chains.len() <= t {
            self.chains.resize_with(t + 1, HashMap::new);
        }
        self.chains[t].insert(c.name.clone(), self.tables[t].chains.len());
        self.tables[t].chains.push(c);
        Ok(())
    }

    /// A rule converted ahead (see `read`) joins its chain.
    fn add_rule(&mut self, family_name: &str, table: &str, chain: &str, mut rule: Rule) -> Res<()> {
        let fam = family(family_name)?;
        let t = (self.tables.iter())
            .rposition(|t| t.family == fam && t.name == table)
            .ok_or_else(|| format!("table {table} is not declared before its contents"))?;
        let at = *(self.chains.get(t))
            .and_then(|names| names.get(chain))
            .ok_or_else(|| format!("rule for undeclared chain {chain:?}"))?;
        let chain = &mut self.tables[t].chains[at];
        rule.position = chain.rules.len() as u32 + 1;
        chain.rules.push(rule);
        Ok(())
    }
}

/// A rule's (family, table, chain).
fn rule_place<'v>(body: &'v Json) -> Res<(&'v str, &'v str, &'v str)> {
    Ok((
        str_field(body, "family")?,
        str_field(body, "table")?,
        str_field(body, "chain")?,
    ))
}

fn str_field<'a>(body: &'a Json, key: &str) -> Res<&'a str> {
    body.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("missing string field {key:?}"))
}

/// A string field, borrowed from the listing when it has no escapes.
fn str_cow<'a>(body: &Json<'a>, key: &str) -> Res<Cow<'a, str>> {
    match body.get(key) {
        Some(Json::Str(s)) => Ok(s.clone()),
        _ => Err(format!("missing string field {key:?}")),
    }
}

fn family(name: &str) -> Res<Family> {
    Ok(match name {
        "ip" => Family::Ip,
        "ip6" => Family::Ip6,
        "inet" => Family::Inet,
        "bridge" => Family::Bridge,
        "arp" => Family::Arp,
        "netdev" => Family::Netdev,
        _ => return Err(format!("unknown family {name:?}")),
    })
}

fn table(body: &Json) -> Res<Table> {
    Ok(Table {
        family: family(str_field(body, "family")?)?,
        name: str_field(body, "name")?.to_string(),
        backend: Backend::Nftables,
        source: Source::NftRuleset,
        chains: Vec::new(),
        sets: Vec::new(),
    })
}

fn find_table(tables: &[Table], body: &Json) -> Res<usize> {
    let fam = family(str_field(body, "family")?)?;
    let name = str_field(body, "table")?;
    tables
        .iter()
        .rposition(|t| t.family == fam && t.name == name)
        .ok_or_else(|| format!("table {name} is not declared before its contents"))
}

fn chain(body: &Json) -> Res<Chain> {
    let name = str_field(body, "name")?.to_string();
    let base = match body.get("hook").and_then(Json::as_str) {
        Some(hook) => Some(base_chain(body, hook)?),
        None => None,
    };
    Ok(Chain {
        name,
        base,
        rules: Vec::new(),
    })
}

fn base_chain(body: &Json, hook: &str) -> Res<BaseChain> {
    let hook = match hook {
        "prerouting" => Hook::Prerouting,
        "input" => Hook::Input,
        "forward" => Hook::Forward,
        "output" => Hook::Output,
        "postrouting" => Hook::Postrouting,
        "ingress" => Hook::Ingress,
        "egress" => Hook::Egress,
        _ => return Err(format!("unknown hook {hook:?}")),
    };
    let kind = match body.get("type").and_then(Json::as_str) {
        Some("nat") => ChainKind::Nat,
        Some("route") => ChainKind::Route,
        _ => ChainKind::Filter,
    };
    let policy = match body.get("policy").and_then(Json::as_str) {
        Some("drop") => Verdict::Drop,
        _ => Verdict::Accept,
    };
    let priority = body.get("prio").and_then(Json::as_i64).unwrap_or(0) as i32;
    Ok(BaseChain {
        hook,
        priority,
        kind,
        policy,
        counters: None,
    })
}

/// One rule of a chain; its position is set when it joins the chain.
fn rule(body: &Json) -> Res<Rule> {
    let exprs_json = body
        .get("expr")
        .and_then(Json::as_array)
        .ok_or("a rule without \"expr\"")?;
    let mut text = String::with_capacity(TEXT_PER_STATEMENT * exprs_json.len());
    let mut exprs = Vec::new();
    let mut counters = None;
    for e in exprs_json {
        append_statement(&mut text, e);
        if let Some(c) = e.get("counter") {
            counters = Some(counter(c));
        }
        exprs.extend(expr(e));
    }
    let comment = body
        .get("comment")
        .and_then(Json::as_str)
        .map(str::to_string);
    Ok(Rule {
        text,
        position: 0,
        handle: body.get("handle").and_then(Json::as_u64),
        comment,
        counters,
        exprs,
    })
}

fn counter(c: &Json) -> Counters {
    Counters {
        packets: c.get("packets").and_then(Json::as_u64).unwrap_or(0),
        bytes: c.get("bytes").and_then(Json::as_u64).unwrap_or(0),
    }
}

/// One JSON statement → model expressions (a NAT statement also ends the
/// rule with accept, as the kernel's nat expressions do).
fn expr(e: &Json) -> Vec<Expr> {
    let Some((kind, body)) = e.first_entry() else {
        return vec![unknown_stmt(e)];
    };
    match kind {
        "match" => vec![match_expr(body).map_or_else(
            || Expr::Match(Match::Unknown { text: render(e) }),
            Expr::Match,
        )],
        "counter" | "log" => vec![Expr::Stmt(Stmt::Log { text: render(e) })],
        "vmap" => vec![vmap(body).unwrap_or_else(|| unknown_stmt(e))],
        "mangle" => vec![mangle(body).map_or_else(|| unknown_stmt(e), Expr::Stmt)],
        "dnat" | "snat" => nat(kind, body).unwrap_or_else(|| vec![unknown_stmt(e)]),
        "masquerade" => nat_end(Stmt::Masquerade {
            ports: port_range(body.get("port")),
            random_fully: has_flag(body, "fully-random"),
        }),
        "redirect" => nat_end(Stmt::Redirect {
            ports: port_range(body.get("port")),
        }),
        "notrack" => vec![Expr::Stmt(Stmt::Notrack)],
        _ => verdict(kind, body).map_or_else(|| vec![unknown_stmt(e)], |v| vec![Expr::Verdict(v)]),
    }
}

fn unknown_stmt(e: &Json) -> Expr {
    Expr::Stmt(Stmt::Unknown { text: render(e) })
}

fn nat_end(stmt: Stmt) -> Vec<Expr> {
    vec![Expr::Stmt(stmt), Expr::Verdict(Verdict::Accept)]
}

fn has_flag(body: &Json, flag: &str) -> bool {
    match body.get("flags") {
        Some(Json::Str(s)) => s == flag,
        Some(Json::Arr(a)) => a.iter().any(|f| f.as_str() == Some(flag)),
        _ => false,
    }
}

fn verdict(kind: &str, body: &Json) -> Option<Verdict> {
    let target = || {
        body.get("target")
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    Some(match kind {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "return" => Verdict::Return,
        "continue" => return None,
        "jump" => Verdict::Jump(target()?),
        "goto" => Verdict::Goto(target()?),
        "reject" => Verdict::Reject(body.get("expr").and_then(Json::as_str).map(str::to_string)),
        "queue" => Verdict::Other("queue".into()),
        _ => return None,
    })
}

/// `{"match": {"op", "left", "right"}}` → a match cnictl evaluates.
fn match_expr(body: &Json) -> Option<Match> {
    let op = body.get("op").and_then(Json::as_str).unwrap_or("==");
    let neg = match op {
        "==" | "in" => false,
        "!=" => true,
        _ => return None,
    };
    let left = body.get("left")?;
    let right = body.get("right")?;
    if let Some(m) = masked_mark(left, right, neg) {
        return Some(m);
    }
    if let Some(keys) = keys(left) {
        if let Some(set) = set_ref(right) {
            return Some(Match::SetLookup {
                lookup: Lookup { keys, set },
                neg,
            });
        }
    }
    field_match(left, right, neg)
}

/// `meta mark & M == V` / `ct mark & M == V`.
fn masked_mark(left: &Json, right: &Json, neg: bool) -> Option<Match> {
    let and = left.get("&")?.as_array()?;
    let key = mark_key(and.first()?)?;
    let mask = and.get(1)?.as_u64()? as u32;
    let value = right.as_u64()? as u32;
    Some(if key {
        Match::ConnMark { value, mask, neg }
    } else {
        Match::Mark { value, mask, neg }
    })
}

/// Some(false) for `meta mark`, Some(true) for `ct mark`.
fn mark_key(v: &Json) -> Option<bool> {
    let (holder, conn) = match (v.get("meta"), v.get("ct")) {
        (Some(m), _) => (m, false),
        (None, Some(c)) => (c, true),
        _ => return None,
    };
    (holder.get("key")?.as_str()? == "mark").then_some(conn)
}

fn field_match(left: &Json, right: &Json, neg: bool) -> Option<Match> {
    if let Some(p) = left.get("payload") {
        return payload_match(p, right, neg);
    }
    if let Some(m) = left.get("meta") {
        return meta_match(m.get("key")?.as_str()?, right, neg);
    }
    if let Some(ct) = left.get("ct") {
        return ct_match(ct.get("key")?.as_str()?, right, neg);
    }
    if let Some(fib) = left.get("fib") {
        return fib_match(fib, right, neg);
    }
    None
}

fn payload_match(p: &Json, right: &Json, neg: bool) -> Option<Match> {
    let proto = p.get("protocol")?.as_str()?;
    let field = p.get("field")?.as_str()?;
    match (proto, field) {
        ("ip" | "ip6", "saddr" | "daddr") => {
            let dir = if field == "saddr" { Dir::Src } else { Dir::Dst };
            Some(Match::Addr {
                dir,
                nets: nets(right)?,
                neg,
            })
        }
        ("tcp" | "udp" | "sctp" | "th" | "udplite", "sport" | "dport") => {
            let dir = if field == "sport" { Dir::Src } else { Dir::Dst };
            Some(Match::Port {
                dir,
                ranges: num_ranges(right)?
                    .into_iter()
                    .map(|(a, b)| (a as u16, b as u16))
                    .collect(),
                neg,
            })
        }
        ("icmp" | "icmpv6", "type") => {
            let icmp = match right {
                Json::Num(n) => n.as_u64()? as u8,
                Json::Str(s) => icmp_type(s)?,
                _ => return None,
            };
            Some(Match::IcmpType {
                icmp,
                code: None,
                neg,
            })
        }
        _ => None,
    }
}

fn icmp_type(name: &str) -> Option<u8> {
    Some(match name {
        "echo-reply" => 0,
        "destination-unreachable" => 3,
        "echo-request" => 8,
        "time-exceeded" => 11,
        _ => return None,
    })
}

fn meta_match(key: &str, right: &Json, neg: bool) -> Option<Match> {
    match key {
        "iifname" | "oifname" | "iif" | "oif" => {
            let dir = if key.starts_with('i') {
                Dir::Src
            } else {
                Dir::Dst
            };
            let name = right.as_str()?.replace('*', "+");
            Some(Match::Iface { dir, name, neg })
        }
        "l4proto" | "protocol" if key == "l4proto" => Some(Match::Proto {
            protos: protos(right)?,
            neg,
        }),
        "mark" => Some(Match::Mark {
            value: right.as_u64()? as u32,
            mask: u32::MAX,
            neg,
        }),
        _ => None,
    }
}

fn ct_match(key: &str, right: &Json, neg: bool) -> Option<Match> {
    match key {
        "state" => {
            let list: Vec<&Json> = match right {
                Json::Arr(a) => a.iter().collect(),
                other => vec![other],
            };
            let states = list
                .iter()
                .map(|s| ct_state(s.as_str()?))
                .collect::<Option<Vec<_>>>()?;
            Some(Match::CtState { states, neg })
        }
        "mark" => Some(Match::ConnMark {
            value: right.as_u64()? as u32,
            mask: u32::MAX,
            neg,
        }),
        _ => None,
    }
}

fn ct_state(s: &str) -> Option<CtState> {
    Some(match s {
        "new" => CtState::New,
        "established" => CtState::Established,
        "related" => CtState::Related,
        "invalid" => CtState::Invalid,
        "untracked" => CtState::Untracked,
        _ => return None,
    })
}

/// `fib daddr type local` (flags may include `iif`/`oif`: not modelled).
fn fib_match(fib: &Json, right: &Json, neg: bool) -> Option<Match> {
    if fib.get("result")?.as_str()? != "type" {
        return None;
    }
    let flags: Vec<&str> = match fib.get("flags")? {
        Json::Str(s) => vec![s.as_ref()],
        Json::Arr(a) => a.iter().filter_map(Json::as_str).collect(),
        _ => return None,
    };
    let dir = match flags.as_slice() {
        ["daddr"] => Dir::Dst,
        ["saddr"] => Dir::Src,
        _ => return None,
    };
    let names: Vec<&Json> = match right {
        Json::Arr(a) => a.iter().collect(),
        obj @ Json::Obj(_) => obj.get("set")?.as_array()?.iter().collect(),
        other => vec![other],
    };
    let types = names
        .iter()
        .map(|n| super::iptables::addr_type(n.as_str()?))
        .collect::<Option<Vec<AddrType>>>()?;
    Some(Match::AddrType {
        dir,
        types,
        neg,
        limit_iface: None,
    })
}

fn protos(right: &Json) -> Option<Vec<u8>> {
    let one = |v: &Json| -> Option<u8> {
        match v {
            Json::Str(s) => proto_number(s),
            Json::Num(n) => n.as_u64().map(|n| n as u8),
            _ => None,
        }
    };
    match right.get("set").and_then(Json::as_array) {
        Some(list) => list.iter().map(one).collect(),
        None => one(right).map(|p| vec![p]),
    }
}

/// An address, a `{"prefix"}`, a `{"range"}` (as the prefixes it spans is
/// not needed: kept as its ends) or an anonymous set of those.
fn nets(right: &Json) -> Option<Vec<IpNet>> {
    match right.get("set").and_then(Json::as_array) {
        Some(list) => list.iter().map(single_net).collect(),
        None => single_net(right).map(|n| vec![n]),
    }
}

fn single_net(v: &Json) -> Option<IpNet> {
    if let Some(s) = v.as_str() {
        return s.parse::<IpAddr>().ok().map(IpNet::from);
    }
    let p = v.get("prefix")?;
    let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
    IpNet::new(addr, p.get("len")?.as_u64()? as u8).ok()
}

fn num_ranges(right: &Json) -> Option<Vec<(u64, u64)>> {
    let one = |v: &Json| -> Option<(u64, u64)> {
        if let Some(n) = v.as_u64() {
            return Some((n, n));
        }
        let r = v.get("range")?.as_array()?;
        Some((r.first()?.as_u64()?, r.get(1)?.as_u64()?))
    };
    match right.get("set").and_then(Json::as_array) {
        Some(list) => list.iter().map(one).collect(),
        None => one(right).map(|r| vec![r]),
    }
}

/// The packet fields of a lookup key (`ip daddr . meta l4proto . th dport`).
fn keys(left: &Json) -> Option<Vec<Key>> {
    match left.get("concat").and_then(Json::as_array) {
        Some(parts) => parts.iter().map(key).collect(),
        None => key(left).map(|k| vec![k]),
    }
}

fn key(v: &Json) -> Option<Key> {
    if let Some(p) = v.get("payload") {
        return Some(
            match (p.get("protocol")?.as_str()?, p.get("field")?.as_str()?) {
                ("ip" | "ip6", "saddr") => Key::Saddr,
                ("ip" | "ip6", "daddr") => Key::Daddr,
                (_, "sport") => Key::Sport,
                (_, "dport") => Key::Dport,
                (proto, field) => Key::Other(format!("{proto} {field}")),
            },
        );
    }
    let meta = v.get("meta")?.get("key")?.as_str()?;
    Some(match meta {
        "l4proto" => Key::L4Proto,
        "iifname" => Key::Iifname,
        "oifname" => Key::Oifname,
        "mark" => Key::Mark,
        other => Key::Other(format!("meta {other}")),
    })
}

/// `"@name"` or an anonymous `{"set": [...]}` used as a set (not a value
/// list of a plain field match, which `field_match` handles first for
/// single fields).
fn set_ref(right: &Json) -> Option<SetRef> {
    if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
        return Some(SetRef::Named(name.to_string()));
    }
    None
}

fn vmap(body: &Json) -> Option<Expr> {
    let key_json = body.get("key")?;
    let data = body.get("data")?;
    if let Some(numgen) = key_json.get("numgen") {
        return numgen_vmap(numgen, data);
    }
    let keys = keys(key_json)?;
    let set = match data.as_str().and_then(|s| s.strip_prefix('@')) {
        Some(name) => SetRef::Named(name.to_string()),
        None => SetRef::Anonymous(map_elements(data.get("set")?.as_array()?)?),
    };
    Some(Expr::Vmap(Lookup { keys, set }))
}

fn numgen_vmap(numgen: &Json, data: &Json) -> Option<Expr> {
    if numgen.get("mode")?.as_str()? != "random" {
        return None;
    }
    let modulus = numgen.get("mod")?.as_u64()? as u32;
    let offset = numgen.get("offset").and_then(Json::as_u64).unwrap_or(0) as u32;
    let mut arms = Vec::new();
    for pair in data.get("set")?.as_array()? {
        let (k, v) = (pair.at(0)?, pair.at(1)?);
        let (lo, hi) = num_ranges(k)?.first().copied()?;
        arms.push((lo as u32, hi as u32, verdict_value(v)?));
    }
    Some(Expr::NumgenVmap(NumgenVmap {
        modulus,
        offset,
        arms,
    }))
}

fn verdict_value(v: &Json) -> Option<Verdict> {
    let (kind, body) = v.first_entry()?;
    verdict(kind, body)
}

/// `meta mark set …` / `ct mark set …`.
fn mangle(body: &Json) -> Option<Stmt> {
    let key = body.get("key")?;
    let value = body.get("value")?;
    if let Some(ct) = key.get("ct") {
        if ct.get("key")?.as_str()? == "mark" {
            return Some(Stmt::ConnMark(ConnMarkOp::Set {
                value: value.as_u64()? as u32,
                mask: u32::MAX,
            }));
        }
        return None;
    }
    if key.get("meta")?.get("key")?.as_str()? != "mark" {
        return None;
    }
    mark_value(value)
}

/// `mark | V` → xmark V/V; `mark ^ V` → V/0; `mark & V` → 0/!V; `V` → V/all.
fn mark_value(value: &Json) -> Option<Stmt> {
    if let Some(n) = value.as_u64() {
        return Some(Stmt::Mark {
            value: n as u32,
            mask: u32::MAX,
        });
    }
    let (op, args) = value.first_entry()?;
    let args = args.as_array()?;
    mark_key(args.first()?)?;
    let n = args.get(1)?.as_u64()? as u32;
    Some(match op {
        "|" => Stmt::Mark { value: n, mask: n },
        "^" => Stmt::Mark { value: n, mask: 0 },
        "&" => Stmt::Mark { value: 0, mask: !n },
        _ => return None,
    })
}

fn nat(kind: &str, body: &Json) -> Option<Vec<Expr>> {
    let addr = match body.get("addr") {
        Some(Json::Str(s)) => {
            let a: IpAddr = s.parse().ok()?;
            Some((a, a))
        }
        Some(v) => {
            let r = v.get("range")?.as_array()?;
            Some((
                r.first()?.as_str()?.parse().ok()?,
                r.get(1)?.as_str()?.parse().ok()?,
            ))
        }
        None => None,
    };
    let target = NatTarget {
        addr,
        ports: port_range(body.get("port")),
    };
    Some(nat_end(if kind == "dnat" {
        Stmt::Dnat(target)
    } else {
        Stmt::Snat(target)
    }))
}

fn port_range(v: Option<&Json>) -> Option<(u16, u16)> {
    let v = v?;
    if let Some(p) = v.as_u64() {
        return Some((p as u16, p as u16));
    }
    let r = v.get("range")?.as_array()?;
    Some((r.first()?.as_u64()? as u16, r.get(1)?.as_u64()? as u16))
}

/// A set or map declaration with its elements.
fn set(body: &Json) -> Res<Set> {
    let name = str_field(body, "name")?.to_string();
    let key_types = match body.get("type") {
        Some(Json::Str(s)) => s.split(" . ").map(str::to_string).collect(),
        Some(Json::Arr(a)) => a
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
        _ => return Err(format!("set {name} without a type")),
    };
    let map_type = body.get("map").and_then(Json::as_str).map(str::to_string);
    let elements = match body.get("elem") {
        Some(Json::Arr(list)) => elements(list, map_type.is_some())
            .ok_or_else(|| format!("set {name}: elements of an unknown shape"))?,
        _ => Vec::new(),
    };
    Ok(Set {
        name,
        key_types,
        map_type,
        elements,
    })
}

fn elements(list: &[Json], is_map: bool) -> Option<Vec<Element>> {
    if is_map {
        return map_elements(list);
    }
    list.iter()
        .map(|v| {
            Some(Element {
                key: key_values(unwrap_elem(v))?,
                value: None,
            })
        })
        .collect()
}

fn map_elements(list: &[Json]) -> Option<Vec<Element>> {
    let mut out = Vec::new();
    for pair in list {
        let key = key_values(unwrap_elem(pair.at(0)?))?;
        let value = match verdict_value(pair.at(1)?) {
            Some(v) => MapValue::Verdict(v),
            None => MapValue::Other(pair.at(1)?.to_string()),
        };
        out.push(Element {
            key,
            value: Some(value),
        });
    }
    Some(out)
}

/// Elements with a comment or timeout come as `{"elem": {"val": …}}`.
fn unwrap_elem<'v, 'a>(v: &'v Json<'a>) -> &'v Json<'a> {
    v.get("elem").and_then(|e| e.get("val")).unwrap_or(v)
}

fn key_values(v: &Json) -> Option<Vec<NfValue>> {
    match v.get("concat").and_then(Json::as_array) {
        Some(parts) => parts.iter().map(key_value).collect(),
        None => key_value(v).map(|k| vec![k]),
    }
}

fn key_value(v: &Json) -> Option<NfValue> {
    match v {
        Json::Num(n) => n.as_u64().map(|n| NfValue::Num(n, n)),
        Json::Str(s) => Some(string_value(s)),
        Json::Obj(_) => object_value(v),
        _ => None,
    }
}

fn string_value(s: &str) -> NfValue {
    if let Ok(a) = s.parse::<IpAddr>() {
        return NfValue::Net(IpNet::from(a));
    }
    match proto_number(s) {
        Some(p) if s.chars().any(|c| c.is_ascii_alphabetic()) => NfValue::Num(p.into(), p.into()),
        _ => NfValue::Str(s.to_string()),
    }
}

fn object_value(o: &Json) -> Option<NfValue> {
    if let Some(p) = o.get("prefix") {
        let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
        return IpNet::new(addr, p.get("len")?.as_u64()? as u8)
            .ok()
            .map(NfValue::Net);
    }
    let r = o.get("range")?.as_array()?;
    let (lo, hi) = (r.first()?, r.get(1)?);
    if let (Some(a), Some(b)) = (lo.as_u64(), hi.as_u64()) {
        return Some(NfValue::Num(a, b));
    }
    Some(NfValue::AddrRange(
        lo.as_str()?.parse().ok()?,
        hi.as_str()?.parse().ok()?,
    ))
}

/// A table with iptables' name and family whose base chains all carry
/// iptables' built-in names: how iptables-nft creates its tables, even
/// before any rule with an `xt` expression exists. The bundle loader drops
/// these when `iptables-save` of the same backend was collected, since it
/// prints their rules fully.
fn is_iptables_table(t: &Table) -> bool {
    let family = matches!(t.family, Family::Ip | Family::Ip6);
    let name = matches!(
        t.name.as_str(),
        "filter" | "nat" | "mangle" | "raw" | "security"
    );
    let builtin = |c: &Chain| c.base.is_none() || c.name.chars().all(|ch| ch.is_ascii_uppercase());
    family && name && !t.chains.is_empty() && t.chains.iter().all(builtin)
}

fn render(e: &Json) -> String {
    let mut text = String::new();
    nft_render::statement(&mut text, e);
    text
}

/// Room for a statement of a rule's text (`ip daddr 10.96.0.10` and the
/// like), so that most rules' text is allocated once.
const TEXT_PER_STATEMENT: usize = 24;

/// A statement's text joins the rule's, space-separated; one with no text
/// leaves none.
fn append_statement(text: &mut String, e: &Json) {
    let start = text.len();
    if start > 0 {
        text.push(' ');
    }
    let blank = text.len();
    nft_render::statement(text, e);
    if text.len() == blank {
        text.truncate(start);
    }
}

#[cfg(test)]
mod tests;
