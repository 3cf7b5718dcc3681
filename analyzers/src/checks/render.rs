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
    if let Some(mac) = &n.lladdr {
        s.push_str(&format!(" lladdr {mac}"));
    }
    if n.router {
        s.push_str(" router");
    }
    if n.proxy {
        s.push_str(" proxy");
    }
    for st in &n.state {
        s.push(' ');
        s.push_str(st);
    }
    s
}

/// `0a:…:01 dev flannel.1 dst 192.0.2.12 self permanent` (`bridge fdb`).
pub(crate) fn fdb(e: &FdbEntry) -> String {
    let mut s = format!("{} dev {}", e.mac, e.dev);
    if let Some(v) = e.vlan {
        s.push_str(&format!(" vlan {v}"));
    }
    if let Some(d) = e.dst {
        s.push_str(&format!(" dst {d}"));
    }
    if let Some(p) = e.port {
        s.push_str(&format!(" port {p}"));
    }
    if let Some(v) = e.vni {
        s.push_str(&format!(" vni {v}"));
    }
    if let Some(m) = &e.master {
        s.push_str(&format!(" master {m}"));
    }
    for f in &e.flags {
        s.push(' ');
        s.push_str(f);
    }
    if !e.state.is_empty() {
        s.push(' ');
        s.push_str(&e.state);
    }
    s
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
    for f in &v.flags {
        s.push(' ');
        s.push_str(f);
    }
    if let Some(p) = v.persistent {
        s.push_str(&format!(" persistent {p}"));
    }
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
    let mut s = format!(
        "{}: {}: <{}> mtu {}",
        l.ifindex,
        l.name,
        l.flags.join(","),
        l.mtu
    );
    if let Some(m) = &l.master {
        s.push_str(&format!(" master {m}"));
    }
    if let Some(st) = &l.operstate {
        s.push_str(&format!(" state {st}"));
    }
    if let Some(mac) = &l.mac {
        s.push_str(&format!(" link/ether {mac}"));
    }
    if let Some(v) = &l.vxlan {
        s.push_str(&format!(" vxlan id {}", v.vni));
        if let Some(local) = v.local {
            s.push_str(&format!(" local {local}"));
        }
        if let Some(dev) = &v.dev {
            s.push_str(&format!(" dev {dev}"));
        }
        s.push_str(&format!(" dstport {}", v.port));
    } else if let Some(k) = &l.kind {
        s.push(' ');
        s.push_str(k);
    }
    s
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
