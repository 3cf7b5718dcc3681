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

use cnictl_model::{Protocol, Route, RouteType, Scope};
use ipnet::IpNet;

use super::netns::{run_in, NetnsTarget};
use netlink_packet_core::NLM_F_REQUEST;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::nl::{attrs, read_ip, read_u32, NlSocket};
use super::LiveError;

const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;

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
    decode_answer(dst, payload, &|i| name_of(i))
        .map(RouteGetReply::Route)
        .ok_or_else(|| LiveError::Decode {
            what: "route get",
            reason: format!("short rtmsg of {} bytes", payload.len()),
        })
}

/// Decodes the RTM_NEWROUTE answer to a route get; `dev_name` maps an
/// ifindex to its name (`ifN` when unknown, as `ip` prints it).
pub(crate) fn decode_answer(
    dst: IpAddr,
    payload: &[u8],
    dev_name: &dyn Fn(u32) -> Option<String>,
) -> Option<Route> {
    let hdr = payload.get(..12)?;
    let bits = if dst.is_ipv4() { 32 } else { 128 };
    let mut route = Route::unicast(IpNet::new(dst, bits).ok()?);
    route.table = u32::from(hdr[4]);
    route.protocol = Protocol(hdr[5]);
    route.scope = Scope(hdr[6]);
    route.route_type = route_type(hdr[7]);
    let name = |i: u32| dev_name(i).unwrap_or_else(|| format!("if{i}"));
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            RTA_TABLE => route.table = read_u32(v).unwrap_or(route.table),
            RTA_OIF => route.dev = read_u32(v).map(name),
            RTA_GATEWAY => route.gateway = read_ip(v),
            RTA_VIA => route.gateway = v.get(2..).and_then(read_ip),
            RTA_PREFSRC => route.prefsrc = read_ip(v),
            _ => {}
        }
    }
    Some(route)
}

fn route_type(t: u8) -> RouteType {
    match t {
        2 => RouteType::Local,
        3 => RouteType::Broadcast,
        4 => RouteType::Anycast,
        5 => RouteType::Multicast,
        6 => RouteType::Blackhole,
        7 => RouteType::Unreachable,
        8 => RouteType::Prohibit,
        9 => RouteType::Throw,
        10 => RouteType::Nat,
        _ => RouteType::Unicast,
    }
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
    use crate::live::nl::nla;

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
    fn answer_decodes_type_table_dev_gateway_and_prefsrc() {
        // rtmsg: inet /32, table main (254), boot, universe, unicast, CLONED.
        let mut msg = vec![libc::AF_INET as u8, 32, 0, 0, 254, 0, 0, 1, 0, 2, 0, 0];
        msg.extend(nla(RTA_TABLE, &254u32.to_ne_bytes()));
        msg.extend(nla(1, &[10, 244, 2, 3])); // RTA_DST
        msg.extend(nla(RTA_OIF, &5u32.to_ne_bytes()));
        msg.extend(nla(RTA_GATEWAY, &[10, 244, 2, 0]));
        msg.extend(nla(RTA_PREFSRC, &[10, 244, 1, 0]));
        let names = |i: u32| (i == 5).then(|| "flannel.1".to_string());
        let r = decode_answer("10.244.2.3".parse().unwrap(), &msg, &names).unwrap();
        assert_eq!(r.route_type, RouteType::Unicast);
        assert_eq!(r.table, 254);
        assert_eq!(r.dev.as_deref(), Some("flannel.1"));
        assert_eq!(r.gateway, Some("10.244.2.0".parse().unwrap()));
        assert_eq!(r.prefsrc, Some("10.244.1.0".parse().unwrap()));
        assert_eq!(r.dst.to_string(), "10.244.2.3/32");
    }

    #[test]
    fn local_answer_and_unknown_ifindex() {
        let mut msg = vec![libc::AF_INET as u8, 32, 0, 0, 255, 0, 254, 2, 0, 2, 0, 0];
        msg.extend(nla(RTA_OIF, &9u32.to_ne_bytes()));
        let r = decode_answer("192.0.2.11".parse().unwrap(), &msg, &|_| None).unwrap();
        assert_eq!(r.route_type, RouteType::Local);
        assert_eq!(r.table, 255);
        assert_eq!(r.dev.as_deref(), Some("if9"));
        assert!(decode_answer("192.0.2.11".parse().unwrap(), &msg[..8], &|_| None).is_none());
    }

    #[test]
    fn asking_in_a_missing_namespace_is_a_named_error() {
        let t = NetnsTarget::Name("cnl-no-such-netns-h9".into());
        let err = route_get(Some(&t), &[q("10.0.0.1")]).unwrap_err();
        assert!(err.to_string().contains("cnl-no-such-netns-h9"), "{err}");
    }
}
