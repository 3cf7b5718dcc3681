//! `explain --probe`: capture one probe packet with libpcap at the
//! interfaces the reference dataplane predicts, and decode what is on the
//! wire (Ethernet → IPv4 → UDP 8472/4789 → VXLAN → inner Ethernet → inner
//! IPv4; IPv4 proto 4 → inner IPv4; RAW link type for tunl0).
//!
//! Frames are decoded by [`cnictl_formats::frame::decode_frame`] (pure,
//! tested on recorded pcaps in collect/tests/data/pcap/). [`capture_while`] opens each capture on its
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

use cnictl_formats::frame::{describe, describe_encap, Decoded, Encap, FrameError};

use crate::live::NetnsTarget;

/// How long a capture thread sleeps when nothing is queued.
#[cfg(feature = "pcap")]
const POLL: Duration = Duration::from_millis(5);

/// Why a frame could not be decoded or a capture not run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
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
            ProbeError::Frame(_) => "decode",
            ProbeError::Netns { .. } => "netns",
            ProbeError::Capture { .. } => "capture",
            ProbeError::Send(_) => "send",
            ProbeError::ThreadPanicked => "internal",
        }
    }
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
            Ok(p) => match cnictl_formats::frame::decode_frame(linktype, p.data) {
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
        (Some((s, d)), Some(enc)) => format!("{s} → {d} {} [{inner}]", describe_encap(enc)),
        _ => format!("{inner} (not encapsulated)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_formats::frame::{decode_frame, DLT_RAW};

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
