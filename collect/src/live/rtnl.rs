//! The rtnetlink dumps of one namespace (links, addresses, routes, rules,
//! neighbours, bridge FDB) over one socket, decoded by
//! `cnictl_formats::netlink`; and the same dumps recorded raw, as test
//! data for those decoders.

use std::collections::HashMap;

// A glob: tests/hardening.rs flags lines naming a RTM_NEW* type outside
// `== RTM_NEW…` comparisons (a request that would write the dataplane).
use cnictl_formats::netlink::consts::*;
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

/// IPv4 then IPv6: the families `ip` dumps routes, rules and neighbours of.
const FAMILIES: [AddressFamily; 2] = [AddressFamily::Inet, AddressFamily::Inet6];

impl Rtnl {
    pub(crate) fn open() -> Result<Self, LiveError> {
        let sock = nl::NlSocket::open(netlink_sys::constants::NETLINK_ROUTE)?;
        Ok(Rtnl { sock })
    }

    /// Dumps `request`; `decode` gets each reply's type and payload.
    fn dump<T>(
        &mut self,
        what: &'static str,
        request: RouteNetlinkMessage,
        decode: impl Fn(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, LiveError> {
        let req = self.sock.request(request);
        self.sock
            .dump(what, &req, |kind, p, out| out.extend(decode(kind, p)))
    }

    /// [`Self::dump`] once per family of [`FAMILIES`], concatenated.
    fn dump_families<T>(
        &mut self,
        what: &'static str,
        request: impl Fn(AddressFamily) -> RouteNetlinkMessage,
        decode: impl Fn(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, LiveError> {
        let mut all = Vec::new();
        for family in FAMILIES {
            all.extend(self.dump(what, request(family), &decode)?);
        }
        Ok(all)
    }

    pub(crate) fn links(&mut self) -> Result<Vec<Link>, LiveError> {
        let req = RouteNetlinkMessage::GetLink(LinkMessage::default());
        let decode = |kind, p: &[u8]| (kind == RTM_NEWLINK).then(|| link::decode_link(p))?;
        let raws = self.dump("links", req, decode)?;
        Ok(link::resolve_links(raws))
    }

    pub(crate) fn addrs(&mut self, names: &HashMap<u32, String>) -> Result<Vec<Addr>, LiveError> {
        let req = RouteNetlinkMessage::GetAddress(AddressMessage::default());
        let decode = |kind, p: &[u8]| (kind == RTM_NEWADDR).then(|| link::decode_addr(p, names))?;
        let mut addrs = self.dump("addresses", req, decode)?;
        // `ip addr` groups addresses under their link, links in ifindex order.
        addrs.sort_by_key(|a| a.ifindex);
        Ok(addrs)
    }

    pub(crate) fn routes(&mut self, names: &HashMap<u32, String>) -> Result<Vec<Route>, LiveError> {
        let decode =
            |kind, p: &[u8]| (kind == RTM_NEWROUTE).then(|| route::decode_route(p, names))?;
        self.dump_families("routes", route_request, decode)
    }

    pub(crate) fn rules(&mut self) -> Result<Vec<Rule>, LiveError> {
        let decode = |kind, p: &[u8]| (kind == RTM_NEWRULE).then(|| route::decode_rule(p))?;
        self.dump_families("rules", rule_request, decode)
    }

    pub(crate) fn neighbours(
        &mut self,
        names: &HashMap<u32, String>,
    ) -> Result<Vec<Neigh>, LiveError> {
        let decode =
            |kind, p: &[u8]| (kind == RTM_NEWNEIGH).then(|| neigh::decode_neigh(p, names))?;
        self.dump_families("neighbours", neigh_request, decode)
    }

    pub(crate) fn fdb(&mut self, names: &HashMap<u32, String>) -> Result<Vec<FdbEntry>, LiveError> {
        let req = neigh_request(AddressFamily::Bridge);
        let decode =
            |kind, p: &[u8]| (kind == RTM_NEWNEIGH).then(|| neigh::decode_fdb(p, names))?;
        self.dump("bridge fdb", req, decode)
    }
}

fn route_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    RouteNetlinkMessage::GetRoute(msg)
}

fn rule_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = family;
    RouteNetlinkMessage::GetRule(msg)
}

fn neigh_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = family;
    RouteNetlinkMessage::GetNeighbour(msg)
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
