//! Check: service-stale-backend
//!
//! A node's Service rules (kube-proxy's, iptables or nftables mode, as
//! evaluated in svcview.rs) must DNAT new connections only to ready
//! endpoints. A DNAT target that is not one (a deleted pod, an unready
//! one, kube-proxy not re-synced) takes its share of new connections,
//! which then fail: error. Ready endpoints absent from the rules are
//! service-backend-missing's. With no ready endpoint, kube-proxy falls
//! back to serving terminating ones (v1.26+): then only targets no live
//! pod holds are stale. Skipped without a netfilter dump, services
//! or EndpointSlices; IPVS nodes are ipvs-stale-backend's.

use super::svcview::{self, Backend, Dispatch};
use super::{nf, NodeCx, Out};
use crate::code::Code;
use crate::expected::ServicePortExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::ServiceStaleBackend;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some((svcs, ns)) = svcview::input_with_endpoints(cx, CODE, out) else {
        return;
    };
    for (s, d) in svcs.iter().zip(&ns.ports) {
        port(cx, s, d, out);
    }
}

/// One Service port: its DNAT targets that are not ready endpoints.
fn port(cx: &NodeCx<'_>, s: &ServicePortExpect, d: &Dispatch, out: &mut Out) {
    let Some(ready) = &s.endpoints else {
        return;
    };
    let mut stale: Vec<Backend> = d.backends().difference(ready).copied().collect();
    if ready.is_empty() {
        // No ready endpoint: kube-proxy (v1.26+, ProxyTerminatingEndpoints)
        // falls back to serving terminating ones, still live pods.
        stale.retain(|(ip, _)| cx.exp.pod_by_ip(*ip).is_none());
    }
    if stale.is_empty() {
        return;
    }
    let node = cx.name();
    let n = d.targets.len();
    let share: f64 = stale
        .iter()
        .filter_map(|b| d.target(*b))
        .map(|t| t.share)
        .sum();
    let summary = format!(
        "{node}'s rules send {} for {} to {} address(es) that are not ready endpoints",
        svcview::share_text(share, n),
        s.describe(),
        stale.len()
    );
    let evidence = evidence(cx, s, d, &stale);
    let hint = format!(
        "kube-proxy on {node} has not synced {}: check its logs and restart it (the rules are rewritten from the EndpointSlices)",
        s.service
    );
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
}

fn evidence(
    cx: &NodeCx<'_>,
    s: &ServicePortExpect,
    d: &Dispatch,
    stale: &[Backend],
) -> Vec<String> {
    let mut ev = vec![s.describe(), ready_line(s)];
    let Some(rules) = cx.nf().map(|n| &n.rules) else {
        return ev;
    };
    for b in stale {
        let Some(t) = d.target(*b) else { continue };
        let rule = t.rule.map(|r| nf::rule_line(rules, r)).unwrap_or_default();
        ev.push(format!(
            "{}:{} gets {}, is not a ready endpoint{}: {rule}",
            b.0,
            b.1,
            svcview::share_text(t.share, d.targets.len()),
            owner(cx, b.0)
        ));
    }
    ev
}

/// `ready endpoints: 10.244.1.5:8080, 10.244.2.7:8080` (or none).
pub(crate) fn ready_line(s: &ServicePortExpect) -> String {
    let ready = s.endpoints.iter().flatten();
    let list: Vec<String> = ready.map(|(ip, p)| format!("{ip}:{p}")).collect();
    match list.is_empty() {
        true => "ready endpoints: none".into(),
        false => format!("ready endpoints: {}", list.join(", ")),
    }
}

fn owner(cx: &NodeCx<'_>, ip: std::net::IpAddr) -> String {
    match cx.exp.pod_by_ip(ip) {
        Some(p) => format!(" (pod/{})", p.key()),
        None => " (no live pod has this IP)".into(),
    }
}
