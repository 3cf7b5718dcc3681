//! IPVS over the generic-netlink "IPVS" family (what `ipvsadm` uses),
//! else from /proc/net/ip_vs; the replies are decoded by
//! [`cnictl_formats::netlink::ipvs`].
//!
//! A kernel without IPVS is normal (no kube-proxy IPVS mode): that is a
//! note, not an error, and the section stays `None` ("not collected").

use std::path::Path;

use cnictl_formats::netlink::consts::*;
use cnictl_formats::netlink::ipvs::{decode_ipvs_dests, decode_ipvs_services, parse_proc_ip_vs};
use cnictl_formats::netlink::{attrs, nla, read_u16};
use cnictl_model::VirtualService;
use netlink_packet_core::{NetlinkSerializable, NLM_F_REQUEST};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;

use super::nl::NlSocket;
use super::LiveError;

/// Reads the IPVS table of the current thread's netns. `Ok(Err(note))`
/// when this kernel has no IPVS at all.
pub(crate) fn read_ipvs() -> Result<Result<Vec<VirtualService>, String>, LiveError> {
    let mut sock = NlSocket::open(netlink_sys::constants::NETLINK_GENERIC)?;
    if let Some(family) = resolve_family(&mut sock, IPVS_GENL_NAME)? {
        return dump_services(&mut sock, family).map(Ok);
    }
    let proc_path = Path::new("/proc/thread-self/net/ip_vs");
    match std::fs::read_to_string(proc_path) {
        Ok(text) => parse_proc_ip_vs(&text, kernel_hz())
            .map(Ok)
            .map_err(|e| LiveError::ProcFormat {
                path: "/proc/net/ip_vs".into(),
                line: e.line,
                reason: e.reason,
            }),
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
    nla(kind | NLA_F_NESTED, inner)
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

#[cfg(test)]
mod tests {
    use super::*;

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
