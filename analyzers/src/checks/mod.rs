//! Checks: one file per finding code, each headed `//! Check: <code>` with
//! the rule it enforces, registered below with the [`Code`] it emits. The
//! codes' meanings, severities and inputs live in one table
//! ([`crate::code::TABLE`]).
//!
//! [`run`] checks a whole cluster; [`run_node`] is the per-node part a node
//! agent runs alone: one node's tables against the cluster's [`Expected`]
//! state, O(that node's routes + nodes). Findings and skips come back sorted
//! (severity, code, node, summary, evidence), so output never depends on the
//! order of entries in the input.
//!
//! Cost, with N nodes, R routes on the node, P peer pod CIDRs (≈ N), C pod
//! CIDRs in the cluster, S Service ports, V virtual servers on the node:
//! - pod-cidr-overlap, service-cidr-overlap: one sort-based sweep,
//!   O((C + N + S) log (C + N + S)); cni-model-mixed: O(N)
//! - the FIB index every per-node check shares: O(R log R), once per node
//! - missing-pod-route, wrong-next-hop, next-hop-not-adjacent,
//!   route-shadowed: one verdict per peer CIDR, O(P log R)
//! - vxlan-fdb-missing, vxlan-neigh-missing, vxlan-fdb-mismatch:
//!   O(FDB + neighbours + N); bgp-session-down O(protocols);
//!   bgp-route-missing O(BIRD routes + P log R)
//! - ipvs-*: O(V + real servers + S); pod-route-missing O(pods on node ·
//!   log R); stale-pod-route O(R); mtu-mismatch O(links);
//!   ip-forward-disabled O(1); rp-filter-strict O(tunnels · P)
//! - netfilter (nodes with netfilter collected): the ruleset compiled once
//!   per node and shared, O(rules + chains), with the prefixes its address
//!   matches test (A); each probe address is classed against them, O(A).
//!   netfilter-forward-drop tries 2 directions × 3 probes per (local, peer)
//!   pod CIDR pair and netfilter-blocks-overlay up to 2 transports × 2
//!   directions per peer, but walks the hooks once per class of probes the
//!   rules cannot tell apart (nfclass.rs): O(P · A + classes · W), W the
//!   rules one walk reaches (kube-proxy's KUBE-SERVICES is linear in the
//!   Services in iptables mode); without classes (rules reading addresses
//!   through sets or ipsets) O(P · W). iptables-backend-mixed O(chains);
//!   br-netfilter-missing O(links + tables); conntrack-near-full O(1)
//! - service-stale-backend, service-backend-missing, service-rules-missing
//!   share one evaluation per node (svcview.rs): one walk through nat
//!   PREROUTING per Service port (FORWARD too when nothing rewrote it),
//!   O(S · W) with W what kube-proxy's indexed dispatch reaches, plus the
//!   endpoint set differences; masquerade-missing two walks per node (the
//!   first Service its rules DNAT and mark, one pod egress packet), the
//!   egress answers compared across nodes after the node checks, O(N);
//!   service-no-backends O(S + slices); nodeport-no-local-endpoint
//!   O(eTP-Local Services · (slices + N))
//!
//! Measured (criterion, 2 cores, generated calico-bgp, 110 pods/node):
//! `run` 100 nodes 6 ms, 500 nodes 160 ms, 1,000 nodes (~2M routes) 0.69 s;
//! `run_node` for one node of a 5,000-node cluster 3 ms. Netfilter:
//! `run_node` for a node of a 100-node flannel-vxlan cluster carrying
//! kube-proxy's iptables rules for 10,000 Services (50,000 endpoints)
//! 0.59 s — 1.9 s when each of its ~600 probes was walked on its own
//! through the 10,000-rule KUBE-SERVICES chain.

pub(crate) mod fib;
mod ipvs;
pub(crate) mod nf;
mod nfclass;
#[cfg(test)]
mod nftest;
mod nfview;
pub mod overlap;
mod policy;
mod policy_drift;
mod policy_not_enforced;
mod remote;
mod render;
#[cfg(test)]
mod svctest;
mod svcview;
mod vxlan;

