//! Port matching of a rule's `ports` list against one probe.

use cnictl_model::netpol::{PolicyPort, PortRef};
use cnictl_model::Pod;
use serde::Serialize;

/// What is asked: a protocol and a port (`None`: the question does not
/// depend on them, because no policy names a port or a protocol).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Probe {
    pub protocol: Option<String>,
    pub port: Option<u16>,
}

impl Probe {
    pub fn new(protocol: &str, port: u16) -> Self {
        Probe {
            protocol: Some(protocol.to_ascii_uppercase()),
            port: Some(port),
        }
    }

    /// Every protocol and port: valid only when no rule restricts ports.
    pub fn any() -> Self {
        Probe {
            protocol: None,
            port: None,
        }
    }

    pub fn label(&self) -> String {
        match (&self.protocol, self.port) {
            (Some(p), Some(n)) => format!("{p} {n}"),
            (Some(p), None) => format!("{p} (any port)"),
            _ => "any protocol and port".into(),
        }
    }
}

/// Whether a rule's ports admit the probe towards `dst` (the destination
/// pod, whose container ports name ports; `None` for an address outside
/// the pods, where a named port never resolves). An empty list admits all.
pub(crate) fn admits(ports: &[PolicyPort], probe: &Probe, dst: Option<&Pod>) -> bool {
    ports.is_empty() || ports.iter().any(|p| one(p, probe, dst))
}

fn one(p: &PolicyPort, probe: &Probe, dst: Option<&Pod>) -> bool {
    let (Some(proto), Some(port)) = (&probe.protocol, probe.port) else {
        // `any` probes are only asked when no rule lists ports.
        return false;
    };
    if !p.protocol.eq_ignore_ascii_case(proto) {
        return false;
    }
    match &p.port {
        None => true,
        Some(PortRef::Number(n)) => match p.end_port {
            Some(end) => (*n..=end).contains(&port),
            None => *n == port,
        },
        Some(PortRef::Name(name)) => dst.is_some_and(|d| named(d, name, proto, port)),
    }
}

/// A named port resolves on the destination pod to a container port of
/// that name *and* the rule's protocol (a UDP rule naming an SCTP port
/// matches nothing, as upstream implementations agree).
fn named(pod: &Pod, name: &str, proto: &str, port: u16) -> bool {
    pod.container_ports.iter().any(|c| {
        c.name.as_deref() == Some(name) && c.protocol.eq_ignore_ascii_case(proto) && c.port == port
    })
}

/// Whether a rule's ports depend on the destination pod (named ports).
pub(crate) fn per_destination(ports: &[PolicyPort]) -> bool {
    ports
        .iter()
        .any(|p| matches!(p.port, Some(PortRef::Name(_))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::ContainerPort;

    fn port(protocol: &str, port: Option<PortRef>, end_port: Option<u16>) -> PolicyPort {
        PolicyPort {
            protocol: protocol.into(),
            port,
            end_port,
        }
    }

    #[test]
    fn numbers_ranges_names_and_protocols() {
        let pod = Pod {
            container_ports: vec![ContainerPort {
                name: Some("dns".into()),
                port: 53,
                protocol: "UDP".into(),
            }],
            ..Pod::default()
        };
        let tcp80 = Probe::new("TCP", 80);
        assert!(admits(&[], &tcp80, None));
        assert!(admits(
            &[port("TCP", Some(PortRef::Number(80)), None)],
            &tcp80,
            None
        ));
        assert!(!admits(
            &[port("UDP", Some(PortRef::Number(80)), None)],
            &tcp80,
            None
        ));
        assert!(admits(
            &[port("TCP", Some(PortRef::Number(1)), Some(100))],
            &tcp80,
            None
        ));
        assert!(admits(&[port("TCP", None, None)], &tcp80, None));
        let dns = [port("UDP", Some(PortRef::Name("dns".into())), None)];
        assert!(admits(&dns, &Probe::new("UDP", 53), Some(&pod)));
        assert!(!admits(&dns, &Probe::new("UDP", 53), None));
        let tcp_dns = [port("TCP", Some(PortRef::Name("dns".into())), None)];
        assert!(!admits(&tcp_dns, &Probe::new("TCP", 53), Some(&pod)));
    }
}
