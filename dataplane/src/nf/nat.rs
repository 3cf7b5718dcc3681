//! Statements that rewrite the packet or its metadata.

use cnictl_model::netfilter::{ConnMarkOp, NatTarget, Stmt};

use super::packet::{NfPacket, NodeView};

/// Applies `s` to the packet; `Err` says why it cannot be (MASQUERADE with
/// no out device or no address on it).
pub(super) fn apply(p: &mut NfPacket, s: &Stmt, node: &dyn NodeView) -> Result<(), String> {
    match s {
        Stmt::Dnat(t) => nat_to(&mut p.dst, &mut p.dport, t),
        Stmt::Snat(t) => nat_to(&mut p.src, &mut p.sport, t),
        Stmt::Masquerade { ports, .. } => masquerade(p, *ports, node)?,
        Stmt::Redirect { ports } => redirect(p, *ports, node)?,
        Stmt::Mark { value, mask } => p.mark = (p.mark & !mask) ^ value,
        Stmt::ConnMark(op) => connmark(p, op),
        Stmt::Notrack => p.ct = cnictl_model::netfilter::CtState::Untracked,
        Stmt::Log { .. } | Stmt::Unknown { .. } => {}
    }
    Ok(())
}

/// A range target takes its first address and port (the kernel picks by
/// hash; every choice leads the same way for routing purposes).
fn nat_to(addr: &mut std::net::IpAddr, port: &mut u16, t: &NatTarget) {
    if let Some((first, _)) = t.addr {
        *addr = first;
    }
    if let Some((first, _)) = t.ports {
        *port = first;
    }
}

fn masquerade(
    p: &mut NfPacket,
    ports: Option<(u16, u16)>,
    node: &dyn NodeView,
) -> Result<(), String> {
    let dev = p
        .oif
        .clone()
        .ok_or("MASQUERADE before the out device is known")?;
    p.src = node.primary_addr(&dev, p.dst).ok_or_else(|| {
        format!("MASQUERADE on {dev}, which has no address of the packet's family")
    })?;
    if let Some((first, _)) = ports {
        p.sport = first;
    }
    Ok(())
}

fn redirect(
    p: &mut NfPacket,
    ports: Option<(u16, u16)>,
    node: &dyn NodeView,
) -> Result<(), String> {
    let dev = p.iif.clone().unwrap_or_else(|| "lo".into());
    p.dst = node
        .primary_addr(&dev, p.src)
        .ok_or_else(|| format!("REDIRECT on {dev}, which has no address"))?;
    if let Some((first, _)) = ports {
        p.dport = first;
    }
    Ok(())
}

fn connmark(p: &mut NfPacket, op: &ConnMarkOp) {
    match *op {
        ConnMarkOp::Set { value, mask } => p.ctmark = (p.ctmark & !mask) ^ value,
        ConnMarkOp::Save { nfmask, ctmask } => {
            p.ctmark = (p.ctmark & !ctmask) | (p.mark & nfmask & ctmask)
        }
        ConnMarkOp::Restore { nfmask, ctmask } => {
            p.mark = (p.mark & !nfmask) | (p.ctmark & ctmask & nfmask)
        }
    }
}