mod bgp_route_missing;
mod bgp_session_down;
mod br_netfilter_missing;
mod cilium_tunnel_missing;
mod cni_model_mixed;
mod conntrack_near_full;
mod ip_forward_disabled;
mod ipam_block_multiple_routes;
mod ipam_leaked_affinity;
mod iptables_backend_mixed;
mod ipvs_no_backends;
mod ipvs_service_missing;
mod ipvs_stale_backend;
mod macvlan_host_unreachable;
mod masquerade_missing;
mod missing_pod_route;
mod mtu_mismatch;
pub(crate) mod netfilter_blocks_overlay;
mod netfilter_forward_drop;
mod next_hop_not_adjacent;
mod node_address_mismatch;
mod nodeport_no_local_endpoint;
mod pod_cidr_overlap;
mod pod_ip_outside_pools;
mod pod_route_missing;
mod route_shadowed;
mod rp_filter_strict;
mod service_backend_missing;
mod service_cidr_overlap;
mod service_no_backends;
mod service_rules_missing;
mod service_stale_backend;
mod stale_pod_route;
mod vxlan_checksum_offload;
mod vxlan_fdb_mismatch;
mod vxlan_fdb_missing;
mod vxlan_neigh_missing;
mod wrong_next_hop;

use std::cell::OnceCell;

use cnictl_model::{ClusterSnapshot, Link, NodeSnapshot, SCHEMA};
use ipnet::IpNet;
use rayon::prelude::*;

use crate::cni;
use crate::code::{Code, Input};
use crate::expected::{Expected, NodeExpect, Options};
use crate::finding::{Finding, Report, Severity, Skipped};
use crate::infer::{self, CniModel};

/// Findings and skips accumulated by the checks.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
    /// Each node's pod-egress NAT answer, compared across nodes once all
    /// are checked (masquerade-missing).
    pub egress: Vec<masquerade_missing::Egress>,
}

impl Out {
    pub fn push(
        &mut self,
        code: Code,
        severity: Severity,
        node: Option<&str>,
        summary: String,
        evidence: Vec<String>,
        hint: String,
    ) -> &mut Finding {
        self.findings.push(Finding {
            code,
            severity,
            node: node.map(str::to_string),
            summary,
            evidence,
            hint,
            peers: Vec::new(),
        });
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    pub fn skip(&mut self, code: Code, node: Option<&str>, reason: String) {
        self.skip_check(code.as_str(), node, reason);
    }

    /// Skips `code` on `node` for lack of `input`: "{node} has no {file}:
    /// {what} skipped".
    pub fn skip_missing(&mut self, code: Code, node: &str, input: Input, what: &str) {
        let reason = format!("{node} has no {}: {what} skipped", input.file());
        self.skip(code, Some(node), reason);
    }

    fn skip_check(&mut self, check: &str, node: Option<&str>, reason: String) {
        self.skipped.push(Skipped {
            check: check.to_string(),
            node: node.map(str::to_string),
            reason,
        });
    }

    fn sorted(mut self) -> (Vec<Finding>, Vec<Skipped>) {
        sort_findings(&mut self.findings);
        self.skipped
            .sort_by(|a, b| (&a.node, &a.check, &a.reason).cmp(&(&b.node, &b.check, &b.reason)));
        self.skipped.dedup();
        (self.findings, self.skipped)
    }
}

/// The deterministic report order: severity, code, node, summary, then the
/// rest, so equal findings from differently ordered input compare equal.
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        (
            a.severity,
            &a.code,
            &a.node,
            &a.summary,
            &a.evidence,
            &a.hint,
        )
            .cmp(&(
                b.severity,
                &b.code,
                &b.node,
                &b.summary,
                &b.evidence,
                &b.hint,
            ))
    });
}

/// What one node's checks share: the node, its expectation, its FIB.
pub(crate) struct NodeCx<'e> {
    pub exp: &'e Expected<'e>,
    pub node: &'e NodeSnapshot,
    /// The node as the cluster expects it (`None`: not in nodes.json).
    pub me: Option<&'e NodeExpect>,
    pub model: CniModel,
    pub fib: fib::Fib<'e>,
    /// The model's VXLAN device (flannel.N / vxlan.calico), when present.
    pub vxlan_dev: Option<&'e str>,
    links: fib::FastMap<&'e str, &'e Link>,
    remote: OnceCell<Vec<remote::Verdict<'e>>>,
    vxlan: OnceCell<Option<vxlan::VxlanState<'e>>>,
    vxlan6: OnceCell<Option<vxlan::VxlanState<'e>>>,
    nf: OnceCell<Option<nf::NodeNf<'e>>>,
    svc: OnceCell<Option<svcview::NodeServices>>,
}

