//! RTM_NEWNEIGH decoding: ARP/NDP entries into [`Neigh`] (as `ip -j neigh
//! show` lists them) and AF_BRIDGE entries into [`FdbEntry`] (as `bridge -j
//! fdb show` does).

use std::collections::HashMap;

use cnictl_model::{FdbEntry, Neigh};

use super::consts::*;
use super::route::dev_name;
use super::{attrs, read_be16, read_ip, read_mac, read_u16, read_u32};

/// The fixed ndmsg header: family, ifindex, state, flags.
struct NdHeader {
    family: u8,
    ifindex: u32,
    state: u16,
    flags: u8,
}

fn header(payload: &[u8]) -> Option<NdHeader> {
    let h = payload.get(..12)?;
    Some(NdHeader {
        family: h[0],
        ifindex: read_u32(&h[4..8])?,
        state: read_u16(&h[8..10])?,
        flags: h[10],
    })
}

/// Decodes one neighbour entry, or `None` for entries `ip neigh show`
/// hides by default: NOARP-only / NONE entries that are neither proxy nor
/// externally learned.
pub fn decode_neigh(payload: &[u8], names: &HashMap<u32, String>) -> Option<Neigh> {
    let h = header(payload)?;
    let shown_states = 0xff & !NUD_NOARP;
    if h.state & shown_states == 0 && h.flags & (NTF_PROXY | NTF_EXT_LEARNED) == 0 {
        return None;
    }
    let mut dst = None;
    let mut lladdr = None;
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            NDA_DST => dst = read_ip(v),
            NDA_LLADDR => lladdr = read_mac(v),
            _ => {}
        }
    }
    Some(Neigh {
        dst: dst?,
        dev: dev_name(names, h.ifindex),
        lladdr,
        state: nud_names(h.state),
        router: h.flags & NTF_ROUTER != 0,
        proxy: h.flags & NTF_PROXY != 0,
    })
}

/// NUD state bits in `ip neigh`'s print order; leftover bits as hex.
fn nud_names(mut state: u16) -> Vec<String> {
    const NAMED: [(u16, &str); 8] = [
        (0x01, "INCOMPLETE"),
        (0x02, "REACHABLE"),
        (0x04, "STALE"),
        (0x08, "DELAY"),
        (0x10, "PROBE"),
        (0x20, "FAILED"),
        (0x40, "NOARP"),
        (0x80, "PERMANENT"),
    ];
    let mut out = Vec::new();
    for (bit, name) in NAMED {
        if state & bit != 0 {
            out.push(name.to_string());
            state &= !bit;
        }
    }
    if state != 0 {
        out.push(format!("{state:#x}"));
    }
    out
}

/// Decodes one AF_BRIDGE neighbour (FDB) entry.
pub fn decode_fdb(payload: &[u8], names: &HashMap<u32, String>) -> Option<FdbEntry> {
    let h = header(payload)?;
    if h.family != AF_BRIDGE {
        return None;
    }
    let mut e = FdbEntry {
        mac: String::new(),
        dev: dev_name(names, h.ifindex),
        dst: None,
        vlan: None,
        vni: None,
        port: None,
        master: None,
        flags: fdb_flags(h.flags),
        state: fdb_state(h.state),
    };
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            NDA_LLADDR => e.mac = read_mac(v)?,
            NDA_DST => e.dst = read_ip(v),
            NDA_VLAN => e.vlan = read_u16(v),
            NDA_PORT => e.port = read_be16(v),
            NDA_VNI => e.vni = read_u32(v),
            NDA_MASTER => e.master = read_u32(v).map(|i| dev_name(names, i)),
            _ => {}
        }
    }
    (!e.mac.is_empty()).then_some(e)
}

/// `bridge fdb`'s JSON flag words, in its order (`master` is printed in
/// text mode only; the `master` field says it in JSON).
fn fdb_flags(flags: u8) -> Vec<String> {
    [
        (NTF_SELF, "self"),
        (NTF_ROUTER, "router"),
        (NTF_EXT_LEARNED, "extern_learn"),
        (NTF_OFFLOADED, "offload"),
        (NTF_STICKY, "sticky"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, n)| n.to_string())
    .collect()
}

/// `bridge fdb`'s state word: permanent, static, stale, "" for learned.
fn fdb_state(state: u16) -> String {
    if state & NUD_PERMANENT != 0 {
        "permanent".into()
    } else if state & NUD_NOARP != 0 {
        "static".into()
    } else if state & NUD_STALE != 0 {
        "stale".into()
    } else if state & NUD_REACHABLE != 0 {
        String::new()
    } else {
        format!("{state:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::nla;

    fn ndmsg(family: u8, ifindex: u32, state: u16, flags: u8) -> Vec<u8> {
        let mut m = vec![family, 0, 0, 0];
        m.extend_from_slice(&ifindex.to_ne_bytes());
        m.extend_from_slice(&state.to_ne_bytes());
        m.extend_from_slice(&[flags, 1]);
        m
    }

    #[test]
    fn flannel_fdb_entry_decodes_like_bridge_json() {
        let mut m = ndmsg(AF_BRIDGE, 6, NUD_PERMANENT, NTF_SELF);
        m.extend(nla(NDA_LLADDR, &[0x0e, 0, 0, 0, 0, 2]));
        m.extend(nla(NDA_DST, &[192, 0, 2, 12]));
        let names = HashMap::from([(6, "flannel.1".to_string())]);
        let e = decode_fdb(&m, &names).unwrap();
        assert_eq!(e.mac, "0e:00:00:00:00:02");
        assert_eq!(e.dev, "flannel.1");
        assert_eq!(e.dst, Some("192.0.2.12".parse().unwrap()));
        assert_eq!(e.flags, vec!["self"]);
        assert_eq!(e.state, "permanent");
        assert_eq!(fdb_state(NUD_REACHABLE), "");
        // A VLAN-filtering bridge's entry (this lab kernel has no
        // CONFIG_BRIDGE_VLAN_FILTERING, so it is covered here).
        let mut m = ndmsg(AF_BRIDGE, 6, NUD_NOARP, 0x04);
        m.extend(nla(NDA_LLADDR, &[2, 0, 0, 0, 0, 3]));
        m.extend(nla(NDA_VLAN, &10u16.to_ne_bytes()));
        m.extend(nla(NDA_MASTER, &6u32.to_ne_bytes()));
        let e = decode_fdb(&m, &names).unwrap();
        assert_eq!(
            (e.vlan, e.master.as_deref(), e.state.as_str()),
            (Some(10), Some("flannel.1"), "static")
        );
        assert!(e.flags.is_empty());
        assert_eq!(fdb_state(NUD_NOARP), "static");
    }

    #[test]
    fn noarp_neighbours_are_hidden_as_ip_hides_them() {
        let mut m = ndmsg(AF_INET, 1, NUD_NOARP, 0);
        m.extend(nla(NDA_DST, &[127, 0, 0, 1]));
        assert!(decode_neigh(&m, &HashMap::new()).is_none());
        let mut m = ndmsg(AF_INET, 1, NUD_REACHABLE | 0x100, NTF_ROUTER);
        m.extend(nla(NDA_DST, &[10, 0, 0, 1]));
        let n = decode_neigh(&m, &HashMap::new()).unwrap();
        assert_eq!(n.state, vec!["REACHABLE", "0x100"]);
        assert_eq!(n.dev, "if1");
        assert!(n.router && n.lladdr.is_none());
    }
}
