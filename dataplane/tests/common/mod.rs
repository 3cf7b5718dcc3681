//! A compact text fixture for dataplane tests: nodes, pods and their
//! dataplane entries in `ip`-like syntax, plus `probe` lines.
//!
//! ```text
//! node a                                   # a node's root namespace
//! pod-cidr 10.244.1.0/24                   # its Kubernetes podCIDR
//! link eth0 mtu 1500 mac 02:00:00:00:00:01 # kind/master/mtu/mac/peer optional
//! addr 192.0.2.11/24 dev eth0
//! route 10.244.2.0/24 via 192.0.2.12 dev eth0
//! rule 100 from all fwmark 0x1 lookup 100
//! neigh 10.244.2.0 dev flannel.1 lladdr 02:… permanent
//! fdb 02:… dev flannel.1 dst 192.0.2.12 self permanent
//! vxlan flannel.1 vni 1 port 8472 local 192.0.2.11   [df set|unset|inherit]
//! sysctl net.ipv4.ip_forward=0
//! ipvs tcp 10.96.0.10:80 -> 10.244.1.2:8080 10.244.2.2:8080
//! pod default/a 10.244.1.2                 # a Kubernetes pod on this node
//! podns default/a                          # a collected pod netns follows
//! link eth0 peer vethA                     # peer = host-side link name
//! hint routed 169.254.1.1 proxy-arp           # the CNI's pod attachment on this node
//! probe from pod default/a to 10.244.2.2 size 1400 nodf
//! ```
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_dataplane::{Dataplane, Hints, Ingress, Packet, PodAttachment, Proto};
use cnictl_model::*;
use ipnet::IpNet;

/// A parsed fixture: the snapshot and its probes.
pub struct Fixture {
    pub snap: ClusterSnapshot,
    pub probes: Vec<Probe>,
    pub hints: Hints,
}

