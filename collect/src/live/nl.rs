//! Netlink plumbing shared by the live collectors: a blocking dump over a
//! `netlink-sys` socket, and zero-copy attribute walking.
//!
//! Requests are serialized with `netlink-packet-route` / `-generic`; replies
//! are decoded here straight from the receive buffer. A 100k-route table
//! costs ~70 ms to dump raw but 120–300 ms when every message is parsed into
//! owned `RouteAttribute` vectors (LAB-NOTES), and one attribute the crate
//! fails to parse would fail the whole message — a live collector must keep
//! going over kernel attributes it does not know.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_sys::Socket;

use super::LiveError;

/// How many times an interrupted dump (`NLM_F_DUMP_INTR`: the table changed
/// while it was being read) is restarted before giving up.
const DUMP_ATTEMPTS: usize = 5;
/// Receive buffer for one `recv`. Dump replies come in skbs of at most
/// 32 KiB, except when one message is larger (a NIC with many SR-IOV VFs):
/// the kernel then sizes the skb for it. Untouched capacity costs no RSS.
const RECV_BUF: usize = 1024 * 1024;
/// Socket receive queue: large enough that a dump is never throttled by a
/// full queue while the collector decodes.
const RCVBUF_BYTES: usize = 4 * 1024 * 1024;

const NLMSG_HDR: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;

/// Where netlink datagrams go and come from: the kernel socket, or a
/// recorded exchange in tests.
pub(crate) trait Transport {
    fn send(&mut self, request: &[u8]) -> std::io::Result<()>;
    /// Appends one datagram to `buf` (empty); returns its full length,
    /// which exceeds `buf.len()` when it was truncated.
    fn recv(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize>;
}

impl Transport for Socket {
    fn send(&mut self, request: &[u8]) -> std::io::Result<()> {
        Socket::send(self, request, 0).map(|_| ())
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        Socket::recv(self, buf, libc::MSG_TRUNC)
    }
}

/// A netlink socket of one protocol, bound in the network namespace of the
/// thread that opened it (a socket keeps that netns for its lifetime).
pub(crate) struct NlSocket<T: Transport = Socket> {
    sock: T,
    seq: u32,
    buf: Vec<u8>,
}

impl NlSocket<Socket> {
    pub(crate) fn open(protocol: isize) -> Result<Self, LiveError> {
        let io = |source| LiveError::Socket { source };
        let mut sock = Socket::new(protocol).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        // A failure here only costs speed: the default queue still works.
        let _ = sock.set_rx_buf_sz(RCVBUF_BYTES);
        Ok(NlSocket::over(sock))
    }
}

impl<T: Transport> NlSocket<T> {
    pub(crate) fn over(sock: T) -> Self {
        NlSocket {
            sock,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        }
    }

    /// Serializes `payload` as a dump request with a fresh sequence number.
    pub(crate) fn request<I: NetlinkSerializable>(&mut self, payload: I) -> Vec<u8> {
        self.request_flags(payload, NLM_F_REQUEST | NLM_F_DUMP)
    }

    pub(crate) fn request_flags<I: NetlinkSerializable>(
        &mut self,
        payload: I,
        flags: u16,
    ) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        bytes
    }

