//! The (protocol, port) values the policies name: where a verdict can
//! change. A matrix without `--proto/--port` answers one cell per pair for
//! each of them.

use std::collections::BTreeSet;

use cnictl_model::netpol::PortRef;
use cnictl_model::{K8s, NetworkPolicy};

use super::ports::Probe;

/// Every probe a policy names: numbered ports, both ends of a range, named
/// ports resolved on every pod's container ports of that name and the
/// rule's protocol, and a port nobody names for a protocol-only entry. No
/// port anywhere: the single "any protocol and port" probe.
pub fn probes(k8s: &K8s) -> Vec<Probe> {
    let policies = k8s.network_policies.as_deref().unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut bare = BTreeSet::new();
    for port in policies.iter().flat_map(rule_ports) {
        let proto = port.protocol.to_ascii_uppercase();
        match &port.port {
            None => {
                bare.insert(proto);
            }
            Some(PortRef::Number(n)) => {
                out.insert(Probe::new(&proto, *n));
                out.extend(port.end_port.map(|e| Probe::new(&proto, e)));
            }
            Some(PortRef::Name(name)) => out.extend(named(k8s, name, &proto)),
        }
    }
    for proto in bare {
        let unnamed = unnamed_port(&out, &proto);
        out.insert(Probe::new(&proto, unnamed));
    }
    if out.is_empty() {
        out.insert(Probe::any());
    }
    out.into_iter().collect()
}

fn rule_ports(p: &NetworkPolicy) -> impl Iterator<Item = &cnictl_model::netpol::PolicyPort> {
    let rules = p.ingress.iter().chain(&p.egress);
    rules.flat_map(|r| &r.ports)
}

fn named(k8s: &K8s, name: &str, proto: &str) -> Vec<Probe> {
    let ports = k8s.pods.iter().flat_map(|p| &p.container_ports);
    ports
        .filter(|c| c.name.as_deref() == Some(name) && c.protocol.eq_ignore_ascii_case(proto))
        .map(|c| Probe::new(proto, c.port))
        .collect()
}

/// A port of `proto` that no probe names (80 unless taken).
fn unnamed_port(taken: &BTreeSet<Probe>, proto: &str) -> u16 {
    let candidates = [80u16, 81, 8081, 9999, 12345];
    let free = |p: &&u16| !taken.contains(&Probe::new(proto, **p));
    candidates.iter().find(free).copied().unwrap_or(65000)
}
