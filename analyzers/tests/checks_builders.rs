//! Builders for small, healthy clusters of every CNI model, written as the
//! real CNIs program nodes (LAB-NOTES.md): tests break them one entry at a
//! time. Included by the checks test binaries with `#[path]`; as a test
//! target of its own it holds no tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_model::k8s::{Endpoint, EndpointPort};
use cnictl_model::netfilter::{Netfilter, Source};
use cnictl_model::{
    Addr, Bgp, BgpProtocol, BgpRoute, Cilium, CiliumEndpoint, CiliumStatus, ClusterSnapshot,
    EndpointSlice, FdbEntry, Forward, IpcacheEntry, IpvsProto, K8sNode, Link, Neigh, NodeSnapshot,
    Pod, Protocol, RealServer, Route, RouteType, Scope, Service, ServicePort, TunnelEntry,
    TunnelInfo, VirtualService, VxlanInfo,
};
use ipnet::IpNet;

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test ip")
}

pub fn net(s: &str) -> IpNet {
    s.parse().expect("test cidr")
}

pub fn node_ip(i: usize) -> String {
    format!("192.0.2.{}", 10 + i)
}

pub fn vtep_mac(i: usize) -> String {
    format!("0a:00:00:00:00:{i:02x}")
}

pub fn pod_cidr(i: usize) -> String {
    format!("10.244.{i}.0/24")
}

pub fn block(i: usize) -> String {
    format!("10.244.{i}.0/26")
}

pub const MODELS: &[&str] = &[
    "flannel-vxlan",
    "flannel-host-gw",
    "bridge",
    "calico-bgp",
    "calico-ipip",
    "calico-vxlan",
    "cilium-native",
    "cilium-vxlan",
    "weave",
];

pub fn link(ifindex: u32, name: &str, kind: Option<&str>, mtu: u32) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind: kind.map(str::to_string),
        mtu,
        flags: vec!["BROADCAST".into(), "UP".into(), "LOWER_UP".into()],
        ..Link::default()
    }
}

pub fn addr(ifindex: u32, dev: &str, a: &str) -> Addr {
    Addr {
        ifindex,
        dev: dev.into(),
        addr: net(a),
        scope: "global".into(),
        peer: None,
    }
}

/// `DST [via GW] [dev DEV]` in the main table.
pub fn route(dst: &str, gw: Option<&str>, dev: Option<&str>) -> Route {
    let mut r = Route::unicast(net(dst));
    r.gateway = gw.map(ip);
    r.dev = dev.map(str::to_string);
    r
}

pub fn neigh(dst: &str, dev: &str, mac: &str) -> Neigh {
    Neigh {
        dst: ip(dst),
        dev: dev.into(),
        lladdr: Some(mac.into()),
        state: vec!["PERMANENT".into()],
        router: false,
        proxy: false,
    }
}

pub fn fdb(mac: &str, dev: &str, dst: &str) -> FdbEntry {
    FdbEntry {
        mac: mac.into(),
        dev: dev.into(),
        dst: Some(ip(dst)),
        vlan: None,
        vni: None,
        port: None,
        master: None,
        flags: vec!["self".into()],
        state: "permanent".into(),
    }
}

fn cali_name(i: usize, p: usize) -> String {
    format!("cali{:011x}", i * 100 + p)
}

/// A healthy cluster of `n` nodes (node-1 …), two pods per node, the
/// `kubernetes` and `default/web` Services with IPVS on every node.
pub fn cluster(model: &str, n: usize) -> ClusterSnapshot {
    let mut snap = ClusterSnapshot::new(format!("test:{model}"));
    for i in 1..=n {
        snap.k8s.nodes.push(k8s_node(model, i));
        for p in 0..2 {
            snap.k8s.pods.push(pod(model, i, p));
        }
        snap.nodes.insert(format!("node-{i}"), node(model, i, n));
    }
    services(&mut snap);
    snap
}

fn pod_ip(model: &str, i: usize, p: usize) -> String {
    if model == "weave" {
        format!("10.32.{i}.{}", 2 + p)
    } else {
        format!("10.244.{i}.{}", 2 + p)
    }
}

fn pod(model: &str, i: usize, p: usize) -> Pod {
    Pod {
        namespace: "default".into(),
        name: format!("pod-{i}-{p}"),
        node: Some(format!("node-{i}")),
        ips: vec![ip(&pod_ip(model, i, p))],
        host_network: false,
        phase: "Running".into(),
        labels: BTreeMap::from([(
            "app".to_string(),
            if p == 0 { "web" } else { "db" }.to_string(),
        )]),
        ..Pod::default()
    }
}

