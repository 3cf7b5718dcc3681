//! Check: service-backend-missing
//!
//! Every ready endpoint of a Service port must be a DNAT target of the
//! node's Service rules (evaluated in svcview.rs). One that is not gets no
//! traffic from this node's clients: capacity lost, warning. When the
//! rules DNAT to none of the ready endpoints (a REJECT "has no endpoints"
//! left behind, or only stale targets) every connection from the node
//! fails: error. Ports the rules do not handle at all are
//! service-rules-missing's. Rules that DNAT only to the node's own
//! endpoints are `internalTrafficPolicy: Local` and not flagged. Not
//! recognised (the snapshot lacks them): EndpointSlice zone hints
//! (topology-aware routing), where each node's rules hold only its zone's
//! endpoints. Skipped without a netfilter dump, services or
//! EndpointSlices; IPVS nodes are ipvs-stale-backend's.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::svcview::{self, Backend, Dispatch};
use super::{nf, NodeCx, Out};
use crate::code::Code;
use crate::expected::ServicePortExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::ServiceBackendMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some((svcs, ns)) = svcview::input_with_endpoints(cx, CODE, out) else {
        return;
    };
    svcview::skip_unclear(cx, CODE, ns, out);
    for (s, d) in svcs.iter().zip(&ns.ports) {
        port(cx, s, d, out);
    }
}

/// One Service port: its ready endpoints the rules never DNAT to.
fn port(cx: &NodeCx<'_>, s: &ServicePortExpect, d: &Dispatch, out: &mut Out) {
    let Some(ready) = &s.endpoints else {
        return;
    };
    if !d.handled() || !d.clear() {
        return;
    }
    let have = d.backends();
    let missing: Vec<Backend> = ready.difference(&have).copied().collect();
    if missing.is_empty() || node_local(cx, &have, &missing) {
        return;
    }
    let none = missing.len() == ready.len();
    let severity = if none {
        Severity::Error
    } else {
        Severity::Warning
    };
    let node = cx.name();
    let summary = format!(
        "{node}'s rules for {} leave out {} of its {} ready endpoint(s){}",
        s.describe(),
        missing.len(),
        ready.len(),
        if none {
            ": every connection from this node fails"
        } else {
            ""
        }
    );
    let hint = format!(
        "kube-proxy on {node} has not synced {}: check its logs and restart it",
        s.service
    );
    let evidence = evidence(cx, s, d, &missing);
    out.push(CODE, severity, Some(node), summary, evidence, hint);
}

/// Rules that DNAT only to this node's endpoints and leave out only other
/// nodes' are `internalTrafficPolicy: Local` as kube-proxy writes it (the
/// policy is not in the snapshot): not a fault.
fn node_local(cx: &NodeCx<'_>, have: &BTreeSet<Backend>, missing: &[Backend]) -> bool {
    let here = |ip: &IpAddr| {
        let pod = cx.exp.pod_by_ip(*ip);
        pod.and_then(|p| p.node.as_deref()) == Some(cx.name())
    };
    !have.is_empty() && have.iter().all(|b| here(&b.0)) && !missing.iter().any(|b| here(&b.0))
}

fn evidence(
    cx: &NodeCx<'_>,
    s: &ServicePortExpect,
    d: &Dispatch,
    missing: &[Backend],
) -> Vec<String> {
    let mut ev = vec![s.describe()];
    let targets = d
        .targets
        .iter()
        .map(|t| format!("{}:{}", t.backend.0, t.backend.1));
    let targets: Vec<String> = targets.collect();
    ev.push(format!(
        "DNAT targets on {}: {}",
        cx.name(),
        list_or_none(&targets)
    ));
    if let (Some(r), Some(n)) = (d.rejected, cx.nf()) {
        ev.push(format!("rejected by {}", nf::rule_line(&n.rules, r)));
    }
    let missing = missing
        .iter()
        .map(|(ip, p)| format!("ready endpoint {ip}:{p} is not a DNAT target"));
    ev.extend(missing);
    ev
}

fn list_or_none(v: &[String]) -> String {
    match v.is_empty() {
        true => "none".into(),
        false => v.join(", "),
    }
}
