//! Each table of a node as entries keyed by identity, so that an entry
//! whose key stays and whose content changes is one "changed" line, and
//! with what about it is noise: changes an operator does not care about
//! in an incident (neighbour states flapping REACHABLE↔STALE↔DELAY, a
//! veth's MAC or ifindex after a pod restart, IPv6 link-local addresses,
//! counters such as nf_conntrack_count). `diff --all` shows those too.

use std::collections::BTreeMap;

use cnictl_model::{Addr, Bgp, Link, Neigh, NodeSnapshot, Route, VirtualService};

/// One entry: how it prints, and what of it matters (equal `signal` on
/// both sides: the change is noise). `noise`: the entry itself is noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub line: String,
    pub signal: String,
    pub noise: bool,
}

impl Entry {
    fn plain(line: String) -> Self {
        Entry {
            signal: line.clone(),
            line,
            noise: false,
        }
    }
}

pub(crate) type Table = BTreeMap<String, Entry>;

/// Every table of a node keyed by kind; `None` when not collected.
pub(crate) fn tables(n: &NodeSnapshot) -> BTreeMap<&'static str, Option<Table>> {
    BTreeMap::from([
        ("links", Some(n.links.iter().map(link).collect())),
        ("addrs", Some(n.addrs.iter().map(addr).collect())),
        ("routes", Some(n.routes.iter().map(route).collect())),
        ("rules", n.rules.as_deref().map(by_line)),
        (
            "neighbours",
            n.neighbours
                .as_deref()
                .map(|v| v.iter().map(neigh).collect()),
        ),
        ("fdb", n.fdb.as_deref().map(|v| fdb(v, &veths(n)))),
        ("ipvs", n.ipvs.as_deref().map(ipvs)),
        ("bgp", n.bgp.as_ref().map(bgp)),
        (
            "sysctls",
            n.sysctls
                .as_ref()
                .map(|s| s.iter().map(|(k, v)| sysctl(k, v)).collect()),
        ),
    ])
}

fn by_line<T: ToString>(items: &[T]) -> Table {
    let lines = items.iter().map(ToString::to_string);
    lines.map(|l| (l.clone(), Entry::plain(l))).collect()
}

/// A veth's MAC and indices change when its pod restarts: not a change.
fn link(l: &Link) -> (String, Entry) {
    let line = l.to_string();
    let signal = match l.kind.as_deref() {
        Some("veth") => format!(
            "{} mtu {} master {:?} flags {:?} {:?}",
            l.name, l.mtu, l.master, l.flags, l.operstate
        ),
        _ => line.clone(),
    };
    let entry = Entry {
        line,
        signal,
        noise: false,
    };
    (l.name.clone(), entry)
}

/// IPv6 link-local addresses come and go with every veth.
fn addr(a: &Addr) -> (String, Entry) {
    let line = a.to_string();
    let noise =
        matches!(a.addr.addr(), std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
    let key = format!("{} {}", a.dev, a.addr);
    let signal = line.clone();
    (
        key,
        Entry {
            line,
            signal,
            noise,
        },
    )
}

/// One route per table, destination and metric: a changed next hop is
/// one changed line. Routes of IPv6 link-local addresses follow the veths.
fn route(r: &Route) -> (String, Entry) {
    let key = format!("{:?} {} {} {:?}", r.table, r.dst, r.metric, r.route_type);
    let mut e = Entry::plain(r.to_string());
    e.noise = link_local(r.dst.addr());
    (key, e)
}

fn link_local(ip: std::net::IpAddr) -> bool {
    matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

fn veths(n: &NodeSnapshot) -> std::collections::BTreeSet<&str> {
    let veths = n.links.iter().filter(|l| l.kind.as_deref() == Some("veth"));
    veths.map(|l| l.name.as_str()).collect()
}

/// The kernel's own FDB entries for a veth's MAC (and IPv6 multicast
/// `33:33:…`) change with every pod restart; VXLAN entries are signal.
fn fdb(entries: &[cnictl_model::FdbEntry], veths: &std::collections::BTreeSet<&str>) -> Table {
    let one = |f: &cnictl_model::FdbEntry| {
        let mut e = Entry::plain(f.to_string());
        e.noise = veths.contains(f.dev.as_str()) || f.mac.starts_with("33:33:");
        (e.line.clone(), e)
    };
    entries.iter().map(one).collect()
}

/// A neighbour's NUD state flaps on its own; its address does not.
fn neigh(n: &Neigh) -> (String, Entry) {
    let signal = format!(
        "{} dev {} lladdr {:?} router {}",
        n.dst, n.dev, n.lladdr, n.router
    );
    let entry = Entry {
        line: n.to_string(),
        signal,
        noise: false,
    };
    (format!("{} {}", n.dev, n.dst), entry)
}

fn ipvs(services: &[VirtualService]) -> Table {
    let lines = services.iter().flat_map(|s| {
        let reals = s.reals.iter().map(move |r| format!("{} {r}", s.key()));
        std::iter::once(s.to_string()).chain(reals)
    });
    lines.map(|l| (l.clone(), Entry::plain(l))).collect()
}

/// One line per BGP protocol: a session changing state is one change.
fn bgp(b: &Bgp) -> Table {
    let line = |p: &cnictl_model::BgpProtocol| {
        let l = format!("{} {} {} {}", p.name, p.proto, p.state, p.info);
        l.trim_end().to_string()
    };
    b.protocols
        .iter()
        .map(|p| (p.name.clone(), Entry::plain(line(p))))
        .collect()
}

/// Counters (`…_count`) move all the time; settings do not.
fn sysctl(k: &str, v: &str) -> (String, Entry) {
    let line = format!("{k} = {v}");
    let signal = if k.ends_with("_count") {
        k.to_string()
    } else {
        line.clone()
    };
    (
        k.to_string(),
        Entry {
            line,
            signal,
            noise: false,
        },
    )
}
