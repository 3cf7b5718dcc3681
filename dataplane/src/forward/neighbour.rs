//! Neighbour resolution: a usable neighbour entry, else ARP answered by
//! whoever owns the next hop on the segment.

use std::net::IpAddr;

use super::{hop, Rec};
use crate::tables::{Mac, Namespace};
use crate::types::*;

/// Records how the next hop's MAC is found: a usable neighbour entry, or
/// ARP answered by `owner`. `None` when neither; otherwise the neighbour's
/// MAC when an entry gave one.
pub(super) fn resolve_neigh<R: Rec>(
    ns: &Namespace,
    nsid: NsId,
    dev: u32,
    nh: IpAddr,
    owner: Option<Owner>,
    rec: &mut R,
) -> Option<Option<Mac>> {
    if let Some(&n) = ns.neigh_idx.get(&(dev, nh)) {
        if ns.neighs[n as usize].is_usable() {
            rec.push(hop(nsid, None, Some(dev), Step::Neigh { neigh: n }));
            return Some(ns.neigh_mac(n));
        }
    }
    let owner = owner?;
    rec.push(hop(nsid, None, Some(dev), Step::Arp { ip: nh, owner }));
    Some(None)
}
