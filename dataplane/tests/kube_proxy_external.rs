//! The reference netfilter evaluator on the NodePort rules `cnictl gen
//! --kube-proxy iptables|nftables` writes (one node of a generated 3-node
//! cluster, one endpoint per Service): a packet from outside to a NodePort
//! with externalTrafficPolicy Local is DNATed to the node's own endpoint,
//! or, on a node without one, passes nat untouched and is dropped at
//! INPUT; a Cluster-policy NodePort is DNATed and marked for masquerade.

use std::net::IpAddr;

use cnictl_dataplane::nf::{HookVerdict, NfPacket, NodeView, Ruleset};
use cnictl_formats::iptables::parse_iptables_save;
use cnictl_formats::nft::parse_nft_ruleset;
use cnictl_gen::kube_proxy::{iptables_save_for, KpNode};
use cnictl_gen::kube_proxy_nft::nft_json_for;
use cnictl_gen::{generate_with, GenModel, GenSpec, KubeProxyMode, ServiceSpec};
use cnictl_model::netfilter::{AddrType, Hook, Netfilter, Source};
use cnictl_model::K8s;

const NODE_IP: &str = "192.168.0.11";
const OUTSIDE: &str = "203.0.113.5";
const LB_IP: &str = "198.51.100.21";
const POD: &str = "10.244.0.2";

struct Node;