impl<'e> NodeCx<'e> {
    fn new(exp: &'e Expected<'e>, node: &'e NodeSnapshot) -> Self {
        let me = exp.node(&node.name);
        let model = match me {
            Some(m) if m.has_dump => m.model,
            _ => infer::infer_node(node, None).model,
        };
        let own: Vec<IpNet> = me
            .map(|m| m.pod_cidrs.iter().map(|c| c.net).collect())
            .unwrap_or_default();
        NodeCx {
            exp,
            node,
            me,
            model,
            fib: fib::Fib::new(node, own),
            vxlan_dev: crate::cni::vxlan_dev(node, model).map(|l| l.name.as_str()),
            links: node.links.iter().map(|l| (l.name.as_str(), l)).collect(),
            remote: OnceCell::new(),
            vxlan: OnceCell::new(),
            vxlan6: OnceCell::new(),
            nf: OnceCell::new(),
            svc: OnceCell::new(),
        }
    }

    pub fn name(&self) -> &'e str {
        &self.node.name
    }

    pub fn link(&self, name: &str) -> Option<&'e Link> {
        self.links.get(name).copied()
    }

    /// The node's underlay device (holding its node IP), when known.
    pub fn underlay_dev(&self) -> Option<&'e str> {
        let u = self.me?.underlay.as_ref()?;
        u.dev.as_deref()
    }

    /// Other nodes, each with its pod CIDRs: the route verdicts.
    pub fn remote(&self) -> &[remote::Verdict<'e>] {
        self.remote.get_or_init(|| remote::verdicts(self))
    }

    pub fn vxlan(&self) -> Option<&vxlan::VxlanState<'e>> {
        self.vxlan.get_or_init(|| vxlan::state(self)).as_ref()
    }

    /// Every VXLAN device the node's model programs per peer: the model's
    /// own, then a dual-stack Flannel node's flannel-v6.1.
    pub fn vxlans(&self) -> impl Iterator<Item = &vxlan::VxlanState<'e>> {
        let v6 = self.vxlan6.get_or_init(|| vxlan::state6(self)).as_ref();
        self.vxlan().into_iter().chain(v6)
    }

    /// Every peer VTEP of every VXLAN device, with its device's state.
    pub fn vxlan_peers(
        &self,
    ) -> impl Iterator<Item = (&vxlan::VxlanState<'e>, &vxlan::PeerVtep<'e>)> {
        self.vxlans()
            .flat_map(|st| st.peers.iter().map(move |p| (st, p)))
    }

    /// The node's netfilter ruleset, compiled once for the checks that
    /// evaluate it (`None`: not collected).
    pub fn nf(&self) -> Option<&nf::NodeNf<'e>> {
        self.nf.get_or_init(|| nf::NodeNf::new(self)).as_ref()
    }

    /// What the node's rules do to each Service port, evaluated once for
    /// the Service checks (`None`: no netfilter dump or no Services).
    pub fn services(&self) -> Option<&svcview::NodeServices> {
        self.svc
            .get_or_init(|| svcview::NodeServices::new(self))
            .as_ref()
    }

    /// Skips a route check when the model gives no expectation: unknown,
    /// or pod networks local to each host (no route between them).
    pub fn route_checks_skipped(&self, code: Code, out: &mut Out) -> bool {
        let node = self.name();
        let why = match self.model.profile() {
            None => format!("{node}: CNI model unknown, pod route checks skipped"),
            Some(p) if p.next_hop == cni::NextHop::Isolated => format!(
                "{node}: {} networks are local to each host (no routes between them to check)",
                p.name
            ),
            Some(_) => return false,
        };
        out.skip(code, Some(node), why);
        true
    }

    /// The route verdicts for a route check, or none after recording the
    /// skip when the model gives no expectation.
    pub fn route_verdicts(&self, code: Code, out: &mut Out) -> &[remote::Verdict<'e>] {
        match self.route_checks_skipped(code, out) {
            true => &[],
            false => self.remote(),
        }
    }
}