/// Calico's pod attachment: pods route via 169.254.1.1 (fe80::1), which
/// the host veth answers by proxy ARP.
pub const CALICO: PodAttachment = PodAttachment::Routed {
    gateway_v4: Some(std::net::Ipv4Addr::new(169, 254, 1, 1)),
    gateway_v6: Some(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
    proxy_arp: true,
};

/// `hint routed GW [proxy-arp]` or `hint bridged`.
fn parse_hint(w: &[&str], ctx: &str) -> PodAttachment {
    match w[0] {
        "bridged" => PodAttachment::Bridged,
        "routed" => {
            let gw: std::net::IpAddr = w[1].parse().expect(ctx);
            let (gateway_v4, gateway_v6) = match gw {
                IpAddr::V4(v4) => (Some(v4), None),
                IpAddr::V6(v6) => (None, Some(v6)),
            };
            PodAttachment::Routed {
                gateway_v4,
                gateway_v6,
                proxy_arp: w.contains(&"proxy-arp"),
            }
        }
        other => panic!("{ctx}: unknown hint {other}"),
    }
}

pub struct Probe {
    pub from: From,
    pub dst: IpAddr,
    pub size: Option<u32>,
    pub df: bool,
    pub fwmark: u32,
    pub proto: Proto,
    pub dport: u16,
}

pub enum From {
    Pod(String),
    Node(String),
    Dev(String, String),
}

#[derive(Default)]
struct Cur {
    node: Option<String>,
    pod: Option<String>,
    peers: Vec<(String, String, String, String)>,
    /// `iptables LINE` / `iptables-legacy LINE`: iptables-save text per
    /// (node, legacy?).
    nf: BTreeMap<(String, bool), String>,
}

pub fn parse(text: &str) -> Fixture {
    let mut snap = ClusterSnapshot::new("test");
    snap.k8s.services = Some(Vec::new());
    let mut probes = Vec::new();
    let mut hints = Hints::default();
    let mut cur = Cur::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let ctx = format!("fixture line {}: {line}", n + 1);
        match w[0] {
            "node" => {
                let name = w[1].to_string();
                snap.nodes.insert(
                    name.clone(),
                    NodeSnapshot {
                        name: name.clone(),
                        ..Default::default()
                    },
                );
                snap.k8s.nodes.push(K8sNode {
                    name: name.clone(),
                    ..Default::default()
                });
                cur.node = Some(name);
                cur.pod = None;
            }
            "internal-ip" => {
                let node = cur.node.clone().expect("node first");
                let k = snap.k8s.nodes.iter_mut().find(|k| k.name == node).unwrap();
                k.internal_ips.push(w[1].parse().expect(&ctx));
            }
            "pod-cidr" => {
                let node = cur.node.clone().expect("node first");
                let k = snap.k8s.nodes.iter_mut().find(|k| k.name == node).unwrap();
                k.pod_cidrs.push(w[1].parse().expect(&ctx));
            }
            "podns" => {
                let node = cur.node.clone().expect("node first");
                let (ns, name) = w[1].split_once('/').expect(&ctx);
                snap.nodes.get_mut(&node).unwrap().pods.insert(
                    w[1].to_string(),
                    PodNetns {
                        namespace: ns.into(),
                        name: name.into(),
                        ..Default::default()
                    },
                );
                cur.pod = Some(w[1].to_string());
            }
            "pod" => {
                let node = cur.node.clone().expect("node first");
                let (ns, name) = w[1].split_once('/').expect(&ctx);
                snap.k8s.pods.push(Pod {
                    namespace: ns.into(),
                    name: name.into(),
                    node: Some(node),
                    ips: w[2..].iter().map(|s| s.parse().expect(&ctx)).collect(),
                    phase: "Running".into(),
                    ..Default::default()
                });
            }
            "probe" => probes.push(parse_probe(&w[1..], &ctx)),
            "hint" => {
                let node = cur.node.clone().expect("node first");
                hints.nodes.insert(node, parse_hint(&w[1..], &ctx));
            }
            "endpoints" => {
                // endpoints ns/svc PORT IP... (all ready)
                let (ns, name) = w[1].split_once('/').expect(&ctx);
                snap.k8s
                    .endpoint_slices
                    .get_or_insert_with(Vec::new)
                    .push(EndpointSlice {
                        namespace: ns.into(),
                        name: format!("{name}-abc"),
                        service: Some(name.into()),
                        address_type: "IPv4".into(),
                        endpoints: w[3..]
                            .iter()
                            .map(|ip| k8s::Endpoint {
                                addresses: vec![ip.parse().expect(&ctx)],
                                ready: true,
                                node: None,
                                pod: None,
                            })
                            .collect(),
                        ports: vec![k8s::EndpointPort {
                            name: None,
                            protocol: "TCP".into(),
                            port: w[2].parse().expect(&ctx),
                        }],
                    });
            }
            "service" => {
                // service ns/name CLUSTERIP tcp:PORT
                let (ns, name) = w[1].split_once('/').expect(&ctx);
                let (proto, port) = w[3].split_once(':').expect(&ctx);
                snap.k8s
                    .services
                    .get_or_insert_with(Vec::new)
                    .push(Service {
                        namespace: ns.into(),
                        name: name.into(),
                        service_type: "ClusterIP".into(),
                        cluster_ips: vec![w[2].parse().expect(&ctx)],
                        ports: vec![ServicePort {
                            protocol: proto.to_uppercase(),
                            port: port.parse().expect(&ctx),
                            ..Default::default()
                        }],
                        ..Default::default()
                    });
            }
            "iptables" | "iptables-legacy" => {
                let node = cur.node.clone().expect("node first");
                let rest = raw.trim().split_once(' ').map_or("", |(_, r)| r);
                let buf = cur.nf.entry((node, w[0] == "iptables-legacy")).or_default();
                buf.push_str(rest);
                buf.push('\n');
            }
            _ => entry(&mut snap, &mut cur, &w, &ctx),
        }
    }
    for ((node, legacy), text) in std::mem::take(&mut cur.nf) {
        add_netfilter(snap.nodes.get_mut(&node).unwrap(), &text, legacy);
    }
    for (node, pod, link, peer) in std::mem::take(&mut cur.peers) {
        let n = snap.nodes.get_mut(&node).unwrap();
        let host = n
            .links
            .iter()
            .find(|l| l.name == peer)
            .unwrap_or_else(|| panic!("peer {peer} missing"))
            .ifindex;
        let pn = n.pods.get_mut(&pod).unwrap();
        let l = pn.links.iter_mut().find(|l| l.name == link).unwrap();
        l.peer_ifindex = Some(host);
        let pif = l.ifindex;
        let hl = n.links.iter_mut().find(|l| l.name == peer).unwrap();
        hl.peer_ifindex = Some(pif);
    }
    Fixture {
        snap,
        probes,
        hints,
    }
}