impl NodeView for Node {
    fn addr_type(&self, addr: IpAddr, _dev: Option<&str>) -> AddrType {
        match addr == ip(NODE_IP) {
            true => AddrType::Local,
            false => AddrType::Unicast,
        }
    }
    fn primary_addr(&self, _dev: &str, _dst: IpAddr) -> Option<IpAddr> {
        Some(ip(NODE_IP))
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 30 Services, one endpoint each on node `s % 3`: svc-1 (NodePort 30000,
/// Local) on node-1, svc-11 (30001, Cluster) on node-2, svc-21 (30002,
/// Local, LB IP 198.51.100.21) on node-3.
fn cluster() -> K8s {
    let spec = GenSpec {
        model: GenModel::FlannelVxlan,
        nodes: 3,
        pods_per_node: 2,
        services: 30,
    };
    let svc = ServiceSpec {
        kube_proxy: KubeProxyMode::Iptables,
        endpoints_per_service: Some(1),
        node_ports: true,
    };
    let mut k8s = generate_with(&spec, &svc).unwrap().k8s;
    // svc-21 also gets a load-balancer IP.
    k8s.services.as_mut().unwrap()[20].load_balancer_ips = vec![ip(LB_IP)];
    k8s
}

fn node_1() -> KpNode {
    KpNode {
        name: Some("node-1".into()),
        addresses: vec![ip(NODE_IP)],
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
    }
}

fn rulesets() -> Vec<(&'static str, Ruleset, K8s)> {
    let k8s = cluster();
    let ipt = iptables_save_for(&k8s, &node_1());
    let nft = nft_json_for(&k8s, &node_1());
    let nf = |tables, source| Netfilter {
        tables,
        sources: vec![source],
        ..Default::default()
    };
    let ipt = nf(
        parse_iptables_save(&ipt, Source::IptablesSave).unwrap(),
        Source::IptablesSave,
    );
    let nft = nf(parse_nft_ruleset(&nft).unwrap(), Source::NftRuleset);
    vec![
        ("iptables", Ruleset::compile_owned(ipt), k8s.clone()),
        ("nftables", Ruleset::compile_owned(nft), k8s),
    ]
}

/// `svc`'s one endpoint IP.
fn endpoint(k8s: &K8s, svc: &str) -> IpAddr {
    let slices = k8s.endpoint_slices.as_ref().unwrap();
    let slice = slices
        .iter()
        .find(|s| s.service.as_deref() == Some(svc))
        .unwrap();
    slice.endpoints[0].addresses[0]
}

fn from_outside(node_port: u16) -> NfPacket {
    let mut p = NfPacket::new(ip(OUTSIDE), ip(NODE_IP), 6, 40000, node_port);
    p.iif = Some("eth0".into());
    p
}

#[test]
fn local_node_port_with_a_local_endpoint_is_dnated_unmasqueraded() {
    for (mode, rs, k8s) in rulesets() {
        let paths = rs.eval_hook(Hook::Prerouting, &from_outside(30000), &Node, false);
        assert_eq!(paths.len(), 1, "{mode}: {paths:?}");
        assert!(
            matches!(paths[0].verdict, HookVerdict::Accept),
            "{mode}: {paths:?}"
        );
        assert_eq!(paths[0].packet.dst, endpoint(&k8s, "svc-1"), "{mode}");
        assert_eq!(paths[0].packet.dport, 8080, "{mode}");
        assert_eq!(
            paths[0].packet.mark & 0x4000,
            0,
            "{mode}: eTP Local keeps the source"
        );
    }
}

#[test]
fn local_node_port_without_a_local_endpoint_is_dropped_at_input() {
    for (mode, rs, _) in rulesets() {
        let p = from_outside(30002);
        let paths = rs.eval_hook(Hook::Prerouting, &p, &Node, false);
        assert!(
            matches!(paths[0].verdict, HookVerdict::Accept),
            "{mode}: {paths:?}"
        );
        assert_eq!(paths[0].packet.dst, ip(NODE_IP), "{mode}: no DNAT");
        let input = rs.eval_hook(Hook::Input, &paths[0].packet, &Node, false);
        assert!(
            matches!(input[0].verdict, HookVerdict::Drop(_)),
            "{mode}: {input:?}"
        );
    }
}

#[test]
fn cluster_node_port_is_dnated_and_marked_for_masquerade() {
    for (mode, rs, k8s) in rulesets() {
        let paths = rs.eval_hook(Hook::Prerouting, &from_outside(30001), &Node, false);
        assert_eq!(paths[0].packet.dst, endpoint(&k8s, "svc-11"), "{mode}");
        assert_eq!(paths[0].packet.mark & 0x4000, 0x4000, "{mode}: {paths:?}");
    }
}

fn to_lb(src: &str, iif: Option<&str>) -> NfPacket {
    let mut p = NfPacket::new(ip(src), ip(LB_IP), 6, 40000, 80);
    p.iif = iif.map(String::from);
    p
}

#[test]
fn local_lb_ip_from_a_pod_is_short_circuited_to_the_service() {
    for (mode, rs, k8s) in rulesets() {
        let paths = rs.eval_hook(Hook::Prerouting, &to_lb(POD, Some("cni0")), &Node, false);
        assert_eq!(
            paths[0].packet.dst,
            endpoint(&k8s, "svc-21"),
            "{mode}: {paths:?}"
        );
        assert_eq!(
            paths[0].packet.mark & 0x4000,
            0,
            "{mode}: pods keep their source"
        );
    }
}

/// iptables mode: the node's own traffic to the LB IP is masqueraded and
/// short-circuited to the Service (filter OUTPUT never consults
/// KUBE-EXTERNAL-SERVICES). nftables mode as v1.31 writes it: the LB IP's
/// `no-endpoint-services` entry (`drop`, no local endpoint) is looked up
/// from `filter-output` (priority dstnat - 10), before `nat-output` could
/// short-circuit, so the packet is dropped — what those rules say.
#[test]
fn local_lb_ip_from_the_node_without_a_local_endpoint() {
    for (mode, rs, k8s) in rulesets() {
        let paths = rs.eval_hook(Hook::Output, &to_lb(NODE_IP, None), &Node, false);
        if mode == "nftables" {
            assert!(
                matches!(paths[0].verdict, HookVerdict::Drop(_)),
                "{paths:?}"
            );
            continue;
        }
        assert_eq!(
            paths[0].packet.dst,
            endpoint(&k8s, "svc-21"),
            "{mode}: {paths:?}"
        );
        assert_eq!(paths[0].packet.mark & 0x4000, 0x4000, "{mode}: {paths:?}");
    }
}

#[test]
fn local_lb_ip_from_outside_without_a_local_endpoint_is_dropped() {
    for (mode, rs, _) in rulesets() {
        let paths = rs.eval_hook(
            Hook::Prerouting,
            &to_lb(OUTSIDE, Some("eth0")),
            &Node,
            false,
        );
        assert_eq!(paths[0].packet.dst, ip(LB_IP), "{mode}: no DNAT: {paths:?}");
        let mut fwd = paths[0].packet.clone();
        fwd.oif = Some("eth0".into());
        let forward = rs.eval_hook(Hook::Forward, &fwd, &Node, false);
        assert!(
            matches!(forward[0].verdict, HookVerdict::Drop(_)),
            "{mode}: {forward:?}"
        );
    }
}
