//! IPVS virtual services and real servers (kube-proxy IPVS mode).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvsProto {
    Tcp,
    Udp,
    Sctp,
    /// A firewall-mark service: matched by mark, not by address.
    Fwmark,
}

/// One virtual service (`-A -t VIP:PORT -s rr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualService {
    pub proto: IpvsProto,
    /// Virtual IP; `None` for fwmark services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<IpAddr>,
    #[serde(default)]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// Scheduler (`rr`, `wrr`, `sh`, `lc`, …).
    pub scheduler: String,
    /// Flags such as `persistent`, `ops`, `sh-fallback`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Persistence timeout in seconds, when persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<u32>,
    #[serde(default)]
    pub reals: Vec<RealServer>,
}

/// How IPVS forwards to a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// NAT (`Masq`): DNAT to the real server — kube-proxy's mode.
    Masq,
    /// Direct routing (`Route`).
    Route,
    /// IPIP tunnelling (`Tunnel`).
    Tunnel,
    /// Local delivery.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub ip: IpAddr,
    pub port: u16,
    pub forward: Forward,
    pub weight: u32,
    #[serde(default)]
    pub active_conns: u64,
    #[serde(default)]
    pub inactive_conns: u64,
}

impl VirtualService {
    /// `TCP 10.96.0.10:53` / `FWM 5`, as ipvsadm lists it.
    pub fn key(&self) -> String {
        match (self.proto, self.vip, self.fwmark) {
            (IpvsProto::Fwmark, _, Some(m)) => format!("FWM {m}"),
            (proto, Some(IpAddr::V6(v)), _) => {
                format!("{} [{v}]:{}", proto_label(proto), self.port)
            }
            (proto, Some(v), _) => format!("{} {v}:{}", proto_label(proto), self.port),
            (proto, None, _) => format!("{} ?:{}", proto_label(proto), self.port),
        }
    }
}

fn proto_label(p: IpvsProto) -> &'static str {
    match p {
        IpvsProto::Tcp => "TCP",
        IpvsProto::Udp => "UDP",
        IpvsProto::Sctp => "SCTP",
        IpvsProto::Fwmark => "FWM",
    }
}

/// As `ipvsadm -Ln` lists a real server: `-> 10.244.2.5:8080 Masq 1 0 0`.
impl std::fmt::Display for RealServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fwd = match self.forward {
            Forward::Masq => "Masq",
            Forward::Route => "Route",
            Forward::Tunnel => "Tunnel",
            Forward::Local => "Local",
        };
        let addr = match self.ip {
            IpAddr::V6(v) => format!("[{v}]:{}", self.port),
            IpAddr::V4(v) => format!("{v}:{}", self.port),
        };
        write!(
            f,
            "-> {addr} {fwd} {} {} {}",
            self.weight, self.active_conns, self.inactive_conns
        )
    }
}

/// As `ipvsadm -Ln` lists a service line: `TCP 10.96.0.10:53 rr`.
impl std::fmt::Display for VirtualService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.key(), self.scheduler)?;
        if let Some(t) = self.persistent {
            write!(f, " persistent {t}")?;
        }
        Ok(())
    }
}