    /// Sends a dump request and decodes every reply with `decode`, which
    /// gets `(nlmsg_type, payload)` and pushes what it made into the output.
    /// An interrupted dump is restarted from scratch, at most
    /// [`DUMP_ATTEMPTS`] times, so the result is one consistent table.
    pub(crate) fn dump<Item>(
        &mut self,
        what: &'static str,
        request: &[u8],
        mut decode: impl FnMut(u16, &[u8], &mut Vec<Item>),
    ) -> Result<Vec<Item>, LiveError> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            if self.dump_once(what, request, &mut |t, p| decode(t, p, &mut out))? {
                return Ok(out);
            }
        }
        Err(LiveError::DumpInterrupted {
            what,
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// One pass of a dump; `Ok(false)` when the kernel flagged it as
    /// interrupted (the replies are drained to NLMSG_DONE either way).
    fn dump_once(
        &mut self,
        what: &'static str,
        request: &[u8],
        each: &mut dyn FnMut(u16, &[u8]),
    ) -> Result<bool, LiveError> {
        let seq = request_seq(request);
        self.sock
            .send(request)
            .map_err(|source| LiveError::Io { what, source })?;
        let mut consistent = true;
        loop {
            self.buf.clear();
            let n = self
                .sock
                .recv(&mut self.buf)
                .map_err(|source| LiveError::Io { what, source })?;
            if n > self.buf.len() {
                return Err(LiveError::Decode {
                    what,
                    reason: format!("reply of {n} bytes truncated to {}", self.buf.len()),
                });
            }
            match walk_messages(what, &self.buf, seq, &mut consistent, each)? {
                Walk::Done => return Ok(consistent),
                Walk::More => continue,
            }
        }
    }

    /// Sends one request and returns the payloads of its replies (for
    /// non-dump requests such as genetlink's family lookup).
    pub(crate) fn transact(
        &mut self,
        what: &'static str,
        request: &[u8],
    ) -> Result<Vec<Vec<u8>>, LiveError> {
        let mut out = Vec::new();
        let mut consistent = true;
        let seq = request_seq(request);
        self.sock
            .send(request)
            .map_err(|source| LiveError::Io { what, source })?;
        loop {
            self.buf.clear();
            self.sock
                .recv(&mut self.buf)
                .map_err(|source| LiveError::Io { what, source })?;
            let mut got_any = false;
            let walk = walk_messages(what, &self.buf, seq, &mut consistent, &mut |_, p| {
                got_any = true;
                out.push(p.to_vec());
            })?;
            if matches!(walk, Walk::Done) || (got_any && !is_multipart(&self.buf)) {
                return Ok(out);
            }
        }
    }
}

/// The sequence number of a request this module serialized.
fn request_seq(request: &[u8]) -> u32 {
    request.get(8..12).and_then(read_u32).unwrap_or(0)
}

fn is_multipart(buf: &[u8]) -> bool {
    buf.len() >= NLMSG_HDR && u16::from_ne_bytes([buf[6], buf[7]]) & 2 != 0
}

enum Walk {
    Done,
    More,
}

/// Walks the netlink messages of one datagram, handing data messages of
/// our sequence to `each`; stops at NLMSG_DONE or an error.
fn walk_messages(
    what: &'static str,
    mut buf: &[u8],
    seq: u32,
    consistent: &mut bool,
    each: &mut dyn FnMut(u16, &[u8]),
) -> Result<Walk, LiveError> {
    while buf.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDR || len > buf.len() {
            return Err(LiveError::Decode {
                what,
                reason: format!("netlink message length {len} with {} bytes left", buf.len()),
            });
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let flags = u16::from_ne_bytes([buf[6], buf[7]]);
        let msg_seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let payload = &buf[NLMSG_HDR..len];
        buf = &buf[align4(len).min(buf.len())..];
        if msg_seq != seq {
            continue;
        }
        if flags & NLM_F_DUMP_INTR != 0 {
            *consistent = false;
        }
        match kind {
            NLMSG_NOOP => {}
            NLMSG_DONE => return done_status(what, payload),
            NLMSG_ERROR => {
                let errno = read_i32(payload).unwrap_or(0);
                if errno == 0 {
                    return Ok(Walk::Done);
                }
                return Err(LiveError::Kernel {
                    what,
                    errno: -errno,
                });
            }
            NLMSG_OVERRUN => {
                return Err(LiveError::Decode {
                    what,
                    reason: "netlink overrun".into(),
                })
            }
            _ => each(kind, payload),
        }
    }
    Ok(Walk::More)
}

/// NLMSG_DONE of a dump carries the dump's own status (a negative errno).
fn done_status(what: &'static str, payload: &[u8]) -> Result<Walk, LiveError> {
    match read_i32(payload) {
        Some(e) if e < 0 => Err(LiveError::Kernel { what, errno: -e }),
        _ => Ok(Walk::Done),
    }
}

pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Encodes one attribute (header, value, padding to 4 bytes): for
/// requests, and for building replies in tests.
pub(crate) fn nla(kind: u16, v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(align4(4 + v.len()));
    let len = u16::try_from(4 + v.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(v);
    out.resize(align4(out.len()), 0);
    out
}

/// Zero-copy iterator over netlink attributes: yields `(type, value)` with
/// the NESTED / NET_BYTEORDER bits masked off, and stops quietly at a
/// malformed tail (an attribute claiming more bytes than are left).
#[derive(Clone)]
pub(crate) struct Attrs<'a> {
    buf: &'a [u8],
}

pub(crate) fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([self.buf[0], self.buf[1]]) as usize;
        let kind = u16::from_ne_bytes([self.buf[2], self.buf[3]]) & 0x3fff;
        if len < 4 || len > self.buf.len() {
            self.buf = &[];
            return None;
        }
        let value = &self.buf[4..len];
        self.buf = &self.buf[align4(len).min(self.buf.len())..];
        Some((kind, value))
    }
}