fn entry(snap: &mut ClusterSnapshot, cur: &mut Cur, w: &[&str], ctx: &str) {
    let node_name = cur.node.clone().expect("node first");
    let node = snap.nodes.get_mut(&node_name).unwrap();
    if let Some(pod) = cur.pod.clone() {
        let pn = node.pods.get_mut(&pod).unwrap();
        match w[0] {
            "link" => {
                let l = parse_link(&w[1..], pn.links.len() as u32 + 100, ctx);
                if let Some(i) = w.iter().position(|x| *x == "peer") {
                    cur.peers
                        .push((node_name, pod, l.name.clone(), w[i + 1].to_string()));
                }
                pn.links.push(l);
            }
            "addr" => pn.addrs.push(parse_addr(&w[1..], &pn.links, ctx)),
            "route" => pn.routes.push(parse_route(&w[1..], ctx)),
            other => panic!("{ctx}: {other} not allowed in a pod netns"),
        }
        return;
    }
    match w[0] {
        "link" => {
            let l = parse_link(&w[1..], node.links.len() as u32 + 1, ctx);
            node.links.push(l);
        }
        "addr" => {
            let a = parse_addr(&w[1..], &node.links, ctx);
            node.addrs.push(a);
        }
        "route" => node.routes.push(parse_route(&w[1..], ctx)),
        "rule" => node
            .rules
            .get_or_insert_with(Vec::new)
            .push(parse_rule(&w[1..], ctx)),
        "norules" => node.rules = None,
        "neigh" => node.neighbours.get_or_insert_with(Vec::new).push(Neigh {
            dst: w[1].parse().expect(ctx),
            dev: kv(w, "dev").expect(ctx).into(),
            lladdr: kv(w, "lladdr").map(Into::into),
            state: w
                .iter()
                .filter(|x| x.chars().all(|c| c.is_ascii_uppercase()))
                .map(|s| s.to_string())
                .collect(),
            router: false,
            proxy: false,
        }),
        "fdb" => node.fdb.get_or_insert_with(Vec::new).push(FdbEntry {
            mac: w[1].into(),
            dev: kv(w, "dev").expect(ctx).into(),
            dst: kv(w, "dst").map(|s| s.parse().expect(ctx)),
            vlan: None,
            vni: kv(w, "vni").map(|s| s.parse().expect(ctx)),
            port: kv(w, "port").map(|s| s.parse().expect(ctx)),
            master: kv(w, "master").map(Into::into),
            flags: w
                .iter()
                .filter(|x| **x == "self" || **x == "master")
                .map(|s| s.to_string())
                .collect(),
            state: if w.contains(&"permanent") {
                "permanent".into()
            } else {
                String::new()
            },
        }),
        "vxlan" => {
            let l = node.links.iter_mut().find(|l| l.name == w[1]).expect(ctx);
            l.kind = Some("vxlan".into());
            l.vxlan = Some(VxlanInfo {
                vni: kv(w, "vni").expect(ctx).parse().expect(ctx),
                port: kv(w, "port").unwrap_or("8472").parse().expect(ctx),
                local: kv(w, "local").map(|s| s.parse().expect(ctx)),
                remote: kv(w, "remote").map(|s| s.parse().expect(ctx)),
                learning: false,
                dev: kv(w, "dev").map(Into::into),
                df: kv(w, "df").map(|d| match d {
                    "set" => VxlanDf::Set,
                    "inherit" => VxlanDf::Inherit,
                    _ => VxlanDf::Unset,
                }),
            });
        }
        "tunnel" => {
            let l = node.links.iter_mut().find(|l| l.name == w[1]).expect(ctx);
            l.tunnel = Some(TunnelInfo {
                local: kv(w, "local").map(|s| s.parse().expect(ctx)),
                remote: kv(w, "remote").map(|s| s.parse().expect(ctx)),
                ttl: None,
            });
        }
        "sysctl" => {
            let (k, v) = w[1].split_once('=').expect(ctx);
            node.sysctls
                .get_or_insert_with(BTreeMap::new)
                .insert(k.into(), v.into());
        }
        "ipvs" => {
            let (vip, port) = w[2].rsplit_once(':').expect(ctx);
            let reals = w[4..]
                .iter()
                .map(|r| {
                    let (ip, p) = r.rsplit_once(':').expect(ctx);
                    RealServer {
                        ip: ip.parse().expect(ctx),
                        port: p.parse().expect(ctx),
                        forward: Forward::Masq,
                        weight: 1,
                        active_conns: 0,
                        inactive_conns: 0,
                    }
                })
                .collect();
            node.ipvs.get_or_insert_with(Vec::new).push(VirtualService {
                proto: if w[1] == "udp" {
                    IpvsProto::Udp
                } else {
                    IpvsProto::Tcp
                },
                vip: Some(vip.parse().expect(ctx)),
                port: port.parse().expect(ctx),
                fwmark: None,
                scheduler: "rr".into(),
                flags: vec![],
                persistent: None,
                reals,
            });
        }
        other => panic!("{ctx}: unknown keyword {other}"),
    }
}

