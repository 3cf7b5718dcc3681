//! Property: the intent matrix (bitsets compiled once per probe) answers
//! every ordered pod pair exactly as pairwise evaluation does
//! (`PolicyIndex::pair`, which walks the rules and names them), for random
//! clusters: pods with labels from a small alphabet and named container
//! ports, namespaces with labels (or no `namespaces.json` at all), and
//! policies using every selector form (matchLabels, In / NotIn / Exists /
//! DoesNotExist, podSelector and namespaceSelector alone or combined),
//! ipBlocks with `except`, numbered, named and `endPort` ports over TCP,
//! UDP and SCTP, and every `policyTypes` combination; under random probes.
//! The alphabet is small on purpose, so selectors hit and miss often.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use cnictl_analyzers::policy::{Endpoint, PolicyIndex, Probe};
use cnictl_model::netpol::{
    LabelSelector, Namespace, Operator, Peer, PolicyPort, PolicyRule, PolicyType, PortRef,
    Requirement, NAMESPACE_NAME_LABEL,
};
use cnictl_model::{ContainerPort, K8s, NetworkPolicy, Pod};
use ipnet::IpNet;
use proptest::prelude::*;
use proptest::sample::select;

const NAMESPACES: [&str; 3] = ["n0", "n1", "n2"];
const KEYS: [&str; 3] = ["app", "tier", NAMESPACE_NAME_LABEL];
const VALUES: [&str; 4] = ["a", "b", "n0", "n1"];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const PORT_NAMES: [&str; 3] = ["http", "dns", "metrics"];
const PORTS: [u16; 5] = [53, 80, 81, 8080, 9000];
const BLOCKS: [&str; 5] = [
    "10.0.0.0/29",
    "10.0.0.4/30",
    "0.0.0.0/0",
    "10.0.0.3/32",
    "192.168.0.0/16",
];

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let pair = (select(&KEYS[..2]), select(&VALUES[..]));
    prop::collection::btree_map(
        pair.0.prop_map(String::from),
        pair.1.prop_map(String::from),
        0..3,
    )
}

fn operator() -> impl Strategy<Value = Operator> {
    select(vec![
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
    ])
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let values = prop::collection::vec(select(&VALUES[..]).prop_map(String::from), 1..3);
    (select(&KEYS[..]), operator(), values).prop_map(|(key, operator, values)| Requirement {
        key: key.into(),
        values: match operator {
            Operator::In | Operator::NotIn => values,
            _ => Vec::new(),
        },
        operator,
    })
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    let label = (
        select(&KEYS[..]).prop_map(String::from),
        select(&VALUES[..]).prop_map(String::from),
    );
    let match_labels = prop::collection::btree_map(label.0, label.1, 0..2);
    let exprs = prop::collection::vec(requirement(), 0..2);
    (match_labels, exprs).prop_map(|(match_labels, match_expressions)| LabelSelector {
        match_labels,
        match_expressions,
    })
}

fn block() -> impl Strategy<Value = Peer> {
    let net = |s: &str| s.parse::<IpNet>().expect("cidr");
    let except = prop::collection::vec(select(&BLOCKS[..]).prop_map(net), 0..2);
    (select(&BLOCKS[..]).prop_map(net), except).prop_map(|(cidr, except)| Peer::IpBlock {
        cidr,
        except: except
            .into_iter()
            .filter(|e| cidr.contains(e) && *e != cidr)
            .collect(),
    })
}

fn peer() -> impl Strategy<Value = Peer> {
    let pods = (prop::option::of(selector()), prop::option::of(selector()));
    prop_oneof![
        3 => pods.prop_map(|(pod_selector, namespace_selector)| Peer::Pods {
            pod_selector,
            namespace_selector,
        }),
        1 => block(),
    ]
}

fn port_ref() -> impl Strategy<Value = Option<PortRef>> {
    prop_oneof![
        1 => Just(None),
        2 => select(&PORTS[..]).prop_map(|p| Some(PortRef::Number(p))),
        2 => select(&PORT_NAMES[..]).prop_map(|n| Some(PortRef::Name(n.into()))),
    ]
}

/// A policy port as the API admits it: `endPort` only after a number, not
/// below it.
fn policy_port() -> impl Strategy<Value = PolicyPort> {
    (
        select(&PROTOCOLS[..]),
        port_ref(),
        prop::option::of(select(&PORTS[..])),
    )
        .prop_map(|(protocol, port, end)| {
            let end_port = match (&port, end) {
                (Some(PortRef::Number(n)), Some(e)) if e >= *n => Some(e),
                _ => None,
            };
            PolicyPort {
                protocol: protocol.into(),
                port,
                end_port,
            }
        })
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    let peers = prop::collection::vec(peer(), 0..3);
    let ports = prop::collection::vec(policy_port(), 0..3);
    (peers, ports).prop_map(|(peers, ports)| PolicyRule { peers, ports })
}

