//! IPVS virtual services and real servers, decoded from the generic
//! netlink "IPVS" family's replies (what `ipvsadm` reads), or parsed from
//! /proc/net/ip_vs when the family is missing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cnictl_model::{Forward, IpvsProto, RealServer, VirtualService};

use super::consts::*;
use super::{attrs, nla, read_be16, read_str, read_u16, read_u32};

/// A /proc/net/ip_vs line that does not parse (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid /proc/net/ip_vs at line {line}: {reason}")]
pub struct ProcIpVsError {
    pub line: usize,
    pub reason: String,
}

/// Decodes the services of one IPVS_CMD_NEW_SERVICE reply (genlmsghdr +
/// attributes). Each comes with the raw identity attributes (family,
/// protocol, address, port or fwmark) a GET_DEST request must quote back.
pub fn decode_ipvs_services(payload: &[u8]) -> Vec<(VirtualService, Vec<u8>)> {
    let Some(body) = payload.get(4..) else {
        return Vec::new();
    };
    attrs(body)
        .filter(|(k, _)| *k == IPVS_CMD_ATTR_SERVICE)
        .filter_map(|(_, v)| decode_service(v))
        .collect()
}

/// The IPVS_SVC_ATTR_* values of one service, as the kernel sent them.
#[derive(Default)]
struct ServiceAttrs<'a> {
    af: u16,
    proto: u16,
    addr: Option<&'a [u8]>,
    port: u16,
    fwmark: u32,
    sched: String,
    flags: u32,
    timeout: u32,
}

/// The attributes that identify a service in a GET_DEST request.
const SERVICE_IDENTITY: [u16; 5] = [
    IPVS_SVC_ATTR_AF,
    IPVS_SVC_ATTR_PROTOCOL,
    IPVS_SVC_ATTR_ADDR,
    IPVS_SVC_ATTR_PORT,
    IPVS_SVC_ATTR_FWMARK,
];

fn decode_service(v: &[u8]) -> Option<(VirtualService, Vec<u8>)> {
    let mut s = ServiceAttrs::default();
    for (kind, a) in attrs(v) {
        s.read(kind, a);
    }
    Some((s.into_service()?, service_identity(v)))
}

/// The identity attributes of a service, re-encoded for GET_DEST.
fn service_identity(v: &[u8]) -> Vec<u8> {
    attrs(v)
        .filter(|(kind, _)| SERVICE_IDENTITY.contains(kind))
        .flat_map(|(kind, a)| nla(kind, a))
        .collect()
}

impl<'a> ServiceAttrs<'a> {
    fn read(&mut self, kind: u16, a: &'a [u8]) {
        match kind {
            IPVS_SVC_ATTR_AF => self.af = read_u16(a).unwrap_or(0),
            IPVS_SVC_ATTR_PROTOCOL => self.proto = read_u16(a).unwrap_or(0),
            IPVS_SVC_ATTR_ADDR => self.addr = Some(a),
            IPVS_SVC_ATTR_PORT => self.port = read_be16(a).unwrap_or(0),
            IPVS_SVC_ATTR_FWMARK => self.fwmark = read_u32(a).unwrap_or(0),
            IPVS_SVC_ATTR_SCHED_NAME => self.sched = read_str(a),
            IPVS_SVC_ATTR_FLAGS => self.flags = read_u32(a).unwrap_or(0),
            IPVS_SVC_ATTR_TIMEOUT => self.timeout = read_u32(a).unwrap_or(0),
            _ => {}
        }
    }

    /// A fwmark service has no protocol, address or port; others need a
    /// protocol the model knows.
    fn into_service(self) -> Option<VirtualService> {
        let by_mark = self.fwmark != 0;
        let persistent = self.flags & IP_VS_SVC_F_PERSISTENT != 0;
        Some(VirtualService {
            proto: if by_mark {
                IpvsProto::Fwmark
            } else {
                ipvs_proto(self.proto)?
            },
            vip: self
                .addr
                .and_then(|a| inet_addr(self.af, a))
                .filter(|_| !by_mark),
            port: if by_mark { 0 } else { self.port },
            fwmark: by_mark.then_some(self.fwmark),
            flags: service_flags(&self.sched, self.flags),
            persistent: persistent.then_some(self.timeout),
            scheduler: self.sched,
            reals: Vec::new(),
        })
    }
}

