//! The service ports kube-proxy programs on one node, as its
//! `servicePortInfo` + `CategorizeEndpoints` (v1.31 `pkg/proxy/topology.go`)
//! see them: every ready endpoint for Cluster policy, this node's ready
//! endpoints for externalTrafficPolicy Local. Shared by the iptables,
//! nftables and IPVS writers so the three agree on what a node holds.

use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_model::k8s::{Endpoint, EndpointPort};
use cnictl_model::{EndpointSlice, K8s, Service, ServicePort};
use ipnet::IpNet;

/// The node kube-proxy runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpNode {
    /// `--hostname-override`: an endpoint is local when its
    /// `EndpointSlice` `nodeName` is this. `None`: no endpoint is local.
    pub name: Option<String>,
    /// The node's addresses: nftables mode's `nodeport-ips` (v1.31's
    /// default `--nodeport-addresses primary`: the first one); iptables and
    /// IPVS modes accept NodePorts on every local address.
    pub addresses: Vec<IpAddr>,
    /// `--cluster-cidr`: the local-traffic detector (pods are not
    /// masqueraded, their external traffic is short-circuited).
    pub cluster_cidr: IpNet,
}

impl KpNode {
    /// A node that owns no endpoint and has no address: the benchmarks'.
    pub fn anonymous(cluster_cidr: IpNet) -> Self {
        KpNode {
            name: None,
            addresses: Vec::new(),
            cluster_cidr,
        }
    }
}

/// One service port as kube-proxy programs it.
pub(crate) struct SvcPort {
    /// `ns/name:port` (or `ns/name` for an unnamed port).
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) service: String,
    /// The port's name, empty when unnamed.
    pub(crate) port_name: String,
    /// Lower case: `tcp`, `udp`, `sctp`.
    pub(crate) proto: String,
    pub(crate) cluster_ip: IpAddr,
    pub(crate) port: u16,
    pub(crate) node_port: Option<u16>,
    pub(crate) external_ips: Vec<IpAddr>,
    pub(crate) lb_ips: Vec<IpAddr>,
    /// externalTrafficPolicy Local on an externally reachable port.
    pub(crate) local_external: bool,
    /// Ready endpoints as `ip:port`, sorted.
    pub(crate) endpoints: Vec<String>,
    /// The subset of `endpoints` on this node.
    pub(crate) local_endpoints: Vec<String>,
}

impl SvcPort {
    /// kube-proxy's `ExternallyAccessible`: a NodePort, external IP or
    /// load-balancer IP.
    pub(crate) fn external(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty() || !self.lb_ips.is_empty()
    }

    /// `hasExternalEndpoints`: external traffic has somewhere to go.
    pub(crate) fn has_external_endpoints(&self) -> bool {
        match self.local_external {
            true => !self.local_endpoints.is_empty(),
            false => !self.endpoints.is_empty(),
        }
    }

    /// The "… has no endpoints" / "… has no local endpoints" comment of
    /// the filter rule for traffic without endpoints.
    pub(crate) fn no_endpoints_comment(&self) -> String {
        match self.endpoints.is_empty() {
            true => format!("{} has no endpoints", self.name),
            false => format!("{} has no local endpoints", self.name),
        }
    }

