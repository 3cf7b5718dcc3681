//! Which addresses a ruleset can tell apart, so the netfilter checks walk
//! the hooks once per class of equivalent flows instead of once per flow:
//! on a node with kube-proxy's rules for 10,000 Services every walk passes
//! the 10,000-rule KUBE-SERVICES chain, and a 1,000-node cluster has 6,000
//! pod flow probes per node.
//!
//! Two addresses are equivalent for a ruleset when every rule's address
//! match (`-s`/`-d`, nft `ip saddr`/`daddr`) holds for both or for neither
//! and the node gives both the same address type (`-m addrtype`). Then a
//! walk cannot tell them apart: every other field of the probe (protocol,
//! ports, devices, mark, conntrack state) is the same within a class, and
//! NAT targets are constants. Rules that read addresses through a set, a
//! map or an ipset, or test an address type limited to a device, could
//! separate any two addresses: then every address is its own class (no
//! grouping, the exact walk per flow).

use std::net::IpAddr;

use cnictl_dataplane::nf::{NodeView, Ruleset};
use cnictl_model::netfilter::{AddrType, Expr, Key, Lookup, Match};
use ipnet::IpNet;

/// The address matches of a ruleset, when they are all it reads of
/// addresses.
pub(crate) struct AddrClasses {
    nets: Vec<IpNet>,
}

/// An address's class: the nets (by index) that hold it, and its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Class {
    nets: Vec<u32>,
    kind: AddrTypeKey,
}

/// [`AddrType`] as a hashable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AddrTypeKey(u8);

impl AddrClasses {
    /// `None` when some rule reads addresses in a way this cannot group.
    pub fn new(rs: &Ruleset) -> Option<Self> {
        let mut nets = Vec::new();
        let exprs = rs
            .tables()
            .iter()
            .flat_map(|t| &t.chains)
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.exprs);
        for e in exprs {
            match e {
                Expr::Match(Match::Addr { nets: n, .. }) => nets.extend(n.iter().copied()),
                Expr::Match(m) if opaque_match(m) => return None,
                Expr::Vmap(l) if reads_addresses(l) => return None,
                _ => {}
            }
        }
        nets.sort_unstable();
        nets.dedup();
        Some(AddrClasses { nets })
    }

    pub fn of(&self, ip: IpAddr, view: &dyn NodeView) -> Class {
        let nets = (0u32..)
            .zip(&self.nets)
            .filter(|(_, n)| n.contains(&ip))
            .map(|(i, _)| i)
            .collect();
        Class {
            nets,
            kind: AddrTypeKey(type_index(view.addr_type(ip, None))),
        }
    }
}

/// A match that can separate addresses other than by a prefix.
fn opaque_match(m: &Match) -> bool {
    match m {
        Match::IpSet { .. } => true,
        Match::SetLookup { lookup, .. } => reads_addresses(lookup),
        Match::AddrType { limit_iface, .. } => limit_iface.is_some(),
        _ => false,
    }
}

/// A set or map lookup keyed by an address (or a field cnictl does not
/// read, which might be one).
fn reads_addresses(l: &Lookup) -> bool {
    l.keys
        .iter()
        .any(|k| matches!(k, Key::Saddr | Key::Daddr | Key::Other(_)))
}

fn type_index(t: AddrType) -> u8 {
    t as u8
}

#[cfg(test)]
mod tests {
    use cnictl_formats::iptables::parse_iptables_save;
    use cnictl_model::netfilter::{Netfilter, Source};
    use cnictl_model::NodeSnapshot;

    use super::*;
    use crate::checks::nftest::{dump, formats_dump};
    use crate::checks::nfview::NodeAddrs;

    fn ruleset(text: &str) -> Ruleset {
        let tables = parse_iptables_save(text, Source::IptablesSave).unwrap();
        Ruleset::compile(&Netfilter {
            tables,
            ..Netfilter::default()
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_the_rules_cannot_tell_apart_share_a_class() {
        let rs = ruleset(&dump("block-vxlan-one-peer"));
        let node = NodeSnapshot::default();
        let view = NodeAddrs::new(&node);
        let c = AddrClasses::new(&rs).unwrap();
        assert_eq!(
            c.of(ip("192.168.0.13"), &view),
            c.of(ip("192.168.0.14"), &view)
        );
        assert_ne!(
            c.of(ip("192.168.0.12"), &view),
            c.of(ip("192.168.0.13"), &view)
        );
    }

    #[test]
    fn an_ipset_match_makes_every_address_its_own() {
        let rs = ruleset(&formats_dump("iptables-save-nft.txt"));
        assert!(AddrClasses::new(&rs).is_none());
    }
}
