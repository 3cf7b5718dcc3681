//! Check: vxlan-fdb-missing
//!
//! Every remote VTEP MAC must have an FDB entry on the local VXLAN device
//! whose `dst` is the remote node's underlay IP (Flannel programs both). No
//! entry: the kernel cannot encapsulate toward that node and pod traffic to
//! it is dropped: error. Skipped without bridge-fdb.json.

use super::vxlan::FdbState;
use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::VxlanFdbMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(st) = cx.vxlan() else {
        return;
    };
    if cx.node.fdb.is_none() {
        out.skip_missing(CODE, cx.name(), Input::BridgeFdb, "VXLAN FDB checks");
        return;
    }
    for p in &st.peers {
        let (Some(FdbState::Missing), Some(mac)) = (&p.fdb, &p.mac) else {
            continue;
        };
        let ip = p.peer.ip().map_or_else(|| "?".into(), |i| i.to_string());
        out.push(
            CODE,
            Severity::Error,
            Some(cx.name()),
            format!(
                "{} has no FDB entry for {}'s VTEP MAC {mac} on {}",
                cx.name(),
                p.peer.name,
                st.dev.name
            ),
            vec![
                p.peer.describe(),
                render::link(st.dev),
                format!("no `bridge fdb` entry {mac} dev {} dst {ip}", st.dev.name),
            ],
            format!(
                "on {}: bridge fdb append {mac} dev {} dst {ip} self permanent (or restart the CNI agent there)",
                cx.name(),
                st.dev.name
            ),
        );
    }
}