type ClusterCheck = fn(&Expected<'_>, &ClusterSnapshot, &mut Out);
type NodeCheck = fn(&NodeCx<'_>, &mut Out);

/// A check registered with the code it emits (each file's `CODE`).
type Registered<F> = (Code, F);

/// Checks over the whole cluster (Kubernetes objects, all nodes).
const CLUSTER_CHECKS: &[Registered<ClusterCheck>] = &[
    (pod_cidr_overlap::CODE, pod_cidr_overlap::check),
    (service_cidr_overlap::CODE, service_cidr_overlap::check),
    (cni_model_mixed::CODE, cni_model_mixed::check),
    (service_no_backends::CODE, service_no_backends::check),
    (
        nodeport_no_local_endpoint::CODE,
        nodeport_no_local_endpoint::check,
    ),
    (pod_ip_outside_pools::CODE, pod_ip_outside_pools::check),
];

/// Checks of one node's tables against the expected state.
const NODE_CHECKS: &[Registered<NodeCheck>] = &[
    (missing_pod_route::CODE, missing_pod_route::check),
    (wrong_next_hop::CODE, wrong_next_hop::check),
    (next_hop_not_adjacent::CODE, next_hop_not_adjacent::check),
    (route_shadowed::CODE, route_shadowed::check),
    (vxlan_fdb_missing::CODE, vxlan_fdb_missing::check),
    (vxlan_neigh_missing::CODE, vxlan_neigh_missing::check),
    (vxlan_fdb_mismatch::CODE, vxlan_fdb_mismatch::check),
    (mtu_mismatch::CODE, mtu_mismatch::check),
    (node_address_mismatch::CODE, node_address_mismatch::check),
    (vxlan_checksum_offload::CODE, vxlan_checksum_offload::check),
    (
        macvlan_host_unreachable::CODE,
        macvlan_host_unreachable::check,
    ),
    (cilium_tunnel_missing::CODE, cilium_tunnel_missing::check),
    (bgp_session_down::CODE, bgp_session_down::check),
    (bgp_route_missing::CODE, bgp_route_missing::check),
    (ipvs_service_missing::CODE, ipvs_service_missing::check),
    (ipvs_no_backends::CODE, ipvs_no_backends::check),
    (ipvs_stale_backend::CODE, ipvs_stale_backend::check),
    (pod_route_missing::CODE, pod_route_missing::check),
    (stale_pod_route::CODE, stale_pod_route::check),
    (ip_forward_disabled::CODE, ip_forward_disabled::check),
    (rp_filter_strict::CODE, rp_filter_strict::check),
    (netfilter_forward_drop::CODE, netfilter_forward_drop::check),
    (
        netfilter_blocks_overlay::CODE,
        netfilter_blocks_overlay::check,
    ),
    (iptables_backend_mixed::CODE, iptables_backend_mixed::check),
    (br_netfilter_missing::CODE, br_netfilter_missing::check),
    (conntrack_near_full::CODE, conntrack_near_full::check),
    (service_stale_backend::CODE, service_stale_backend::check),
    (
        service_backend_missing::CODE,
        service_backend_missing::check,
    ),
    (service_rules_missing::CODE, service_rules_missing::check),
    (masquerade_missing::CODE, masquerade_missing::check),
    (ipam_leaked_affinity::CODE, ipam_leaked_affinity::check),
    (
        ipam_block_multiple_routes::CODE,
        ipam_block_multiple_routes::check,
    ),
];

/// Every code a registered check emits, cluster checks first.
pub fn registered_codes() -> impl Iterator<Item = Code> {
    let cluster = CLUSTER_CHECKS.iter().map(|(c, _)| *c);
    cluster.chain(NODE_CHECKS.iter().map(|(c, _)| *c))
}

/// Checks a whole cluster: builds the expected state once, then runs the
/// cluster-wide checks and every node's checks.
pub fn run(snap: &ClusterSnapshot) -> Report {
    run_with(snap, &Options::default())
}

/// [`run`] with caller-supplied knobs (e.g. the real service CIDR).
pub fn run_with(snap: &ClusterSnapshot, opts: &Options) -> Report {
    run_expected(&Expected::build_with(snap, opts), snap)
}

/// [`run`] against an expected state the caller already built from `snap`
/// (the pipeline builds it once and reuses its inference and nodes).
pub fn run_expected(exp: &Expected<'_>, snap: &ClusterSnapshot) -> Report {
    let mut out = Out::default();
    for (_, check) in CLUSTER_CHECKS {
        check(exp, snap, &mut out);
    }
    run_nodes(exp, snap, &mut out);
    masquerade_missing::compare(&mut out);
    skip_undumped(snap, &mut out);
    let (findings, skipped) = out.sorted();
    let mut report = Report {
        schema: SCHEMA.to_string(),
        model: exp.model().as_str().to_string(),
        findings,
        skipped,
        groups: Vec::new(),
        notes: not_modelled(exp),
    };
    // Before grouping: groups index the findings that stay.
    crate::inferred::restrict(snap, &mut report);
    report.regroup();
    report
}

/// What no check covers for the nodes' models.
fn not_modelled(exp: &Expected<'_>) -> Vec<String> {
    let weave: Vec<&str> = exp
        .inference
        .per_node
        .iter()
        .filter(|n| n.model == CniModel::Weave)
        .map(|n| n.node.as_str())
        .collect();
    if weave.is_empty() {
        return Vec::new();
    }
    let nodes = weave.join(", ");
    vec![format!(
        "weave ({nodes}): {}",
        crate::cni::WEAVE_NOT_MODELLED
    )]
}

/// The checks that need the reference dataplane (pod pairs through the
/// engine: NetworkPolicy enforcement), added to `report` once the
/// pipeline has built `dp`.
pub fn run_dataplane(
    snap: &ClusterSnapshot,
    dp: &cnictl_dataplane::Dataplane,
    report: &mut Report,
) {
    let mut out = Out::default();
    policy::run(snap, dp, &mut out);
    let (findings, skipped) = out.sorted();
    report.findings.extend(findings);
    report.skipped.extend(skipped);
    sort_findings(&mut report.findings);
    crate::inferred::restrict(snap, report);
    report.regroup();
}

/// Nodes are independent: check them on all cores (rayon's pool), then
/// merge; the final sort makes the result independent of scheduling.
fn run_nodes(exp: &Expected<'_>, snap: &ClusterSnapshot, out: &mut Out) {
    let per_node: Vec<Out> = snap
        .nodes
        .par_iter()
        .map(|(_, node)| {
            let mut o = Out::default();
            run_node_into(exp, node, &mut o);
            o
        })
        .collect();
    for o in per_node {
        out.findings.extend(o.findings);
        out.skipped.extend(o.skipped);
        out.egress.extend(o.egress);
    }
}

/// Nodes listed in nodes.json without a dump: every node check skipped.
fn skip_undumped(snap: &ClusterSnapshot, out: &mut Out) {
    for k in snap
        .k8s
        .nodes
        .iter()
        .filter(|k| !snap.nodes.contains_key(&k.name))
    {
        let why = format!(
            "{}: no dataplane dump (nodes/{}/): node checks skipped",
            k.name, k.name
        );
        out.skip_check("*", Some(&k.name), why);
    }
}

/// One node's checks against the cluster's expected state: what a node
/// agent runs on its own node. Sorted like [`run`]'s output.
pub fn run_node(exp: &Expected<'_>, node: &NodeSnapshot) -> (Vec<Finding>, Vec<Skipped>) {
    let mut out = Out::default();
    run_node_into(exp, node, &mut out);
    out.sorted()
}

fn run_node_into(exp: &Expected<'_>, node: &NodeSnapshot, out: &mut Out) {
    let cx = NodeCx::new(exp, node);
    for (_, check) in NODE_CHECKS {
        check(&cx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{Source, TABLE};

    #[test]
    fn every_check_code_is_registered_once() {
        let mut registered: Vec<Code> = registered_codes().collect();
        registered.sort();
        let mut want: Vec<Code> = TABLE
            .iter()
            .filter(|i| i.source == Source::Check)
            .map(|i| i.code)
            .collect();
        want.sort();
        assert_eq!(registered, want);
    }
}
