//! IPVS virtual services and real servers: over the generic-netlink
//! "IPVS" family (what `ipvsadm` uses), else from /proc/net/ip_vs.
//!
//! A kernel without IPVS is normal (no kube-proxy IPVS mode): that is a
//! note, not an error, and the section stays `None` ("not collected").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use cnictl_model::{Forward, IpvsProto, RealServer, VirtualService};
use netlink_packet_core::{NetlinkSerializable, NLM_F_REQUEST};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;

use super::nl::{attrs, nla, read_be16, read_str, read_u16, read_u32, NlSocket};
use super::LiveError;

const IPVS_GENL_VERSION: u8 = 1;
const IPVS_CMD_GET_SERVICE: u8 = 4;
const IPVS_CMD_GET_DEST: u8 = 8;
const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;

const SVC_AF: u16 = 1;
const SVC_PROTOCOL: u16 = 2;
const SVC_ADDR: u16 = 3;
const SVC_PORT: u16 = 4;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;

const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_ACTIVE_CONNS: u16 = 7;
const DEST_INACT_CONNS: u16 = 8;
const DEST_ADDR_FAMILY: u16 = 11;

const SVC_F_PERSISTENT: u32 = 0x1;
const SVC_F_ONEPACKET: u32 = 0x4;
const SVC_F_SCHED1: u32 = 0x8;
const SVC_F_SCHED2: u32 = 0x10;

/// Reads the IPVS table of the current thread's netns. `Ok(Err(note))`
/// when this kernel has no IPVS at all.
pub(crate) fn read_ipvs() -> Result<Result<Vec<VirtualService>, String>, LiveError> {
    let mut sock = NlSocket::open(netlink_sys::constants::NETLINK_GENERIC)?;
    if let Some(family) = resolve_family(&mut sock, "IPVS")? {
        return dump_services(&mut sock, family).map(Ok);
    }
    let proc_path = Path::new("/proc/thread-self/net/ip_vs");
    match std::fs::read_to_string(proc_path) {
        Ok(text) => parse_proc_ip_vs(&text, kernel_hz()).map(Ok),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Err(
            "ipvs not collected: this kernel has no IPVS (no generic netlink family \"IPVS\", no /proc/net/ip_vs)".into(),
        )),
        Err(source) => Err(LiveError::Proc {
            path: proc_path.to_path_buf(),
            source,
        }),
    }
}

/// Asks nlctrl for a family id; `None` when the family does not exist.
fn resolve_family(sock: &mut NlSocket, name: &str) -> Result<Option<u16>, LiveError> {
    let mut msg = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.into())],
    });
    msg.finalize();
    let req = sock.request_flags(msg, NLM_F_REQUEST);
    let replies = match sock.transact("genetlink family", &req) {
        Err(LiveError::Kernel { errno, .. }) if errno == libc::ENOENT => return Ok(None),
        other => other?,
    };
    const CTRL_ATTR_FAMILY_ID: u16 = 1;
    Ok(replies.iter().find_map(|p| {
        attrs(p.get(4..)?)
            .find_map(|(k, v)| (k == CTRL_ATTR_FAMILY_ID).then(|| read_u16(v)).flatten())
    }))
}

/// A raw generic netlink message of a resolved family: genlmsghdr + attributes.
struct GenlRaw {
    family: u16,
    cmd: u8,
    attrs: Vec<u8>,
}

impl NetlinkSerializable for GenlRaw {
    fn message_type(&self) -> u16 {
        self.family
    }

    fn buffer_len(&self) -> usize {
        4 + self.attrs.len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        buffer[0] = self.cmd;
        buffer[1] = IPVS_GENL_VERSION;
        buffer[2..4].fill(0);
        buffer[4..4 + self.attrs.len()].copy_from_slice(&self.attrs);
    }
}

