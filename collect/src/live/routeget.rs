//! `ip route get`, over netlink: asks a namespace's kernel which route it
//! would use for one packet (RTM_GETROUTE with dst, src, iif or oif, mark)
//! and decodes the answer into a [`Route`] (type, table, dev, gateway,
//! prefsrc). Used by `explain --validate` to hold the reference dataplane
//! against the real one.
//!
//! Read-only: a route get creates no state the kernel keeps. Queries for
//! another namespace run on a dedicated thread that entered it (see
//! [`super::netns`]); interface names are resolved to ifindexes (and back)
//! on that thread, so they are the target namespace's.

use std::ffi::{CStr, CString};
use std::net::IpAddr;

use cnictl_formats::netlink::route::decode_route_get;
use cnictl_model::Route;

use super::netns::{run_in, NetnsTarget};
use netlink_packet_core::NLM_F_REQUEST;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::nl::NlSocket;
use super::LiveError;

/// One question for the kernel, as `ip route get DST [from SRC] [iif DEV |
/// oif DEV] [mark M]` asks it. With `iif` the kernel answers as for a packet
/// received on that device (input route, forwarding); without, as for one
/// sent from this namespace (output route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteGet {
    pub dst: IpAddr,
    pub src: Option<IpAddr>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub mark: u32,
}

impl RouteGet {
    /// The equivalent `ip route get` command line (for messages and docs).
    pub fn command(&self) -> String {
        let mut s = format!("ip route get {}", self.dst);
        if let Some(src) = self.src {
            s.push_str(&format!(" from {src}"));
        }
        if let Some(i) = &self.iif {
            s.push_str(&format!(" iif {i}"));
        }
        if let Some(o) = &self.oif {
            s.push_str(&format!(" oif {o}"));
        }
        if self.mark != 0 {
            s.push_str(&format!(" mark {:#x}", self.mark));
        }
        s
    }
}

/// What the kernel said about one [`RouteGet`].
#[derive(Debug, Clone, PartialEq)]
pub enum RouteGetReply {
    /// The route it would use: `dst` is the queried address as a host
    /// prefix; `dev` is the output device (`lo` for local delivery).
    Route(Route),
    /// It refused with this errno: ENETUNREACH (no route), EINVAL
    /// (blackhole), EHOSTUNREACH (unreachable, or forwarding disabled),
    /// EACCES (prohibit).
    Refused { errno: i32 },
    /// A device named in the query does not exist in the namespace.
    NoSuchDevice { name: String },
}

/// Asks the kernel of `target` (the caller's namespace when `None`) every
/// query in order, over one netlink socket. A refusal is an answer, not an
/// error; errors are failures to ask (namespace, socket, malformed reply).
pub fn route_get(
    target: Option<&NetnsTarget>,
    queries: &[RouteGet],
) -> Result<Vec<RouteGetReply>, LiveError> {
    run_in(target, || {
        let mut sock = NlSocket::open(netlink_sys::constants::NETLINK_ROUTE)?;
        queries.iter().map(|q| ask(&mut sock, q)).collect()
    })
}

/// One query on an open socket (in the namespace the socket was made in).
fn ask(sock: &mut NlSocket, q: &RouteGet) -> Result<RouteGetReply, LiveError> {
    // A device the namespace lacks is the kernel's answer, not a failure.
    let ifindex = |name: &Option<String>| -> Result<Option<u32>, String> {
        match name {
            None => Ok(None),
            Some(n) => index_of(n).map(Some).ok_or_else(|| n.clone()),
        }
    };
    let (iif, oif) = match (ifindex(&q.iif), ifindex(&q.oif)) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(name), _) | (_, Err(name)) => return Ok(RouteGetReply::NoSuchDevice { name }),
    };
    let request = sock.request_flags(
        RouteNetlinkMessage::GetRoute(request_message(q, iif, oif)),
        NLM_F_REQUEST,
    );
    match sock.transact("route get", &request) {
        Ok(replies) => decode_replies(q.dst, &replies),
        Err(LiveError::Kernel { errno, .. }) => Ok(RouteGetReply::Refused { errno }),
        Err(e) => Err(e),
    }
}

/// The rtmsg and attributes of a route get, as iproute2 builds them: host
/// prefixes for dst (and src), everything else zero.
pub(crate) fn request_message(q: &RouteGet, iif: Option<u32>, oif: Option<u32>) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let bits = if q.dst.is_ipv4() { 32 } else { 128 };
    msg.header.address_family = if q.dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    msg.header.destination_prefix_length = bits;
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(q.dst)));
    if let Some(src) = q.src {
        msg.header.source_prefix_length = bits;
        msg.attributes
            .push(RouteAttribute::Source(RouteAddress::from(src)));
    }
    if let Some(i) = iif {
        msg.attributes.push(RouteAttribute::Iif(i));
    }
    if let Some(o) = oif {
        msg.attributes.push(RouteAttribute::Oif(o));
    }
    if q.mark != 0 {
        msg.attributes.push(RouteAttribute::Mark(q.mark));
    }
    msg
}

fn decode_replies(dst: IpAddr, replies: &[Vec<u8>]) -> Result<RouteGetReply, LiveError> {
    let payload = replies.first().ok_or_else(|| LiveError::Decode {
        what: "route get",
        reason: "no RTM_NEWROUTE in the reply".into(),
    })?;
    decode_route_get(dst, payload, &|i| name_of(i))
        .map(RouteGetReply::Route)
        .ok_or_else(|| LiveError::Decode {
            what: "route get",
            reason: format!("short rtmsg of {} bytes", payload.len()),
        })
}

/// `if_nametoindex` in the calling thread's namespace.
fn index_of(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// `if_indextoname` in the calling thread's namespace.
fn name_of(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf holds IF_NAMESIZE bytes as the call requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the kernel wrote a NUL-terminated name into buf.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(dst: &str) -> RouteGet {
        RouteGet {
            dst: dst.parse().unwrap(),
            src: None,
            iif: None,
            oif: None,
            mark: 0,
        }
    }

    #[test]
    fn request_carries_dst_src_iif_and_mark_as_ip_route_get_does() {
        let mut query = q("10.244.2.3");
        query.src = Some("10.244.1.2".parse().unwrap());
        query.mark = 0x10;
        let m = request_message(&query, Some(7), None);
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(
            (
                m.header.destination_prefix_length,
                m.header.source_prefix_length
            ),
            (32, 32)
        );
        assert_eq!(
            m.attributes,
            vec![
                RouteAttribute::Destination(RouteAddress::Inet([10, 244, 2, 3].into())),
                RouteAttribute::Source(RouteAddress::Inet([10, 244, 1, 2].into())),
                RouteAttribute::Iif(7),
                RouteAttribute::Mark(0x10),
            ]
        );
        assert_eq!(
            query.command(),
            "ip route get 10.244.2.3 from 10.244.1.2 mark 0x10"
        );
    }

    #[test]
    fn asking_in_a_missing_namespace_is_a_named_error() {
        let t = NetnsTarget::Name("cnl-no-such-netns-h9".into());
        let err = route_get(Some(&t), &[q("10.0.0.1")]).unwrap_err();
        assert!(err.to_string().contains("cnl-no-such-netns-h9"), "{err}");
    }
}
