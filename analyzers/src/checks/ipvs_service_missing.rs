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
    for s in cx.exp.services.iter().flatten() {
        if have.contains(&(s.proto, s.ip, s.port)) {
            continue;
        }
        let flag = match s.proto {
            cnictl_model::IpvsProto::Udp => "-u",
            cnictl_model::IpvsProto::Sctp => "--sctp-service",
            _ => "-t",
        };
        out.push(
            CODE,
            Severity::Error,
            Some(cx.name()),
            format!("{} has no IPVS virtual server for {}", cx.name(), s.describe()),
            vec![s.describe(), format!("ipvsadm -Ln on {}: no {} {}:{}", cx.name(), flag, s.ip, s.port)],
            format!(
                "check kube-proxy on {} (logs, --proxy-mode=ipvs) and restart it; by hand: ipvsadm -A {flag} {}:{} -s rr",
                cx.name(),
                s.ip,
                s.port
            ),
        );
    }
}