fn dump_services(sock: &mut NlSocket, family: u16) -> Result<Vec<VirtualService>, LiveError> {
    let req = sock.request(GenlRaw {
        family,
        cmd: IPVS_CMD_GET_SERVICE,
        attrs: Vec::new(),
    });
    let raw: Vec<Vec<u8>> = sock.dump("ipvs services", &req, |_, p, out| out.push(p.to_vec()))?;
    let mut services = Vec::new();
    for payload in raw {
        for (svc, ident) in decode_ipvs_services(&payload) {
            let req = sock.request(GenlRaw {
                family,
                cmd: IPVS_CMD_GET_DEST,
                attrs: nest(IPVS_CMD_ATTR_SERVICE, &ident),
            });
            let reals = sock.dump("ipvs real servers", &req, |_, p, out| {
                out.extend(decode_ipvs_dests(p))
            })?;
            services.push(VirtualService { reals, ..svc });
        }
    }
    services.sort_by_key(VirtualService::key);
    Ok(services)
}

/// A nested attribute (NLA_F_NESTED set).
fn nest(kind: u16, inner: &[u8]) -> Vec<u8> {
    nla(kind | 0x8000, inner)
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

fn decode_service(v: &[u8]) -> Option<(VirtualService, Vec<u8>)> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (0u16, 0u16, None, 0u16, 0u32);
    let (mut sched, mut flags, mut timeout) = (String::new(), 0u32, 0u32);
    let mut ident = Vec::new();
    for (kind, a) in attrs(v) {
        match kind {
            SVC_AF => af = read_u16(a).unwrap_or(0),
            SVC_PROTOCOL => proto = read_u16(a).unwrap_or(0),
            SVC_ADDR => addr = Some(a),
            SVC_PORT => port = read_be16(a).unwrap_or(0),
            SVC_FWMARK => fwmark = read_u32(a).unwrap_or(0),
            SVC_SCHED_NAME => sched = read_str(a),
            SVC_FLAGS => flags = read_u32(a).unwrap_or(0),
            SVC_TIMEOUT => timeout = read_u32(a).unwrap_or(0),
            _ => {}
        }
        if matches!(
            kind,
            SVC_AF | SVC_PROTOCOL | SVC_ADDR | SVC_PORT | SVC_FWMARK
        ) {
            ident.extend(nla(kind, a));
        }
    }
    let vip = addr.and_then(|a| inet_addr(af, a));
    let svc = VirtualService {
        proto: if fwmark != 0 {
            IpvsProto::Fwmark
        } else {
            ipvs_proto(proto)?
        },
        vip: if fwmark != 0 { None } else { vip },
        port: if fwmark != 0 { 0 } else { port },
        fwmark: (fwmark != 0).then_some(fwmark),
        flags: service_flags(&sched, flags),
        persistent: (flags & SVC_F_PERSISTENT != 0).then_some(timeout),
        scheduler: sched,
        reals: Vec::new(),
    };
    Some((svc, ident))
}

