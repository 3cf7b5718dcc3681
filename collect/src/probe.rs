//! `explain --probe`: capture one probe packet with libpcap at the
//! interfaces the reference dataplane predicts, and decode what is on the
//! wire (Ethernet → IPv4 → UDP 8472/4789 → VXLAN → inner Ethernet → inner
//! IPv4; IPv4 proto 4 → inner IPv4; RAW link type for tunl0).
//!
//! [`decode_frame`] is pure and tested on recorded pcaps
//! (collect/tests/data/pcap/). [`capture_while`] opens each capture on its
//! own thread inside the target namespace (setns on that thread only), runs
//! the sender once every capture is live, and collects until the timeout.

#[cfg(feature = "pcap")]
use std::fs::File;
use std::net::IpAddr;
#[cfg(feature = "pcap")]
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etherparse::{Ethernet2Slice, IpNumber, Ipv4Slice, UdpSlice};

use crate::live::NetnsTarget;

/// pcap link types this decoder reads (DLT_* / LINKTYPE_* numbers).
pub const LINKTYPE_ETHERNET: i32 = 1;
/// DLT_RAW as libpcap reports it on Linux (tunl0).
pub const DLT_RAW: i32 = 12;
/// LINKTYPE_RAW as pcap files store it.
pub const LINKTYPE_RAW: i32 = 101;
pub const LINKTYPE_LINUX_SLL: i32 = 113;
pub const LINKTYPE_IPV4: i32 = 228;

/// UDP ports carrying VXLAN: Linux/Flannel's 8472 and IANA's 4789.
pub const VXLAN_PORTS: [u16; 2] = [8472, 4789];

/// How long a capture thread sleeps when nothing is queued.
#[cfg(feature = "pcap")]
const POLL: Duration = Duration::from_millis(5);

/// Why a frame could not be decoded or a capture not run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("unsupported pcap link type {0}")]
    LinkType(i32),
    #[error("malformed {layer} header at byte {offset}: {reason}")]
    Malformed {
        layer: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("not an IPv4 packet (ethertype {0:#06x})")]
    NotIpv4(u16),
    #[error("cannot enter network namespace {path}: {source}")]
    Netns {
        path: String,
        source: std::io::Error,
    },
    #[error("capture on {iface}: {reason}")]
    Capture { iface: String, reason: String },
    #[error("sending the probe: {0}")]
    Send(String),
    #[error("capture thread panicked")]
    ThreadPanicked,
}

impl ProbeError {
    /// A bounded code for metrics labels and JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::LinkType(_) | ProbeError::Malformed { .. } | ProbeError::NotIpv4(_) => {
                "decode"
            }
            ProbeError::Netns { .. } => "netns",
            ProbeError::Capture { .. } => "capture",
            ProbeError::Send(_) => "send",
            ProbeError::ThreadPanicked => "internal",
        }
    }
}

/// The encapsulation found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Encap {
    Vxlan { vni: u32, port: u16 },
    Ipip,
}

/// One decoded frame: the outermost IPv4 header, and the inner one when
/// the frame is an encapsulated packet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decoded {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap: Option<Encap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_src: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_dst: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_proto: Option<u8>,
}

impl Decoded {
    /// The packet's own (innermost) source and destination.
    pub fn innermost(&self) -> (IpAddr, IpAddr) {
        match (self.inner_src, self.inner_dst) {
            (Some(s), Some(d)) => (s, d),
            _ => (self.src, self.dst),
        }
    }
}

/// Decodes one captured frame of `linktype`.
pub fn decode_frame(linktype: i32, bytes: &[u8]) -> Result<Decoded, ProbeError> {
    match linktype {
        LINKTYPE_ETHERNET => decode_ethernet(bytes, 0),
        DLT_RAW | LINKTYPE_RAW | LINKTYPE_IPV4 => decode_ipv4(bytes, 0),
        LINKTYPE_LINUX_SLL => {
            // 16-byte cooked header; the protocol is its last two bytes.
            let proto = bytes
                .get(14..16)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| malformed("linux cooked", 0, "shorter than 16 bytes"))?;
            if proto != 0x0800 {
                return Err(ProbeError::NotIpv4(proto));
            }
            decode_ipv4(&bytes[16..], 16)
        }
        other => Err(ProbeError::LinkType(other)),
    }
}

