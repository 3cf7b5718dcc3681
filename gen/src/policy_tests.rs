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
fn kube_router_rules_name_their_policies_and_parse() {
    let plan = lab("flannel-vxlan");
    let kr = plan.kube_router_rules(1).expect("kube-router on Flannel");
    let chain = kube_router::policy_chain(
        "default",
        "allow-web-to-api",
        crate::lab_policy::KUBE_ROUTER_VERSION,
    );
    let rules = &kr.chain(&chain).expect("policy chain").rules;
    let comment = rules[0].split('"').nth(1).expect("comment");
    assert_eq!(
        kube_router::policy_in_comment(comment).as_deref(),
        Some("default/allow-web-to-api")
    );
    let tables = parse_iptables_save(&kr.save(), Source::IptablesSave).expect("save parses");
    assert!(tables[0].chains.iter().any(|c| c.name == chain));
    let sets = parse_ipset_save(&kr.ipset_restore()).expect("ipsets parse");
    let block = sets
        .iter()
        .find(|s| s.kind == "hash:net")
        .expect("ipBlock set");
    assert!(block.members.iter().any(|m| m.nomatch), "{block:?}");
    assert!(plan.stale_ipset(1).is_some());
}

#[test]
fn felix_comments_read_back() {
    let got = felix_policy::policy_in_comment("Policy default/knp.default.web-egress egress");
    assert_eq!(
        got,
        Some(("default/web-egress".to_string(), PolicyType::Egress))
    );
    assert_eq!(felix_policy::policy_in_comment("Policy x ingress"), None);
    assert!(LabPlan::new("calico-bgp", 2, 2, "cnlt")
        .expect("lab")
        .stale_ipset(1)
        .is_none());
}