/// `union nf_inet_addr` (16 bytes) read per the address family.
fn inet_addr(af: u16, a: &[u8]) -> Option<IpAddr> {
    if af == libc::AF_INET6 as u16 {
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
    if flags & SVC_F_PERSISTENT != 0 {
        out.push("persistent".to_string());
    }
    if flags & SVC_F_ONEPACKET != 0 {
        out.push("ops".to_string());
    }
    let sched_names: [&str; 2] = if sched == "sh" {
        ["sh-fallback", "sh-port"]
    } else {
        ["flag-1", "flag-2"]
    };
    for (bit, name) in [SVC_F_SCHED1, SVC_F_SCHED2].into_iter().zip(sched_names) {
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
    let (mut af, mut addr, mut port) = (libc::AF_INET as u16, None, 0);
    let (mut fwd, mut weight, mut active, mut inactive) = (0u32, 0u32, 0u32, 0u32);
    for (kind, a) in attrs(v) {
        match kind {
            DEST_ADDR => addr = Some(a),
            DEST_PORT => port = read_be16(a).unwrap_or(0),
            DEST_FWD_METHOD => fwd = read_u32(a).unwrap_or(0),
            DEST_WEIGHT => weight = read_u32(a).unwrap_or(0),
            DEST_ACTIVE_CONNS => active = read_u32(a).unwrap_or(0),
            DEST_INACT_CONNS => inactive = read_u32(a).unwrap_or(0),
            DEST_ADDR_FAMILY => af = read_u16(a).unwrap_or(af),
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

/// The kernel's tick rate, which /proc/net/ip_vs uses for persistence
/// timeouts; from the running kernel's config, else Debian's 250.
fn kernel_hz() -> u32 {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let config =
        std::fs::read_to_string(format!("/boot/config-{}", release.trim())).unwrap_or_default();
    config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ=")?.trim().parse().ok())
        .unwrap_or(250)
}

/// Parses /proc/net/ip_vs: hex addresses and ports (`0A60000A:0050`,
/// `[2001:0db8:…]:0050` for IPv6), `FWM 00000005` services, and
/// persistence timeouts in jiffies (divided by `hz`).
pub fn parse_proc_ip_vs(text: &str, hz: u32) -> Result<Vec<VirtualService>, LiveError> {
    let mut services: Vec<VirtualService> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |reason: String| LiveError::ProcFormat {
            path: "/proc/net/ip_vs".into(),
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
    if proto == "FWM" {
        svc.fwmark =
            Some(u32::from_str_radix(target, 16).map_err(|_| format!("bad fwmark {target:?}"))?);
    } else {
        svc.proto = match proto {
            "TCP" => IpvsProto::Tcp,
            "UDP" => IpvsProto::Udp,
            "SCTP" => IpvsProto::Sctp,
            other => return Err(format!("unknown protocol {other:?}")),
        };
        let (ip, port) = parse_hex_endpoint(target)?;
        svc.vip = Some(ip);
        svc.port = port;
    }
    let rest: Vec<&str> = words.collect();
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
    Ok(svc)
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
        svc.extend(nla(SVC_AF, &(libc::AF_INET as u16).to_ne_bytes()));
        svc.extend(nla(SVC_PROTOCOL, &6u16.to_ne_bytes()));
        svc.extend(nla(SVC_ADDR, &addr));
        svc.extend(nla(SVC_PORT, &80u16.to_be_bytes()));
        svc.extend(nla(SVC_SCHED_NAME, b"sh\0"));
        let mut flags = (SVC_F_PERSISTENT | SVC_F_SCHED1).to_ne_bytes().to_vec();
        flags.extend_from_slice(&u32::MAX.to_ne_bytes());
        svc.extend(nla(SVC_FLAGS, &flags));
        svc.extend(nla(SVC_TIMEOUT, &10800u32.to_ne_bytes()));
        svc.extend(nla(99, &[0xde, 0xad]));
        let mut payload = vec![1, 1, 0, 0];
        payload.extend(nest(IPVS_CMD_ATTR_SERVICE, &svc));
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
        dest.extend(nla(DEST_ADDR, &dst_addr));
        dest.extend(nla(DEST_PORT, &8080u16.to_be_bytes()));
        dest.extend(nla(DEST_FWD_METHOD, &0u32.to_ne_bytes()));
        dest.extend(nla(DEST_WEIGHT, &1u32.to_ne_bytes()));
        dest.extend(nla(DEST_ACTIVE_CONNS, &4u32.to_ne_bytes()));
        let mut payload = vec![5, 1, 0, 0];
        payload.extend(nest(IPVS_CMD_ATTR_DEST, &dest));
        let reals = decode_ipvs_dests(&payload);
        assert_eq!(reals.len(), 1);
        assert_eq!(reals[0].ip, "10.244.3.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            (reals[0].port, reals[0].weight, reals[0].active_conns),
            (8080, 1, 4)
        );
        assert_eq!(reals[0].forward, Forward::Masq);
    }

    #[test]
    fn this_kernel_without_ipvs_gives_a_note_not_an_error() {
        // Runs in the test's own netns: on a kernel with IPVS the table is
        // read (possibly empty); without it the result is a note.
        match read_ipvs() {
            Ok(Ok(services)) => assert!(services.iter().all(|s| !s.scheduler.is_empty())),
            Ok(Err(note)) => assert!(note.contains("no IPVS"), "{note}"),
            Err(e) => panic!("reading IPVS failed: {e}"),
        }
    }
}
