//! Check: ip-forward-disabled
//!
//! Every CNI model forwards pod traffic through the host (veth → bridge or
//! route → underlay/tunnel), so `net.ipv4.ip_forward` must be 1 on every
//! node; with 0 no pod can talk to another node: error. Skipped without
//! sysctl.txt (or when it lacks the key).

use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IpForwardDisabled;
const KEY: &str = "net.ipv4.ip_forward";
const ALIAS: &str = "net.ipv4.conf.all.forwarding";

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let node = cx.name();
    if cx.node.sysctls.is_none() {
        out.skip_missing(CODE, node, Input::Sysctl, "ip_forward check");
        return;
    }
    match forwarding(cx) {
        None => out.skip(
            CODE,
            Some(node),
            format!("{node}'s sysctl.txt has no {KEY}: ip_forward check skipped"),
        ),
        Some((key, v)) if v.trim() == "0" => disabled(cx, key, v, out),
        Some(_) => {}
    }
}

/// The forwarding switch and its value: `net.ipv4.conf.all.forwarding`
/// is the same switch under another name.
fn forwarding<'n>(cx: &NodeCx<'n>) -> Option<(&'static str, &'n str)> {
    [KEY, ALIAS]
        .into_iter()
        .find_map(|k| Some((k, cx.node.sysctl(k)?)))
}

fn disabled(cx: &NodeCx<'_>, key: &str, v: &str, out: &mut Out) {
    let node = cx.name();
    let summary = format!(
        "{node} does not forward IPv4 ({key} = 0): pod traffic to and from other nodes is dropped"
    );
    let hint = format!(
        "on {node}: sysctl -w {KEY}=1 and persist it in /etc/sysctl.d/ (kubelet/CNI expect it)"
    );
    out.push(
        CODE,
        Severity::Error,
        Some(node),
        summary,
        vec![render::sysctl(key, v)],
        hint,
    );
}
