//! The netfilter rules a lab node carries, as `iptables-restore --noflush`
//! input: what its components really install, so the lab's kernels filter
//! and NAT pod traffic as a real node's do and `explain` has real rulesets
//! to evaluate against real pings.
//!
//! - kube-proxy (every model): [`crate::kube_proxy::iptables_save`] for the
//!   lab's own Services and EndpointSlices (kube-proxy v1.31, iptables mode,
//!   `--cluster-cidr` = the lab's pod range).
//! - Flannel (both Flannel models): FLANNEL-FWD and FLANNEL-POSTRTG as
//!   flanneld v0.26 writes them (`pkg/trafficmngr/iptables/iptables.go`:
//!   `forwardRules` and `masqRules`, `--ip-masq`, with `--random-fully`
//!   since this iptables supports it; the kube-proxy mark is
//!   `trafficmngr.KubeProxyMark` = 0x4000/0x4000). flanneld appends its rules
//!   with `-A` after kube-proxy's, so they come second here too.
//! - Calico (calico-bgp): Felix v3.28's filter FORWARD chains that decide
//!   workload forwarding ([`crate::lab_felix`]), after kube-proxy's rules
//!   (Felix inserts its jump at the top of FORWARD and appends its accept),
//!   and its outgoing NAT (`cali-nat-outgoing`, matching its IPAM pool
//!   ipsets, [`LabPlan::ipset_restore`]).
//! - In nftables mode kube-proxy's rules are its own nftables table
//!   ([`LabPlan::nft_ruleset`]); the CNI's stay iptables, as flanneld and
//!   Felix write them.

use std::fmt::Write;

use crate::agent_rules::AgentRules;
use crate::lab::{KubeProxyMode, LabPlan};
use crate::{kube_proxy, lab_felix};

impl LabPlan {
    /// Node n's rules, kube-proxy's then the CNI's, for one
    /// `iptables-restore --noflush` into the node's still empty tables.
    /// In nftables mode kube-proxy's rules are [`LabPlan::nft_ruleset`]
    /// and this holds only the CNI's.
    pub fn iptables_restore(&self, n: u32) -> String {
        let mut out = match self.kube_proxy {
            KubeProxyMode::Iptables => {
                kube_proxy::iptables_save_for(&self.kube_proxy_k8s(n), &self.kube_proxy_node(n))
            }
            KubeProxyMode::Nftables => String::new(),
        };
        if self.is_calico() {
            let policy = self.felix_policy(n);
            let workloads = self.felix_workloads(n, &policy);
            out.push_str(&lab_felix::forward_rules(&workloads, policy.chains));
            out.push_str(&lab_felix::nat_outgoing_rules(self.masquerades(n)));
        } else {
            out.push_str(&self.flannel_rules(n));
        }
        // kube-router inserts its jumps at the top of the built-in chains.
        if let Some(kr) = self.kube_router_rules(n) {
            out.push_str(&kr.restore());
        }
        out
    }

    /// flanneld's FLANNEL-FWD (filter) and FLANNEL-POSTRTG (nat) for node n.
    /// The ipsets node n's rules match (`ipset restore` input, loaded
    /// before the rules): Felix's IPAM pool sets on Calico nodes.
    pub fn ipset_restore(&self, n: u32) -> String {
        let sets = match self.is_calico() {
            true => {
                let policy = AgentRules {
                    sets: self.felix_policy(n).sets,
                    ..AgentRules::default()
                };
                Some(lab_felix::ipam_pool_sets(&[self.pod_range()]) + &policy.ipset_restore())
            }
            false => self.kube_router_rules(n).map(|k| k.ipset_restore()),
        };
        sets.unwrap_or_default()
    }

    fn flannel_rules(&self, n: u32) -> String {
        let cluster = self.pod_range();
        let pod = self.pod_cidr(n);
        let mut out = String::from("*filter\n:FLANNEL-FWD - [0:0]\n");
        let fwd = r#"-m comment --comment "flanneld forward""#;
        let _ = writeln!(out, "-A FORWARD {fwd} -j FLANNEL-FWD");
        let _ = writeln!(out, "-A FLANNEL-FWD -s {cluster} {fwd} -j ACCEPT");
        let _ = writeln!(out, "-A FLANNEL-FWD -d {cluster} {fwd} -j ACCEPT");
        out.push_str("COMMIT\n*nat\n:FLANNEL-POSTRTG - [0:0]\n");
        let masq = r#"-m comment --comment "flanneld masq""#;
        let _ = writeln!(out, "-A POSTROUTING {masq} -j FLANNEL-POSTRTG");
        let rules = [
            format!("-m mark --mark 0x4000/0x4000 {masq} -j RETURN"),
            format!("-s {pod} -d {cluster} {masq} -j RETURN"),
            format!("-s {cluster} -d {pod} {masq} -j RETURN"),
            format!("! -s {cluster} -d {pod} {masq} -j RETURN"),
            format!("-s {cluster} ! -d 224.0.0.0/4 {masq} -j MASQUERADE --random-fully"),
            format!("! -s {cluster} -d {cluster} {masq} -j MASQUERADE --random-fully"),
        ];
        // masquerade-missing: the rule that SNATs pod traffic leaving the
        // cluster (the fifth) is deleted.
        let keep = self.masquerades(n);
        let rules = rules.into_iter().enumerate();
        for (_, r) in rules.filter(|(i, _)| *i != 4 || keep) {
            let _ = writeln!(out, "-A FLANNEL-POSTRTG {r}");
        }
        out.push_str("COMMIT\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::lab::LabPlan;

    #[test]
    fn flannel_nodes_carry_kube_proxy_then_flannel() {
        let plan = LabPlan::new("flannel-vxlan", 3, 2, "cnlt").expect("valid lab");
        let rules = plan.iptables_restore(2);
        let kp = rules
            .find("-j KUBE-FORWARD")
            .expect("kube-proxy's FORWARD jump");
        let fl = rules
            .find("-j FLANNEL-FWD")
            .expect("flannel's FORWARD jump");
        assert!(kp < fl, "flanneld appends after kube-proxy");
        assert!(rules.contains(
            "-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT"
        ));
        assert!(rules.contains("-A FLANNEL-POSTRTG -s 10.244.2.0/24 -d 10.244.0.0/16"));
        assert!(rules.contains("default/web:http cluster IP"), "{rules}");
        assert_eq!(rules.matches("COMMIT\n").count(), 4);
    }

    #[test]
    fn calico_nodes_carry_kube_proxy_then_felix() {
        let plan = LabPlan::new("calico-bgp", 3, 2, "cnlt").expect("valid lab");
        let rules = plan.iptables_restore(1);
        assert!(!rules.contains("FLANNEL"));
        let kp = rules.find("KUBE-SERVICES").expect("kube-proxy's rules");
        let felix = rules.find("-I FORWARD 1").expect("felix's FORWARD jump");
        assert!(kp < felix, "{rules}");
        assert!(rules.contains("--goto cali-fw-cali0761ccbeace"), "{rules}");
    }
}