/// Parses a fixture's iptables-save text into the node's netfilter state,
/// as the bundle loader does.
fn add_netfilter(node: &mut NodeSnapshot, text: &str, legacy: bool) {
    use cnictl_model::netfilter::{Netfilter, Source};
    let source = if legacy {
        Source::IptablesLegacySave
    } else {
        Source::IptablesSave
    };
    let tables = cnictl_formats::iptables::parse_iptables_save(text, source)
        .unwrap_or_else(|e| panic!("fixture iptables on {}: {e}", node.name));
    let nf = node.netfilter.get_or_insert_with(Netfilter::default);
    nf.tables.extend(tables);
    nf.sources.push(source);
}

fn kv<'a>(w: &[&'a str], key: &str) -> Option<&'a str> {
    w.iter()
        .position(|x| *x == key)
        .and_then(|i| w.get(i + 1).copied())
}

fn parse_link(w: &[&str], default_index: u32, ctx: &str) -> Link {
    let name = w[0].to_string();
    let kind = kv(w, "kind").map(String::from);
    Link {
        ifindex: kv(w, "ifindex").map_or(default_index, |s| s.parse().expect(ctx)),
        link_type: Some(if name == "lo" {
            "loopback".into()
        } else {
            "ether".into()
        }),
        kind,
        master: kv(w, "master").map(Into::into),
        mtu: kv(w, "mtu").map_or(1500, |s| s.parse().expect(ctx)),
        mac: kv(w, "mac").map(Into::into),
        flags: vec!["UP".into(), "LOWER_UP".into()],
        name,
        ..Default::default()
    }
}

fn parse_addr(w: &[&str], links: &[Link], ctx: &str) -> Addr {
    let addr: IpNet = w[0].parse().expect(ctx);
    let dev = kv(w, "dev").expect(ctx).to_string();
    let ifindex = links
        .iter()
        .find(|l| l.name == dev)
        .map_or(0, |l| l.ifindex);
    Addr {
        ifindex,
        dev,
        addr,
        scope: "global".into(),
        peer: None,
    }
}

pub fn parse_prefix(s: &str, ctx: &str) -> IpNet {
    if s == "default" {
        return "0.0.0.0/0".parse().unwrap();
    }
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .expect(ctx)
}

