//! Neighbour, FDB and IPVS indexes: one hash lookup each while forwarding.

use std::net::IpAddr;

use cnictl_model::{FdbEntry, IpvsProto, Neigh, VirtualService};
use rustc_hash::FxHashMap;

use crate::tables::{parse_mac, Mac};

/// (device, IP) → neighbour entry; a usable entry wins over an unusable one.
pub(super) fn index_neighbours(
    neighs: &[Neigh],
    by_name: &FxHashMap<String, u32>,
) -> FxHashMap<(u32, IpAddr), u32> {
    let mut idx = FxHashMap::default();
    for (i, n) in neighs.iter().enumerate() {
        if let Some(&li) = by_name.get(&n.dev) {
            let e = idx.entry((li, n.dst)).or_insert(i as u32);
            if !neighs[*e as usize].is_usable() && n.is_usable() {
                *e = i as u32;
            }
        }
    }
    idx
}

/// (VIP, port, protocol number) → virtual service; fwmark services have no
/// address to index.
pub(super) fn index_ipvs(ipvs: &[VirtualService]) -> FxHashMap<(IpAddr, u16, u8), u32> {
    let mut idx = FxHashMap::default();
    for (i, vs) in ipvs.iter().enumerate() {
        let proto = match vs.proto {
            IpvsProto::Tcp => 6,
            IpvsProto::Udp => 17,
            IpvsProto::Sctp => 132,
            IpvsProto::Fwmark => continue,
        };
        if let Some(vip) = vs.vip {
            idx.entry((vip, vs.port, proto)).or_insert(i as u32);
        }
    }
    idx
}

type FdbIndex = FxHashMap<(u32, Mac), u32>;

/// (device or bridge, MAC) → entry, and device → its all-zero default entry.
pub(super) fn index_fdb(
    fdb: &[FdbEntry],
    by_name: &FxHashMap<String, u32>,
) -> (FdbIndex, FxHashMap<u32, u32>) {
    let mut idx = FdbIndex::default();
    let mut zero: FxHashMap<u32, u32> = FxHashMap::default();
    for (i, e) in fdb.iter().enumerate() {
        let (Some(mac), Some(&dev)) = (parse_mac(&e.mac), by_name.get(&e.dev)) else {
            continue;
        };
        if e.is_all_zero() {
            let slot = zero.entry(dev).or_insert(i as u32);
            if e.dst < fdb[*slot as usize].dst {
                *slot = i as u32;
            }
            continue;
        }
        index_fdb_entry(&mut idx, fdb, i as u32, dev, mac, by_name);
    }
    (idx, zero)
}

/// Bridge entries are looked up by (bridge, mac), VXLAN ones by (dev, mac);
/// an entry with a destination beats one without, then the lowest one.
fn index_fdb_entry(
    idx: &mut FdbIndex,
    fdb: &[FdbEntry],
    i: u32,
    dev: u32,
    mac: Mac,
    by_name: &FxHashMap<String, u32>,
) {
    let e = &fdb[i as usize];
    let key_dev = e
        .master
        .as_ref()
        .and_then(|m| by_name.get(m))
        .copied()
        .unwrap_or(dev);
    let slot = idx.entry((key_dev, mac)).or_insert(i);
    let held = fdb[*slot as usize].dst;
    if (held.is_none() && e.dst.is_some()) || (e.dst.is_some() && e.dst < held) {
        *slot = i;
    }
    if key_dev != dev {
        idx.entry((dev, mac)).or_insert(i);
    }
}