    /// (IP, `external IP`/`loadbalancer IP`) of each external destination.
    pub(crate) fn external_dsts(&self) -> impl Iterator<Item = (IpAddr, &'static str)> + '_ {
        let ext = self.external_ips.iter().map(|ip| (*ip, "external IP"));
        ext.chain(self.lb_ips.iter().map(|ip| (*ip, "loadbalancer IP")))
    }
}

/// Every service port of `k8s` with a cluster IP, in Service order, with
/// its endpoints as `node` sees them.
pub(crate) fn service_ports(k8s: &K8s, node: &KpNode) -> Vec<SvcPort> {
    let slices = slices_by_service(k8s.endpoint_slices.as_deref().unwrap_or(&[]));
    let mut out = Vec::new();
    for svc in k8s.services.iter().flatten() {
        let Some(ip) = svc.cluster_ips.first().copied() else {
            continue;
        };
        let key = (svc.namespace.as_str(), svc.name.as_str());
        let mine = slices.get(&key).map_or(&[][..], Vec::as_slice);
        for port in &svc.ports {
            out.push(svc_port(svc, port, ip, mine, node));
        }
    }
    out
}

/// (namespace, Service) → its EndpointSlices: looked up once per Service
/// instead of scanning every slice (10,000 Services, 10,000 slices).
fn slices_by_service(slices: &[EndpointSlice]) -> HashMap<(&str, &str), Vec<&EndpointSlice>> {
    let mut by = HashMap::<_, Vec<_>>::new();
    for s in slices {
        if let Some(svc) = s.service.as_deref() {
            by.entry((s.namespace.as_str(), svc)).or_default().push(s);
        }
    }
    by
}

fn svc_port(
    svc: &Service,
    port: &ServicePort,
    ip: IpAddr,
    slices: &[&EndpointSlice],
    node: &KpNode,
) -> SvcPort {
    let name = match &port.name {
        Some(n) if !n.is_empty() => format!("{}/{}:{n}", svc.namespace, svc.name),
        _ => format!("{}/{}", svc.namespace, svc.name),
    };
    let mut p = SvcPort {
        endpoints: endpoints(port, slices, None),
        local_endpoints: endpoints(port, slices, node.name.as_deref().or(Some(""))),
        name,
        namespace: svc.namespace.clone(),
        service: svc.name.clone(),
        port_name: port.name.clone().unwrap_or_default(),
        proto: port.protocol.to_ascii_lowercase(),
        cluster_ip: ip,
        port: port.port,
        node_port: port.node_port.filter(|p| *p != 0),
        external_ips: svc.external_ips.clone(),
        lb_ips: svc.load_balancer_ips.clone(),
        local_external: false,
    };
    p.local_external = svc.local_external_traffic() && p.external();
    p
}

/// Ready endpoints of `slices` (one Service's) whose port has the same
/// name; with `on_node`, only those whose `nodeName` is it.
fn endpoints(port: &ServicePort, slices: &[&EndpointSlice], on_node: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for slice in slices {
        let Some(ep_port) = slice.ports.iter().find(|p| p.name == port.name) else {
            continue;
        };
        let wanted =
            |e: &&Endpoint| e.ready && on_node.is_none_or(|n| e.node.as_deref() == Some(n));
        for ep in slice.endpoints.iter().filter(wanted) {
            out.extend(ep.addresses.iter().map(|a| format!("{a}:{}", ep_port.port)));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `services` ClusterIP Services (10.96.0.10 on, TCP 80) with `endpoints`
/// ready endpoints each (10.128.0.2 on, port 8080): the benchmarks' node.
pub fn bench_cluster(services: usize, endpoints: usize) -> K8s {
    let mut all = Vec::with_capacity(services);
    let mut slices = Vec::with_capacity(services);
    for s in 0..services {
        let name = format!("svc-{s}");
        all.push(Service {
            namespace: "default".into(),
            name: name.clone(),
            service_type: "ClusterIP".into(),
            cluster_ips: vec![offset_ip([10, 96, 0, 10], s)],
            ports: vec![http_port(None)],
            ..Default::default()
        });
        let eps = (0..endpoints).map(|e| Endpoint {
            addresses: vec![offset_ip([10, 128, 0, 2], s * endpoints + e)],
            ready: true,
            node: None,
            pod: None,
        });
        slices.push(http_slice(name, eps.collect()));
    }
    K8s {
        services: Some(all),
        endpoint_slices: Some(slices),
        ..K8s::default()
    }
}

/// Port `http` TCP 80 → 8080, with a NodePort when given.
pub(crate) fn http_port(node_port: Option<u16>) -> ServicePort {
    ServicePort {
        name: Some("http".into()),
        protocol: "TCP".into(),
        port: 80,
        target_port: Some("8080".into()),
        node_port,
    }
}

/// Service `name`'s EndpointSlice: `endpoints` on port `http` 8080.
pub(crate) fn http_slice(name: String, endpoints: Vec<Endpoint>) -> EndpointSlice {
    EndpointSlice {
        namespace: "default".into(),
        name: format!("{name}-abcde"),
        service: Some(name),
        address_type: "IPv4".into(),
        endpoints,
        ports: vec![EndpointPort {
            name: Some("http".into()),
            protocol: "TCP".into(),
            port: 8080,
        }],
    }
}

/// `base` + `n` as an IPv4 address.
pub fn offset_ip(base: [u8; 4], n: usize) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::from(
        u32::from(std::net::Ipv4Addr::from(base)) + n as u32,
    ))
}
