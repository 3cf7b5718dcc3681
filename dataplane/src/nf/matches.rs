//! One match against one packet.

use cnictl_model::netfilter::{AddrType, CtState, Dir, Lookup, Match, PhysDev, Statistic};

use super::compile::{ChainId, Ruleset};
use super::packet::{addr, iface_matches, NfPacket, NodeView};
use super::sets;

/// What a match says about the packet.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Yes,
    No,
    /// Matches this share of new connections (`statistic`).
    Fork(f64),
    /// Cannot be decided from what was collected: why.
    Unknown(String),
}

impl Outcome {
    fn from(b: bool) -> Self {
        if b {
            Outcome::Yes
        } else {
            Outcome::No
        }
    }

    /// Applies `!`.
    fn negate(self, neg: bool) -> Self {
        match (self, neg) {
            (o, false) => o,
            (Outcome::Yes, true) => Outcome::No,
            (Outcome::No, true) => Outcome::Yes,
            (Outcome::Fork(p), true) => Outcome::Fork(1.0 - p),
            (o, true) => o,
        }
    }
}

/// What a match may consult beside the packet.
pub(super) struct MatchCx<'a> {
    pub rules: &'a Ruleset,
    pub chain: ChainId,
    pub node: &'a dyn NodeView,
}

pub(super) fn eval(m: &Match, p: &NfPacket, cx: &MatchCx<'_>) -> Outcome {
    match m {
        Match::Addr { dir, nets, neg } => {
            Outcome::from(nets.iter().any(|n| n.contains(&addr(p, *dir)))).negate(*neg)
        }
        Match::Iface { dir, name, neg } => iface(p, *dir, name).negate(*neg),
        Match::Proto { protos, neg } => Outcome::from(protos.contains(&p.proto)).negate(*neg),
        Match::Port { dir, ranges, neg } => port(p, *dir, ranges).negate(*neg),
        Match::CtState { states, neg } => Outcome::from(ct_matches(states, p.ct)).negate(*neg),
        Match::Mark { value, mask, neg } => Outcome::from(p.mark & mask == *value).negate(*neg),
        Match::ConnMark { value, mask, neg } => {
            Outcome::from(p.ctmark & mask == *value).negate(*neg)
        }
        Match::AddrType {
            dir,
            types,
            neg,
            limit_iface,
        } => addr_type(p, cx, *dir, types, *limit_iface).negate(*neg),
        Match::PhysDev(pd) => physdev(p, pd),
        Match::Statistic { mode, neg } => statistic(mode).negate(*neg),
        Match::IpSet { name, dirs, neg } => ipset(p, cx, name, dirs).negate(*neg),
        Match::SetLookup { lookup, neg } => set_lookup(p, cx, lookup).negate(*neg),
        Match::IcmpType { icmp, code, neg } => icmp_type(p, *icmp, *code).negate(*neg),
        Match::Unknown { text } => {
            Outcome::Unknown(format!("cnictl cannot evaluate the match {text:?}"))
        }
    }
}

/// `-i`/`-o`: a trailing `+` matches every name with that prefix. A device
/// not known at this hook (no in device on output) does not match.
fn iface(p: &NfPacket, dir: Dir, pattern: &str) -> Outcome {
    let dev = match dir {
        Dir::Src => p.iif.as_deref(),
        Dir::Dst => p.oif.as_deref(),
    };
    Outcome::from(dev.is_some_and(|d| iface_matches(d, pattern)))
}

/// Ports match only on protocols that have them (iptables' `-m tcp`
/// requires `-p tcp`; nft's `th dport` needs a transport header).
fn port(p: &NfPacket, dir: Dir, ranges: &[(u16, u16)]) -> Outcome {
    if !p.has_ports() {
        return Outcome::No;
    }
    let port = if dir == Dir::Src { p.sport } else { p.dport };
    Outcome::from(ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port)))
}

fn ct_matches(states: &[CtState], state: CtState) -> bool {
    states.contains(&state)
}

fn addr_type(
    p: &NfPacket,
    cx: &MatchCx<'_>,
    dir: Dir,
    types: &[AddrType],
    limit: Option<Dir>,
) -> Outcome {
    let dev = match limit {
        Some(Dir::Src) => p.iif.as_deref(),
        Some(Dir::Dst) => p.oif.as_deref(),
        None => None,
    };
    let t = cx.node.addr_type(addr(p, dir), dev);
    Outcome::from(types.contains(&t))
}

/// `-m physdev`: only bridged packets have bridge ports.
fn physdev(p: &NfPacket, pd: &PhysDev) -> Outcome {
    let bridged = p.physdev_in.is_some() || p.physdev_out.is_some();
    let ok = |want: Option<bool>, have: bool| want.is_none_or(|w| w == have);
    let name_ok = |want: &Option<(String, bool)>, have: &Option<String>| match want {
        None => true,
        Some((pattern, neg)) => have.as_deref().is_some_and(|d| iface_matches(d, pattern)) != *neg,
    };
    Outcome::from(
        ok(pd.is_bridged, bridged && p.physdev_out.is_some())
            && ok(pd.is_in, p.physdev_in.is_some())
            && ok(pd.is_out, p.physdev_out.is_some())
            && name_ok(&pd.physdev_in, &p.physdev_in)
            && name_ok(&pd.physdev_out, &p.physdev_out),
    )
}

/// Random: this share of new connections; nth: 1 in `every` of them.
fn statistic(mode: &Statistic) -> Outcome {
    let share = match *mode {
        Statistic::Random { probability } => probability.clamp(0.0, 1.0),
        Statistic::Nth { every, .. } => 1.0 / f64::from(every.max(1)),
    };
    match share {
        s if s >= 1.0 => Outcome::Yes,
        s if s <= 0.0 => Outcome::No,
        s => Outcome::Fork(s),
    }
}

fn ipset(p: &NfPacket, cx: &MatchCx<'_>, name: &str, dirs: &[Dir]) -> Outcome {
    match cx.rules.ipset(name) {
        None => Outcome::Unknown(format!(
            "the rule matches ipset {name:?}, and ipset-save.txt was not collected"
        )),
        Some(None) => Outcome::Unknown(format!("ipset {name:?} is not in ipset-save.txt")),
        Some(Some(set)) => Outcome::from(sets::ipset_contains(set, p, dirs)),
    }
}

fn set_lookup(p: &NfPacket, cx: &MatchCx<'_>, lookup: &Lookup) -> Outcome {
    match sets::lookup(cx.rules, cx.chain, lookup, p) {
        Ok(found) => Outcome::from(found.is_some()),
        Err(why) => Outcome::Unknown(why),
    }
}

fn icmp_type(p: &NfPacket, icmp: u8, code: Option<u8>) -> Outcome {
    let is_icmp = p.proto == 1 || p.proto == 58;
    Outcome::from(is_icmp && p.icmp_type == Some(icmp) && code.is_none_or(|c| c == 0))
}
