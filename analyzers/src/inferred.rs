//! A snapshot whose Kubernetes objects were inferred from node dumps (a
//! bundle without `k8s/`): nodes, their addresses and pod CIDRs can be
//! read off the dataplane, but which pods, Services, endpoints and
//! NetworkPolicies exist cannot. A check that reads those would judge
//! against a partial list and answer with confidence; it is skipped with
//! the reason instead ("right or unknown").

use cnictl_model::ClusterSnapshot;

use crate::code::{Code, Input, Source};
use crate::finding::{Report, Skipped};

/// The Kubernetes inputs no node dump can stand in for.
const NOT_INFERABLE: [Input; 4] = [
    Input::K8sPods,
    Input::K8sServices,
    Input::K8sEndpointSlices,
    Input::K8sNetworkPolicies,
];

/// Whether `code`'s check reads objects that inference cannot supply.
pub fn needs_k8s_objects(code: Code) -> bool {
    code.inputs().iter().any(|i| NOT_INFERABLE.contains(i))
}

/// Replaces what the checks that need the Kubernetes objects said about an
/// inferred snapshot by one skip each, naming the missing files; a
/// snapshot with real `k8s/` objects is left as it is.
pub fn restrict(snap: &ClusterSnapshot, report: &mut Report) {
    if !snap.k8s_inferred() {
        return;
    }
    report.findings.retain(|f| !needs_k8s_objects(f.code));
    report
        .skipped
        .retain(|s| Code::parse(&s.check).is_none_or(|c| !needs_k8s_objects(c)));
    for code in Code::ALL {
        if code.info().source == Source::Serve || !needs_k8s_objects(code) {
            continue;
        }
        report.skipped.push(Skipped {
            check: code.as_str().to_string(),
            node: None,
            reason: reason(code),
        });
    }
    report.skipped.sort_by(|a, b| a.check.cmp(&b.check));
}

fn reason(code: Code) -> String {
    let files: Vec<&str> = code
        .inputs()
        .iter()
        .filter(|i| NOT_INFERABLE.contains(i))
        .map(|i| i.file())
        .collect();
    format!(
        "the bundle has no k8s/ ({} not collected; lab/collect-k8s.sh writes them)",
        files.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;
    use cnictl_model::Notice;

    #[test]
    fn pod_and_service_checks_are_skipped_when_k8s_was_inferred() {
        let mut snap = ClusterSnapshot::new("t");
        snap.notices
            .push(Notice::new(Notice::K8S_INFERRED, "k8s/", "inferred"));
        let report = checks::run(&snap);
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.check.as_str()).collect();
        for code in ["pod-route-missing", "service-no-backends", "policy-drift"] {
            assert!(skipped.contains(&code), "{skipped:?}");
        }
        assert!(!skipped.contains(&"missing-pod-route"), "{skipped:?}");
        let pr = report
            .skipped
            .iter()
            .find(|s| s.check == "pod-route-missing")
            .unwrap();
        assert!(pr.reason.contains("k8s/pods.json") && pr.reason.contains("collect-k8s.sh"));
        assert_eq!(
            skipped
                .iter()
                .filter(|c| **c == "pod-route-missing")
                .count(),
            1
        );
    }

    #[test]
    fn real_k8s_objects_change_nothing() {
        let snap = ClusterSnapshot::new("t");
        let mut report = checks::run(&snap);
        let before = report.clone();
        restrict(&snap, &mut report);
        assert_eq!(report, before);
    }
}