fn k8s_node(model: &str, i: usize) -> K8sNode {
    let mut annotations = BTreeMap::new();
    match model {
        "flannel-vxlan" => {
            annotations.insert(
                "flannel.alpha.coreos.com/backend-type".into(),
                "vxlan".into(),
            );
            annotations.insert(
                "flannel.alpha.coreos.com/backend-data".into(),
                format!("{{\"VNI\":1,\"VtepMAC\":\"{}\"}}", vtep_mac(i)),
            );
            annotations.insert("flannel.alpha.coreos.com/public-ip".into(), node_ip(i));
        }
        "flannel-host-gw" => {
            annotations.insert(
                "flannel.alpha.coreos.com/backend-type".into(),
                "host-gw".into(),
            );
            annotations.insert("flannel.alpha.coreos.com/public-ip".into(), node_ip(i));
        }
        "calico-vxlan" => {
            annotations.insert(
                "projectcalico.org/IPv4VXLANTunnelAddr".into(),
                format!("10.244.{i}.1"),
            );
        }
        _ => {}
    }
    K8sNode {
        name: format!("node-{i}"),
        internal_ips: vec![ip(&node_ip(i))],
        pod_cidrs: if model == "weave" {
            vec![]
        } else {
            vec![net(&pod_cidr(i))]
        },
        annotations,
        ready: Some(true),
        labels: Default::default(),
    }
}

fn base(i: usize) -> NodeSnapshot {
    let mut n = NodeSnapshot {
        name: format!("node-{i}"),
        ..NodeSnapshot::default()
    };
    let mut lo = link(1, "lo", None, 65536);
    lo.flags = vec!["LOOPBACK".into(), "UP".into()];
    n.links.push(lo);
    let mut eth0 = link(2, "eth0", None, 1500);
    eth0.mac = Some(format!("02:00:00:00:00:{i:02x}"));
    n.links.push(eth0);
    n.addrs.push(addr(2, "eth0", &format!("{}/24", node_ip(i))));
    n.routes
        .push(route("0.0.0.0/0", Some("192.0.2.1"), Some("eth0")));
    let mut conn = route("192.0.2.0/24", None, Some("eth0"));
    conn.protocol = Protocol::KERNEL;
    conn.scope = Scope::LINK;
    conn.prefsrc = Some(ip(&node_ip(i)));
    n.routes.push(conn);
    n.neighbours = Some(vec![]);
    n.fdb = Some(vec![]);
    n.sysctls = Some(BTreeMap::from([
        ("net.ipv4.ip_forward".to_string(), "1".to_string()),
        ("net.ipv4.conf.all.rp_filter".to_string(), "0".to_string()),
        (
            "net.bridge.bridge-nf-call-iptables".to_string(),
            "1".to_string(),
        ),
        (
            "net.netfilter.nf_conntrack_count".to_string(),
            "42".to_string(),
        ),
        (
            "net.netfilter.nf_conntrack_max".to_string(),
            "262144".to_string(),
        ),
    ]));
    n.netfilter = Some(open_filter_table());
    n
}

/// What `iptables-save -c` (iptables 1.8.9, nf_tables) prints on a node
/// whose only rules are the empty built-in filter chains: netfilter
/// collected, nothing dropped.
pub const OPEN_FILTER: &str =
    "# Generated by iptables-save v1.8.9 (nf_tables) on Mon Dec  7 02:08:06 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
# Completed on Mon Dec  7 02:08:06 2026
";

/// [`OPEN_FILTER`] as the bundle importer reads it.
pub fn open_filter_table() -> Netfilter {
    let tables = cnictl_formats::iptables::parse_iptables_save(OPEN_FILTER, Source::IptablesSave)
        .expect("the open filter table parses");
    Netfilter {
        tables,
        ipsets: None,
        sources: vec![Source::IptablesSave],
        ..Netfilter::default()
    }
}

fn node(model: &str, i: usize, n: usize) -> NodeSnapshot {
    let mut s = base(i);
    match model {
        "flannel-vxlan" => flannel_vxlan(&mut s, i, n),
        "flannel-host-gw" | "bridge" => bridge_host_gw(&mut s, i, n),
        "calico-bgp" | "calico-ipip" | "calico-vxlan" => calico(&mut s, model, i, n),
        "cilium-native" | "cilium-vxlan" => cilium(&mut s, model, i, n),
        "weave" => weave(&mut s, i),
        other => panic!("unknown test model {other}"),
    }
    host_facts(&mut s);
    s
}

