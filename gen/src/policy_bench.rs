//! A cluster for the NetworkPolicy benchmarks: pods spread over namespaces
//! carrying the policy shapes real clusters do, so the matrix is measured
//! on selectors that hit and miss, named ports resolved per pod and
//! namespaces picked by label — not on one default-deny.
//!
//! Per namespace (`ns-00` …, labelled `team`, `env`; `ns-00` is the
//! monitoring namespace): ten apps of equal size (`app-0` … `app-9`), tiers
//! web (apps 0–3), api (4–7) and db (8–9), every pod declaring `http`
//! 8080/TCP and `metrics` 9090/TCP, db pods also `pg` 5432/TCP. Five
//! policies each: default deny both ways, DNS egress to kube-system, web →
//! api on the named port `http`, web/api egress inside the namespace,
//! Prometheus (app-0 of the monitoring namespace) scraping `metrics`, and
//! prod namespaces reaching web on 8080–8090 (`endPort`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use cnictl_model::netpol::{
    LabelSelector, Namespace, Operator, Peer, PolicyPort, PolicyRule, PolicyType, PortRef,
    Requirement, NAMESPACE_NAME_LABEL,
};
use cnictl_model::{ContainerPort, K8s, NetworkPolicy, Pod};

/// How big: `pods` spread evenly over `namespaces`.
#[derive(Debug, Clone, Copy)]
pub struct PolicySpec {
    pub pods: usize,
    pub namespaces: usize,
}

/// The cluster's pods, namespaces and policies (no nodes: intent only).
pub fn policy_cluster(spec: &PolicySpec) -> K8s {
    let namespaces: Vec<Namespace> = (0..spec.namespaces).map(namespace).collect();
    let pods = (0..spec.pods).map(|i| pod(i, spec.namespaces)).collect();
    let policies = namespaces.iter().flat_map(|n| policies(&n.name)).collect();
    K8s {
        pods,
        network_policies: Some(policies),
        namespaces: Some(namespaces),
        ..K8s::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let owned = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    owned.collect()
}

fn ns_name(i: usize) -> String {
    format!("ns-{i:02}")
}

fn namespace(i: usize) -> Namespace {
    let name = ns_name(i);
    let team = format!("team-{}", i % 5);
    let env = if i.is_multiple_of(2) { "prod" } else { "dev" };
    let mut l = labels(&[(NAMESPACE_NAME_LABEL, &name), ("team", &team), ("env", env)]);
    if i == 0 {
        l.insert("role".into(), "monitoring".into());
    }
    Namespace { name, labels: l }
}

fn tier(app: usize) -> &'static str {
    match app {
        0..=3 => "web",
        4..=7 => "api",
        _ => "db",
    }
}

fn port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        port,
        protocol: "TCP".into(),
    }
}

/// Pod `i`: namespace `i % namespaces`, app by its rank there.
fn pod(i: usize, namespaces: usize) -> Pod {
    let app = (i / namespaces) % 10;
    let mut container_ports = vec![port("http", 8080), port("metrics", 9090)];
    if tier(app) == "db" {
        container_ports.push(port("pg", 5432));
    }
    let ip = Ipv4Addr::from(0x0a01_0000u32 + i as u32 + 1);
    Pod {
        namespace: ns_name(i % namespaces),
        name: format!("app-{app}-{i}"),
        node: Some(format!("node-{}", i % 10)),
        ips: vec![IpAddr::V4(ip)],
        phase: "Running".into(),
        labels: labels(&[("app", &format!("app-{app}")), ("tier", tier(app))]),
        container_ports,
        ..Pod::default()
    }
}

fn sel(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: labels(pairs),
        ..LabelSelector::default()
    }
}

fn pods_peer(pod: Option<LabelSelector>, ns: Option<LabelSelector>) -> Peer {
    Peer::Pods {
        pod_selector: pod,
        namespace_selector: ns,
    }
}

fn tcp(p: PortRef, end_port: Option<u16>) -> PolicyPort {
    PolicyPort {
        protocol: "TCP".into(),
        port: Some(p),
        end_port,
    }
}