/// `union nf_inet_addr` (16 bytes) read per the address family.
fn inet_addr(af: u16, a: &[u8]) -> Option<IpAddr> {
    if af == u16::from(AF_INET6) {
        let o: [u8; 16] = a.get(..16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(o)))
    } else {
        let o: [u8; 4] = a.get(..4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(o)))
    }
}

fn ipvs_proto(p: u16) -> Option<IpvsProto> {
    match p {
        6 => Some(IpvsProto::Tcp),
        17 => Some(IpvsProto::Udp),
        132 => Some(IpvsProto::Sctp),
        _ => None,
    }
}

/// Flag words as `ipvsadm -Ln` prints them.
fn service_flags(sched: &str, flags: u32) -> Vec<String> {
    let mut out = Vec::new();
    if flags & IP_VS_SVC_F_PERSISTENT != 0 {
        out.push("persistent".to_string());
    }
    if flags & IP_VS_SVC_F_ONEPACKET != 0 {
        out.push("ops".to_string());
    }
    let sched_names: [&str; 2] = if sched == "sh" {
        ["sh-fallback", "sh-port"]
    } else {
        ["flag-1", "flag-2"]
    };
    for (bit, name) in [IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2]
        .into_iter()
        .zip(sched_names)
    {
        if flags & bit != 0 {
            out.push(name.to_string());
        }
    }
    out
}

/// Decodes the real servers of one IPVS_CMD_NEW_DEST reply.
pub fn decode_ipvs_dests(payload: &[u8]) -> Vec<RealServer> {
    let Some(body) = payload.get(4..) else {
        return Vec::new();
    };
    attrs(body)
        .filter(|(k, _)| *k == IPVS_CMD_ATTR_DEST)
        .filter_map(|(_, v)| decode_dest(v))
        .collect()
}

fn decode_dest(v: &[u8]) -> Option<RealServer> {
    let (mut af, mut addr, mut port) = (u16::from(AF_INET), None, 0);
    let (mut fwd, mut weight, mut active, mut inactive) = (0u32, 0u32, 0u32, 0u32);
    for (kind, a) in attrs(v) {
        match kind {
            IPVS_DEST_ATTR_ADDR => addr = Some(a),
            IPVS_DEST_ATTR_PORT => port = read_be16(a).unwrap_or(0),
            IPVS_DEST_ATTR_FWD_METHOD => fwd = read_u32(a).unwrap_or(0),
            IPVS_DEST_ATTR_WEIGHT => weight = read_u32(a).unwrap_or(0),
            IPVS_DEST_ATTR_ACTIVE_CONNS => active = read_u32(a).unwrap_or(0),
            IPVS_DEST_ATTR_INACT_CONNS => inactive = read_u32(a).unwrap_or(0),
            IPVS_DEST_ATTR_ADDR_FAMILY => af = read_u16(a).unwrap_or(af),
            _ => {}
        }
    }
    Some(RealServer {
        ip: inet_addr(af, addr?)?,
        port,
        forward: forward_of(fwd & 0x7),
        weight,
        active_conns: u64::from(active),
        inactive_conns: u64::from(inactive),
    })
}

fn forward_of(method: u32) -> Forward {
    match method {
        1 => Forward::Local,
        2 => Forward::Tunnel,
        3 => Forward::Route,
        _ => Forward::Masq,
    }
}

