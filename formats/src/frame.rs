//! Captured frames → the IPv4 headers on the wire: Ethernet → IPv4 → UDP
//! 8472/4789 → VXLAN → inner Ethernet → inner IPv4; IPv4 proto 4 → inner
//! IPv4; RAW link type for tunl0. Pure; `cnictl-collect`'s probe captures
//! the frames. Tested on recorded pcaps (collect/tests/data/pcap/).

use std::net::IpAddr;

use etherparse::{Ethernet2Slice, IpNumber, Ipv4Slice, UdpSlice};

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

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
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
pub fn decode_frame(linktype: i32, bytes: &[u8]) -> Result<Decoded, FrameError> {
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
                return Err(FrameError::NotIpv4(proto));
            }
            decode_ipv4(&bytes[16..], 16)
        }
        other => Err(FrameError::LinkType(other)),
    }
}

fn malformed(layer: &'static str, offset: usize, reason: impl ToString) -> FrameError {
    FrameError::Malformed {
        layer,
        offset,
        reason: reason.to_string(),
    }
}

fn decode_ethernet(bytes: &[u8], offset: usize) -> Result<Decoded, FrameError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(bytes)
        .map_err(|e| malformed("ethernet", offset, e))?;
    let et = eth.ether_type().0;
    if et != 0x0800 {
        return Err(FrameError::NotIpv4(et));
    }
    decode_ipv4(eth.payload_slice(), offset + 14)
}

/// An IPv4 packet, looking one level into VXLAN (UDP 8472/4789) or IPIP.
fn decode_ipv4(bytes: &[u8], offset: usize) -> Result<Decoded, FrameError> {
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

fn set_inner(d: &mut Decoded, bytes: &[u8], offset: usize) -> Result<(), FrameError> {
    let ip = Ipv4Slice::from_slice(bytes).map_err(|e| malformed("inner ipv4", offset, e))?;
    d.inner_src = Some(IpAddr::V4(ip.header().source_addr()));
    d.inner_dst = Some(IpAddr::V4(ip.header().destination_addr()));
    d.inner_proto = Some(ip.header().protocol().0);
    Ok(())
}

/// UDP to a VXLAN port: the 8-byte VXLAN header (flags with the I bit,
/// 24-bit VNI), then the inner Ethernet frame.
fn decode_vxlan(d: &mut Decoded, bytes: &[u8], offset: usize) -> Result<(), FrameError> {
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

/// One decoded frame as a line: outer, encapsulation, inner.
pub fn describe(d: &Decoded) -> String {
    match (d.encap, d.inner_src, d.inner_dst) {
        (Some(enc), Some(s), Some(t)) => {
            format!("{} → {} {} [{s} → {t}]", d.src, d.dst, describe_encap(enc))
        }
        _ => format!(
            "{} → {} (not encapsulated, proto {})",
            d.src, d.dst, d.proto
        ),
    }
}

/// The encapsulation as a phrase (`vxlan vni 1 udp/8472`, `ipip`).
pub fn describe_encap(e: Encap) -> String {
    match e {
        Encap::Vxlan { vni, port } => format!("vxlan vni {vni} udp/{port}"),
        Encap::Ipip => "ipip".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_foreign_frames_are_named_errors() {
        let e = decode_frame(LINKTYPE_ETHERNET, &[0; 10]).unwrap_err();
        assert!(e.to_string().contains("ethernet"), "{e}");
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(matches!(
            decode_frame(LINKTYPE_ETHERNET, &arp),
            Err(FrameError::NotIpv4(0x0806))
        ));
        assert!(matches!(
            decode_frame(999, &arp),
            Err(FrameError::LinkType(999))
        ));
    }
}