pub(crate) fn read_u8(v: &[u8]) -> Option<u8> {
    v.first().copied()
}

pub(crate) fn read_u16(v: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?))
}

/// A port or other field the kernel stores in network byte order.
pub(crate) fn read_be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}

pub(crate) fn read_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

pub(crate) fn read_i32(v: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// A 4- or 16-byte address; anything else is not an IP address.
pub(crate) fn read_ip(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        16 => {
            let octets: [u8; 16] = v.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// A NUL-terminated (or not) attribute string.
pub(crate) fn read_str(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A six-byte hardware address as the model stores it (lower case, zero
/// padded); other lengths (tunnel devices' IPv4 "addresses") are not MACs.
pub(crate) fn read_mac(v: &[u8]) -> Option<String> {
    if v.len() != 6 {
        return None;
    }
    Some(format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        v[0], v[1], v[2], v[3], v[4], v[5]
    ))
}

/// The all-zero address of a family is "unset" in most kernel attributes.
pub(crate) fn is_unspecified(ip: &IpAddr) -> bool {
    ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_walk_aligned_values_and_stop_at_a_bad_tail() {
        // type 1 len 5 ("a\0" padded), type 0x8002 (nested flag) len 8, then a lie.
        let bytes = [
            5, 0, 1, 0, b'a', 0, 0, 0, 8, 0, 2, 0x80, 1, 2, 3, 4, 40, 0, 3, 0,
        ];
        let got: Vec<_> = attrs(&bytes).collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (2, &[1u8, 2, 3, 4][..])]);
    }

    #[test]
    fn addresses_macs_and_strings_decode() {
        assert_eq!(read_ip(&[10, 0, 0, 1]), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(read_ip(&[1, 2, 3]), None);
        assert_eq!(
            read_mac(&[0xe, 0, 0xa, 0xb, 0xc, 0xd]).as_deref(),
            Some("0e:00:0a:0b:0c:0d")
        );
        assert_eq!(read_mac(&[0, 0, 0, 0]), None);
        assert_eq!(read_str(b"eth0\0"), "eth0");
        assert_eq!(read_be16(&[0x21, 0x18]), Some(8472));
    }

    fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = ((NLMSG_HDR + payload.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m
    }

    /// Replays one datagram per `recv`, each built for the sequence number
    /// of the last request: `passes[i]` answers the i-th request.
    struct Replay {
        seq: u32,
        sent: usize,
        passes: Vec<Vec<(u16, u16, Vec<u8>)>>,
        queue: Vec<Vec<u8>>,
    }

    impl Transport for Replay {
        fn send(&mut self, request: &[u8]) -> std::io::Result<()> {
            self.seq = request_seq(request);
            let pass = self.passes.get(self.sent).cloned().unwrap_or_default();
            self.sent += 1;
            self.queue = pass
                .into_iter()
                .rev()
                .map(|(k, f, p)| message(k, f, self.seq, &p))
                .collect();
            Ok(())
        }

        fn recv(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
            let d = self.queue.pop().ok_or(std::io::ErrorKind::UnexpectedEof)?;
            buf.extend_from_slice(&d);
            Ok(d.len())
        }
    }

    struct Ping;
    impl NetlinkSerializable for Ping {
        fn message_type(&self) -> u16 {
            16
        }
        fn buffer_len(&self) -> usize {
            4
        }
        fn serialize(&self, buffer: &mut [u8]) {
            buffer.fill(0);
        }
    }

    fn replay(passes: Vec<Vec<(u16, u16, Vec<u8>)>>) -> NlSocket<Replay> {
        NlSocket::over(Replay {
            seq: 0,
            sent: 0,
            passes,
            queue: Vec::new(),
        })
    }

    #[test]
    fn interrupted_dumps_are_retried_from_scratch() {
        let done = (NLMSG_DONE, 2, vec![0, 0, 0, 0]);
        let mut s = replay(vec![
            vec![(16, 2 | NLM_F_DUMP_INTR, vec![1]), done.clone()],
            vec![(16, 2, vec![2]), (16, 2, vec![3]), done.clone()],
        ]);
        let req = s.request(Ping);
        let got = s
            .dump("test", &req, |_, p, out: &mut Vec<u8>| out.push(p[0]))
            .unwrap();
        assert_eq!(got, vec![2, 3]);

        let mut s = replay(vec![
            vec![(16, 2 | NLM_F_DUMP_INTR, vec![1]), done];
            DUMP_ATTEMPTS
        ]);
        let req = s.request(Ping);
        let err = s
            .dump("test", &req, |_, _, _: &mut Vec<u8>| {})
            .unwrap_err();
        assert!(
            matches!(
                err,
                LiveError::DumpInterrupted {
                    attempts: DUMP_ATTEMPTS,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.code(), "dump_interrupted");
    }

    #[test]
    fn dump_errors_in_nlmsg_done_are_reported() {
        let mut s = replay(vec![vec![(
            NLMSG_DONE,
            2,
            (-libc::EINVAL).to_ne_bytes().to_vec(),
        )]]);
        let req = s.request(Ping);
        let err = s
            .dump("test", &req, |_, _, _: &mut Vec<u8>| {})
            .unwrap_err();
        assert!(
            matches!(err, LiveError::Kernel { errno, .. } if errno == libc::EINVAL),
            "{err}"
        );
    }

    #[test]
    fn walk_reports_errors_and_interrupted_dumps() {
        let mut msg = Vec::new();
        // A data message flagged DUMP_INTR, then NLMSG_DONE.
        for (kind, flags, payload) in [
            (16u16, NLM_F_DUMP_INTR | 2, vec![7u8, 0, 0, 0]),
            (NLMSG_DONE, 2, vec![0, 0, 0, 0]),
        ] {
            msg.extend_from_slice(&((NLMSG_HDR + payload.len()) as u32).to_ne_bytes());
            msg.extend_from_slice(&kind.to_ne_bytes());
            msg.extend_from_slice(&flags.to_ne_bytes());
            msg.extend_from_slice(&9u32.to_ne_bytes());
            msg.extend_from_slice(&0u32.to_ne_bytes());
            msg.extend_from_slice(&payload);
        }
        let mut consistent = true;
        let mut seen = Vec::new();
        let walk = walk_messages("test", &msg, 9, &mut consistent, &mut |k, p| {
            seen.push((k, p.to_vec()))
        });
        assert!(matches!(walk, Ok(Walk::Done)));
        assert!(!consistent);
        assert_eq!(seen, vec![(16, vec![7, 0, 0, 0])]);

        let mut err = Vec::new();
        err.extend_from_slice(&20u32.to_ne_bytes());
        err.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err.extend_from_slice(&0u16.to_ne_bytes());
        err.extend_from_slice(&9u32.to_ne_bytes());
        err.extend_from_slice(&0u32.to_ne_bytes());
        err.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        let walk = walk_messages("test", &err, 9, &mut consistent, &mut |_, _| {});
        assert!(matches!(walk, Err(LiveError::Kernel { errno, .. }) if errno == libc::EPERM));
    }
}
