//! Check: vxlan-fdb-missing
//!
//! Every remote VTEP MAC must have an FDB entry on the local VXLAN device
//! whose `dst` is the remote node's underlay IP (Flannel programs both). No
//! entry: the kernel cannot encapsulate toward that node and pod traffic to
//! it is dropped: error. Skipped without bridge-fdb.json.

use cnictl_model::Link;

use super::vxlan::{FdbState, PeerVtep};
use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::VxlanFdbMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if cx.vxlan().is_none() {
        return;
    }
    if cx.node.fdb.is_none() {
        out.skip_missing(CODE, cx.name(), Input::BridgeFdb, "VXLAN FDB checks");
        return;
    }
    for (st, p) in cx.vxlan_peers() {
        if let (Some(FdbState::Missing), Some(mac)) = (&p.fdb, &p.mac) {
            peer(cx, st.dev, p, mac, out);
        }
    }
}

/// One peer VTEP whose MAC has no FDB entry on the VXLAN device.
fn peer(cx: &NodeCx<'_>, dev: &Link, p: &PeerVtep<'_>, mac: &str, out: &mut Out) {
    let ip = p.dst.map_or_else(|| "?".into(), |i| i.to_string());
    let node = cx.name();
    let dev_name = &dev.name;
    let summary = format!(
        "{node} has no FDB entry for {}'s VTEP MAC {mac} on {dev_name}",
        p.peer.name
    );
    let mut evidence = p.evidence();
    evidence.push(render::link(dev));
    evidence.push(format!(
        "no `bridge fdb` entry {mac} dev {dev_name} dst {ip}"
    ));
    let hint = format!("on {node}: bridge fdb append {mac} dev {dev_name} dst {ip} self permanent (or restart the CNI agent there)");
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint)
        .peers = vec![p.peer.name.clone()];
}
