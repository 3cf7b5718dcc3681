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
use crate::{GenModel, ServiceSpec};

const KUBE_IPVS0: u32 = 5;
const BACKENDS: usize = 3;
const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;

pub fn objects(plan: &Plan, svc: &ServiceSpec) -> K8s {
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
                ..Pod::default()
            });
        }
    }
    let (services, slices) = services(plan, svc);
    K8s {
        nodes,
        pods,
        services: Some(services),
        endpoint_slices: Some(slices),
        calico: crate::calico_objects::objects(plan),
        ..K8s::default()
    }
}

fn k8s_node(plan: &Plan, i: usize) -> K8sNode {
    let ip = plan.node_ip(i);
    let (annotations, pod_cidrs) = match plan.model() {
        GenModel::FlannelVxlan | GenModel::FlannelHostGw => (
            flannel_annotations(plan, i),
            vec![IpNet::V4(plan.node_cidr(i))],
        ),
        GenModel::CalicoBgp | GenModel::CalicoIpip | GenModel::CalicoVxlan => {
            (calico_annotations(plan, i), Vec::new())
        }
    };
    let mut node = K8sNode {
        name: plan.node_name(i),
        internal_ips: vec![v4(ip)],
        pod_cidrs,
        annotations,
        ready: Some(true),
        labels: Default::default(),
    };
    crate::calico_objects::mark_reflector(plan, i, &mut node);
    node
}

/// Flannel's backend type and data, public IP and subnet-manager flag.
fn flannel_annotations(plan: &Plan, i: usize) -> BTreeMap<String, String> {
    let vxlan = plan.model() == GenModel::FlannelVxlan;
    let (kind, data) = match vxlan {
        true => (
            "vxlan",
            format!("{{\"VNI\":1,\"VtepMAC\":\"{}\"}}", mac(2, i, 0)),
        ),
        false => ("host-gw", "null".to_string()),
    };
    let key = |k: &str| format!("flannel.alpha.coreos.com/{k}");
    BTreeMap::from([
        (key("backend-type"), kind.to_string()),
        (key("backend-data"), data),
        (key("public-ip"), plan.node_ip(i).to_string()),
        (key("kube-subnet-manager"), "true".to_string()),
    ])
}

/// Calico's node address and, in IPIP mode, its tunnel address.
fn calico_annotations(plan: &Plan, i: usize) -> BTreeMap<String, String> {
    let addr = format!("{}/{}", plan.node_ip(i), plan.underlay.prefix_len());
    let mut annotations = BTreeMap::from([("projectcalico.org/IPv4Address".to_string(), addr)]);
    if plan.model() == GenModel::CalicoIpip {
        let tun = plan.node_blocks(i)[0].network().to_string();
        annotations.insert("projectcalico.org/IPv4IPIPTunnelAddr".into(), tun);
    }
    annotations
}

/// Service `s` is backed by pod `s % pods` on the `BACKENDS` nodes after
/// `s`; with `endpoints_per_service` M, by M pods taken round the nodes
/// from there (pod `s % pods`, then `s + 1`, … once every node has one).
pub(crate) fn backends(plan: &Plan, svc: &ServiceSpec, s: usize) -> Vec<(usize, usize)> {
    let (n, pods) = (plan.spec.nodes, plan.spec.pods_per_node.max(1));
    let m = match svc.endpoints_per_service {
        Some(m) => m.min(n * pods),
        None => BACKENDS.min(n),
    };
    (0..m).map(|b| ((s + b) % n, (s + b / n) % pods)).collect()
}

fn services(plan: &Plan, svc: &ServiceSpec) -> (Vec<Service>, Vec<EndpointSlice>) {
    if plan.spec.pods_per_node == 0 {
        return (Vec::new(), Vec::new());
    }
    (0..plan.spec.services)
        .map(|s| (service(plan, svc, s), endpoint_slice(plan, svc, s)))
        .unzip()
}

/// With `node_ports`, every 10th Service is a NodePort (30000 on) and
/// every 20th also has externalTrafficPolicy Local.
pub(crate) fn node_port(svc: &ServiceSpec, s: usize) -> Option<u16> {
    let port = 30000 + (s / 10) % 2768;
    (svc.node_ports && s.is_multiple_of(10)).then_some(port as u16)
}