/// A fixed kernel and the tunnel devices' `ethtool -k` listings, as a full
/// collection has them (checksum offload on, as the kernel creates VXLAN
/// devices).
fn host_facts(s: &mut NodeSnapshot) {
    s.kernel = Some("6.1.0-18-amd64".into());
    let on = cnictl_model::Feature {
        on: true,
        fixed: false,
    };
    let tunnels = s
        .links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("vxlan"));
    let listings = tunnels.map(|l| cnictl_model::DevFeatures {
        dev: l.name.clone(),
        features: BTreeMap::from([("tx-checksum-ip-generic".to_string(), on)]),
    });
    s.offloads = Some(listings.collect());
}

fn cni_bridge(s: &mut NodeSnapshot, i: usize, mtu: u32) {
    s.links.push(link(4, "cni0", Some("bridge"), mtu));
    s.addrs.push(addr(4, "cni0", &format!("10.244.{i}.1/24")));
    let mut r = route(&pod_cidr(i), None, Some("cni0"));
    r.protocol = Protocol::KERNEL;
    r.scope = Scope::LINK;
    s.routes.push(r);
    for p in 0..2u32 {
        let mut v = link(10 + p, &format!("veth{i}{p}"), Some("veth"), mtu);
        v.master = Some("cni0".into());
        s.links.push(v);
    }
}

fn flannel_vxlan(s: &mut NodeSnapshot, i: usize, n: usize) {
    let mut f = link(3, "flannel.1", Some("vxlan"), 1450);
    f.mac = Some(vtep_mac(i));
    f.vxlan = Some(VxlanInfo {
        vni: 1,
        local: Some(ip(&node_ip(i))),
        remote: None,
        port: 8472,
        learning: false,
        dev: Some("eth0".into()),
        df: None,
    });
    s.links.push(f);
    s.addrs
        .push(addr(3, "flannel.1", &format!("10.244.{i}.0/32")));
    cni_bridge(s, i, 1450);
    for j in (1..=n).filter(|&j| j != i) {
        let vtep = format!("10.244.{j}.0");
        let mut r = route(&pod_cidr(j), Some(&vtep), Some("flannel.1"));
        r.onlink = true;
        s.routes.push(r);
        s.neighbours
            .get_or_insert_with(Vec::new)
            .push(neigh(&vtep, "flannel.1", &vtep_mac(j)));
        s.fdb
            .get_or_insert_with(Vec::new)
            .push(fdb(&vtep_mac(j), "flannel.1", &node_ip(j)));
    }
}

fn bridge_host_gw(s: &mut NodeSnapshot, i: usize, n: usize) {
    cni_bridge(s, i, 1500);
    for j in (1..=n).filter(|&j| j != i) {
        s.routes
            .push(route(&pod_cidr(j), Some(&node_ip(j)), Some("eth0")));
    }
}

fn calico(s: &mut NodeSnapshot, model: &str, i: usize, n: usize) {
    let mtu = match model {
        "calico-ipip" => 1480,
        "calico-vxlan" => 1450,
        _ => 1500,
    };
    if model == "calico-ipip" {
        let mut t = link(3, "tunl0", Some("ipip"), 1480);
        t.tunnel = Some(TunnelInfo::default());
        s.links.push(t);
    }
    if model == "calico-vxlan" {
        let mut v = link(3, "vxlan.calico", Some("vxlan"), 1450);
        v.mac = Some(vtep_mac(i));
        v.vxlan = Some(VxlanInfo {
            vni: 4096,
            local: Some(ip(&node_ip(i))),
            remote: None,
            port: 4789,
            learning: false,
            dev: Some("eth0".into()),
            df: None,
        });
        s.links.push(v);
        s.addrs
            .push(addr(3, "vxlan.calico", &format!("10.244.{i}.1/32")));
    }
    let proto = if model == "calico-vxlan" {
        Protocol(80)
    } else {
        Protocol::BIRD
    };
    let mut bh = Route::unicast(net(&block(i)));
    bh.route_type = RouteType::Blackhole;
    bh.protocol = proto;
    s.routes.push(bh);
    for p in 0..2usize {
        let name = cali_name(i, p);
        let mut v = link(10 + p as u32, &name, Some("veth"), mtu);
        v.mac = Some("ee:ee:ee:ee:ee:ee".into());
        s.links.push(v);
        let mut r = route(&format!("10.244.{i}.{}/32", 2 + p), None, Some(&name));
        r.scope = Scope::LINK;
        s.routes.push(r);
    }
    for j in (1..=n).filter(|&j| j != i) {
        s.routes.push(calico_peer_route(model, j, proto));
        if model == "calico-vxlan" {
            let t = format!("10.244.{j}.1");
            s.neighbours
                .get_or_insert_with(Vec::new)
                .push(neigh(&t, "vxlan.calico", &vtep_mac(j)));
            s.fdb
                .get_or_insert_with(Vec::new)
                .push(fdb(&vtep_mac(j), "vxlan.calico", &node_ip(j)));
        }
    }
    if model != "calico-vxlan" {
        s.bgp = Some(bird(i, n));
    }
}

