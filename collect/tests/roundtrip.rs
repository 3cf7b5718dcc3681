//! Property: `load_dir(write_dir(snap)) == snap` for generated snapshots
//! that use every field, in the canonical form the loader produces (see
//! `write.rs`): e.g. IPv4 rules before IPv6 ones, prefixes without host
//! bits where the kernel clears them, gateways of the route's family.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cnictl_collect::bundle::load_dir;
use cnictl_collect::write::write_dir;
use cnictl_model::k8s::{Endpoint, EndpointPort};
use cnictl_model::*;
use ipnet::IpNet;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

fn ip_v4() -> impl Strategy<Value = IpAddr> {
    any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n)))
}

fn ip_v6() -> impl Strategy<Value = IpAddr> {
    any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n)))
}

fn ip_of(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        ip_v6().boxed()
    } else {
        ip_v4().boxed()
    }
}

fn any_ip() -> BoxedStrategy<IpAddr> {
    prop_oneof![ip_v4(), ip_v6()].boxed()
}

/// A prefix of the family, host bits kept unless `trunc`.
fn net_of(v6: bool, trunc: bool) -> BoxedStrategy<IpNet> {
    let max: u8 = if v6 { 128 } else { 32 };
    (ip_of(v6), 0..=max)
        .prop_map(move |(ip, len)| {
            let n = IpNet::new(ip, len).expect("length in range");
            if trunc {
                n.trunc()
            } else {
                n
            }
        })
        .boxed()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn mac() -> impl Strategy<Value = String> {
    any::<[u8; 6]>().prop_map(|b| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

fn flags(from: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(from, 0..=from.len())
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

// ---- links, addresses ----------------------------------------------------

fn link(i: usize, names: Vec<String>) -> impl Strategy<Value = Link> {
    let kind = of(select(vec!["veth", "bridge", "vxlan", "ipip", "dummy"]));
    let peer = prop_oneof![
        Just((None, None, None)),
        (1u32..100, -1i32..5).prop_map(|(p, ns)| (Some(p), Some(ns), None)),
        (0..names.len()).prop_map(move |j| (Some(j as u32 + 1), None, Some(names[j].clone()))),
    ];
    let link_names: Vec<String> = (0..8).map(|j| format!("l{j}")).collect();
    let vx = (
        any::<u32>(),
        of(any_ip()),
        of(any_ip()),
        any::<u16>(),
        any::<bool>(),
        of(select(link_names)),
        of(select(vec![VxlanDf::Unset, VxlanDf::Set, VxlanDf::Inherit])),
    )
        .prop_map(|(vni, local, remote, port, learning, dev, df)| VxlanInfo {
            vni,
            local,
            remote,
            port,
            learning,
            dev,
            df,
        });
    let tun = (of(any_ip()), of(any_ip()), of(1u8..=255))
        .prop_map(|(local, remote, ttl)| TunnelInfo { local, remote, ttl });
    (
        kind,
        of(select(vec!["ether", "loopback", "none"])),
        of(name()),
        68u32..70000,
        of(mac()),
    )
        .prop_flat_map(move |(kind, lt, master, mtu, mac)| {
            let vx = if kind == Some("vxlan") {
                of(vx.clone()).boxed()
            } else {
                Just(None).boxed()
            };
            let tun = if kind == Some("ipip") {
                of(tun.clone()).boxed()
            } else {
                Just(None).boxed()
            };
            let f = flags(&["BROADCAST", "MULTICAST", "NOARP", "UP", "LOWER_UP"]);
            let state = of(select(vec!["UP", "DOWN", "UNKNOWN"]));
            (
                Just((kind, lt, master, mtu, mac)),
                f,
                state,
                peer.clone(),
                vx,
                tun,
            )
        })
        .prop_map(
            move |((kind, lt, master, mtu, mac), flags, state, peer, vxlan, tunnel)| Link {
                ifindex: i as u32 + 1,
                name: format!("l{i}"),
                kind: kind.map(String::from),
                link_type: lt.map(String::from),
                master,
                mtu,
                mac,
                flags,
                operstate: state.map(String::from),
                peer_ifindex: peer.0,
                peer_netnsid: peer.1,
                lower: peer.2,
                vxlan,
                tunnel,
            },
        )
}

fn links() -> impl Strategy<Value = Vec<Link>> {
    (0usize..5).prop_flat_map(|n| {
        let names: Vec<String> = (0..n.max(1)).map(|j| format!("l{j}")).collect();
        (0..n).map(|i| link(i, names.clone())).collect::<Vec<_>>()
    })
}

fn addr() -> impl Strategy<Value = Addr> {
    (
        any::<bool>(),
        1u32..6,
        select(vec!["global", "link", "host"]),
    )
        .prop_flat_map(|(v6, idx, scope)| (Just((idx, scope)), net_of(v6, false), of(ip_of(v6))))
        .prop_map(|((idx, scope), addr, peer)| Addr {
            ifindex: idx,
            dev: format!("l{idx}"),
            addr,
            scope: scope.into(),
            peer: peer
                .filter(|p| *p != addr.addr())
                .map(|p| IpNet::new(p, addr.prefix_len()).expect("same family")),
        })
}

// ---- routes, rules ---------------------------------------------------------

fn nexthop(v6: bool) -> impl Strategy<Value = NextHop> {
    (of(ip_of(v6)), of(name()), 1u32..=256, any::<bool>()).prop_map(
        |(gateway, dev, weight, onlink)| NextHop {
            gateway,
            dev,
            weight,
            onlink,
        },
    )
}

fn route() -> impl Strategy<Value = Route> {
    any::<bool>().prop_flat_map(|v6| {
        let head = (
            select(vec![0u32, 100, 253, 254, 255, 1000, 0x8000_1234]),
            select(vec![
                RouteType::Unicast,
                RouteType::Local,
                RouteType::Broadcast,
                RouteType::Anycast,
                RouteType::Multicast,
                RouteType::Blackhole,
                RouteType::Unreachable,
                RouteType::Prohibit,
                RouteType::Throw,
                RouteType::Nat,
            ]),
            net_of(v6, true),
            any::<u8>(),
            any::<u8>(),
        );
        let tail = (
            of(ip_of(v6)),
            of(name()),
            any::<bool>(),
            vec(nexthop(v6), 0..3),
            any::<u32>(),
            of(ip_of(v6)),
            flags(&["linkdown", "dead", "pervasive"]),
        );
        (head, tail).prop_map(
            |(
                (table, route_type, dst, proto, scope),
                (gateway, dev, onlink, nexthops, metric, prefsrc, flags),
            )| Route {
                table,
                route_type,
                dst,
                protocol: Protocol(proto),
                scope: Scope(scope),
                gateway,
                dev,
                onlink,
                nexthops,
                metric,
                prefsrc,
                flags,
            },
        )
    })
}

fn rule(v6: bool) -> impl Strategy<Value = Rule> {
    let action = prop_oneof![
        any::<u32>().prop_map(RuleAction::Table),
        any::<u32>().prop_map(RuleAction::Goto),
        Just(RuleAction::Nop),
        Just(RuleAction::Blackhole),
        Just(RuleAction::Unreachable),
        Just(RuleAction::Prohibit),
    ];
    let head = (
        any::<u32>(),
        of(net_of(v6, true)),
        of(net_of(v6, true)),
        of(name()),
        of(name()),
    );
    let tail = (
        of(any::<u32>()),
        of(any::<u32>()),
        any::<bool>(),
        action,
        of(0u8..=128),
    );
    (head, tail).prop_map(
        move |((priority, src, dst, iif, oif), (fwmark, fwmask, not, action, sp))| Rule {
            priority,
            family: if v6 { "inet6" } else { "inet" }.into(),
            src,
            dst,
            iif,
            oif,
            fwmark,
            fwmask,
            not,
            action,
            suppress_prefixlen: sp,
        },
    )
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    (vec(rule(false), 0..4), vec(rule(true), 0..3)).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

// ---- neighbours, fdb, ipvs, bgp -------------------------------------------

fn neigh() -> impl Strategy<Value = Neigh> {
    (
        any_ip(),
        name(),
        of(mac()),
        flags(&["REACHABLE", "STALE", "PERMANENT", "NOARP", "FAILED"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(dst, dev, lladdr, state, router, proxy)| Neigh {
            dst,
            dev,
            lladdr,
            state,
            router,
            proxy,
        })
}

fn fdb() -> impl Strategy<Value = FdbEntry> {
    let head = (
        mac(),
        name(),
        of(any_ip()),
        of(any::<u16>()),
        of(any::<u32>()),
        of(any::<u16>()),
    );
    let tail = (
        of(name()),
        flags(&["self", "master", "extern_learn", "router"]),
        select(vec!["", "permanent", "static"]),
    );
    (head, tail).prop_map(
        |((mac, dev, dst, vlan, vni, port), (master, flags, state))| FdbEntry {
            mac,
            dev,
            dst,
            vlan,
            vni,
            port,
            master,
            flags,
            state: state.into(),
        },
    )
}

fn real() -> impl Strategy<Value = RealServer> {
    let fwd = select(vec![
        Forward::Masq,
        Forward::Route,
        Forward::Tunnel,
        Forward::Local,
    ]);
    (
        any_ip(),
        any::<u16>(),
        fwd,
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(ip, port, forward, weight, a, i)| RealServer {
            ip,
            port,
            forward,
            weight,
            active_conns: a,
            inactive_conns: i,
        })
}

fn service() -> impl Strategy<Value = VirtualService> {
    let proto = select(vec![
        IpvsProto::Tcp,
        IpvsProto::Udp,
        IpvsProto::Sctp,
        IpvsProto::Fwmark,
    ]);
    let sched = select(vec!["rr", "wrr", "sh", "lc", "mh"]);
    (
        proto,
        any_ip(),
        any::<u16>(),
        any::<u32>(),
        sched,
        of(any::<u32>()),
        any::<bool>(),
        flags(&["sh-fallback", "sh-port"]),
        vec(real(), 0..3),
    )
        .prop_map(
            |(proto, vip, port, mark, sched, persistent, ops, sched_flags, reals)| {
                let fw = proto == IpvsProto::Fwmark;
                let mut flags = Vec::new();
                if persistent.is_some() {
                    flags.push("persistent".to_string());
                }
                if ops {
                    flags.push("ops".to_string());
                }
                flags.extend(sched_flags);
                VirtualService {
                    proto,
                    vip: (!fw).then_some(vip),
                    port: if fw { 0 } else { port },
                    fwmark: fw.then_some(mark),
                    scheduler: sched.into(),
                    flags,
                    persistent,
                    reals,
                }
            },
        )
}

fn protocol() -> impl Strategy<Value = BgpProtocol> {
    let head = (
        "[A-Za-z][A-Za-z0-9_]{0,15}",
        select(vec!["BGP", "Kernel", "Device", "Direct", "Static"]),
        of(select(vec!["master4", "master6"])),
        select(vec!["up", "start", "down"]),
        of(select(vec!["03:22:11.400", "2024-01-02"])),
        select(vec![
            "",
            "Established",
            "Active  Socket: Connection refused",
            "Connect",
        ]),
    );
    let tail = (
        of(select(vec!["Established", "Active", "Connect"])),
        of(any_ip()),
        of(any::<u32>()),
        of(any::<u32>()),
        of((any::<u32>(), any::<u32>())),
        of(select(vec![
            "Socket: Connection refused",
            "Hold timer expired",
        ])),
    );
    (head, tail).prop_map(
        |((name, proto, table, state, since, info), (bgp_state, nb, nas, las, routes, err))| {
            BgpProtocol {
                name,
                proto: proto.into(),
                table: table.map(String::from),
                state: state.into(),
                since: since.map(String::from),
                info: info.into(),
                bgp_state: bgp_state.map(String::from),
                neighbor_address: nb,
                source_address: None,
                neighbor_as: nas,
                local_as: las,
                routes_imported: routes.map(|r| u64::from(r.0)),
                routes_exported: routes.map(|r| u64::from(r.1)),
                last_error: err.map(String::from),
            }
        },
    )
}

fn bgp_route() -> impl Strategy<Value = BgpRoute> {
    any::<bool>().prop_flat_map(|v6| {
        (
            net_of(v6, false),
            select(vec!["unicast", "blackhole", "unreachable", "prohibited"]),
            of(ip_of(v6)),
            of(name()),
            "[A-Za-z][A-Za-z0-9_]{0,15}",
            of(ip_of(v6)),
            any::<bool>(),
            of(select(vec!["", "64512", "64512 64513"])),
        )
            .prop_map(
                |(prefix, kind, via, dev, protocol, nh, best, path)| BgpRoute {
                    prefix,
                    kind: kind.into(),
                    via,
                    dev,
                    protocol,
                    bgp_next_hop: nh,
                    best,
                    as_path: path.map(String::from),
                },
            )
    })
}

fn bgp() -> impl Strategy<Value = Bgp> {
    (
        of(Just("BIRD 2.0.12".to_string())),
        vec(protocol(), 0..4),
        of(vec(bgp_route(), 0..4)),
    )
        .prop_map(|(daemon, protocols, routes)| Bgp {
            daemon,
            protocols,
            routes,
        })
}

// ---- nodes and cluster -----------------------------------------------------

fn pod_netns() -> impl Strategy<Value = PodNetns> {
    (
        name(),
        name(),
        links(),
        vec(addr(), 0..3),
        vec(route(), 0..3),
    )
        .prop_map(|(namespace, name, links, addrs, routes)| PodNetns {
            namespace,
            name,
            links,
            addrs,
            routes,
        })
}

fn sysctls() -> impl Strategy<Value = BTreeMap<String, String>> {
    // values are trimmed by the format ("key = value")
    let value = "[0-9a-z]{0,4}( [0-9]{1,3})?".prop_map(|v| v.trim().to_string());
    btree_map("net\\.ipv4\\.[a-z_]{1,10}", value, 0..4)
}

fn node(name: String) -> impl Strategy<Value = NodeSnapshot> {
    let a = (
        links(),
        vec(addr(), 0..4),
        vec(route(), 0..6),
        of(rules()),
        of(vec(neigh(), 0..3)),
    );
    let b = (
        of(vec(fdb(), 0..3)),
        of(vec(service(), 0..3)),
        of(bgp()),
        of(sysctls()),
        vec(pod_netns(), 0..2),
    );
    (a, b).prop_map(
        move |((links, addrs, routes, rules, neighbours), (fdb, ipvs, bgp, sysctls, pods))| {
            NodeSnapshot {
                name: name.clone(),
                links,
                addrs,
                routes,
                rules,
                neighbours,
                fdb,
                ipvs,
                bgp,
                sysctls,
                pods: pods
                    .into_iter()
                    .map(|p| (format!("{}/{}", p.namespace, p.name), p))
                    .collect(),
                netfilter: None,
                offloads: None,
                kernel: None,
                cilium: None,
            }
        },
    )
}

fn k8s_node() -> impl Strategy<Value = K8sNode> {
    let annotations = btree_map(
        select(vec![
            "flannel.alpha.coreos.com/public-ip",
            "projectcalico.org/IPv4Address",
            "io.cilium.x",
            "network.cilium.io/y",
        ])
        .prop_map(String::from),
        "[ -~]{0,12}",
        0..3,
    );
    (
        name(),
        vec(any_ip(), 0..2),
        vec(any::<bool>().prop_flat_map(|v6| net_of(v6, true)), 0..2),
        annotations,
        of(any::<bool>()),
    )
        .prop_map(
            |(name, internal_ips, pod_cidrs, annotations, ready)| K8sNode {
                name,
                internal_ips,
                pod_cidrs,
                annotations,
                ready,
                labels: Default::default(),
            },
        )
}

fn pod() -> impl Strategy<Value = Pod> {
    (
        name(),
        name(),
        of(name()),
        vec(any_ip(), 0..2),
        any::<bool>(),
        select(vec!["Running", "Pending", ""]),
        btree_map(name(), name(), 0..2),
        vec(container_port(), 0..3),
        of((select(vec!["ReplicaSet", "DaemonSet"]), name())),
    )
        .prop_map(
            |(namespace, name, node, ips, host_network, phase, labels, ports, owner)| Pod {
                namespace,
                name,
                node,
                ips,
                host_network,
                phase: phase.into(),
                labels,
                container_ports: ports,
                owner: owner.map(|(kind, name)| OwnerRef {
                    kind: kind.into(),
                    name,
                }),
            },
        )
}

fn container_port() -> impl Strategy<Value = ContainerPort> {
    (of(name()), any::<u16>(), select(vec!["TCP", "UDP", "SCTP"])).prop_map(
        |(name, port, protocol)| ContainerPort {
            name,
            port,
            protocol: protocol.into(),
        },
    )
}

fn selector() -> impl Strategy<Value = netpol::LabelSelector> {
    use netpol::{Operator, Requirement};
    let op = select(vec![
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
    ]);
    let req = (name(), op, vec(name(), 0..2)).prop_map(|(key, operator, values)| Requirement {
        key,
        operator,
        values,
    });
    (btree_map(name(), name(), 0..2), vec(req, 0..2)).prop_map(
        |(match_labels, match_expressions)| netpol::LabelSelector {
            match_labels,
            match_expressions,
        },
    )
}

fn policy_rule() -> impl Strategy<Value = netpol::PolicyRule> {
    use netpol::{Peer, PolicyPort, PortRef};
    let pods = (of(selector()), of(selector())).prop_map(|(p, n)| Peer::Pods {
        pod_selector: p,
        namespace_selector: n,
    });
    let block = Just(Peer::IpBlock {
        cidr: "10.0.0.0/8".parse().unwrap(),
        except: vec!["10.1.0.0/16".parse().unwrap()],
    });
    let port_ref = prop_oneof![
        any::<u16>().prop_map(PortRef::Number),
        "[a-z]{1,8}".prop_map(PortRef::Name)
    ];
    let port = (
        select(vec!["TCP", "UDP", "SCTP"]),
        of(port_ref),
        of(any::<u16>()),
    )
        .prop_map(|(protocol, port, end_port)| PolicyPort {
            protocol: protocol.into(),
            port,
            end_port,
        });
    (vec(prop_oneof![pods, block], 0..3), vec(port, 0..2))
        .prop_map(|(peers, ports)| netpol::PolicyRule { peers, ports })
}

fn network_policy() -> impl Strategy<Value = NetworkPolicy> {
    let types = select(vec![
        vec![PolicyType::Ingress],
        vec![PolicyType::Egress],
        vec![PolicyType::Ingress, PolicyType::Egress],
    ]);
    (
        name(),
        name(),
        selector(),
        types,
        vec(policy_rule(), 0..2),
        vec(policy_rule(), 0..2),
    )
        .prop_map(
            |(namespace, name, pod_selector, policy_types, ingress, egress)| NetworkPolicy {
                namespace,
                name,
                pod_selector,
                policy_types,
                ingress,
                egress,
            },
        )
}

fn namespace() -> impl Strategy<Value = Namespace> {
    (name(), btree_map(name(), name(), 0..2)).prop_map(|(name, mut labels)| {
        labels.insert(netpol::NAMESPACE_NAME_LABEL.into(), name.clone());
        Namespace { name, labels }
    })
}

fn service_obj() -> impl Strategy<Value = Service> {
    let port = (
        of(name()),
        select(vec!["TCP", "UDP", "SCTP"]),
        any::<u16>(),
        of(prop_oneof!["[1-9][0-9]{0,4}", "[a-z]{1,6}"]),
        of(1u16..),
    )
        .prop_map(
            |(name, protocol, port, target_port, node_port)| ServicePort {
                name,
                protocol: protocol.into(),
                port,
                target_port,
                node_port,
            },
        );
    (
        name(),
        name(),
        select(vec!["ClusterIP", "NodePort", "LoadBalancer"]),
        vec(any_ip(), 0..2),
        vec(port, 0..3),
        btree_map(name(), name(), 0..2),
    )
        .prop_map(
            |(namespace, name, t, cluster_ips, ports, selector)| Service {
                namespace,
                name,
                service_type: t.into(),
                cluster_ips,
                ports,
                selector,
                ..Default::default()
            },
        )
}

fn slice() -> impl Strategy<Value = EndpointSlice> {
    let ep = (
        vec(any_ip(), 0..2),
        any::<bool>(),
        of(name()),
        of((name(), name()).prop_map(|(a, b)| format!("{a}/{b}"))),
    )
        .prop_map(|(addresses, ready, node, pod)| Endpoint {
            addresses,
            ready,
            node,
            pod,
        });
    let port =
        (of(name()), select(vec!["TCP", "UDP"]), any::<u16>()).prop_map(|(name, p, port)| {
            EndpointPort {
                name,
                protocol: p.into(),
                port,
            }
        });
    (
        name(),
        name(),
        of(name()),
        select(vec!["IPv4", "IPv6"]),
        vec(ep, 0..3),
        vec(port, 0..2),
    )
        .prop_map(
            |(namespace, name, service, at, endpoints, ports)| EndpointSlice {
                namespace,
                name,
                service,
                address_type: at.into(),
                endpoints,
                ports,
            },
        )
}

fn cluster() -> impl Strategy<Value = ClusterSnapshot> {
    let k8s = (
        vec(k8s_node(), 0..3),
        vec(pod(), 0..3),
        of(vec(service_obj(), 0..3)),
        of(vec(slice(), 0..3)),
        of(vec(network_policy(), 0..3)),
        of(vec(namespace(), 0..3)),
    )
        .prop_map(
            |(nodes, pods, services, endpoint_slices, network_policies, namespaces)| K8s {
                nodes,
                pods,
                services,
                endpoint_slices,
                network_policies,
                namespaces,
                calico: Default::default(),
            },
        );
    let nodes =
        prop::sample::subsequence(vec!["node-1", "node-2", "n3"], 1..=3).prop_flat_map(|names| {
            names
                .into_iter()
                .map(|n| node(n.to_string()))
                .collect::<Vec<_>>()
        });
    (k8s, nodes).prop_map(|(k8s, nodes)| {
        let mut snap = ClusterSnapshot::new("");
        snap.k8s = k8s;
        snap.nodes = nodes.into_iter().map(|n| (n.name.clone(), n)).collect();
        snap
    })
}

/// The JSON path of the first difference, with both values, so a failure
/// names the field instead of printing two whole snapshots.
fn first_diff(a: &serde_json::Value, b: &serde_json::Value, path: String) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if va != vb {
                    return first_diff(va, vb, format!("{path}.{k}"));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if va != vb {
                    return first_diff(va, vb, format!("{path}[{i}]"));
                }
            }
        }
        _ => {}
    }
    format!("{path}: loaded {a} vs written {b}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn write_then_load_is_identity(snap in cluster()) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        write_dir(&snap, &dir).unwrap();
        let mut back = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        back.source.clear();
        let (a, b) = (serde_json::to_value(&back).unwrap(), serde_json::to_value(&snap).unwrap());
        prop_assert!(a == b, "loaded differs from written at {}", first_diff(&a, &b, String::new()));
        prop_assert_eq!(back, snap);
    }
}
