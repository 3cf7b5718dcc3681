//! Check: ipvs-no-backends
//!
//! A Service's virtual server with no real server of weight > 0 refuses
//! every connection. Error when the Service has ready endpoints (kube-proxy
//! failed to sync them); info when it has none (the Service itself is
//! empty, the dataplane is right); warning when EndpointSlices were not
//! collected and it cannot be told which.

use cnictl_model::VirtualService;

use super::{ipvs, render, NodeCx, Out};
use crate::code::Code;
use crate::expected::ServicePortExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IpvsNoBackends;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(vss) = ipvs::input(cx, CODE, out) else {
        return;
    };
    for v in vss.iter().filter(|v| !v.reals.iter().any(|r| r.weight > 0)) {
        if let Some(s) = v.vip.and_then(|ip| cx.exp.service(v.proto, ip, v.port)) {
            no_backends(cx, v, s, out);
        }
    }
}

fn no_backends(cx: &NodeCx<'_>, v: &VirtualService, s: &ServicePortExpect, out: &mut Out) {
    let (severity, why) = severity(s);
    let summary = format!(
        "IPVS virtual server for {} on {} has no usable real server {why}",
        s.describe(),
        cx.name()
    );
    let hint = hint(cx, s, severity);
    out.push(
        CODE,
        severity,
        Some(cx.name()),
        summary,
        evidence(v, s),
        hint,
    );
}

/// Error when the Service has ready endpoints, info when it has none,
/// warning when EndpointSlices were not collected.
fn severity(s: &ServicePortExpect) -> (Severity, String) {
    match &s.endpoints {
        Some(e) if !e.is_empty() => (
            Severity::Error,
            format!("while the Service has {} ready endpoint(s)", e.len()),
        ),
        Some(_) => (
            Severity::Info,
            "and the Service has no ready endpoint".into(),
        ),
        None => (Severity::Warning, "(EndpointSlices not collected)".into()),
    }
}

fn evidence(v: &VirtualService, s: &ServicePortExpect) -> Vec<String> {
    let mut evidence = vec![s.describe(), render::virtual_service(v)];
    evidence.extend(v.reals.iter().map(render::real_server));
    let ready = s.endpoints.iter().flatten().take(10);
    evidence.extend(ready.map(|(ip, p)| format!("ready endpoint {ip}:{p}")));
    evidence
}

fn hint(cx: &NodeCx<'_>, s: &ServicePortExpect, severity: Severity) -> String {
    if severity == Severity::Info {
        let (ns, name) = s.service.split_once('/').unwrap_or((&s.service, ""));
        return format!("kubectl get endpointslices -n {ns} -l kubernetes.io/service-name={name}: no ready pods back this Service");
    }
    let (node, ip, port) = (cx.name(), s.ip, s.port);
    format!("restart kube-proxy on {node} so it re-syncs real servers; ipvsadm -Ln -t {ip}:{port}")
}
