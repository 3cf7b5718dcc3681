//! nftables set/map lookups and ipset membership.

use std::net::IpAddr;

use cnictl_model::netfilter::{Dir, Element, IpSet, Key, Lookup, SetRef, Value};

use super::compile::{ChainId, Ruleset};
use super::index::ExactKey;
use super::packet::{addr, iface_matches, net_contains, NfPacket};

/// The element a packet's key finds in the lookup's set or map, `Ok(None)`
/// when none, `Err` when the key reads a field cnictl does not model or the
/// named set does not exist.
pub(super) fn lookup<'a>(
    rules: &'a Ruleset,
    chain: ChainId,
    l: &'a Lookup,
    p: &NfPacket,
) -> Result<Option<&'a Element>, String> {
    let (elements, index): (&[Element], _) = match &l.set {
        SetRef::Named(name) => {
            let (set, index) = rules
                .indexed_set(chain, name)
                .ok_or_else(|| format!("set @{name} is not in the table"))?;
            (&set.elements, index)
        }
        SetRef::Anonymous(list) => (list, None),
    };
    let key = l
        .keys
        .iter()
        .map(|k| field(k, p))
        .collect::<Result<Vec<_>, _>>()?;
    let holds = |e: &Element| {
        e.key.len() == key.len() && e.key.iter().zip(&key).all(|(v, f)| value_holds(v, f))
    };
    Ok(match index {
        Some(index) => index
            .find(exact(&key).as_deref(), |i| holds(&elements[i]))
            .map(|i| &elements[i]),
        None => elements.iter().find(|e| holds(e)),
    })
}

/// The packet's key as an exact set key (`None`: no element can equal it,
/// e.g. an interface name on a packet without that device).
fn exact(key: &[Field<'_>]) -> Option<Vec<ExactKey>> {
    key.iter()
        .map(|f| match f {
            Field::Addr(a) => Some(ExactKey::Addr(*a)),
            Field::Num(n) => Some(ExactKey::Num(*n)),
            Field::Name(name) => name.map(|n| ExactKey::Name(n.to_string())),
        })
        .collect()
}

/// A packet field's value for set matching.
#[derive(Debug)]
enum Field<'a> {
    Addr(IpAddr),
    Num(u64),
    Name(Option<&'a str>),
}

fn field<'a>(k: &Key, p: &'a NfPacket) -> Result<Field<'a>, String> {
    Ok(match k {
        Key::Saddr => Field::Addr(p.src),
        Key::Daddr => Field::Addr(p.dst),
        Key::L4Proto => Field::Num(p.proto.into()),
        Key::Sport => Field::Num(p.sport.into()),
        Key::Dport => Field::Num(p.dport.into()),
        Key::Iifname => Field::Name(p.iif.as_deref()),
        Key::Oifname => Field::Name(p.oif.as_deref()),
        Key::Mark => Field::Num(p.mark.into()),
        Key::Other(what) => return Err(format!("cnictl does not read {what:?} in set lookups")),
    })
}

fn value_holds(v: &Value, f: &Field<'_>) -> bool {
    match (v, f) {
        (Value::Net(n), Field::Addr(a)) => net_contains(n, *a),
        (Value::AddrRange(lo, hi), Field::Addr(a)) => lo <= a && a <= hi,
        (Value::Num(lo, hi), Field::Num(n)) => lo <= n && n <= hi,
        (Value::Str(s), Field::Name(Some(dev))) => iface_matches(dev, &s.replace('*', "+")),
        _ => false,
    }
}

/// `-m set --match-set NAME src,dst`: each dimension of the set's members
/// tested against the packet field its direction names. A `nomatch`
/// member that holds the packet excludes it (hash:net exceptions).
pub(super) fn ipset_contains(set: &IpSet, p: &NfPacket, dirs: &[Dir]) -> bool {
    let holds = |values: &[Value]| {
        values.len() <= dirs.len() && values.iter().zip(dirs).all(|(v, d)| dim_holds(v, p, *d))
    };
    let mut hits = set.members.iter().filter(|m| holds(&m.values));
    match hits.next() {
        Some(first) => !first.nomatch && !set.members.iter().any(|m| m.nomatch && holds(&m.values)),
        None => false,
    }
}

fn dim_holds(v: &Value, p: &NfPacket, d: Dir) -> bool {
    match v {
        Value::Net(n) => net_contains(n, addr(p, d)),
        Value::AddrRange(lo, hi) => (lo..=hi).contains(&&addr(p, d)),
        Value::ProtoPort(proto, lo, hi) => {
            let port = if d == Dir::Src { p.sport } else { p.dport };
            *proto == p.proto && (*lo..=*hi).contains(&port)
        }
        _ => false,
    }
}
