//! Netlink plumbing shared by the live collectors: a blocking dump over a
//! `netlink-sys` socket. Requests are serialized with
//! `netlink-packet-route` / `-generic`; replies are walked with
//! [`cnictl_formats::netlink::messages`] and decoded by the formats crate
//! straight from the receive buffer.

use cnictl_formats::netlink::consts::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP_INTR, NLM_F_MULTI,
};
use cnictl_formats::netlink::{align4, messages, read_i32, read_u32};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLM_F_DUMP, NLM_F_REQUEST,
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
    /// A copy of every reply datagram received, while recording.
    tape: Option<Vec<u8>>,
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
            tape: None,
        }
    }

    /// Starts keeping a copy of every reply datagram of the dumps that
    /// follow (test data for the decoders).
    pub(crate) fn start_tape(&mut self) {
        self.tape = Some(Vec::new());
    }

    /// The datagrams kept since the last call (or [`Self::start_tape`]).
    pub(crate) fn take_tape(&mut self) -> Vec<u8> {
        self.tape.as_mut().map(std::mem::take).unwrap_or_default()
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
            if let Some(tape) = &mut self.tape {
                tape.extend_from_slice(&self.buf);
                tape.resize(align4(tape.len()), 0);
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
    messages(buf)
        .next()
        .and_then(Result::ok)
        .is_some_and(|m| m.flags & NLM_F_MULTI != 0)
}

enum Walk {
    Done,
    More,
}

/// Walks the netlink messages of one datagram, handing data messages of
/// our sequence to `each`; stops at NLMSG_DONE or an error.
fn walk_messages(
    what: &'static str,
    buf: &[u8],
    seq: u32,
    consistent: &mut bool,
    each: &mut dyn FnMut(u16, &[u8]),
) -> Result<Walk, LiveError> {
    for msg in messages(buf) {
        let msg = msg.map_err(|e| LiveError::Decode {
            what,
            reason: e.to_string(),
        })?;
        if msg.seq != seq {
            continue;
        }
        if msg.flags & NLM_F_DUMP_INTR != 0 {
            *consistent = false;
        }
        if let Some(walk) = control_message(what, msg.kind, msg.payload)? {
            return Ok(walk);
        }
        if msg.kind != NLMSG_NOOP {
            each(msg.kind, msg.payload);
        }
    }
    Ok(Walk::More)
}

/// What a control message ends the walk with: `None` for data messages
/// (and NOOP), the dump's end, or the kernel's error.
fn control_message(
    what: &'static str,
    kind: u16,
    payload: &[u8],
) -> Result<Option<Walk>, LiveError> {
    match kind {
        NLMSG_DONE => done_status(what, payload).map(Some),
        NLMSG_ERROR => match read_i32(payload).unwrap_or(0) {
            0 => Ok(Some(Walk::Done)),
            errno => Err(LiveError::Kernel {
                what,
                errno: -errno,
            }),
        },
        NLMSG_OVERRUN => Err(LiveError::Decode {
            what,
            reason: "netlink overrun".into(),
        }),
        _ => Ok(None),
    }
}

/// NLMSG_DONE of a dump carries the dump's own status (a negative errno).
fn done_status(what: &'static str, payload: &[u8]) -> Result<Walk, LiveError> {
    match read_i32(payload) {
        Some(e) if e < 0 => Err(LiveError::Kernel { what, errno: -e }),
        _ => Ok(Walk::Done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_formats::netlink::consts::NLMSG_HDRLEN;

    fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = ((NLMSG_HDRLEN + payload.len()) as u32)
            .to_ne_bytes()
            .to_vec();
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
            msg.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
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
