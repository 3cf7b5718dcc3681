//! The policy agents' rules for the lab's policy set
//! (lab/testdata/policies/lab-policies.yaml): names tie back to policies,
//! and what is written parses with cnictl's own parsers.

use cnictl_formats::manifests::Manifests;
use cnictl_formats::{parse_ipset_save, parse_iptables_save};
use cnictl_model::netfilter::Source;
use cnictl_model::PolicyType;

use crate::lab::LabPlan;
use crate::lab_policy::LabPolicies;
use crate::{felix_policy, kube_router};

const POLICIES: &str = include_str!("../../lab/testdata/policies/lab-policies.yaml");

pub(crate) fn lab_policies() -> LabPolicies {
    let mut m = Manifests::default();
    m.add_text(POLICIES).expect("policy file parses");
    let k8s = m.into_k8s();
    LabPolicies {
        policies: k8s.network_policies.unwrap_or_default(),
        namespaces: k8s.namespaces.unwrap_or_default(),
    }
}

pub(crate) fn lab(model: &str) -> LabPlan {
    let plan = LabPlan::new(model, 2, 2, "cnlt").expect("valid lab");
    plan.with_policies(lab_policies())
}

#[test]
fn felix_rules_name_their_policies_and_parse() {
    let plan = lab("calico-bgp");
    let rules = plan.iptables_restore(1);
    let pi = felix_policy::policy_chain(PolicyType::Ingress, "default", "allow-web-to-api");
    assert!(pi.starts_with("cali-pi-_") && pi.len() == 28, "{pi}");
    let first = rules
        .lines()
        .find(|l| l.starts_with(&format!("-A {pi} ")))
        .expect("policy chain");
    assert!(
        first.contains("\"Policy default/knp.default.allow-web-to-api ingress\""),
        "{first}"
    );
}

#[test]
#[ignore]
fn dump() {
    for m in ["calico-bgp", "flannel-vxlan"] {
        let plan = lab(m);
        println!(
            "==== {m}\n{}\n---- ipsets\n{}",
            plan.iptables_restore(1),
            plan.ipset_restore(1)
        );
        println!("stale: {:?}", plan.stale_ipset(1));
    }
}
