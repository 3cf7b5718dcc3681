//! Check: nodeport-no-local-endpoint
//!
//! A NodePort or LoadBalancer Service with `externalTrafficPolicy: Local`
//! only sends external traffic to endpoints on the node it entered;
//! kube-proxy drops it on a node without one (iptables: KUBE-EXT-… to
//! KUBE-SVL-… with no endpoint, "has no local endpoints" DROP; nftables:
//! the same in `service-…-external`). Expected by design, but it explains
//! a NodePort that answers on some nodes only: info, one finding per node
//! and Service. Services with no ready endpoint at all are
//! service-no-backends'. Cluster-wide, from the Kubernetes objects;
//! skipped without services.json or endpointslices.json.

use std::collections::BTreeSet;

use cnictl_model::{ClusterSnapshot, Service};

use super::Out;
use crate::code::Code;
use crate::expected::Expected;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::NodeportNoLocalEndpoint;

pub(crate) fn check(exp: &Expected<'_>, snap: &ClusterSnapshot, out: &mut Out) {
    let (Some(svcs), Some(_)) = (&snap.k8s.services, &snap.k8s.endpoint_slices) else {
        let why =
            "no k8s/services.json or k8s/endpointslices.json: externalTrafficPolicy check skipped";
        return out.skip(CODE, None, why.into());
    };
    let local = svcs
        .iter()
        .filter(|s| external(s) && s.local_external_traffic());
    for svc in local {
        service(exp, snap, svc, out);
    }
}

/// A Service that takes external traffic on every node.
fn external(s: &Service) -> bool {
    matches!(s.service_type.as_str(), "NodePort" | "LoadBalancer")
}

fn service(exp: &Expected<'_>, snap: &ClusterSnapshot, svc: &Service, out: &mut Out) {
    let with = nodes_with_endpoints(exp, snap, svc);
    if with.is_empty() {
        return;
    }
    for n in snap
        .k8s
        .nodes
        .iter()
        .filter(|n| !with.contains(n.name.as_str()))
    {
        node(svc, &n.name, &with, out);
    }
}

/// The nodes holding a ready endpoint of `svc` (the endpoint's nodeName,
/// else the node of the pod holding its address).
fn nodes_with_endpoints<'s>(
    exp: &Expected<'s>,
    snap: &'s ClusterSnapshot,
    svc: &Service,
) -> BTreeSet<&'s str> {
    let slices = snap.k8s.endpoint_slices.iter().flatten();
    let mine = slices.filter(|s| {
        s.namespace == svc.namespace && s.service.as_deref() == Some(svc.name.as_str())
    });
    let ready = mine.flat_map(|s| s.endpoints.iter().filter(|e| e.ready));
    let node_of = |e: &'s cnictl_model::k8s::Endpoint| {
        let by_pod = || {
            e.addresses
                .iter()
                .find_map(|a| exp.pod_by_ip(*a)?.node.as_deref())
        };
        e.node.as_deref().or_else(by_pod)
    };
    ready.filter_map(node_of).collect()
}

fn node(svc: &Service, node: &str, with: &BTreeSet<&str>, out: &mut Out) {
    let ports: Vec<String> = svc
        .ports
        .iter()
        .filter_map(|p| Some(format!("{}/{}", p.node_port?, p.protocol)))
        .collect();
    let summary = format!(
        "svc/{} (externalTrafficPolicy: Local) has no ready endpoint on {node}: external traffic entering {node} is dropped",
        svc.key()
    );
    let evidence = vec![
        format!(
            "svc/{} type {} NodePorts {}",
            svc.key(),
            svc.service_type,
            ports.join(", ")
        ),
        format!(
            "nodes with a ready endpoint: {}",
            with.iter().copied().collect::<Vec<_>>().join(", ")
        ),
    ];
    let hint = format!(
        "expected with externalTrafficPolicy: Local: send external traffic for svc/{} to {} only (a load balancer's health check on healthCheckNodePort does), or set it to Cluster",
        svc.key(),
        with.iter().copied().collect::<Vec<_>>().join(", ")
    );
    out.push(CODE, Severity::Info, Some(node), summary, evidence, hint);
}
