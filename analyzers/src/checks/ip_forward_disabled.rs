//! Check: ip-forward-disabled
//!
//! Every CNI model forwards pod traffic through the host (veth → bridge or
//! route → underlay/tunnel), so `net.ipv4.ip_forward` must be 1 on every
//! node; with 0 no pod can talk to another node: error. Skipped without
//! sysctl.txt (or when it lacks the key).

use super::{render, NodeCx, Out};
use crate::finding::Severity;

pub(crate) const CODE: &str = "ip-forward-disabled";
const KEY: &str = "net.ipv4.ip_forward";

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let node = cx.name();
    if cx.node.sysctls.is_none() {
        out.skip(
            CODE,
            Some(node),
            format!("{node} has no sysctl.txt: ip_forward check skipped"),
        );
        return;
    }
    let Some(v) = cx.node.sysctl(KEY) else {
        out.skip(
            CODE,
            Some(node),
            format!("{node}'s sysctl.txt has no {KEY}: ip_forward check skipped"),
        );
        return;
    };
    if v.trim() != "0" {
        return;
    }
    out.push(
        CODE,
        Severity::Error,
        Some(node),
        format!("{node} does not forward IPv4 ({KEY} = 0): pod traffic to and from other nodes is dropped"),
        vec![render::sysctl(KEY, v)],
        format!("on {node}: sysctl -w {KEY}=1 and persist it in /etc/sysctl.d/ (kubelet/CNI expect it)"),
    );
}