fn policy_types() -> impl Strategy<Value = Vec<PolicyType>> {
    select(vec![
        vec![PolicyType::Ingress],
        vec![PolicyType::Egress],
        vec![PolicyType::Ingress, PolicyType::Egress],
        vec![PolicyType::Egress, PolicyType::Ingress],
    ])
}

fn policy() -> impl Strategy<Value = NetworkPolicy> {
    let rules = || prop::collection::vec(rule(), 0..3);
    (
        select(&NAMESPACES[..]),
        selector(),
        policy_types(),
        rules(),
        rules(),
    )
        .prop_map(
            |(ns, pod_selector, policy_types, ingress, egress)| NetworkPolicy {
                namespace: ns.into(),
                name: String::new(),
                pod_selector,
                policy_types,
                ingress,
                egress,
            },
        )
}

fn container_port() -> impl Strategy<Value = ContainerPort> {
    let name = prop::option::of(select(&PORT_NAMES[..]).prop_map(String::from));
    (name, select(&PORTS[..]), select(&PROTOCOLS[..])).prop_map(|(name, port, protocol)| {
        ContainerPort {
            name,
            port,
            protocol: protocol.into(),
        }
    })
}

fn pod() -> impl Strategy<Value = Pod> {
    let ports = prop::collection::vec(container_port(), 0..3);
    (select(&NAMESPACES[..]), labels(), ports).prop_map(|(ns, labels, container_ports)| Pod {
        namespace: ns.into(),
        phase: "Running".into(),
        labels,
        container_ports,
        ..Pod::default()
    })
}

fn namespaces() -> impl Strategy<Value = Option<Vec<Namespace>>> {
    let each = prop::collection::vec(labels(), NAMESPACES.len());
    prop::option::weighted(0.8, each).prop_map(|labels| {
        let with_name = |(name, mut l): (&str, BTreeMap<String, String>)| {
            l.insert(NAMESPACE_NAME_LABEL.into(), name.into());
            Namespace {
                name: name.into(),
                labels: l,
            }
        };
        labels.map(|ls| NAMESPACES.into_iter().zip(ls).map(with_name).collect())
    })
}

/// Pods get distinct names and addresses 10.0.0.1…, policies names.
fn cluster() -> impl Strategy<Value = K8s> {
    let pods = prop::collection::vec(pod(), 1..9);
    let policies = prop::collection::vec(policy(), 0..6);
    (pods, policies, namespaces()).prop_map(|(mut pods, mut policies, namespaces)| {
        for (i, p) in pods.iter_mut().enumerate() {
            p.name = format!("p{i}");
            p.ips = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1))];
        }
        for (i, p) in policies.iter_mut().enumerate() {
            p.name = format!("np{i}");
        }
        K8s {
            pods,
            network_policies: Some(policies),
            namespaces,
            ..K8s::default()
        }
    })
}

/// Probes aimed at what the cluster declares (a pod's container port, so
/// named ports resolve), at the numbers policies use, or anywhere.
fn probes(k8s: &K8s) -> impl Strategy<Value = Vec<Probe>> {
    let declared: Vec<Probe> = k8s
        .pods
        .iter()
        .flat_map(|p| &p.container_ports)
        .map(|c| Probe::new(&c.protocol, c.port))
        .collect();
    let listed = (select(&PROTOCOLS[..]), select(&PORTS[..]));
    let anywhere = (select(&PROTOCOLS[..]), 1u16..10000);
    let one = prop_oneof![
        2 => listed.prop_map(|(proto, port)| Probe::new(proto, port)),
        1 => anywhere.prop_map(|(proto, port)| Probe::new(proto, port)),
    ];
    let one = match declared.is_empty() {
        true => one.boxed(),
        false => prop_oneof![3 => select(declared), 2 => one].boxed(),
    };
    prop::collection::vec(one, 1..4)
}

fn case() -> impl Strategy<Value = (K8s, Vec<Probe>)> {
    cluster().prop_flat_map(|k8s| {
        let probes = probes(&k8s);
        (Just(k8s), probes)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matrix_equals_pairwise_evaluation((k8s, probes) in case()) {
        let index = PolicyIndex::new(&k8s).expect("policies collected");
        let n = index.pods().len();
        for probe in &probes {
            let matrix = index.matrix(probe);
            for s in 0..n {
                prop_assert_eq!(matrix.row(s).len(), n);
                for (d, in_row) in matrix.row(s).into_iter().enumerate() {
                    let pair = index.pair(Endpoint::Pod(s), Endpoint::Pod(d), probe).allowed();
                    prop_assert_eq!(matrix.allowed(s, d), pair, "{} -> {} {}", s, d, probe.label());
                    prop_assert_eq!(in_row, pair);
                }
            }
        }
    }
}
