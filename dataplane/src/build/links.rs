//! Links → [`Device`]s: kind, master and ports, MAC, MTU and the per-device
//! sysctls, read from structure (`ip -d link` kinds, `sysctl`), never from
//! device names a CNI chose.

use cnictl_model::{Link, NodeSnapshot};
use rustc_hash::FxHashMap;

use crate::tables::{parse_mac, BridgeNetfilter, Device, LinkKind, Peer};

pub(super) fn by_name(links: &[Link]) -> FxHashMap<String, u32> {
    links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.clone(), i as u32))
        .collect()
}

pub(super) fn compile_devices(
    links: &[Link],
    by_name: &FxHashMap<String, u32>,
    extra: &NodeSnapshot,
) -> Vec<Device> {
    let rp_all = dev_sysctl(extra, "all", "rp_filter").unwrap_or(0);
    let mut devices: Vec<Device> = links.iter().map(|l| device(l, extra, rp_all)).collect();
    for (i, lk) in links.iter().enumerate() {
        if let Some(&m) = lk.master.as_ref().and_then(|m| by_name.get(m)) {
            devices[i].master = Some(m);
            devices[m as usize].ports.push(i as u32);
        }
    }
    devices
}

fn device(l: &Link, extra: &NodeSnapshot, rp_all: u8) -> Device {
    Device {
        kind: link_kind(l),
        master: None,
        peer: Peer::None,
        mac: l.mac.as_deref().and_then(parse_mac),
        mtu: if l.mtu == 0 { 1500 } else { l.mtu },
        proxy_arp: dev_sysctl(extra, &l.name, "proxy_arp").map(|v| v == 1),
        ports: Vec::new(),
        underlay: false,
        lower: None,
        rp_filter: rp_all.max(dev_sysctl(extra, &l.name, "rp_filter").unwrap_or(0)),
    }
}

/// The kind `ip -d link` reports; without link details, what the kernel
/// itself names (loopback, the ipip module's fallback `tunl0`) or a device
/// whose peer lives in another namespace (a veth's `link_netnsid`).
fn link_kind(l: &Link) -> LinkKind {
    match l.kind.as_deref() {
        Some("bridge") => LinkKind::Bridge,
        Some("veth") => LinkKind::Veth,
        Some("vxlan") => LinkKind::Vxlan,
        Some("ipip") => LinkKind::Ipip,
        Some("dummy") => LinkKind::Dummy,
        Some("macvlan" | "ipvlan") => LinkKind::Macvlan,
        Some(Link::KIND_UNKNOWN) => LinkKind::Unknown,
        _ if l.link_type.as_deref() == Some("loopback") || l.name == "lo" => LinkKind::Loopback,
        _ if l.name == "tunl0" => LinkKind::Ipip,
        None if l.peer_ifindex.is_some() && l.peer_netnsid.is_some() => LinkKind::Veth,
        _ if l.name == "kube-ipvs0" => LinkKind::Dummy,
        _ => LinkKind::Other,
    }
}

/// `net.ipv4.conf.<dev>.<key>` as a number; sysctl prints dots in device
/// names as slashes (`vxlan/1`), so both spellings are tried.
pub(super) fn dev_sysctl(node: &NodeSnapshot, dev: &str, key: &str) -> Option<u8> {
    let slashed = format!("net.ipv4.conf.{}.{key}", dev.replace('.', "/"));
    let v = node
        .sysctl(&slashed)
        .or_else(|| node.sysctl(&format!("net.ipv4.conf.{dev}.{key}")))?;
    v.trim().parse().ok()
}

/// `net.bridge.bridge-nf-call-ip{,6}tables = 1` (br_netfilter loaded and on).
pub(super) fn bridge_netfilter(node: &NodeSnapshot) -> BridgeNetfilter {
    let on = |key: &str| node.sysctl(key).is_some_and(|v| v.trim() == "1");
    BridgeNetfilter {
        ipv4: on("net.bridge.bridge-nf-call-iptables"),
        ipv6: on("net.bridge.bridge-nf-call-ip6tables"),
    }
}
