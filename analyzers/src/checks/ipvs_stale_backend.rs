//! Check: ipvs-stale-backend
//!
//! The real servers (weight > 0) of a Service's virtual server must be
//! exactly its ready endpoints. A real server that is not a ready endpoint
//! (a deleted or unready pod) gets a share of new connections that fail; a
//! ready endpoint that is not a real server gets no traffic. Some requests
//! fail or capacity is lost: warning. Virtual servers with no usable real
//! server are ipvs-no-backends'. Skipped without EndpointSlices.

use std::collections::BTreeSet;

use super::{ipvs, render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IpvsStaleBackend;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(vss) = ipvs::input(cx, CODE, out) else {
        return;
    };
    if !cx.exp.endpoint_slices_collected {
        out.skip(
            CODE,
            Some(cx.name()),
            "no k8s/endpointslices.json: IPVS backend checks skipped".into(),
        );
        return;
    }
    for v in vss {
        let Some(s) = v.vip.and_then(|ip| cx.exp.service(v.proto, ip, v.port)) else {
            continue;
        };
        let Some(ready) = &s.endpoints else {
            continue;
        };
        let reals: BTreeSet<_> = v
            .reals
            .iter()
            .filter(|r| r.weight > 0)
            .map(|r| (r.ip, r.port))
            .collect();
        if reals.is_empty() {
            continue;
        }
        let stale: Vec<_> = reals.difference(ready).collect();
        let missing: Vec<_> = ready.difference(&reals).collect();
        if stale.is_empty() && missing.is_empty() {
            continue;
        }
        let mut evidence = vec![s.describe(), render::virtual_service(v)];
        let mut rs = v.reals.clone();
        rs.sort_by_key(|r| (r.ip, r.port));
        evidence.extend(rs.iter().map(render::real_server));
        evidence.extend(
            stale
                .iter()
                .map(|(ip, p)| format!("{ip}:{p} is not a ready endpoint{}", owner(cx, *ip))),
        );
        evidence.extend(
            missing
                .iter()
                .map(|(ip, p)| format!("ready endpoint {ip}:{p} is not a real server")),
        );
        out.push(
            CODE,
            Severity::Warning,
            Some(cx.name()),
            format!(
                "IPVS real servers for {} on {} disagree with its endpoints: {} stale, {} missing",
                s.describe(),
                cx.name(),
                stale.len(),
                missing.len()
            ),
            evidence,
            format!(
                "restart kube-proxy on {} to re-sync; by hand: ipvsadm -d -t {}:{} -r <stale ip:port>",
                cx.name(),
                s.ip,
                s.port
            ),
        );
    }
}

fn owner(cx: &NodeCx<'_>, ip: std::net::IpAddr) -> String {
    match cx.exp.pod_by_ip(ip) {
        Some(p) => format!(" (pod/{})", p.key()),
        None => " (no live pod has this IP)".into(),
    }
}
