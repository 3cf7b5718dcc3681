//! Check: service-rules-missing
//!
//! kube-proxy programs every Service port with a ClusterIP on every node:
//! a DNAT to its endpoints, or a REJECT when it has none. On a node whose
//! rules handle other Services (so kube-proxy runs there in iptables or
//! nftables mode), a port whose new connections pass through PREROUTING
//! and FORWARD untouched (svcview.rs) has no rule: clients on that node
//! send to the ClusterIP itself, which nothing answers. Error. Ports whose
//! walk another component's rule drops, or that reach a rule cnictl cannot
//! evaluate, are not judged. Skipped without a netfilter dump or services;
//! IPVS nodes are ipvs-service-missing's.

use super::svcview::{self, Dispatch};
use super::{NodeCx, Out};
use crate::code::Code;
use crate::expected::ServicePortExpect;
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::ServiceRulesMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some((svcs, ns)) = svcview::input(cx, CODE, out) else {
        return;
    };
    svcview::skip_unclear(cx, CODE, ns, out);
    let missing = svcs.iter().zip(&ns.ports).filter(|(_, d)| unhandled(d));
    for (s, _) in missing {
        port(cx, s, out);
    }
}

/// Every path passed untouched: no DNAT, no REJECT, nothing unclear.
fn unhandled(d: &Dispatch) -> bool {
    !d.handled() && d.clear() && d.untouched > 0.0
}

fn port(cx: &NodeCx<'_>, s: &ServicePortExpect, out: &mut Out) {
    let node = cx.name();
    let summary = format!("{node}'s rules have no rule for {}: connections from this node go to the ClusterIP itself and fail", s.describe());
    let evidence = vec![
        s.describe(),
        format!(
            "a new connection from a pod on {node} to {}:{} leaves nat PREROUTING and FORWARD unchanged (no DNAT, no REJECT)",
            s.ip, s.port
        ),
        svcview_ready(s),
    ];
    let hint = format!(
        "kube-proxy on {node} has not programmed {}: check its logs (sync errors, --proxy-mode) and restart it",
        s.service
    );
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
}

fn svcview_ready(s: &ServicePortExpect) -> String {
    match &s.endpoints {
        Some(_) => super::service_stale_backend::ready_line(s),
        None => "ready endpoints: unknown (no k8s/endpointslices.json)".into(),
    }
}
