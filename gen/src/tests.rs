use std::collections::HashSet;

use cnictl_model::{cidr, RouteType};

use super::*;

fn spec(model: GenModel, nodes: usize, pods: usize, services: usize) -> GenSpec {
    GenSpec {
        model,
        nodes,
        pods_per_node: pods,
        services,
    }
}

#[test]
fn every_model_gives_consistent_nodes() {
    for model in GenModel::ALL {
        let snap = generate(&spec(model, 4, 3, 2)).unwrap();
        assert_eq!(snap.nodes.len(), 4, "{model}");
        assert_eq!(snap.k8s.pods.len(), 12, "{model}");
        for node in snap.nodes.values() {
            let defaults = node
                .routes
                .iter()
                .filter(|r| r.dst.prefix_len() == 0)
                .count();
            assert_eq!(defaults, 1, "{model}: one default route on {}", node.name);
            assert_eq!(node.ipvs.as_ref().map(Vec::len), Some(2), "{model}");
        }
    }
}

#[test]
fn pod_ips_are_unique_and_inside_their_nodes_range() {
    let snap = generate(&spec(GenModel::CalicoBgp, 300, 110, 0)).unwrap();
    let mut seen = HashSet::new();
    for pod in &snap.k8s.pods {
        assert!(seen.insert(pod.ips[0]), "duplicate pod IP {}", pod.ips[0]);
        let node = &snap.nodes[pod.node.as_ref().unwrap()];
        let blackholes: Vec<_> = node
            .routes
            .iter()
            .filter(|r| r.route_type == RouteType::Blackhole)
            .collect();
        assert!(blackholes.iter().any(|r| r.dst.contains(&pod.ips[0])));
    }
}

#[test]
fn node_cidrs_do_not_overlap_services_or_underlay() {
    for (model, nodes) in [
        (GenModel::FlannelVxlan, 1000),
        (GenModel::CalicoIpip, 1000),
        (GenModel::FlannelHostGw, 10),
    ] {
        let plan = Plan::new(&spec(model, nodes, 110, 0)).unwrap();
        let pods = IpNet::V4(plan.pod_range);
        assert!(!cidr::overlaps(&pods, &IpNet::V4(plan.service_range)));
        assert!(!cidr::overlaps(&pods, &IpNet::V4(plan.underlay)));
        let last = if plan.is_calico() {
            *plan.node_blocks(nodes - 1).last().unwrap()
        } else {
            plan.node_cidr(nodes - 1)
        };
        assert!(
            plan.pod_range.contains(&last),
            "{model}: {last} outside {}",
            plan.pod_range
        );
    }
}

#[test]
fn calico_route_count_matches_blocks() {
    let snap = generate(&spec(GenModel::CalicoBgp, 5, 110, 0)).unwrap();
    let node = &snap.nodes["node-1"];
    let bird = node
        .routes
        .iter()
        .filter(|r| {
            r.protocol == cnictl_model::Protocol::BIRD && r.route_type == RouteType::Unicast
        })
        .count();
    assert_eq!(bird, 4 * 2, "two /26 blocks per peer for 110 pods");
}

#[test]
fn refuses_what_does_not_fit() {
    assert!(generate(&spec(GenModel::FlannelVxlan, 0, 1, 0)).is_err());
    assert!(generate(&spec(GenModel::FlannelVxlan, 10, 400, 0)).is_err());
    assert!("weave".parse::<GenModel>().is_err());
}

use ipnet::IpNet;

/// Every kube-proxy mode gives each node rules that parse, NodePorts for
/// every 10th Service, and eTP Local DROPs only where no endpoint is local.
#[test]
fn kube_proxy_modes_write_parsed_rules() {
    use cnictl_model::netfilter::Source;
    for mode in KubeProxyMode::ALL {
        let svc = ServiceSpec {
            kube_proxy: mode,
            endpoints_per_service: Some(2),
            node_ports: true,
        };
        let snap = generate_with(&spec(GenModel::FlannelVxlan, 4, 2, 40), &svc).unwrap();
        let svcs = snap.k8s.services.as_ref().unwrap();
        assert_eq!(
            svcs.iter().filter(|s| s.service_type == "NodePort").count(),
            4
        );
        for node in snap.nodes.values() {
            let nf = node.netfilter.as_ref().expect("rules");
            let want = match mode {
                KubeProxyMode::Nftables => Source::NftRuleset,
                _ => Source::IptablesSave,
            };
            assert_eq!(nf.sources, [want], "{mode}");
            assert_eq!(node.ipvs.is_some(), mode == KubeProxyMode::Ipvs);
            assert_eq!(nf.ipsets.is_some(), mode == KubeProxyMode::Ipvs);
        }
    }
}

#[test]
fn endpoints_per_service_spreads_round_the_nodes() {
    let svc = ServiceSpec {
        kube_proxy: KubeProxyMode::Iptables,
        endpoints_per_service: Some(5),
        node_ports: false,
    };
    let snap = generate_with(&spec(GenModel::CalicoBgp, 3, 4, 2), &svc).unwrap();
    for slice in snap.k8s.endpoint_slices.as_ref().unwrap() {
        let ips: HashSet<_> = slice.endpoints.iter().map(|e| e.addresses[0]).collect();
        assert_eq!(ips.len(), 5, "{}", slice.name);
    }
}

#[test]
fn local_policy_node_port_drops_only_without_a_local_endpoint() {
    let svc = ServiceSpec {
        kube_proxy: KubeProxyMode::Iptables,
        endpoints_per_service: Some(1),
        node_ports: true,
    };
    let snap = generate_with(&spec(GenModel::FlannelVxlan, 3, 2, 1), &svc).unwrap();
    // svc-1 (Local, NodePort 30000) has its one endpoint on node 1.
    let ep_node = snap.k8s.endpoint_slices.as_ref().unwrap()[0].endpoints[0]
        .node
        .clone()
        .unwrap();
    for node in snap.nodes.values() {
        let text = cnictl_formats::write_iptables_save(
            &node
                .netfilter
                .as_ref()
                .unwrap()
                .tables
                .iter()
                .collect::<Vec<_>>(),
        );
        let drops = text.contains("has no local endpoints");
        assert_eq!(drops, node.name != ep_node, "{}:\n{text}", node.name);
    }
}
