//! The rtnetlink dumps of one namespace (links, addresses, routes, rules,
//! neighbours, bridge FDB) over one socket, decoded by
//! `cnictl_formats::netlink`; and the same dumps recorded raw, as test
//! data for those decoders.

use std::collections::HashMap;

use cnictl_formats::netlink::consts::{
    RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTM_NEWRULE,
};
use cnictl_formats::netlink::{link, neigh, route};
use cnictl_model::{Addr, FdbEntry, Link, Neigh, Route, Rule};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::netns::{run_in, NetnsTarget};
use super::{link_names, nl, LiveError};

/// An rtnetlink socket with one method per dump.
pub(crate) struct Rtnl {
    sock: nl::NlSocket,
}

impl Rtnl {
    pub(crate) fn open() -> Result<Self, LiveError> {
        Ok(Rtnl {
            sock: nl::NlSocket::open(netlink_sys::constants::NETLINK_ROUTE)?,
        })
    }

    pub(crate) fn links(&mut self) -> Result<Vec<Link>, LiveError> {
        let req = self
            .sock
            .request(RouteNetlinkMessage::GetLink(LinkMessage::default()));
        let raws = self.sock.dump("links", &req, |kind, p, out| {
            if kind == RTM_NEWLINK {
                out.extend(link::decode_link(p));
            }
        })?;
        Ok(link::resolve_links(raws))
    }

    pub(crate) fn addrs(&mut self, names: &HashMap<u32, String>) -> Result<Vec<Addr>, LiveError> {
        let req = self
            .sock
            .request(RouteNetlinkMessage::GetAddress(AddressMessage::default()));
        let mut addrs = self.sock.dump("addresses", &req, |kind, p, out| {
            if kind == RTM_NEWADDR {
                out.extend(link::decode_addr(p, names));
            }
        })?;
        // `ip addr` groups addresses under their link, links in ifindex order.
        addrs.sort_by_key(|a| a.ifindex);
        Ok(addrs)
    }

    pub(crate) fn routes(&mut self, names: &HashMap<u32, String>) -> Result<Vec<Route>, LiveError> {
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RouteMessage::default();
            msg.header.address_family = family;
            let req = self.sock.request(RouteNetlinkMessage::GetRoute(msg));
            routes.extend(self.sock.dump("routes", &req, |kind, p, out| {
                if kind == RTM_NEWROUTE {
                    out.extend(route::decode_route(p, names));
                }
            })?);
        }
        Ok(routes)
    }

    pub(crate) fn rules(&mut self) -> Result<Vec<Rule>, LiveError> {
        let mut rules = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RuleMessage::default();
            msg.header.family = family;
            let req = self.sock.request(RouteNetlinkMessage::GetRule(msg));
            rules.extend(self.sock.dump("rules", &req, |kind, p, out| {
                if kind == RTM_NEWRULE {
                    out.extend(route::decode_rule(p));
                }
            })?);
        }
        Ok(rules)
    }

    pub(crate) fn neighbours(
        &mut self,
        names: &HashMap<u32, String>,
    ) -> Result<Vec<Neigh>, LiveError> {
        let mut all = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = NeighbourMessage::default();
            msg.header.family = family;
            let req = self.sock.request(RouteNetlinkMessage::GetNeighbour(msg));
            all.extend(self.sock.dump("neighbours", &req, |kind, p, out| {
                if kind == RTM_NEWNEIGH {
                    out.extend(neigh::decode_neigh(p, names));
                }
            })?);
        }
        Ok(all)
    }

    pub(crate) fn fdb(&mut self, names: &HashMap<u32, String>) -> Result<Vec<FdbEntry>, LiveError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        let req = self.sock.request(RouteNetlinkMessage::GetNeighbour(msg));
        self.sock.dump("bridge fdb", &req, |kind, p, out| {
            if kind == RTM_NEWNEIGH {
                out.extend(neigh::decode_fdb(p, names));
            }
        })
    }
}

/// The raw reply datagrams of each dump, back to back as received (every
/// pass of an interrupted dump included): what `collect` decodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawDumps {
    pub links: Vec<u8>,
    pub addrs: Vec<u8>,
    /// IPv4 then IPv6 (two dumps).
    pub routes: Vec<u8>,
    /// IPv4 then IPv6 (two dumps).
    pub rules: Vec<u8>,
    /// IPv4 then IPv6 (two dumps).
    pub neighbours: Vec<u8>,
    /// AF_BRIDGE neighbours.
    pub fdb: Vec<u8>,
}

/// Records the dumps [`super::collect`] makes in `target` (the caller's
/// namespace when `None`), undecoded.
pub fn record_dumps(target: Option<&NetnsTarget>) -> Result<RawDumps, LiveError> {
    run_in(target, || Rtnl::open()?.record())
}

impl Rtnl {
    fn record(&mut self) -> Result<RawDumps, LiveError> {
        self.sock.start_tape();
        let links = self.links()?;
        let raw_links = self.sock.take_tape();
        let names = link_names(&links);
        let mut taped = |f: &mut dyn FnMut(&mut Self) -> Result<(), LiveError>| {
            f(self)?;
            Ok::<_, LiveError>(self.sock.take_tape())
        };
        Ok(RawDumps {
            links: raw_links,
            addrs: taped(&mut |r| r.addrs(&names).map(drop))?,
            routes: taped(&mut |r| r.routes(&names).map(drop))?,
            rules: taped(&mut |r| r.rules().map(drop))?,
            neighbours: taped(&mut |r| r.neighbours(&names).map(drop))?,
            fdb: taped(&mut |r| r.fdb(&names).map(drop))?,
        })
    }
}
