//! Netlink replies → model: the decoders of the rtnetlink and IPVS
//! messages the live collector dumps, over zero-copy attribute walking.
//!
//! Replies are decoded straight from the receive buffer rather than into
//! `netlink-packet-route`'s owned attribute vectors: a 100k-route table
//! costs ~70 ms to dump raw but 120–300 ms parsed that way (LAB-NOTES), and
//! one attribute that crate fails to parse would fail the whole message — a
//! collector must keep going over kernel attributes it does not know.
//! Nothing here does IO: the sockets are in `cnictl-collect`. Tested on
//! bytes captured from a kernel (`tests/netlink_captured.rs`).

pub mod consts;
pub mod ipvs;
pub mod link;
pub mod neigh;
pub mod route;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use consts::{NLA_TYPE_MASK, NLMSG_HDRLEN};

/// One netlink message of a datagram: its header fields and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// A message header whose length does not fit the bytes left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("netlink message length {len} with {left} bytes left")]
pub struct BadLength {
    pub len: usize,
    pub left: usize,
}

/// Zero-copy iterator over the netlink messages of a datagram (or of
/// datagrams recorded back to back); ends with one `Err` at a bad length.
#[derive(Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
}

pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, BadLength>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = read_u32(buf)? as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            self.buf = &[];
            return Some(Err(BadLength {
                len,
                left: buf.len(),
            }));
        }
        self.buf = &buf[align4(len).min(buf.len())..];
        Some(Ok(Message {
            kind: read_u16(&buf[4..])?,
            flags: read_u16(&buf[6..])?,
            seq: read_u32(&buf[8..])?,
            payload: &buf[NLMSG_HDRLEN..len],
        }))
    }
}

pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Encodes one attribute (header, value, padding to 4 bytes): for
/// requests, and for building replies in tests.
pub fn nla(kind: u16, v: &[u8]) -> Vec<u8> {
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
pub struct Attrs<'a> {
    buf: &'a [u8],
}

pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([self.buf[0], self.buf[1]]) as usize;
        let kind = u16::from_ne_bytes([self.buf[2], self.buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > self.buf.len() {
            self.buf = &[];
            return None;
        }
        let value = &self.buf[4..len];
        self.buf = &self.buf[align4(len).min(self.buf.len())..];
        Some((kind, value))
    }
}

pub fn read_u8(v: &[u8]) -> Option<u8> {
    v.first().copied()
}

pub fn read_u16(v: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?))
}

/// A port or other field the kernel stores in network byte order.
pub fn read_be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}

pub fn read_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

pub fn read_i32(v: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// A 4- or 16-byte address; anything else is not an IP address.
pub fn read_ip(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
        _ => None,
    }
}

/// A NUL-terminated (or not) attribute string.
pub fn read_str(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A six-byte hardware address as the model stores it (lower case, zero
/// padded); other lengths (tunnel devices' IPv4 "addresses") are not MACs.
pub fn read_mac(v: &[u8]) -> Option<String> {
    if v.len() != 6 {
        return None;
    }
    Some(format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        v[0], v[1], v[2], v[3], v[4], v[5]
    ))
}

/// The all-zero address of a family is "unset" in most kernel attributes.
pub fn is_unspecified(ip: &IpAddr) -> bool {
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

    #[test]
    fn messages_walk_aligned_and_stop_at_a_bad_length() {
        let mut buf = Vec::new();
        for (kind, payload) in [(16u16, &[1u8, 2, 3][..]), (3, &[0, 0, 0, 0][..])] {
            buf.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(&2u16.to_ne_bytes());
            buf.extend_from_slice(&7u32.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(payload);
            buf.resize(align4(buf.len()), 0);
        }
        buf.extend_from_slice(&[99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(got.len(), 3);
        let first = got[0].as_ref().unwrap();
        assert_eq!(
            (first.kind, first.flags, first.seq, first.payload),
            (16, 2, 7, &[1u8, 2, 3][..])
        );
        assert_eq!(got[1].as_ref().unwrap().kind, 3);
        assert_eq!(got[2], Err(BadLength { len: 99, left: 16 }));
    }
}
