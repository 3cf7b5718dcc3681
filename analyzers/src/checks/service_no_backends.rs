//! Check: service-no-backends
//!
//! A Service port with a selector and a ClusterIP must have a ready
//! endpoint in its EndpointSlices; without one kube-proxy rejects every
//! connection to it ("has no endpoints"), in every mode. Warning: the
//! dataplane does what the cluster says, the cause is the workload (see
//! the code row). Services without a selector (endpoints managed by hand)
//! and headless ones are not judged. Cluster-wide, from the Kubernetes
//! objects alone; skipped without services.json or endpointslices.json.

use std::collections::HashSet;

use cnictl_model::ClusterSnapshot;

use super::Out;
use crate::code::Code;
use crate::expected::{Expected, ServicePortExpect};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::ServiceNoBackends;

pub(crate) fn check(exp: &Expected<'_>, snap: &ClusterSnapshot, out: &mut Out) {
    let Some(svcs) = &exp.services else {
        let why = "no k8s/services.json: Service endpoint check skipped";
        return out.skip(CODE, None, why.into());
    };
    if !exp.endpoint_slices_collected {
        let why = "no k8s/endpointslices.json: Service endpoint check skipped";
        return out.skip(CODE, None, why.into());
    }
    let selected: HashSet<String> = snap
        .k8s
        .services
        .iter()
        .flatten()
        .filter(|s| !s.selector.is_empty())
        .map(|s| s.key())
        .collect();
    let mut seen = HashSet::new();
    for s in svcs.iter().filter(|s| selected.contains(&s.service)) {
        let empty = s.endpoints.as_ref().is_some_and(|e| e.is_empty());
        if empty && seen.insert((&s.service, s.proto, s.port)) {
            port(s, out);
        }
    }
}

fn port(s: &ServicePortExpect, out: &mut Out) {
    let (ns, name) = s.service.split_once('/').unwrap_or(("", &s.service));
    let summary = format!(
        "{} has no ready endpoint: every connection to it is refused",
        s.describe()
    );
    let evidence = vec![
        s.describe(),
        format!(
            "EndpointSlices of {}: no ready endpoint for this port",
            s.service
        ),
    ];
    let hint = format!(
        "no ready pod backs it: compare `kubectl -n {ns} get svc {name} -o jsonpath='{{.spec.selector}}'` with the pods' labels, and check their readiness probes"
    );
    out.push(CODE, Severity::Warning, None, summary, evidence, hint);
}
