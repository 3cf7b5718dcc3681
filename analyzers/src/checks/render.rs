//! Evidence lines, rendered the way `ip`, `bridge`, `ipvsadm`, `birdc` and
//! `sysctl` print the same entries, so an engineer can grep a live node for
//! them.

use cnictl_model::{
    BgpProtocol, BgpRoute, FdbEntry, IpvsProto, Link, Neigh, Pod, RealServer, Route, VirtualService,
};

/// `10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink` (`ip route`).
pub(crate) fn route(r: &Route) -> String {
    r.to_string()
}

/// `10.244.2.0 dev flannel.1 lladdr 0a:…:01 PERMANENT` (`ip neigh`).
pub(crate) fn neigh(n: &Neigh) -> String {
    let mut s = format!("{} dev {}", n.dst, n.dev);
    opt(&mut s, "lladdr", n.lladdr.as_ref());
    flag(&mut s, "router", n.router);
    flag(&mut s, "proxy", n.proxy);
    words(&mut s, &n.state);
    s
}

/// `0a:…:01 dev flannel.1 dst 192.0.2.12 self permanent` (`bridge fdb`).
pub(crate) fn fdb(e: &FdbEntry) -> String {
    let mut s = format!("{} dev {}", e.mac, e.dev);
    opt(&mut s, "vlan", e.vlan);
    opt(&mut s, "dst", e.dst);
    opt(&mut s, "port", e.port);
    opt(&mut s, "vni", e.vni);
    opt(&mut s, "master", e.master.as_ref());
    words(&mut s, &e.flags);
    flag(&mut s, &e.state, !e.state.is_empty());
    s
}

/// Appends ` key value` when there is a value.
fn opt(s: &mut String, key: &str, value: Option<impl std::fmt::Display>) {
    if let Some(v) = value {
        s.push_str(&format!(" {key} {v}"));
    }
}

/// Appends ` word` when `on`.
fn flag(s: &mut String, word: &str, on: bool) {
    if on {
        s.push(' ');
        s.push_str(word);
    }
}

/// Appends each word after a space.
fn words<'a>(s: &mut String, ws: impl IntoIterator<Item = &'a String>) {
    for w in ws {
        flag(s, w, true);
    }
}

/// `TCP  10.96.0.10:53 rr` (`ipvsadm -Ln` service line).
pub(crate) fn virtual_service(v: &VirtualService) -> String {
    let addr = match (v.proto, v.vip, v.fwmark) {
        (IpvsProto::Fwmark, _, Some(m)) => m.to_string(),
        (_, Some(std::net::IpAddr::V6(ip)), _) => format!("[{ip}]:{}", v.port),
        (_, Some(ip), _) => format!("{ip}:{}", v.port),
        (_, None, _) => format!("?:{}", v.port),
    };
    let mut s = format!("{}  {} {}", proto(v.proto), addr, v.scheduler);
    words(&mut s, &v.flags);
    opt(&mut s, "persistent", v.persistent);
    s
}

/// `  -> 10.244.1.5:53  Masq  1  0  0` (`ipvsadm -Ln` real server line).
pub(crate) fn real_server(r: &RealServer) -> String {
    let addr = match r.ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", r.port),
        ip => format!("{ip}:{}", r.port),
    };
    let fwd = match r.forward {
        cnictl_model::Forward::Masq => "Masq",
        cnictl_model::Forward::Route => "Route",
        cnictl_model::Forward::Tunnel => "Tunnel",
        cnictl_model::Forward::Local => "Local",
    };
    format!(
        "  -> {addr:<28} {fwd:<7} {:<6} {:<10} {}",
        r.weight, r.active_conns, r.inactive_conns
    )
}

fn proto(p: IpvsProto) -> &'static str {
    match p {
        IpvsProto::Tcp => "TCP",
        IpvsProto::Udp => "UDP",
        IpvsProto::Sctp => "SCTP",
        IpvsProto::Fwmark => "FWM",
    }
}

/// `Mesh_192_0_2_12 BGP --- start 12:00:01 Active Socket: Connection refused`
/// (`birdc show protocols`).
pub(crate) fn bird_protocol(p: &BgpProtocol) -> String {
    let mut s = format!(
        "{} {} {} {}",
        p.name,
        p.proto,
        p.table.as_deref().unwrap_or("---"),
        p.state
    );
    if let Some(since) = &p.since {
        s.push(' ');
        s.push_str(since);
    }
    if !p.info.is_empty() {
        s.push(' ');
        s.push_str(&p.info);
    }
    if let Some(e) = &p.last_error {
        s.push_str(&format!(" (last error: {e})"));
    }
    s
}

/// `10.244.2.0/26 unicast [Mesh_192_0_2_12] * via 192.0.2.12 on eth0`
/// (`birdc show route`, folded onto one line).
pub(crate) fn bird_route(r: &BgpRoute) -> String {
    let mut s = format!("{} {} [{}]", r.prefix, r.kind, r.protocol);
    if r.best {
        s.push_str(" *");
    }
    if let Some(v) = r.via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" on {d}"));
    }
    if let Some(nh) = r.bgp_next_hop {
        s.push_str(&format!(" BGP.next_hop: {nh}"));
    }
    s
}

/// `4: flannel.1: <BROADCAST,UP> mtu 1450 vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472`
/// (`ip -d link`, folded onto one line).
pub(crate) fn link(l: &Link) -> String {
    let flags = l.flags.join(",");
    let mut s = format!("{}: {}: <{flags}> mtu {}", l.ifindex, l.name, l.mtu);
    opt(&mut s, "master", l.master.as_ref());
    opt(&mut s, "state", l.operstate.as_ref());
    opt(&mut s, "link/ether", l.mac.as_ref());
    match (&l.vxlan, &l.kind) {
        (Some(v), _) => vxlan(&mut s, v),
        (None, Some(k)) => flag(&mut s, k, true),
        (None, None) => {}
    }
    s
}

/// ` vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472 df unset`.
fn vxlan(s: &mut String, v: &cnictl_model::VxlanInfo) {
    s.push_str(&format!(" vxlan id {}", v.vni));
    opt(s, "local", v.local);
    opt(s, "dev", v.dev.as_ref());
    s.push_str(&format!(" dstport {}", v.port));
    opt(s, "df", v.df.map(|d| d.as_str()));
}

/// `pod/kube-system/coredns-x 10.244.1.5 on node-1`.
pub(crate) fn pod(p: &Pod) -> String {
    let ips: Vec<String> = p.ips.iter().map(ToString::to_string).collect();
    format!(
        "pod/{} {} on {}",
        p.key(),
        ips.join(","),
        p.node.as_deref().unwrap_or("(unscheduled)")
    )
}

/// `net.ipv4.ip_forward = 0` (`sysctl`).
pub(crate) fn sysctl(key: &str, value: &str) -> String {
    format!("{key} = {value}")
}

/// Caps a long evidence list, saying how many entries were left out.
pub(crate) fn capped(mut lines: Vec<String>, max: usize) -> Vec<String> {
    if lines.len() > max {
        let more = lines.len() - max;
        lines.truncate(max);
        lines.push(format!("… and {more} more"));
    }
    lines
}
