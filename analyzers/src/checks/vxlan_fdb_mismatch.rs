//! Check: vxlan-fdb-mismatch
//!
//! The entries exist but disagree with the peer: the FDB entry for its VTEP
//! MAC has another `dst` (an old or another node's IP), its IP is reached
//! through a stale MAC (VTEP recreated with a new MAC), or the neighbour
//! entry for its VTEP IP holds a MAC other than its VTEP's. Frames go to
//! the wrong node or are dropped by the peer: error.

use super::vxlan::{FdbState, NeighState, PeerVtep};
use super::{render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::VxlanFdbMismatch;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if cx.vxlan().is_none() {
        return;
    }
    let node = cx.name();
    if cx.node.fdb.is_none() {
        let why = format!("{node} has no bridge-fdb.json: FDB entries not compared");
        out.skip(CODE, Some(node), why);
    }
    if cx.node.neighbours.is_none() {
        let why = format!("{node} has no ip-neigh.json: neighbour entries not compared");
        out.skip(CODE, Some(node), why);
    }
    for (st, p) in cx.vxlan_peers() {
        if let Some(NeighState::WrongMac(n)) = &p.neigh {
            neigh_mismatch(cx, &st.dev.name, p, n, out);
        }
        match &p.fdb {
            Some(FdbState::WrongDst(es)) => fdb_mismatch(cx, &st.dev.name, p, es, "points at", out),
            Some(FdbState::StaleMac(es)) => {
                fdb_mismatch(cx, &st.dev.name, p, es, "uses a stale MAC for", out)
            }
            _ => {}
        }
    }
}

fn neigh_mismatch(
    cx: &NodeCx<'_>,
    dev: &str,
    p: &PeerVtep<'_>,
    n: &cnictl_model::Neigh,
    out: &mut Out,
) {
    let mac = p.mac.as_deref().unwrap_or("?");
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        format!(
            "{}'s neighbour entry for {}'s VTEP {} has MAC {}, expected {mac}",
            cx.name(),
            p.peer.name,
            p.vtep_ip,
            n.lladdr.as_deref().unwrap_or("none")
        ),
        [p.evidence(), vec![render::neigh(n)]].concat(),
        format!(
            "on {}: ip neigh replace {} lladdr {mac} dev {dev} nud permanent",
            cx.name(),
            p.vtep_ip
        ),
    )
    .peers = vec![p.peer.name.clone()];
}

fn fdb_mismatch(
    cx: &NodeCx<'_>,
    dev: &str,
    p: &PeerVtep<'_>,
    es: &[&cnictl_model::FdbEntry],
    how: &str,
    out: &mut Out,
) {
    let mac = p.mac.as_deref().unwrap_or("?");
    let ip = p.dst.map_or_else(|| "?".into(), |i| i.to_string());
    let mut lines: Vec<String> = es.iter().map(|e| render::fdb(e)).collect();
    lines.sort();
    let summary = fdb_summary(cx, p, es, how, &lines, &ip);
    let stale = es.first().map_or(mac, |e| e.mac.as_str());
    let fix = format!("bridge fdb del {stale} dev {dev}; bridge fdb append {mac} dev {dev} dst {ip} self permanent");
    let hint = format!("on {}: {fix}", cx.name());
    let mut evidence = p.evidence();
    evidence.extend(lines);
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint,
    )
    .peers = vec![p.peer.name.clone()];
}

/// `how` is "points at" (the VTEP MAC's entry names another node) or says
/// how stale entries reach the peer's node IP.
fn fdb_summary(
    cx: &NodeCx<'_>,
    p: &PeerVtep<'_>,
    es: &[&cnictl_model::FdbEntry],
    how: &str,
    lines: &[String],
    ip: &str,
) -> String {
    let (node, peer, mac) = (cx.name(), &p.peer.name, p.mac.as_deref().unwrap_or("?"));
    if how == "points at" {
        let wrong = wrong_dsts(cx, es).join(", ");
        return format!(
            "{node}'s FDB entry for {peer}'s VTEP MAC {mac} points at {wrong}, expected {ip}"
        );
    }
    let entries = lines.join("; ");
    format!("{node}'s FDB {how} {peer}'s node IP {ip} (entries {entries}), VTEP MAC is {mac}")
}

/// The entries' destinations, each with the node that holds it.
fn wrong_dsts(cx: &NodeCx<'_>, es: &[&cnictl_model::FdbEntry]) -> Vec<String> {
    let name = |d: std::net::IpAddr| match cx.exp.node_by_ip(d) {
        Some(n) => format!("{d} ({})", n.name),
        None => d.to_string(),
    };
    es.iter().filter_map(|e| e.dst).map(name).collect()
}
