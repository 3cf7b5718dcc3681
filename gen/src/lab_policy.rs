//! NetworkPolicies in the namespace lab (`cnictl lab up --policies FILE`):
//! the pods' labels and ports the policies can name, the objects the lab
//! bundle carries (`k8s/networkpolicies.json`, `k8s/namespaces.json`),
//! and each node's policy agent: Felix on calico-bgp
//! ([`crate::felix_policy`]), kube-router beside flanneld on the Flannel
//! models ([`crate::kube_router`]).
//!
//! With policies every lab workload pod also gets `role` (`frontend` for
//! web, `backend` for the others) and its container port 8080/TCP (the
//! port the lab's Services target and the live tests listen on) is named
//! `http`; a lab without policies keeps its objects exactly as before.
//!
//! `policy-ipset-stale` on node s (see [`LabPlan::stale_ipset`]): in the
//! first ipset of a policy's peers that holds a pod of another node, that
//! pod's member is deleted and the first pod of another node that the set
//! lacks is added, on node s only, as an agent that missed two pod updates
//! leaves them.

use std::collections::BTreeMap;

use cnictl_model::netpol::{Namespace, NetworkPolicy, NAMESPACE_NAME_LABEL};
use cnictl_model::{ContainerPort, Pod};
use serde::{Deserialize, Serialize};

use crate::agent_rules::{AgentRules, SetRole};
use crate::felix_policy::{self, FelixPolicy};
use crate::kube_router;
use crate::lab::LabPlan;
use crate::lab_felix::Workload;
use crate::netpol_select::ipv4;

/// kube-router's sync version in the lab's chain names (a timestamp on a
/// real node; fixed here so a node's rules can be generated again).
pub const KUBE_ROUTER_VERSION: &str = "1700000000000000000";

/// The port every lab pod declares and listens on.
pub const HTTP_PORT: u16 = 8080;

/// What `lab up --policies` read: the policies, and the labels of the
/// namespaces the file lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabPolicies {
    pub policies: Vec<NetworkPolicy>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
}

/// policy-ipset-stale's edit on one node: delete `del` from `set`, add
/// `add` (each the text after `ipset del|add SET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleEdit {
    pub set: String,
    pub del: String,
    pub add: String,
}

impl LabPlan {
    pub fn has_policies(&self) -> bool {
        self.policies.is_some()
    }

    /// The lab with `policies` applied.
    pub fn with_policies(mut self, policies: LabPolicies) -> LabPlan {
        self.policies = Some(policies);
        self
    }

    /// Labels and ports policies name, added to a workload pod of index p
    /// when the lab has policies.
    pub(crate) fn policy_pod(&self, pod: &mut Pod, p: u32) {
        if !self.has_policies() {
            return;
        }
        let role = if p == 1 { "frontend" } else { "backend" };
        pod.labels.insert("role".into(), role.into());
        pod.container_ports = vec![ContainerPort {
            name: Some("http".into()),
            port: HTTP_PORT,
            protocol: "TCP".into(),
        }];
    }

    /// The policies and namespaces for k8s/ (None without policies).
    pub(crate) fn policy_objects(
        &self,
        pods: &[Pod],
    ) -> (Option<Vec<NetworkPolicy>>, Option<Vec<Namespace>>) {
        let Some(lp) = &self.policies else {
            return (None, None);
        };
        let mut ns: BTreeMap<String, Namespace> = BTreeMap::new();
        let named = pods.iter().map(|p| p.namespace.clone());
        let named = named.chain(lp.policies.iter().map(|p| p.namespace.clone()));
        for name in named.chain(lp.namespaces.iter().map(|n| n.name.clone())) {
            let entry = ns.entry(name.clone()).or_insert_with(|| Namespace {
                name: name.clone(),
                labels: BTreeMap::new(),
            });
            entry.labels.insert(NAMESPACE_NAME_LABEL.into(), name);
        }
        for given in &lp.namespaces {
            if let Some(n) = ns.get_mut(&given.name) {
                n.labels.extend(given.labels.clone());
            }
        }
        (Some(lp.policies.clone()), Some(ns.into_values().collect()))
    }

    /// Felix's policy chains and sets on node n (empty without policies).
    pub(crate) fn felix_policy(&self, n: u32) -> FelixPolicy {
        match self.has_policies() {
            true => felix_policy::node_policy(&self.k8s(), &self.node_name(n)),
            false => FelixPolicy::default(),
        }
    }

    /// Node n's workloads as Felix sees them: interface and policies.
    pub(crate) fn felix_workloads(&self, n: u32, policy: &FelixPolicy) -> Vec<Workload> {
        let workload = |p: u32| {
            let key = format!("default/{}", self.pod_name(n, p));
            Workload {
                iface: self.host_veth(n, p),
                tiers: policy.tiers.get(&key).cloned().unwrap_or_default(),
            }
        };
        self.pod_indices().map(workload).collect()
    }

    /// kube-router's rules on Flannel node n (None without policies or
    /// on Calico).
    pub fn kube_router_rules(&self, n: u32) -> Option<AgentRules> {
        if !self.has_policies() || self.is_calico() {
            return None;
        }
        let k8s = self.k8s();
        Some(kube_router::node_rules(
            &k8s,
            &self.node_name(n),
            KUBE_ROUTER_VERSION,
        ))
    }

    /// policy-ipset-stale's edit for node n (None: no peer set to edit).
    pub fn stale_ipset(&self, n: u32) -> Option<StaleEdit> {
        let sets = match self.is_calico() {
            true => self.felix_policy(n).sets,
            false => self.kube_router_rules(n)?.sets,
        };
        let k8s = self.k8s();
        let elsewhere: Vec<String> = k8s
            .pods
            .iter()
            .filter(|p| !p.host_network && p.node.as_deref() != Some(&self.node_name(n)))
            .filter_map(|p| ipv4(p).map(|ip| ip.to_string()))
            .collect();
        let suffix = if self.is_calico() { "" } else { " timeout 0" };
        sets.iter()
            .filter(|s| s.role == SetRole::Peer)
            .find_map(|s| {
                let ip_of =
                    |m: &String| m.split_whitespace().next().unwrap_or_default().to_string();
                let has: Vec<String> = s.members.iter().map(ip_of).collect();
                let del = has.iter().find(|ip| elsewhere.contains(ip))?;
                let add = elsewhere.iter().find(|ip| !has.contains(ip))?;
                Some(StaleEdit {
                    set: s.name.clone(),
                    del: del.clone(),
                    add: format!("{add}{suffix}"),
                })
            })
    }
}
