//! Check: ipvs-stale-backend
//!
//! The real servers (weight > 0) of a Service's virtual server must be
//! exactly its ready endpoints. A real server that is not a ready endpoint
//! (a deleted or unready pod) gets a share of new connections that fail; a
//! ready endpoint that is not a real server gets no traffic. Error: a
//! stale real server blackholes its share of new connections (measured in
//! a lab: 2 of 6 connects failed). Virtual servers with no usable real
//! server are ipvs-no-backends'. Skipped without EndpointSlices.

use std::collections::BTreeSet;
use std::net::IpAddr;

use cnictl_model::VirtualService;

use super::{ipvs, render, NodeCx, Out};
use crate::code::Code;
use crate::expected::ServicePortExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IpvsStaleBackend;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(vss) = ipvs::input(cx, CODE, out) else {
        return;
    };
    if !cx.exp.endpoint_slices_collected {
        let why = "no k8s/endpointslices.json: IPVS backend checks skipped";
        return out.skip(CODE, Some(cx.name()), why.into());
    }
    vss.iter().for_each(|v| virtual_server(cx, v, out));
}

type Backend = (IpAddr, u16);

/// Compares one virtual server's real servers with its Service's ready
/// endpoints.
fn virtual_server(cx: &NodeCx<'_>, v: &VirtualService, out: &mut Out) {
    let Some(s) = v.vip.and_then(|ip| cx.exp.service(v.proto, ip, v.port)) else {
        return;
    };
    let Some(ready) = &s.endpoints else {
        return;
    };
    let reals = usable_reals(v);
    let stale: Vec<&Backend> = reals.difference(ready).collect();
    let missing: Vec<&Backend> = ready.difference(&reals).collect();
    if reals.is_empty() || stale.is_empty() && missing.is_empty() {
        return;
    }
    let (n_stale, n_missing) = (stale.len(), missing.len());
    let summary = format!(
        "IPVS real servers for {} on {} disagree with its endpoints: {n_stale} stale, {n_missing} missing",
        s.describe(),
        cx.name(),
    );
    let evidence = evidence(cx, s, v, &stale, &missing);
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint(cx, s),
    );
}

/// Real servers with weight > 0.
fn usable_reals(v: &VirtualService) -> BTreeSet<Backend> {
    let usable = v.reals.iter().filter(|r| r.weight > 0);
    usable.map(|r| (r.ip, r.port)).collect()
}

fn evidence(
    cx: &NodeCx<'_>,
    s: &ServicePortExpect,
    v: &VirtualService,
    stale: &[&Backend],
    missing: &[&Backend],
) -> Vec<String> {
    let mut evidence = vec![s.describe(), render::virtual_service(v)];
    let mut rs = v.reals.clone();
    rs.sort_by_key(|r| (r.ip, r.port));
    evidence.extend(rs.iter().map(render::real_server));
    let stale = stale
        .iter()
        .map(|(ip, p)| format!("{ip}:{p} is not a ready endpoint{}", owner(cx, *ip)));
    evidence.extend(stale);
    let missing = missing
        .iter()
        .map(|(ip, p)| format!("ready endpoint {ip}:{p} is not a real server"));
    evidence.extend(missing);
    evidence
}

fn hint(cx: &NodeCx<'_>, s: &ServicePortExpect) -> String {
    format!(
        "restart kube-proxy on {} to re-sync; by hand: ipvsadm -d -t {}:{} -r <stale ip:port>",
        cx.name(),
        s.ip,
        s.port
    )
}

fn owner(cx: &NodeCx<'_>, ip: IpAddr) -> String {
    match cx.exp.pod_by_ip(ip) {
        Some(p) => format!(" (pod/{})", p.key()),
        None => " (no live pod has this IP)".into(),
    }
}