fn malformed(layer: &'static str, offset: usize, reason: impl ToString) -> ProbeError {
    ProbeError::Malformed {
        layer,
        offset,
        reason: reason.to_string(),
    }
}

fn decode_ethernet(bytes: &[u8], offset: usize) -> Result<Decoded, ProbeError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(bytes)
        .map_err(|e| malformed("ethernet", offset, e))?;
    let et = eth.ether_type().0;
    if et != 0x0800 {
        return Err(ProbeError::NotIpv4(et));
    }
    decode_ipv4(eth.payload_slice(), offset + 14)
}

/// An IPv4 packet, looking one level into VXLAN (UDP 8472/4789) or IPIP.
fn decode_ipv4(bytes: &[u8], offset: usize) -> Result<Decoded, ProbeError> {
    let ip = Ipv4Slice::from_slice(bytes).map_err(|e| malformed("ipv4", offset, e))?;
    let h = ip.header();
    let mut d = Decoded {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        proto: h.protocol().0,
        encap: None,
        inner_src: None,
        inner_dst: None,
        inner_proto: None,
    };
    let payload = ip.payload().payload;
    let inner_off = offset + usize::from(h.ihl()) * 4;
    if h.protocol() == IpNumber::IPV4 {
        set_inner(&mut d, payload, inner_off)?;
        d.encap = Some(Encap::Ipip);
    } else if h.protocol() == IpNumber::UDP {
        decode_vxlan(&mut d, payload, inner_off)?;
    }
    Ok(d)
}

fn set_inner(d: &mut Decoded, bytes: &[u8], offset: usize) -> Result<(), ProbeError> {
    let ip = Ipv4Slice::from_slice(bytes).map_err(|e| malformed("inner ipv4", offset, e))?;
    d.inner_src = Some(IpAddr::V4(ip.header().source_addr()));
    d.inner_dst = Some(IpAddr::V4(ip.header().destination_addr()));
    d.inner_proto = Some(ip.header().protocol().0);
    Ok(())
}

/// UDP to a VXLAN port: the 8-byte VXLAN header (flags with the I bit,
/// 24-bit VNI), then the inner Ethernet frame.
fn decode_vxlan(d: &mut Decoded, bytes: &[u8], offset: usize) -> Result<(), ProbeError> {
    let udp = UdpSlice::from_slice(bytes).map_err(|e| malformed("udp", offset, e))?;
    let port = udp.destination_port();
    if !VXLAN_PORTS.contains(&port) {
        return Ok(());
    }
    let v = udp.payload();
    let off = offset + 8;
    let hdr = v
        .get(..8)
        .ok_or_else(|| malformed("vxlan", off, "shorter than 8 bytes"))?;
    if hdr[0] & 0x08 == 0 {
        return Err(malformed("vxlan", off, "VNI flag (I) not set"));
    }
    let vni = u32::from_be_bytes([0, hdr[4], hdr[5], hdr[6]]);
    let inner = decode_ethernet(&v[8..], off + 8)?;
    d.encap = Some(Encap::Vxlan { vni, port });
    d.inner_src = Some(inner.src);
    d.inner_dst = Some(inner.dst);
    d.inner_proto = Some(inner.proto);
    Ok(())
}

/// Where to capture: an interface in a namespace, with a BPF filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSpec {
    pub netns: Option<NetnsTarget>,
    pub iface: String,
    pub filter: String,
}

/// What one capture saw (frames it could not decode are counted, not kept).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captured {
    pub frames: Vec<Decoded>,
    pub undecoded: usize,
}

/// Opens every capture (each on its own thread, inside its namespace),
/// calls `send` once all are live, and returns what each saw within
/// `timeout` of the send. One capture failing does not fail the others.
pub fn capture_while(
    specs: &[CaptureSpec],
    timeout: Duration,
    send: impl FnOnce() -> Result<(), ProbeError>,
) -> Result<Vec<Result<Captured, ProbeError>>, ProbeError> {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<Instant>();
    std::thread::scope(|s| {
        let mut gos = Vec::new();
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| {
                let (tx, rx) = mpsc::channel::<Instant>();
                gos.push(tx);
                let ready = ready_tx.clone();
                s.spawn(move || capture_one(spec, &ready, &rx))
            })
            .collect();
        drop(ready_tx);
        // Every thread reports once, ready or failed.
        for _ in 0..specs.len() {
            if ready_rx.recv().is_err() {
                break;
            }
        }
        let sent = send();
        let deadline = Instant::now() + timeout;
        for g in &gos {
            let _ = g.send(deadline);
        }
        drop(go_tx);
        drop(go_rx);
        let results = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(ProbeError::ThreadPanicked)))
            .collect();
        sent.map(|()| results)
    })
}