fn service_name(s: usize) -> String {
    format!("svc-{}", s + 1)
}

fn service(plan: &Plan, svc: &ServiceSpec, s: usize) -> Service {
    let node_port = node_port(svc, s);
    let local = node_port.is_some() && s.is_multiple_of(20);
    Service {
        namespace: "default".into(),
        name: service_name(s),
        service_type: if node_port.is_some() {
            "NodePort"
        } else {
            "ClusterIP"
        }
        .into(),
        external_traffic_policy: local.then(|| "Local".to_string()),
        cluster_ips: vec![v4(plan.service_ip(s))],
        ports: vec![ServicePort {
            name: Some("http".into()),
            protocol: "TCP".into(),
            port: SERVICE_PORT,
            target_port: Some(TARGET_PORT.to_string()),
            node_port,
        }],
        selector: BTreeMap::new(),
        ..Default::default()
    }
}

fn endpoint_slice(plan: &Plan, svc: &ServiceSpec, s: usize) -> EndpointSlice {
    let name = service_name(s);
    EndpointSlice {
        namespace: "default".into(),
        name: format!("{name}-abcde"),
        service: Some(name),
        address_type: "IPv4".into(),
        endpoints: backends(plan, svc, s)
            .into_iter()
            .map(|(i, k)| endpoint(plan, i, k))
            .collect(),
        ports: vec![EndpointPort {
            name: Some("http".into()),
            protocol: "TCP".into(),
            port: TARGET_PORT,
        }],
    }
}

fn endpoint(plan: &Plan, i: usize, k: usize) -> Endpoint {
    Endpoint {
        addresses: vec![v4(plan.pod_ip(i, k))],
        ready: true,
        node: Some(plan.node_name(i)),
        pod: Some(format!("default/{}", plan.pod_name(i, k))),
    }
}

/// kube-proxy IPVS mode on node `i`: every ClusterIP bound to kube-ipvs0
/// and a virtual server per Service port with one real server per
/// endpoint, and one on the node's address per NodePort.
pub fn ipvs(plan: &Plan, svc: &ServiceSpec, i: usize, n: &mut NodeSnapshot) {
    if plan.spec.services == 0 || plan.spec.pods_per_node == 0 {
        return;
    }
    n.links.push(kube_ipvs0());
    let mut table = Vec::with_capacity(plan.spec.services);
    for s in 0..plan.spec.services {
        let vip = plan.service_ip(s);
        n.addrs
            .push(addr(KUBE_IPVS0, "kube-ipvs0", host(vip), "global"));
        n.routes.extend(node::local_table(vip, "kube-ipvs0"));
        let vs = virtual_service(plan, svc, s);
        if let Some(port) = node_port(svc, s) {
            let vip = Some(v4(plan.node_ip(i)));
            table.push(VirtualService {
                vip,
                port,
                ..vs.clone()
            });
        }
        table.push(vs);
    }
    n.ipvs = Some(table);
}

/// The dummy device kube-proxy binds every ClusterIP to.
fn kube_ipvs0() -> Link {
    Link {
        ifindex: KUBE_IPVS0,
        name: "kube-ipvs0".into(),
        kind: Some("dummy".into()),
        link_type: Some("ether".into()),
        mtu: 1500,
        mac: Some(mac(6, 0, 0)),
        flags: flags(&["BROADCAST", "NOARP"]),
        operstate: Some("DOWN".into()),
        ..Link::default()
    }
}

/// Service `s`'s virtual server, one masqueraded real server per backend.
fn virtual_service(plan: &Plan, svc: &ServiceSpec, s: usize) -> VirtualService {
    let real = |(i, k): (usize, usize)| RealServer {
        ip: IpAddr::V4(plan.pod_ip(i, k)),
        port: TARGET_PORT,
        forward: Forward::Masq,
        weight: 1,
        active_conns: 0,
        inactive_conns: 0,
    };
    VirtualService {
        proto: IpvsProto::Tcp,
        vip: Some(v4(plan.service_ip(s))),
        port: SERVICE_PORT,
        fwmark: None,
        scheduler: "rr".into(),
        flags: Vec::new(),
        persistent: None,
        reals: backends(plan, svc, s).into_iter().map(real).collect(),
    }
}
