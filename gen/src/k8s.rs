//! The Kubernetes side: Nodes, Pods, Services and EndpointSlices that agree
//! with the generated dataplane, and kube-proxy IPVS state for the Services.

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_model::k8s::{Endpoint, EndpointPort};
use cnictl_model::{
    EndpointSlice, Forward, IpvsProto, K8s, K8sNode, Link, NodeSnapshot, Pod, RealServer, Service,
    ServicePort, VirtualService,
};
use ipnet::IpNet;

use crate::node::{self, addr, flags};
use crate::plan::{host, mac, v4, Plan};
use crate::GenModel;

const KUBE_IPVS0: u32 = 5;
const BACKENDS: usize = 3;
const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;

pub fn objects(plan: &Plan) -> K8s {
    let nodes = (0..plan.spec.nodes).map(|i| k8s_node(plan, i)).collect();
    let mut pods = Vec::with_capacity(plan.spec.nodes * plan.spec.pods_per_node);
    for i in 0..plan.spec.nodes {
        for k in 0..plan.spec.pods_per_node {
            pods.push(Pod {
                namespace: "default".into(),
                name: plan.pod_name(i, k),
                node: Some(plan.node_name(i)),
                ips: vec![v4(plan.pod_ip(i, k))],
                host_network: false,
                phase: "Running".into(),
                labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            });
        }
    }
    let (services, slices) = services(plan);
    K8s {
        nodes,
        pods,
        services: Some(services),
        endpoint_slices: Some(slices),
    }
}

fn k8s_node(plan: &Plan, i: usize) -> K8sNode {
    let ip = plan.node_ip(i);
    let mut annotations = BTreeMap::new();
    let mut pod_cidrs = Vec::new();
    match plan.model() {
        GenModel::FlannelVxlan | GenModel::FlannelHostGw => {
            pod_cidrs.push(IpNet::V4(plan.node_cidr(i)));
            let vxlan = plan.model() == GenModel::FlannelVxlan;
            let kind = if vxlan { "vxlan" } else { "host-gw" };
            annotations.insert("flannel.alpha.coreos.com/backend-type".into(), kind.into());
            let data = if vxlan {
                format!("{{\"VNI\":1,\"VtepMAC\":\"{}\"}}", mac(2, i, 0))
            } else {
                "null".into()
            };
            annotations.insert("flannel.alpha.coreos.com/backend-data".into(), data);
            annotations.insert("flannel.alpha.coreos.com/public-ip".into(), ip.to_string());
            annotations.insert(
                "flannel.alpha.coreos.com/kube-subnet-manager".into(),
                "true".into(),
            );
        }
        GenModel::CalicoBgp | GenModel::CalicoIpip => {
            let addr = format!("{}/{}", ip, plan.underlay.prefix_len());
            annotations.insert("projectcalico.org/IPv4Address".into(), addr);
            if plan.model() == GenModel::CalicoIpip {
                let tun = plan.node_blocks(i)[0].network();
                annotations.insert(
                    "projectcalico.org/IPv4IPIPTunnelAddr".into(),
                    tun.to_string(),
                );
            }
        }
    }
    K8sNode {
        name: plan.node_name(i),
        internal_ips: vec![v4(ip)],
        pod_cidrs,
        annotations,
        ready: Some(true),
    }
}

/// Service `s` is backed by pod `s % pods` on the `BACKENDS` nodes after `s`.
fn backends(plan: &Plan, s: usize) -> Vec<(usize, usize)> {
    let n = plan.spec.nodes;
    let k = s % plan.spec.pods_per_node.max(1);
    (0..BACKENDS.min(n)).map(|b| ((s + b) % n, k)).collect()
}

fn services(plan: &Plan) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    if plan.spec.pods_per_node == 0 {
        return (services, slices);
    }
    for s in 0..plan.spec.services {
        let name = format!("svc-{}", s + 1);
        services.push(Service {
            namespace: "default".into(),
            name: name.clone(),
            service_type: "ClusterIP".into(),
            cluster_ips: vec![v4(plan.service_ip(s))],
            ports: vec![ServicePort {
                name: Some("http".into()),
                protocol: "TCP".into(),
                port: SERVICE_PORT,
                target_port: Some(TARGET_PORT.to_string()),
                node_port: None,
            }],
            selector: BTreeMap::new(),
        });
        let endpoints = backends(plan, s)
            .into_iter()
            .map(|(i, k)| Endpoint {
                addresses: vec![v4(plan.pod_ip(i, k))],
                ready: true,
                node: Some(plan.node_name(i)),
                pod: Some(format!("default/{}", plan.pod_name(i, k))),
            })
            .collect();
        slices.push(EndpointSlice {
            namespace: "default".into(),
            name: format!("{name}-abcde"),
            service: Some(name),
            address_type: "IPv4".into(),
            endpoints,
            ports: vec![EndpointPort {
                name: Some("http".into()),
                protocol: "TCP".into(),
                port: TARGET_PORT,
            }],
        });
    }
    (services, slices)
}

/// kube-proxy IPVS mode on a node: every ClusterIP bound to kube-ipvs0 and a
/// virtual server per Service port with one real server per endpoint.
pub fn ipvs(plan: &Plan, n: &mut NodeSnapshot) {
    if plan.spec.services == 0 || plan.spec.pods_per_node == 0 {
        return;
    }
    n.links.push(Link {
        ifindex: KUBE_IPVS0,
        name: "kube-ipvs0".into(),
        kind: Some("dummy".into()),
        link_type: Some("ether".into()),
        mtu: 1500,
        mac: Some(mac(6, 0, 0)),
        flags: flags(&["BROADCAST", "NOARP"]),
        operstate: Some("DOWN".into()),
        ..Link::default()
    });
    let mut table = Vec::with_capacity(plan.spec.services);
    for s in 0..plan.spec.services {
        let vip = plan.service_ip(s);
        n.addrs
            .push(addr(KUBE_IPVS0, "kube-ipvs0", host(vip), "global"));
        n.routes.extend(node::local_table(vip, "kube-ipvs0"));
        let reals = backends(plan, s)
            .into_iter()
            .map(|(i, k)| RealServer {
                ip: IpAddr::V4(plan.pod_ip(i, k)),
                port: TARGET_PORT,
                forward: Forward::Masq,
                weight: 1,
                active_conns: 0,
                inactive_conns: 0,
            })
            .collect();
        table.push(VirtualService {
            proto: IpvsProto::Tcp,
            vip: Some(v4(vip)),
            port: SERVICE_PORT,
            fwmark: None,
            scheduler: "rr".into(),
            flags: Vec::new(),
            persistent: None,
            reals,
        });
    }
    n.ipvs = Some(table);
}