fn named(name: &str) -> PolicyPort {
    tcp(PortRef::Name(name.into()), None)
}

fn policy(ns: &str, name: &str, target: LabelSelector, types: &[PolicyType]) -> NetworkPolicy {
    NetworkPolicy {
        namespace: ns.into(),
        name: name.into(),
        pod_selector: target,
        policy_types: types.to_vec(),
        ingress: Vec::new(),
        egress: Vec::new(),
    }
}

/// The namespace's five policies (see the module comment).
fn policies(ns: &str) -> Vec<NetworkPolicy> {
    vec![
        default_deny(ns),
        dns_egress(ns),
        web_to_api(ns),
        egress_in_namespace(ns),
        from_monitoring_and_prod(ns),
    ]
}

fn default_deny(ns: &str) -> NetworkPolicy {
    let both = [PolicyType::Ingress, PolicyType::Egress];
    policy(ns, "default-deny", LabelSelector::default(), &both)
}

fn dns_egress(ns: &str) -> NetworkPolicy {
    let mut p = policy(
        ns,
        "allow-dns",
        LabelSelector::default(),
        &[PolicyType::Egress],
    );
    let kube_system = sel(&[(NAMESPACE_NAME_LABEL, "kube-system")]);
    let dns = |proto: &str| PolicyPort {
        protocol: proto.into(),
        port: Some(PortRef::Number(53)),
        end_port: None,
    };
    p.egress.push(PolicyRule {
        peers: vec![pods_peer(None, Some(kube_system))],
        ports: vec![dns("UDP"), dns("TCP")],
    });
    p
}

fn web_to_api(ns: &str) -> NetworkPolicy {
    let mut p = policy(
        ns,
        "web-to-api",
        sel(&[("tier", "api")]),
        &[PolicyType::Ingress],
    );
    p.ingress.push(PolicyRule {
        peers: vec![pods_peer(Some(sel(&[("tier", "web")])), None)],
        ports: vec![named("http")],
    });
    p
}

fn egress_in_namespace(ns: &str) -> NetworkPolicy {
    let web_api = LabelSelector {
        match_expressions: vec![Requirement {
            key: "tier".into(),
            operator: Operator::In,
            values: vec!["web".into(), "api".into()],
        }],
        ..LabelSelector::default()
    };
    let mut p = policy(ns, "egress-in-namespace", web_api, &[PolicyType::Egress]);
    p.egress.push(PolicyRule {
        peers: vec![pods_peer(Some(LabelSelector::default()), None)],
        ports: vec![named("http"), tcp(PortRef::Number(5432), None)],
    });
    p
}

fn from_monitoring_and_prod(ns: &str) -> NetworkPolicy {
    let mut p = policy(
        ns,
        "monitoring-and-prod",
        LabelSelector::default(),
        &[PolicyType::Ingress],
    );
    let prometheus = sel(&[("app", "app-0")]);
    p.ingress.push(PolicyRule {
        peers: vec![pods_peer(
            Some(prometheus),
            Some(sel(&[("role", "monitoring")])),
        )],
        ports: vec![named("metrics")],
    });
    p.ingress.push(PolicyRule {
        peers: vec![pods_peer(None, Some(sel(&[("env", "prod")])))],
        ports: vec![tcp(PortRef::Number(8080), Some(8090))],
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_shapes() {
        let k8s = policy_cluster(&PolicySpec {
            pods: 1000,
            namespaces: 20,
        });
        assert_eq!(k8s.pods.len(), 1000);
        assert_eq!(k8s.network_policies.as_ref().map(Vec::len), Some(100));
        let ns0 = k8s.pods.iter().filter(|p| p.namespace == "ns-00").count();
        assert_eq!(ns0, 50);
        let keys: std::collections::BTreeSet<String> = k8s.pods.iter().map(Pod::key).collect();
        assert_eq!(keys.len(), 1000, "pod names are unique");
    }
}
