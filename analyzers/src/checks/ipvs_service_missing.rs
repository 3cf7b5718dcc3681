//! Check: ipvs-service-missing
//!
//! kube-proxy in IPVS mode programs, on every node, one virtual server per
//! Service ClusterIP and port. A missing one means connections from this
//! node's pods to that Service are not load-balanced (they go to the
//! ClusterIP itself and fail): error. Skipped without ipvsadm.txt or
//! services.json.

use std::collections::HashSet;

use super::{ipvs, NodeCx, Out};
use crate::code::Code;
use crate::expected::ServicePortExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IpvsServiceMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(vs) = ipvs::input(cx, CODE, out) else {
        return;
    };
    let have: HashSet<_> = vs
        .iter()
        .filter_map(|v| Some((v.proto, v.vip?, v.port)))
        .collect();
    let missing = cx
        .exp
        .services
        .iter()
        .flatten()
        .filter(|s| !have.contains(&(s.proto, s.ip, s.port)));
    for s in missing {
        service(cx, s, out);
    }
}

/// A Service port with no virtual server on the node.
fn service(cx: &NodeCx<'_>, s: &ServicePortExpect, out: &mut Out) {
    let flag = match s.proto {
        cnictl_model::IpvsProto::Udp => "-u",
        cnictl_model::IpvsProto::Sctp => "--sctp-service",
        _ => "-t",
    };
    let node = cx.name();
    let summary = format!("{node} has no IPVS virtual server for {}", s.describe());
    let evidence = vec![
        s.describe(),
        format!("ipvsadm -Ln on {node}: no {flag} {}:{}", s.ip, s.port),
    ];
    let hint = format!(
        "check kube-proxy on {node} (logs, --proxy-mode=ipvs) and restart it; by hand: ipvsadm -A {flag} {}:{} -s rr",
        s.ip,
        s.port
    );
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
}