fn calico_peer_route(model: &str, j: usize, proto: Protocol) -> Route {
    let mut r = match model {
        "calico-ipip" => route(&block(j), Some(&node_ip(j)), Some("tunl0")),
        "calico-vxlan" => route(
            &block(j),
            Some(&format!("10.244.{j}.1")),
            Some("vxlan.calico"),
        ),
        _ => route(&block(j), Some(&node_ip(j)), Some("eth0")),
    };
    r.onlink = model != "calico-bgp";
    r.protocol = proto;
    r
}

pub fn mesh_name(j: usize) -> String {
    format!("Mesh_{}", node_ip(j).replace('.', "_"))
}

fn bird(i: usize, n: usize) -> Bgp {
    let mut protocols = Vec::new();
    let mut routes = vec![BgpRoute {
        prefix: net(&block(i)),
        kind: "blackhole".into(),
        via: None,
        dev: None,
        protocol: "static1".into(),
        bgp_next_hop: None,
        best: true,
        as_path: None,
    }];
    for j in (1..=n).filter(|&j| j != i) {
        protocols.push(BgpProtocol {
            name: mesh_name(j),
            proto: "BGP".into(),
            state: "up".into(),
            info: "Established".into(),
            bgp_state: Some("Established".into()),
            neighbor_address: Some(ip(&node_ip(j))),
            source_address: None,
            neighbor_as: Some(64512),
            local_as: Some(64512),
            ..BgpProtocol::default()
        });
        routes.push(BgpRoute {
            prefix: net(&block(j)),
            kind: "unicast".into(),
            via: Some(ip(&node_ip(j))),
            dev: Some("eth0".into()),
            protocol: mesh_name(j),
            bgp_next_hop: Some(ip(&node_ip(j))),
            best: true,
            as_path: Some(String::new()),
        });
    }
    Bgp {
        daemon: Some("BIRD 2.0.12".into()),
        protocols,
        routes: Some(routes),
    }
}

fn cilium(s: &mut NodeSnapshot, model: &str, i: usize, n: usize) {
    let mtu = if model == "cilium-vxlan" { 1450 } else { 1500 };
    s.links.push(link(3, "cilium_host", Some("veth"), 1500));
    s.links.push(link(4, "cilium_net", Some("veth"), 1500));
    s.addrs
        .push(addr(3, "cilium_host", &format!("10.244.{i}.1/32")));
    if model == "cilium-vxlan" {
        s.links.push(link(5, "cilium_vxlan", Some("vxlan"), 1500));
    }
    for p in 0..2u32 {
        s.links
            .push(link(10 + p, &format!("lxc{i}{p}"), Some("veth"), mtu));
    }
    let gw = format!("10.244.{i}.1");
    s.routes
        .push(route(&pod_cidr(i), Some(&gw), Some("cilium_host")));
    for j in (1..=n).filter(|&j| j != i) {
        if model == "cilium-vxlan" {
            s.routes
                .push(route(&pod_cidr(j), Some(&gw), Some("cilium_host")));
        } else {
            s.routes
                .push(route(&pod_cidr(j), Some(&node_ip(j)), Some("eth0")));
        }
    }
    s.cilium = Some(cilium_state(model, i, n));
}

/// The agent's maps as Cilium v1.15 fills them: every pod /32 (with its
/// node as tunnel endpoint in tunnel mode), each remote pod CIDR in the
/// tunnel map, the local pods as ready endpoints.
pub fn cilium_state(model: &str, i: usize, n: usize) -> Cilium {
    let vxlan = model == "cilium-vxlan";
    let mut ipcache = Vec::new();
    let mut tunnel = Vec::new();
    for j in 1..=n {
        let tep = (vxlan && j != i).then(|| ip(&node_ip(j)));
        for p in 0..2 {
            ipcache.push(IpcacheEntry {
                prefix: net(&format!("{}/32", pod_ip(model, j, p))),
                identity: 30000 + p as u32,
                tunnel_endpoint: tep,
            });
        }
        if vxlan && j != i {
            tunnel.push(TunnelEntry {
                prefix: ip(&format!("10.244.{j}.0")),
                endpoint: ip(&node_ip(j)),
            });
        }
    }
    let endpoints = (0..2)
        .map(|p| CiliumEndpoint {
            id: 1000 + p as u64,
            state: "ready".into(),
            identity: Some(30000 + p as u64),
            addresses: vec![ip(&pod_ip(model, i, p))],
            pod: Some(format!("default/pod-{i}-{p}")),
            interface: Some(format!("lxc{i}{p}")),
            policy_enabled: Some("none".into()),
        })
        .collect();
    let mode = if vxlan { "Tunnel" } else { "Native" };
    Cilium {
        status: Some(CiliumStatus {
            state: Some("Ok".into()),
            inter_host_routing: Some(mode.into()),
            ..CiliumStatus::default()
        }),
        ipcache: Some(ipcache),
        tunnel: Some(tunnel),
        endpoints: Some(endpoints),
        lb: None,
    }
}