/// `ip route` syntax (a subset): type, prefix, via, dev, table, proto,
/// scope, src, metric, onlink, nexthop … groups.
pub fn parse_route(w: &[&str], ctx: &str) -> Route {
    let mut i = 0;
    let rtype = RouteType::parse(w[0]).filter(|_| w.len() > 1 && RouteType::parse(w[0]).is_some());
    if rtype.is_some() {
        i = 1;
    }
    let mut r = Route::unicast(parse_prefix(w[i], ctx));
    r.route_type = rtype.unwrap_or_default();
    i += 1;
    while i < w.len() {
        let v = w.get(i + 1).copied().unwrap_or("");
        match w[i] {
            "via" => r.gateway = Some(v.parse().expect(ctx)),
            "dev" => r.dev = Some(v.into()),
            "table" => {
                r.table = match v {
                    "local" => 255,
                    "main" => 254,
                    "default" => 253,
                    n => n.parse().expect(ctx),
                }
            }
            "proto" => r.protocol = Protocol::parse(v).expect(ctx),
            "scope" => r.scope = Scope::parse(v).expect(ctx),
            "src" => r.prefsrc = Some(v.parse().expect(ctx)),
            "metric" => r.metric = v.parse().expect(ctx),
            "onlink" => {
                match r.nexthops.last_mut() {
                    Some(nh) => nh.onlink = true,
                    None => r.onlink = true,
                }
                i += 1;
                continue;
            }
            "nexthop" => {
                r.nexthops.push(NextHop {
                    gateway: None,
                    dev: None,
                    weight: 1,
                    onlink: false,
                });
                i += 1;
                while i < w.len() && !matches!(w[i], "nexthop") {
                    let v = w.get(i + 1).copied().unwrap_or("");
                    let nh = r.nexthops.last_mut().unwrap();
                    match w[i] {
                        "via" => nh.gateway = Some(v.parse().expect(ctx)),
                        "dev" => nh.dev = Some(v.into()),
                        "weight" => nh.weight = v.parse().expect(ctx),
                        "onlink" => {
                            nh.onlink = true;
                            i += 1;
                            continue;
                        }
                        other => panic!("{ctx}: unknown nexthop word {other}"),
                    }
                    i += 2;
                }
                continue;
            }
            other => panic!("{ctx}: unknown route word {other}"),
        }
        i += 2;
    }
    r
}

/// `PRIO [not] [from P] [to P] [iif D] [fwmark M[/MASK]] ACTION [suppress_prefixlength N]`.
pub fn parse_rule(w: &[&str], ctx: &str) -> Rule {
    let mut r = Rule::defaults_v4().remove(0);
    r.priority = w[0].trim_end_matches(':').parse().expect(ctx);
    let mut i = 1;
    while i < w.len() {
        let v = w.get(i + 1).copied().unwrap_or("");
        match w[i] {
            "not" => {
                r.not = true;
                i += 1;
                continue;
            }
            "from" => r.src = (v != "all").then(|| parse_prefix(v, ctx)),
            "to" => r.dst = Some(parse_prefix(v, ctx)),
            "iif" => r.iif = Some(v.into()),
            "fwmark" => {
                let (m, mask) = v.split_once('/').map_or((v, None), |(a, b)| (a, Some(b)));
                r.fwmark = Some(parse_num(m));
                r.fwmask = mask.map(parse_num);
            }
            "lookup" | "table" => {
                r.action = RuleAction::Table(match v {
                    "local" => 255,
                    "main" => 254,
                    "default" => 253,
                    n => n.parse().expect(ctx),
                })
            }
            "goto" => r.action = RuleAction::Goto(v.parse().expect(ctx)),
            "suppress_prefixlength" => r.suppress_prefixlen = Some(v.parse().expect(ctx)),
            "blackhole" | "unreachable" | "prohibit" | "nop" => {
                r.action = match w[i] {
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    "prohibit" => RuleAction::Prohibit,
                    _ => RuleAction::Nop,
                };
                i += 1;
                continue;
            }
            other => panic!("{ctx}: unknown rule word {other}"),
        }
        i += 2;
    }
    r
}

fn parse_num(s: &str) -> u32 {
    s.strip_prefix("0x").map_or_else(
        || s.parse().unwrap(),
        |h| u32::from_str_radix(h, 16).unwrap(),
    )
}