/// Without libpcap (the default build, so that cnictl builds on a machine
/// without libpcap-dev): every capture fails with how to get one.
#[cfg(not(feature = "pcap"))]
fn capture_one(
    spec: &CaptureSpec,
    ready: &mpsc::Sender<()>,
    _go: &mpsc::Receiver<Instant>,
) -> Result<Captured, ProbeError> {
    let _ = ready.send(());
    Err(ProbeError::Capture {
        iface: spec.iface.clone(),
        reason: "this cnictl was built without libpcap: rebuild with `cargo build --release --features probe` (needs libpcap-dev)".into(),
    })
}

/// One capture thread: enter the namespace and open the capture, say
/// ready (also on failure, so the sender never waits for a dead thread),
/// wait for the deadline, read until it.
#[cfg(feature = "pcap")]
fn capture_one(
    spec: &CaptureSpec,
    ready: &mpsc::Sender<()>,
    go: &mpsc::Receiver<Instant>,
) -> Result<Captured, ProbeError> {
    let opened = open(spec);
    let _ = ready.send(());
    let (mut cap, linktype) = opened?;
    let Ok(deadline) = go.recv() else {
        return Ok(Captured::default());
    };
    let mut out = Captured::default();
    while Instant::now() < deadline {
        match cap.next_packet() {
            Ok(p) => match decode_frame(linktype, p.data) {
                Ok(d) => out.frames.push(d),
                Err(_) => out.undecoded += 1,
            },
            // Non-blocking: nothing queued right now.
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(POLL),
            Err(e) => return Err(capture_error(spec, e)),
        }
    }
    Ok(out)
}

#[cfg(feature = "pcap")]
fn capture_error(spec: &CaptureSpec, e: pcap::Error) -> ProbeError {
    ProbeError::Capture {
        iface: spec.iface.clone(),
        reason: e.to_string(),
    }
}

/// A live capture on the spec's interface, in its namespace, filtered,
/// non-blocking; with its link type.
#[cfg(feature = "pcap")]
fn open(spec: &CaptureSpec) -> Result<(pcap::Capture<pcap::Active>, i32), ProbeError> {
    if let Some(t) = &spec.netns {
        enter_netns(t)?;
    }
    let err = |e| capture_error(spec, e);
    let mut cap = pcap::Capture::from_device(spec.iface.as_str())
        .map_err(err)?
        .immediate_mode(true)
        .snaplen(256)
        .timeout(50)
        .open()
        .map_err(err)?;
    cap.filter(&spec.filter, true).map_err(err)?;
    let linktype = cap.get_datalink().0;
    // Non-blocking: on Linux a read timeout does not bound pcap_next_ex
    // when no packet comes (it polls again), so the deadline is ours.
    let cap = cap.setnonblock().map_err(err)?;
    Ok((cap, linktype))
}

/// Moves this thread (only) into the target network namespace.
#[cfg(feature = "pcap")]
fn enter_netns(t: &NetnsTarget) -> Result<(), ProbeError> {
    let path = t.path();
    let io = |source| ProbeError::Netns {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(&path).map_err(io)?;
    // SAFETY: setns on a valid open fd; CLONE_NEWNET affects only this
    // thread, which is a scoped capture thread that ends after the capture.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The probe to send (`explain --probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    pub dst: IpAddr,
    /// `Some(port)`: one UDP datagram; `None`: one ICMP echo.
    pub udp_port: Option<u16>,
    /// IP total length of the echo (ping's payload is this minus 28).
    pub size: u32,
    /// Don't Fragment (`ping -M do`, else `-M dont`).
    pub df: bool,
}

/// Sends one probe from the named namespace with `ip netns exec`: `ping
/// -c1 -W1`, or a UDP datagram through bash's /dev/udp. Returns whether
/// ping got its reply (always false for UDP, which has none to wait for).
pub fn send_probe(netns: &str, p: &ProbeSpec) -> Result<bool, ProbeError> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns]);
    match p.udp_port {
        None => {
            let payload = p.size.saturating_sub(28).to_string();
            let pmtu = if p.df { "do" } else { "dont" };
            cmd.args(["ping", "-c1", "-W1", "-q", "-s", &payload, "-M", pmtu]);
            cmd.arg(p.dst.to_string());
        }
        Some(port) => {
            let dst = p.dst;
            cmd.args([
                "bash",
                "-c",
                &format!("echo cnictl-probe > /dev/udp/{dst}/{port}"),
            ]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| ProbeError::Send(format!("running ip netns exec {netns}: {e}")))?;
    Ok(p.udp_port.is_none() && out.status.success())
}

/// What the wire should show at one capture point.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WireExpect {
    pub inner_src: IpAddr,
    pub inner_dst: IpAddr,
    /// Outer addresses when the point sees the packet encapsulated.
    pub outer: Option<(IpAddr, IpAddr)>,
    pub encap: Option<Encap>,
}