fn weave(s: &mut NodeSnapshot, i: usize) {
    s.links.push(link(3, "weave", Some("bridge"), 1376));
    s.links.push(link(4, "vxlan-6784", Some("vxlan"), 65485));
    s.addrs.push(addr(3, "weave", &format!("10.32.{i}.1/12")));
    let mut r = route("10.32.0.0/12", None, Some("weave"));
    r.protocol = Protocol::KERNEL;
    r.scope = Scope::LINK;
    s.routes.push(r);
    for p in 0..2u32 {
        let mut v = link(10 + p, &format!("vethwepl{i}{p}"), Some("veth"), 1376);
        v.master = Some("weave".into());
        s.links.push(v);
    }
}

fn services(snap: &mut ClusterSnapshot) {
    let n = snap.nodes.len();
    let web_eps: Vec<(String, String)> = (1..=n.min(2))
        .map(|i| (pod_ip(model_of(snap), i, 0), format!("node-{i}")))
        .collect();
    let svc = |name: &str, ipx: &str, port: u16| Service {
        namespace: "default".into(),
        name: name.into(),
        service_type: "ClusterIP".into(),
        cluster_ips: vec![ip(ipx)],
        ports: vec![ServicePort {
            name: Some("http".into()),
            protocol: "TCP".into(),
            port,
            target_port: None,
            node_port: None,
        }],
        selector: BTreeMap::new(),
        ..Default::default()
    };
    snap.k8s.services = Some(vec![
        svc("kubernetes", "10.96.0.1", 443),
        svc("web", "10.96.0.10", 80),
    ]);
    let slice = |name: &str, svc: &str, eps: &[(String, String)], port: u16| EndpointSlice {
        namespace: "default".into(),
        name: name.into(),
        service: Some(svc.into()),
        address_type: "IPv4".into(),
        endpoints: eps
            .iter()
            .map(|(a, node)| Endpoint {
                addresses: vec![ip(a)],
                ready: true,
                node: Some(node.clone()),
                pod: None,
            })
            .collect(),
        ports: vec![EndpointPort {
            name: Some("http".into()),
            protocol: "TCP".into(),
            port,
        }],
    };
    let api = vec![(node_ip(1), "node-1".to_string())];
    snap.k8s.endpoint_slices = Some(vec![
        slice("kubernetes", "kubernetes", &api, 6443),
        slice("web-abc", "web", &web_eps, 8080),
    ]);
    let vs = |vip: &str, port: u16, reals: &[(String, u16)]| VirtualService {
        proto: IpvsProto::Tcp,
        vip: Some(ip(vip)),
        port,
        fwmark: None,
        scheduler: "rr".into(),
        flags: vec![],
        persistent: None,
        reals: reals
            .iter()
            .map(|(a, p)| RealServer {
                ip: ip(a),
                port: *p,
                forward: Forward::Masq,
                weight: 1,
                active_conns: 0,
                inactive_conns: 0,
            })
            .collect(),
    };
    let web_reals: Vec<(String, u16)> = web_eps.iter().map(|(a, _)| (a.clone(), 8080)).collect();
    for node in snap.nodes.values_mut() {
        node.ipvs = Some(vec![
            vs("10.96.0.1", 443, &[(node_ip(1), 6443)]),
            vs("10.96.0.10", 80, &web_reals),
        ]);
    }
}

fn model_of(snap: &ClusterSnapshot) -> &str {
    snap.source.strip_prefix("test:").unwrap_or("")
}

/// A node's snapshot, mutably.
pub fn node_mut<'a>(snap: &'a mut ClusterSnapshot, name: &str) -> &'a mut NodeSnapshot {
    snap.nodes.get_mut(name).expect("test node")
}