fn parse_probe(w: &[&str], ctx: &str) -> Probe {
    let from = match (w[0], w[1]) {
        ("from", "pod") => From::Pod(w[2].into()),
        ("from", "node") => From::Node(w[2].into()),
        ("from", "dev") => From::Dev(w[2].into(), w[3].into()),
        _ => panic!("{ctx}: probe needs `from pod|node|dev`"),
    };
    let to = w.iter().position(|x| *x == "to").expect(ctx);
    let (proto, dport) = if let Some(p) = kv(w, "tcp") {
        (Proto::Tcp, p.parse().expect(ctx))
    } else if let Some(p) = kv(w, "udp") {
        (Proto::Udp, p.parse().expect(ctx))
    } else {
        (Proto::Icmp, 0)
    };
    Probe {
        from,
        dst: w[to + 1].parse().expect(ctx),
        size: kv(w, "size").map(|s| s.parse().expect(ctx)),
        df: !w.contains(&"nodf"),
        fwmark: kv(w, "fwmark").map_or(0, parse_num),
        proto,
        dport,
    }
}

/// The packet and ingress of a probe on a compiled dataplane.
pub fn probe_input(dp: &Dataplane, snap: &ClusterSnapshot, p: &Probe) -> (Packet, Ingress) {
    let (src, ingress) = match &p.from {
        From::Pod(k) => {
            let id = dp.pod_id(k).expect("probe pod exists");
            (dp.pod_ips(id)[0], Ingress::Pod(id))
        }
        From::Node(n) => {
            let id = dp.node_id(n).expect("probe node exists");
            let ip = dp
                .node_ip(id)
                .or_else(|| snap.nodes[n].addrs.first().map(|a| a.addr.addr()))
                .expect("node has an address");
            (ip, Ingress::Node(id))
        }
        From::Dev(n, d) => {
            let id = dp.node_id(n).expect("probe node exists");
            let ing = dp.device(dp.root_ns(id), d).expect("probe device exists");
            ("198.18.0.1".parse().unwrap(), ing)
        }
    };
    let mut pkt = Packet::new(src, p.dst);
    if let Some(s) = p.size {
        pkt.size = s;
    }
    pkt.df = p.df;
    pkt.fwmark = p.fwmark;
    pkt.proto = p.proto;
    pkt.dport = p.dport;
    pkt.sport = if p.dport != 0 { 40000 } else { 0 };
    (pkt, ingress)
}

/// Traces every probe and renders each as
/// `disposition | kind: entry | kind: entry …` (one line per hop after the first).
pub fn run(text: &str) -> Vec<String> {
    let fx = parse(text);
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    fx.probes
        .iter()
        .map(|p| {
            let (pkt, ing) = probe_input(&dp, &fx.snap, p);
            let t = dp.trace(&pkt, ing);
            assert_eq!(
                dp.reachable(&pkt, ing),
                t.disposition,
                "reachable() agrees with trace()"
            );
            render(&dp, &t)
        })
        .collect()
}

pub fn render(dp: &Dataplane, t: &cnictl_dataplane::Trace) -> String {
    let mut out = t.disposition.to_string();
    for h in &t.hops {
        let h = dp.render_hop(h);
        out.push_str(&format!("\n  {} {}: {}", h.node, h.kind, h.entry));
        if let Some(rw) = h.rewrite {
            out.push_str(&format!(" [{rw}]"));
        }
    }
    for b in &t.branches {
        out.push_str("\n  branch:");
        out.push_str(&render(dp, &b.trace).replace('\n', "\n  "));
    }
    out
}

/// Asserts the single probe's disposition and that each expected fragment
/// appears in the rendered hops, in order.
pub fn check(text: &str, disposition: &str, fragments: &[&str]) {
    let out = run(text);
    assert_eq!(out.len(), 1, "one probe per check");
    let got = &out[0];
    assert!(
        got.starts_with(disposition) && got[disposition.len()..].starts_with(['\n', ' '])
            || got == disposition,
        "expected {disposition}, got:\n{got}"
    );
    let mut rest = got.as_str();
    for f in fragments {
        match rest.find(f) {
            Some(i) => rest = &rest[i + f.len()..],
            None => panic!("fragment {f:?} not found (in order) in:\n{got}"),
        }
    }
}