/// Parses /proc/net/ip_vs: hex addresses and ports (`0A60000A:0050`,
/// `[2001:0db8:…]:0050` for IPv6), `FWM 00000005` services, and
/// persistence timeouts in jiffies (divided by `hz`).
pub fn parse_proc_ip_vs(text: &str, hz: u32) -> Result<Vec<VirtualService>, ProcIpVsError> {
    let mut services: Vec<VirtualService> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |reason: String| ProcIpVsError {
            line: i + 1,
            reason,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || i < 3 {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("->") {
            let svc = services
                .last_mut()
                .ok_or_else(|| err("real server before any service".into()))?;
            svc.reals.push(parse_proc_real(rest).map_err(err)?);
        } else {
            services.push(parse_proc_service(trimmed, hz).map_err(err)?);
        }
    }
    services.sort_by_key(VirtualService::key);
    Ok(services)
}

fn parse_proc_service(line: &str, hz: u32) -> Result<VirtualService, String> {
    let mut words = line.split_whitespace();
    let proto = words.next().ok_or("empty service line")?;
    let target = words.next().ok_or("service without address")?;
    let scheduler = words.next().ok_or("service without scheduler")?.to_string();
    let mut svc = VirtualService {
        proto: IpvsProto::Fwmark,
        vip: None,
        port: 0,
        fwmark: None,
        scheduler,
        flags: Vec::new(),
        persistent: None,
        reals: Vec::new(),
    };
    proc_service_target(&mut svc, proto, target)?;
    proc_service_options(&mut svc, &words.collect::<Vec<_>>(), hz)?;
    Ok(svc)
}

/// `FWM 0000000A`, or `TCP|UDP|SCTP` and a hex endpoint.
fn proc_service_target(svc: &mut VirtualService, proto: &str, target: &str) -> Result<(), String> {
    if proto == "FWM" {
        let mark = u32::from_str_radix(target, 16).map_err(|_| format!("bad fwmark {target:?}"))?;
        svc.fwmark = Some(mark);
        return Ok(());
    }
    svc.proto = match proto {
        "TCP" => IpvsProto::Tcp,
        "UDP" => IpvsProto::Udp,
        "SCTP" => IpvsProto::Sctp,
        other => return Err(format!("unknown protocol {other:?}")),
    };
    let (ip, port) = parse_hex_endpoint(target)?;
    svc.vip = Some(ip);
    svc.port = port;
    Ok(())
}

/// `ops`, and `persistent JIFFIES [MASK]` (the timeout divided by `hz`).
fn proc_service_options(svc: &mut VirtualService, rest: &[&str], hz: u32) -> Result<(), String> {
    if rest.contains(&"ops") {
        svc.flags.push("ops".into());
    }
    if let Some(pos) = rest.iter().position(|w| *w == "persistent") {
        let jiffies: u32 = rest
            .get(pos + 1)
            .and_then(|t| t.parse().ok())
            .ok_or("persistent without a timeout")?;
        svc.flags.insert(0, "persistent".into());
        svc.persistent = Some(jiffies / hz.max(1));
    }
    Ok(())
}

fn parse_proc_real(rest: &str) -> Result<RealServer, String> {
    let w: Vec<&str> = rest.split_whitespace().collect();
    let [target, fwd, weight, active, inactive] = w[..] else {
        return Err(format!("expected 5 fields after ->, found {}", w.len()));
    };
    let (ip, port) = parse_hex_endpoint(target)?;
    let num = |s: &str| s.parse::<u64>().map_err(|_| format!("bad number {s:?}"));
    Ok(RealServer {
        ip,
        port,
        forward: match fwd {
            "Masq" => Forward::Masq,
            "Local" => Forward::Local,
            "Tunnel" => Forward::Tunnel,
            "Route" => Forward::Route,
            other => return Err(format!("unknown forwarding method {other:?}")),
        },
        weight: u32::try_from(num(weight)?).map_err(|_| format!("weight {weight} too large"))?,
        active_conns: num(active)?,
        inactive_conns: num(inactive)?,
    })
}

/// `0A60000A:0050` (IPv4, host order hex) or `[2001:0db8:…]:0050`.
fn parse_hex_endpoint(s: &str) -> Result<(IpAddr, u16), String> {
    let (addr, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("no port in {s:?}"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("bad port in {s:?}"))?;
    let ip = if let Some(v6) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        IpAddr::V6(
            v6.parse()
                .map_err(|_| format!("bad IPv6 address in {s:?}"))?,
        )
    } else {
        let n = u32::from_str_radix(addr, 16).map_err(|_| format!("bad IPv4 address in {s:?}"))?;
        IpAddr::V4(Ipv4Addr::from(n))
    };
    Ok((ip, port))
}

#[cfg(test)]
mod tests {
    //! This kernel has no IPVS, so these run on text shaped like a Debian
    //! kernel's /proc/net/ip_vs (LAB-NOTES: QEMU VM with ipvsadm) and on
    //! genetlink replies built by hand to the layout of
    //! include/uapi/linux/ip_vs.h.
    use super::*;

    const PROC: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A60000A:0050 rr 
  -> 0AF40302:1F90      Masq    2      0          2         
  -> 0AF40202:1F90      Masq    1      1          0         
UDP  0A60000A:0035 wrr persistent 90000 FFFFFFFF
  -> 0AF40303:0035      Masq    3      0          0         
FWM  00000005 sh 
TCP  [fd00:0000:0000:0000:0000:0000:0000:0001]:01BB rr 
";

    #[test]
    fn proc_ip_vs_decodes_hex_and_jiffies() {
        let got = parse_proc_ip_vs(PROC, 250).unwrap();
        let keys: Vec<String> = got.iter().map(VirtualService::key).collect();
        assert_eq!(
            keys,
            [
                "FWM 5",
                "TCP 10.96.0.10:80",
                "TCP [fd00::1]:443",
                "UDP 10.96.0.10:53"
            ]
        );
        let tcp = &got[1];
        assert_eq!(tcp.scheduler, "rr");
        assert_eq!(tcp.reals.len(), 2);
        assert_eq!(tcp.reals[0].ip, "10.244.3.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            (
                tcp.reals[0].port,
                tcp.reals[0].weight,
                tcp.reals[0].inactive_conns
            ),
            (8080, 2, 2)
        );
        let udp = &got[3];
        assert_eq!(udp.persistent, Some(360));
        assert_eq!(udp.flags, vec!["persistent"]);
        assert!(got[0].reals.is_empty());
    }

    #[test]
    fn proc_ip_vs_errors_name_the_line() {
        let bad = "h\nh\nh\n  -> 0AF40302:1F90 Masq 1 0 0\n";
        let err = parse_proc_ip_vs(bad, 250).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid /proc/net/ip_vs at line 4: real server before any service"
        );
        let bad = "h\nh\nh\nTCP  zz:0050 rr\n";
        assert!(parse_proc_ip_vs(bad, 250)
            .unwrap_err()
            .to_string()
            .contains("line 4"));
    }

    #[test]
    fn genetlink_service_and_dest_replies_decode() {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[10, 96, 0, 10]);
        let mut svc = Vec::new();
        svc.extend(nla(IPVS_SVC_ATTR_AF, &u16::from(AF_INET).to_ne_bytes()));
        svc.extend(nla(IPVS_SVC_ATTR_PROTOCOL, &6u16.to_ne_bytes()));
        svc.extend(nla(IPVS_SVC_ATTR_ADDR, &addr));
        svc.extend(nla(IPVS_SVC_ATTR_PORT, &80u16.to_be_bytes()));
        svc.extend(nla(IPVS_SVC_ATTR_SCHED_NAME, b"sh\0"));
        let mut flags = (IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED1)
            .to_ne_bytes()
            .to_vec();
        flags.extend_from_slice(&u32::MAX.to_ne_bytes());
        svc.extend(nla(IPVS_SVC_ATTR_FLAGS, &flags));
        svc.extend(nla(IPVS_SVC_ATTR_TIMEOUT, &10800u32.to_ne_bytes()));
        svc.extend(nla(99, &[0xde, 0xad]));
        let mut payload = vec![1, 1, 0, 0];
        payload.extend(nla(IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, &svc));
        let got = decode_ipvs_services(&payload);
        assert_eq!(got.len(), 1);
        let (s, ident) = &got[0];
        assert_eq!(s.key(), "TCP 10.96.0.10:80");
        assert_eq!(s.flags, vec!["persistent", "sh-fallback"]);
        assert_eq!(s.persistent, Some(10800));
        // The identity quoted back in GET_DEST: af, protocol, addr, port.
        assert_eq!(
            attrs(ident).map(|(k, _)| k).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );

        let mut dst_addr = [0u8; 16];
        dst_addr[..4].copy_from_slice(&[10, 244, 3, 2]);
        let mut dest = Vec::new();
        dest.extend(nla(IPVS_DEST_ATTR_ADDR, &dst_addr));
        dest.extend(nla(IPVS_DEST_ATTR_PORT, &8080u16.to_be_bytes()));
        dest.extend(nla(IPVS_DEST_ATTR_FWD_METHOD, &0u32.to_ne_bytes()));
        dest.extend(nla(IPVS_DEST_ATTR_WEIGHT, &1u32.to_ne_bytes()));
        dest.extend(nla(IPVS_DEST_ATTR_ACTIVE_CONNS, &4u32.to_ne_bytes()));
        let mut payload = vec![5, 1, 0, 0];
        payload.extend(nla(IPVS_CMD_ATTR_DEST | NLA_F_NESTED, &dest));
        let reals = decode_ipvs_dests(&payload);
        assert_eq!(reals.len(), 1);
        assert_eq!(reals[0].ip, "10.244.3.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            (reals[0].port, reals[0].weight, reals[0].active_conns),
            (8080, 1, 4)
        );
        assert_eq!(reals[0].forward, Forward::Masq);
    }
}
