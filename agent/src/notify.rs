//! Netlink change notifications: a NETLINK_ROUTE socket subscribed to the
//! link, address, route, rule and neighbour multicast groups of the node's
//! network namespace. Read only: it never sends a request. The agent
//! re-collects (debounced) when anything arrives, so a route change shows
//! within seconds instead of at the next interval.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use cnictl_collect::live::NetnsTarget;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

// Legacy multicast group bits (linux/rtnetlink.h RTMGRP_*).
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_NEIGH: u32 = 0x4;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV4_RULE: u32 = 0x80;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;

/// The groups the agent listens to.
pub const GROUPS: u32 = RTMGRP_LINK
    | RTMGRP_NEIGH
    | RTMGRP_IPV4_IFADDR
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV4_RULE
    | RTMGRP_IPV6_IFADDR
    | RTMGRP_IPV6_ROUTE;

/// Opens the subscribed socket inside `netns` (the caller's own when
/// `None`). A socket belongs to the namespace it was created in, so a
/// short-lived thread enters the namespace, creates it and exits; the
/// caller's threads never change namespace.
pub fn subscribe(netns: Option<&NetnsTarget>) -> io::Result<Socket> {
    let Some(target) = netns else {
        return open();
    };
    let path = target.path();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)?;
        // SAFETY: setns on a namespace file descriptor we own; it only
        // changes this short-lived thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        open()
    })
    .join()
    .map_err(|_| io::Error::other("netlink subscriber thread panicked"))?
}

fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind(&SocketAddr::new(0, GROUPS))?;
    socket.set_non_blocking(true)?;
    Ok(socket)
}

/// Reads notifications until the socket fails, waking `notify` once per
/// batch of datagrams and counting them in `events`. An overrun (ENOBUFS:
/// the kernel dropped notifications) is a change too: something happened
/// that was not seen.
pub async fn listen(
    socket: Socket,
    notify: Arc<Notify>,
    mut on_event: impl FnMut(u64),
) -> io::Result<()> {
    // SAFETY: the socket owns a valid descriptor; it is moved into the
    // AsyncFd and neither replaced nor closed while registered.
    let fd = unsafe { AsyncFd::register(socket)? };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut guard = fd.readable().await?;
        let mut batch = 0u64;
        loop {
            match guard.get_inner().recv(&mut &mut buf[..], 0) {
                Ok(_) => batch += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => batch += 1,
                Err(e) => return Err(e),
            }
        }
        if batch > 0 {
            on_event(batch);
            notify.notify_one();
        }
    }
}
