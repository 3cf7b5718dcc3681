//! Check: ipvs-no-backends
//!
//! A Service's virtual server with no real server of weight > 0 refuses
//! every connection. Error when the Service has ready endpoints (kube-proxy
//! failed to sync them); info when it has none (the Service itself is
//! empty, the dataplane is right); warning when EndpointSlices were not
//! collected and it cannot be told which.

use super::{ipvs, render, NodeCx, Out};
use crate::code::Code;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IpvsNoBackends;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(vss) = ipvs::input(cx, CODE, out) else {
        return;
    };
    for v in vss {
        if v.reals.iter().any(|r| r.weight > 0) {
            continue;
        }
        let Some(s) = v.vip.and_then(|ip| cx.exp.service(v.proto, ip, v.port)) else {
            continue;
        };
        let (severity, why) = match &s.endpoints {
            Some(e) if !e.is_empty() => (
                Severity::Error,
                format!("while the Service has {} ready endpoint(s)", e.len()),
            ),
            Some(_) => (
                Severity::Info,
                "and the Service has no ready endpoint".to_string(),
            ),
            None => (
                Severity::Warning,
                "(EndpointSlices not collected)".to_string(),
            ),
        };
        let mut evidence = vec![s.describe(), render::virtual_service(v)];
        evidence.extend(v.reals.iter().map(render::real_server));
        if let Some(e) = &s.endpoints {
            evidence.extend(
                e.iter()
                    .take(10)
                    .map(|(ip, p)| format!("ready endpoint {ip}:{p}")),
            );
        }
        let hint = if severity == Severity::Info {
            format!("kubectl get endpointslices -n {} -l kubernetes.io/service-name={}: no ready pods back this Service", s.service.split('/').next().unwrap_or(""), s.service.split('/').nth(1).unwrap_or(""))
        } else {
            format!(
                "restart kube-proxy on {} so it re-syncs real servers; ipvsadm -Ln -t {}:{}",
                cx.name(),
                s.ip,
                s.port
            )
        };
        out.push(
            CODE,
            severity,
            Some(cx.name()),
            format!(
                "IPVS virtual server for {} on {} has no usable real server {why}",
                s.describe(),
                cx.name()
            ),
            evidence,
            hint,
        );
    }
}