/// Checks what a capture saw against the expectation: the probe (matched
/// by its inner src/dst) must be there, with the expected outer header.
pub fn check_wire(frames: &[Decoded], e: &WireExpect) -> Result<Decoded, String> {
    let ours: Vec<&Decoded> = frames
        .iter()
        .filter(|d| d.innermost() == (e.inner_src, e.inner_dst))
        .collect();
    let Some(first) = ours.first() else {
        return Err(format!(
            "no packet {} → {} seen ({} other frames)",
            e.inner_src,
            e.inner_dst,
            frames.len()
        ));
    };
    let good = ours
        .iter()
        .find(|d| d.encap == e.encap && e.outer.is_none_or(|(s, t)| (d.src, d.dst) == (s, t)));
    match good {
        Some(d) => Ok((*d).clone()),
        None => Err(format!(
            "expected {}, saw {}",
            describe_expect(e),
            describe(first)
        )),
    }
}

fn describe_expect(e: &WireExpect) -> String {
    let inner = format!("{} → {}", e.inner_src, e.inner_dst);
    match (e.outer, e.encap) {
        (Some((s, d)), Some(enc)) => format!("{s} → {d} {} [{inner}]", encap_text(enc)),
        _ => format!("{inner} (not encapsulated)"),
    }
}

/// One decoded frame as a line: outer, encapsulation, inner.
pub fn describe(d: &Decoded) -> String {
    match (d.encap, d.inner_src, d.inner_dst) {
        (Some(enc), Some(s), Some(t)) => {
            format!("{} → {} {} [{s} → {t}]", d.src, d.dst, encap_text(enc))
        }
        _ => format!(
            "{} → {} (not encapsulated, proto {})",
            d.src, d.dst, d.proto
        ),
    }
}

fn encap_text(e: Encap) -> String {
    match e {
        Encap::Vxlan { vni, port } => format!("vxlan vni {vni} udp/{port}"),
        Encap::Ipip => "ipip".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        let len = (20 + payload.len()) as u16;
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn short_and_foreign_frames_are_named_errors() {
        let e = decode_frame(LINKTYPE_ETHERNET, &[0; 10]).unwrap_err();
        assert!(e.to_string().contains("ethernet"), "{e}");
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(matches!(
            decode_frame(LINKTYPE_ETHERNET, &arp),
            Err(ProbeError::NotIpv4(0x0806))
        ));
        assert!(matches!(
            decode_frame(999, &arp),
            Err(ProbeError::LinkType(999))
        ));
        assert_eq!(ProbeError::LinkType(1).code(), "decode");
    }

    #[test]
    fn check_wire_reports_both_sides() {
        let icmp = ipv4(
            [10, 244, 1, 2],
            [10, 244, 2, 3],
            1,
            &[8, 0, 0, 0, 0, 0, 0, 0],
        );
        let d = decode_frame(DLT_RAW, &icmp).unwrap();
        let e = WireExpect {
            inner_src: "10.244.1.2".parse().unwrap(),
            inner_dst: "10.244.2.3".parse().unwrap(),
            outer: Some(("192.0.2.11".parse().unwrap(), "192.0.2.12".parse().unwrap())),
            encap: Some(Encap::Vxlan { vni: 1, port: 8472 }),
        };
        let err = check_wire(std::slice::from_ref(&d), &e).unwrap_err();
        assert!(err.contains("not encapsulated"), "{err}");
        let plain = WireExpect {
            outer: None,
            encap: None,
            ..e.clone()
        };
        assert_eq!(check_wire(&[d], &plain).unwrap().proto, 1);
        assert!(check_wire(&[], &plain).unwrap_err().contains("no packet"));
    }
}
